"""How a CAM is read for pseudo-masks: the CAM settings (:class:`CamSettings`), their checks and
defaults for a model, and the refinement steps that can be named (:data:`REFINEMENT_STEPS`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from torch import nn

from wsss_lib.postprocess import DenseCRF, PixelAdaptiveRefiner
from wsss_lib.utils import PAPER_THRESHOLD

#: Refinement steps that can be named (``refine=("par", "crf")``): they need no fitting and no
#: downloaded weights. Others (a fitted ``AffinityRefiner``, ``ClipRefiner``/``SamRefiner`` with
#: local weights) are passed as step objects.
REFINEMENT_STEPS: dict[str, Callable[[], Any]] = {
    "par": PixelAdaptiveRefiner,
    "crf": DenseCRF,
}


def make_refinement_steps(refine: Sequence[str | Any]) -> list[Any]:
    """Post-processing steps from names (:data:`REFINEMENT_STEPS`) or step objects.

    Args:
        refine: Step names (``"par"``, ``"crf"``) and/or objects with ``name``, ``params()`` and
            ``__call__(cam, images)`` (see :mod:`wsss_lib.postprocess`), run in order.

    Raises:
        ValueError: an unknown name or an object that is not a post-processing step.
    """
    if isinstance(refine, str):
        refine = [refine]
    steps = []
    for item in refine:
        if isinstance(item, str):
            if item not in REFINEMENT_STEPS:
                raise ValueError(
                    f"Unknown refinement step {item!r}; named steps are "
                    f"{sorted(REFINEMENT_STEPS)} (AffinityNet, CLIP and SAM need fitting or local "
                    "weights: pass the step object, e.g. ClipRefiner(weights_path=...))."
                )
            steps.append(REFINEMENT_STEPS[item]())
        elif callable(item) and hasattr(item, "params") and hasattr(item, "name"):
            steps.append(item)
        else:
            raise ValueError(
                f"refine entries must be step names {sorted(REFINEMENT_STEPS)} or post-processing "
                f"step objects (wsss_lib.postprocess); got {item!r}."
            )
    return steps


@dataclass(frozen=True)
class CamSettings:
    """How a CAM becomes a pseudo-mask (everything :func:`export_pseudo_masks` records).

    Attributes:
        method: CAM method of :func:`wsss_lib.cam.compute_cam` (``"cam"``, ``"gradcam"``, ...).
        layers: Canonical layer names fused for Grad-CAM methods (empty for ``"cam"``).
        scales: Image scales averaged over (multi-scale inference).
        fusion: Layer fusion rule (``"mean"``, ``"max"``, ``"weighted"``).
        normalize: CAM normalisation (``"minmax"``: pseudo-mask thresholds refer to it).
        threshold: Pseudo-mask = ``cam > threshold``.
        refine: ``[{"name", "params"}]`` of the post-processing steps, in order.
    """

    method: str
    layers: tuple[str, ...]
    scales: tuple[float, ...]
    fusion: str
    normalize: str
    threshold: float
    refine: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form (lists, not tuples)."""
        return json.loads(json.dumps({
            "method": self.method,
            "layers": list(self.layers),
            "scales": list(self.scales),
            "fusion": self.fusion,
            "normalize": self.normalize,
            "threshold": self.threshold,
            "refine": list(self.refine),
        }))


def _check_threshold(threshold: Any) -> float:
    ok = isinstance(threshold, (int, float)) and not isinstance(threshold, bool)
    if not ok or not math.isfinite(threshold) or not 0.0 <= threshold <= 1.0:
        raise ValueError(
            f"threshold must be a number in [0, 1] (CAMs are min-max normalised; paper: 0.3); "
            f"got {threshold!r}."
        )
    return float(threshold)


def _check_scales(scales: Any) -> tuple[float, ...]:
    if isinstance(scales, (int, float)) and not isinstance(scales, bool):
        scales = (scales,)
    try:
        values = tuple(float(s) for s in scales)
    except (TypeError, ValueError):
        values = ()
    if not values or not all(math.isfinite(s) and s > 0 for s in values):
        raise ValueError(
            f"scales must be a non-empty list of positive factors, e.g. [1.0] or "
            f"[0.5, 1.0, 1.5, 2.0]; got {scales!r}."
        )
    return values


def resolve_cam_settings(
    model: nn.Module,
    *,
    method: str = "cam",
    layers: str | int | Sequence[str | int] | None = None,
    scales: Sequence[float] = (1.0,),
    fusion: str = "mean",
    normalize: str = "minmax",
    threshold: float = PAPER_THRESHOLD,
    steps: Sequence[Any] = (),
) -> CamSettings:
    """Validate CAM settings against ``model`` before any work is done.

    Layer specs are resolved to canonical names (``-1`` -> ``"blocks.11"``,
    ``"blocks.-1.norm1"`` -> ``"blocks.11.norm1"``); ``layers=None`` with a Grad-CAM method means
    :func:`wsss_lib.cam.default_gradcam_layers` (the paper's ``norm1`` of blocks -5, -4, -2, -1 on
    a ViT).

    Raises:
        ValueError: unknown method, fusion or normalisation, layers with ``method="cam"``, a
            layer the model does not have, bad scales or threshold.
    """
    from wsss_lib.cam import CAM_METHODS, FUSION_RULES, NORMALIZE_MODES, default_gradcam_layers
    from wsss_lib.cam.gradcam_adapter import canonical_gradcam_method

    if method not in ("cam", "gradcam"):
        try:
            method = canonical_gradcam_method(method)
        except ValueError:
            raise ValueError(f"Unknown CAM method {method!r}; valid: {CAM_METHODS}.") from None
    if fusion not in FUSION_RULES:
        raise ValueError(f"Unknown fusion rule {fusion!r}; valid: {FUSION_RULES}.")
    if normalize not in NORMALIZE_MODES:
        raise ValueError(f"normalize={normalize!r} is not one of {NORMALIZE_MODES}.")
    if method == "cam":
        if layers not in (None, [], ()):
            raise ValueError(
                "method='cam' reads the classifier's score map and takes no layers; drop the "
                "layers or use method='gradcam'."
            )
        names: tuple[str, ...] = ()
    else:
        specs = default_gradcam_layers(model) if layers in (None, [], ()) else layers
        if isinstance(specs, (str, int)):
            specs = [specs]
        names = tuple(_canonical_layer(model, spec) for spec in specs)
    return CamSettings(
        method=method,
        layers=names,
        scales=_check_scales(scales),
        fusion=fusion,
        normalize=normalize,
        threshold=_check_threshold(threshold),
        refine=tuple({"name": str(s.name), "params": _jsonable(s.params())} for s in steps),
    )


def _canonical_layer(model: nn.Module, spec: str | int) -> str:
    """``"blocks.-1.norm1"`` -> ``"blocks.11.norm1"`` (a model layer or a sub-module of one)."""
    return model.resolve_module(spec)[0]


def _jsonable(value: Any) -> Any:
    from wsss_lib.utils import to_jsonable

    return json.loads(json.dumps(to_jsonable(value)))


def _check_batch_size(batch_size: Any) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}.")
