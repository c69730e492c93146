"""Refinement steps that can be named (``refine=("par", "crf")``), registered where they live.

A step module registers its class with :func:`register_refinement_step`::

    @register_refinement_step("par")
    class PixelAdaptiveRefiner(RefinementStep): ...

and :func:`make_refinement_steps` builds steps from names (and passes step objects through).
Only steps that need no fitting and no downloaded weights are registered: a fitted
``AffinityRefiner``, or ``ClipRefiner``/``SamRefiner`` with local weights, are passed as objects.

The built-in steps register when their modules are imported, which importing this module does
(through the ``wsss_lib.postprocess`` package). This module imports no step module itself, so the
step modules can import it without a circle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

__all__ = [
    "REFINEMENT_STEPS",
    "check_step_name",
    "is_refinement_step",
    "make_refinement_steps",
    "register_refinement_step",
    "unregister_refinement_step",
]

StepFactory = TypeVar("StepFactory", bound=Callable[[], Any])

#: Step name -> factory called without arguments (a step class with defaults for every
#: parameter); filled by :func:`register_refinement_step`.
REFINEMENT_STEPS: dict[str, Callable[[], Any]] = {}


def register_refinement_step(name: str) -> Callable[[StepFactory], StepFactory]:
    """Decorator registering a step class (or a no-argument factory) under ``name``.

    Args:
        name: The name used in ``refine=(...)`` lists and recipes, e.g. ``"crf"``.

    Returns:
        The decorator; it returns the class unchanged.

    Raises:
        ValueError: ``name`` empty or not a string, or already registered.
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"A refinement step name must be a non-empty string, got {name!r}.")

    def decorator(factory: StepFactory) -> StepFactory:
        if name in REFINEMENT_STEPS:
            raise ValueError(
                f"Refinement step {name!r} is already registered (by {REFINEMENT_STEPS[name]!r}); "
                f"pick another name or call unregister_refinement_step({name!r}) first."
            )
        REFINEMENT_STEPS[name] = factory
        return factory

    return decorator


def unregister_refinement_step(name: str) -> Callable[[], Any]:
    """Remove a named step; returns its factory (``register_refinement_step(name)(factory)``
    puts it back).

    Raises:
        ValueError: ``name`` is not registered.
    """
    if name not in REFINEMENT_STEPS:
        raise ValueError(
            f"Unknown refinement step {name!r}; named steps are {sorted(REFINEMENT_STEPS)}."
        )
    return REFINEMENT_STEPS.pop(name)


def check_step_name(name: str) -> str:
    """``name`` if it is a registered step, else the error a user sees for an unknown one.

    Raises:
        ValueError: listing the named steps and how to pass the others.
    """
    if name not in REFINEMENT_STEPS:
        raise ValueError(
            f"Unknown refinement step {name!r}; named steps are "
            f"{sorted(REFINEMENT_STEPS)} (AffinityNet, CLIP and SAM need fitting or local "
            "weights: pass the step object, e.g. ClipRefiner(weights_path=...))."
        )
    return name


def is_refinement_step(item: Any) -> bool:
    """Whether ``item`` is a post-processing step object (``name``, ``params()``, callable)."""
    return callable(item) and hasattr(item, "params") and hasattr(item, "name")


def make_refinement_steps(refine: Sequence[str | Any]) -> list[Any]:
    """Post-processing steps from names (:data:`REFINEMENT_STEPS`) or step objects.

    Args:
        refine: Step names (``"par"``, ``"crf"``) and/or objects with ``name``, ``params()`` and
            ``__call__(cam, images)`` (see :mod:`wsss_lib.postprocess`), run in order. Each
            step maps a soft CAM float ``[B, H, W]`` and its images ``[B, 3, H, W]`` to a
            refined CAM ``[B, H, W]``.

    Returns:
        The steps, in order: a fresh instance per name, the objects as given.

    Raises:
        ValueError: an unknown name or an object that is not a post-processing step.
    """
    if isinstance(refine, str):
        refine = [refine]
    steps = []
    for item in refine:
        if isinstance(item, str):
            steps.append(REFINEMENT_STEPS[check_step_name(item)]())
        elif is_refinement_step(item):
            steps.append(item)
        else:
            raise ValueError(
                f"refine entries must be step names {sorted(REFINEMENT_STEPS)} or post-processing "
                f"step objects (wsss_lib.postprocess); got {item!r}."
            )
    return steps
