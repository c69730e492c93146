"""The CAM method registry: a CAM method is a factory registered by name, like pytorch-grad-cam's.

A method turns a :class:`CamRequest` (the model, layers, target class, fusion settings) into a
*CAM function* ``batch [B, 3, h, w] -> map [B, h, w]``: one fused map per scale, at the batch's
size. :func:`wsss_lib.cam.compute_cam` looks the method up here, then averages the scales and
normalises exactly as for every other method. Adding a method is one decorated class or function
in one file::

    @register_cam_method("inverted", takes_layers=False)
    def inverted_cam(request: CamRequest) -> CamFn:
        def cam_fn(batch: Tensor) -> Tensor:  # float [B, h, w]
            with torch.no_grad():
                return 1 - class_activation_map(request.model, batch, target=request.target)
        return cam_fn

    compute_cam(model, images, method="inverted", scales=(1.0, 1.5))

The built-in methods (``"cam"``, ``"gradcam"`` and the pytorch-grad-cam ones) are registered by
:mod:`wsss_lib.cam.fusion`, which every import of this module loads first (through the
``wsss_lib.cam`` package), so :func:`cam_method_names` always lists them. This module imports no
other module of ``wsss_lib.cam``: it is the bottom of the package's import graph.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from torch import Tensor

if TYPE_CHECKING:
    from wsss_lib.models import WSSSClassifier

__all__ = [
    "CamFn",
    "CamMethod",
    "CamRequest",
    "cam_method",
    "cam_method_names",
    "canonical_cam_method",
    "register_cam_method",
    "unregister_cam_method",
]

#: ``batch [B, 3, h, w] -> float map [B, h, w]`` at the batch's size, for one scale.
CamFn = Callable[[Tensor], Tensor]


@dataclass(frozen=True)
class CamRequest:
    """What :func:`wsss_lib.cam.compute_cam` hands a CAM method's factory.

    Attributes:
        model: The ``WSSSClassifier``, in eval mode, on its own device (its mode is restored by
            ``compute_cam`` afterwards).
        layers: Layer specs (names or indices) for methods that take layers, the model's default
            Grad-CAM layers when the caller gave none; ``None`` for methods that take no layers.
        target: Class index (0 = smoke).
        fusion: Layer fusion rule (``wsss_lib.cam.FUSION_RULES``), already checked.
        fusion_weights: Per-layer weights for ``fusion="weighted"``.
        normalize: One of ``wsss_lib.cam.NORMALIZE_MODES``, already checked.
        stack: Context managers entered here (hooks, adapters) are exited when the CAM is done,
            also when it fails.
    """

    model: WSSSClassifier
    layers: str | int | Sequence[str | int] | None
    target: int
    fusion: str
    fusion_weights: Sequence[float] | None
    normalize: str
    stack: ExitStack = field(repr=False)


@dataclass(frozen=True)
class CamMethod:
    """One registered method.

    Attributes:
        name: Canonical name (lower case, no ``-``/``_``/spaces), e.g. ``"gradcam++"``.
        factory: ``request -> CamFn``; a class whose instances are callable on a batch fits too.
        takes_layers: ``False`` for methods that read no intermediate layer (``"cam"``):
            ``compute_cam`` then refuses ``layers=``.
        aliases: Other spellings (in canonical form) that resolve to ``name``.
    """

    name: str
    factory: Callable[[CamRequest], CamFn]
    takes_layers: bool = True
    aliases: tuple[str, ...] = ()


# Insertion-ordered: the order of cam_method_names() is the order of registration.
_REGISTRY: dict[str, CamMethod] = {}
_ALIASES: dict[str, str] = {}


def _key(name: str) -> str:
    """``"Grad-CAM++"`` -> ``"gradcam++"``: lower case, ``-``, ``_`` and spaces dropped."""
    key = str(name).lower()
    for char in "_- ":
        key = key.replace(char, "")
    return key


def register_cam_method(
    name: str,
    *,
    aliases: Sequence[str] = (),
    takes_layers: bool | None = None,
) -> Callable[[Callable[[CamRequest], CamFn]], Callable[[CamRequest], CamFn]]:
    """Decorator registering a CAM method factory under ``name`` (and ``aliases``).

    Args:
        name: Canonical name: lower case, without ``-``, ``_`` or spaces (``"gradcam++"``);
            other spellings of it are found by :func:`canonical_cam_method`.
        aliases: Extra spellings, e.g. ``("gradcampp",)``; compared in canonical form too.
        takes_layers: Whether the method reads layers; default: the factory's ``takes_layers``
            attribute if it has one, else ``True``.

    Returns:
        The decorator; it returns the factory unchanged.

    Raises:
        ValueError: ``name`` not in canonical form, or ``name``/an alias already registered.
    """
    if not isinstance(name, str) or not name or _key(name) != name:
        raise ValueError(
            f"CAM method name {name!r} must be a non-empty lower-case string without '-', '_' or "
            f"spaces (e.g. {_key(str(name)) or 'mycam'!r}); other spellings are found anyway."
        )
    alias_keys = tuple(dict.fromkeys(_key(alias) for alias in aliases if _key(alias) != name))

    def decorator(factory: Callable[[CamRequest], CamFn]) -> Callable[[CamRequest], CamFn]:
        for key in (name, *alias_keys):
            if key in _REGISTRY or key in _ALIASES:
                owner = _ALIASES.get(key, key)
                raise ValueError(
                    f"CAM method name {key!r} is already registered (by {owner!r}); pick another "
                    f"name or call unregister_cam_method({owner!r}) first."
                )
        layered = getattr(factory, "takes_layers", True) if takes_layers is None else takes_layers
        _REGISTRY[name] = CamMethod(name, factory, bool(layered), alias_keys)
        _ALIASES.update(dict.fromkeys(alias_keys, name))
        return factory

    return decorator


def unregister_cam_method(name: str) -> CamMethod:
    """Remove a method and its aliases (any spelling of its name or an alias works).

    Returns:
        The removed entry; ``register_cam_method(entry.name, aliases=entry.aliases,
        takes_layers=entry.takes_layers)(entry.factory)`` puts it back.

    Raises:
        ValueError: unknown method, listing the valid ones.
    """
    entry = _REGISTRY.pop(canonical_cam_method(name))
    for alias in entry.aliases:
        _ALIASES.pop(alias, None)
    return entry


def cam_method_names() -> tuple[str, ...]:
    """The registered methods' names, in registration order.

    The built-ins come first: ``("cam", "gradcam", <pytorch-grad-cam methods, sorted>)``; methods
    registered later follow.
    """
    return tuple(_REGISTRY)


def canonical_cam_method(name: str) -> str:
    """``"Grad-CAM++"``, ``"grad_cam_pp"``, ``"CAM"`` ... -> a name of :func:`cam_method_names`.

    Case, ``-``, ``_`` and spaces are ignored; aliases (``"gradcampp"``) map to their method.

    Raises:
        ValueError: unknown method, listing the valid ones.
    """
    key = _key(name)
    key = _ALIASES.get(key, key)
    if key not in _REGISTRY:
        raise ValueError(f"Unknown CAM method {name!r}; valid: {cam_method_names()}.")
    return key


def cam_method(name: str) -> CamMethod:
    """The registered entry of ``name`` (any spelling; see :func:`canonical_cam_method`)."""
    return _REGISTRY[canonical_cam_method(name)]
