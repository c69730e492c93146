"""The one read-out value: how a network's output becomes a CAM, and the CAM a pseudo-mask.

A :class:`CamReadout` names everything a pseudo-mask depends on besides the network: the CAM
method and its layers, the image scales and how layers are fused, the normalisation, the
refinement steps and the threshold. It checks every setting when it is made, so a bad value fails
before any image is processed, with a message that says what is valid. The read-out chosen on
``val`` (:func:`wsss_lib.train.choose_readout`), ``wsss evaluate`` / ``wsss pseudo-masks``, the
explorer's controls and notebook 05's fusion variants are all ``CamReadout`` values::

    readout = CamReadout("gradcam", layers=("blocks.-1.norm1",), scales=(1.0, 1.5),
                         threshold=0.45)
    cam = compute_cam(model, images, **readout.cam_kwargs())   # float [B, H, W] in [0, 1]
    masks = cam > readout.threshold                             # bool [B, H, W]

Two dict forms: :meth:`CamReadout.to_dict` is compact (``method``, ``layers``, ``threshold`` and
only the settings that differ from their defaults: what ``metrics.json`` records of a chosen
read-out) and :meth:`CamReadout.to_record` is complete (every setting, refinement steps with their
parameters: what a pseudo-mask manifest records). :meth:`CamReadout.from_dict` reads both.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import KW_ONLY, dataclass, fields, replace
from typing import Any

from torch import Tensor, nn

from wsss_lib.cam.fusion import FUSION_RULES
from wsss_lib.cam.methods import cam_method, canonical_cam_method
from wsss_lib.cam.torch_cam import NORMALIZE_MODES, default_gradcam_layers
from wsss_lib.postprocess.registry import (
    REFINEMENT_STEPS,
    check_step_name,
    is_refinement_step,
    make_refinement_steps,
)
from wsss_lib.utils import PAPER_THRESHOLD, to_jsonable

__all__ = ["CamReadout", "layer_cams_readout", "readout_or_settings"]

#: The keys :meth:`CamReadout.to_dict` always writes (the read-out of ``metrics.json`` files).
_ALWAYS = ("method", "layers", "threshold")


def _check_method(method: Any) -> str:
    if not isinstance(method, str):
        raise ValueError(f"CamReadout.method must be a CAM method name such as 'cam' or "
                         f"'gradcam'; got {method!r}.")
    return canonical_cam_method(method)


def _check_layers(layers: Any, method: str) -> tuple[str | int, ...] | None:
    if isinstance(layers, (str, int)) and not isinstance(layers, bool):
        layers = (layers,)
    if layers is not None:
        try:
            layers = tuple(layers)
        except TypeError:
            raise ValueError(f"CamReadout.layers must be layer names or indices; got "
                             f"{layers!r}.") from None
        bad = [x for x in layers if isinstance(x, bool) or not isinstance(x, (str, int))]
        if bad:
            raise ValueError(f"CamReadout.layers must be layer names (e.g. 'blocks.-1.norm1') "
                             f"or indices (e.g. -1); got {bad}.")
    layers = layers or None  # () and [] mean "the method's defaults", as None does
    if layers is not None and not cam_method(method).takes_layers:
        raise ValueError(f"method={method!r} reads the classifier's score map and takes no "
                         "layers; drop the layers or use method='gradcam'.")
    return layers


def _check_scales(scales: Any) -> tuple[float, ...]:
    if isinstance(scales, (int, float)) and not isinstance(scales, bool):
        scales = (scales,)
    try:
        values = tuple(float(s) for s in scales)
    except (TypeError, ValueError):
        values = ()
    if not values or not all(math.isfinite(s) and s > 0 for s in values):
        raise ValueError(
            f"scales must be positive factors (at least one), e.g. [1.0] or "
            f"[0.5, 1.0, 1.5, 2.0]; got {scales!r}."
        )
    return values


def _check_fusion(fusion: Any, weights: Any) -> tuple[float, ...] | None:
    if fusion not in FUSION_RULES:
        raise ValueError(f"Unknown fusion rule {fusion!r}; valid: {FUSION_RULES}.")
    if weights is None:
        if fusion == "weighted":
            raise ValueError("fusion='weighted' needs fusion_weights, one per layer; or use "
                             "fusion='mean' or 'max'.")
        return None
    try:
        values = tuple(float(w) for w in weights)
    except (TypeError, ValueError):
        values = ()
    if not values or not all(math.isfinite(w) and w >= 0 for w in values) or sum(values) <= 0:
        raise ValueError(f"fusion_weights must be weights >= 0 with a positive sum, one per "
                         f"layer; got {weights!r}.")
    if fusion != "weighted":
        raise ValueError(f"fusion_weights are used by fusion='weighted' only; got "
                         f"fusion={fusion!r}.")
    return values


def _check_normalize(normalize: Any) -> str:
    if normalize not in NORMALIZE_MODES:
        raise ValueError(f"normalize={normalize!r} is not one of {NORMALIZE_MODES}.")
    return normalize


def _check_threshold(threshold: Any) -> float:
    ok = isinstance(threshold, (int, float)) and not isinstance(threshold, bool)
    if not ok or not math.isfinite(threshold) or not 0.0 <= threshold <= 1.0:
        raise ValueError(
            f"threshold must be a number in [0, 1] (CAMs are min-max normalised; paper: 0.3); "
            f"got {threshold!r}."
        )
    return float(threshold)


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(to_jsonable(value)))


def _check_refine(refine: Any) -> tuple[Any, ...]:
    if isinstance(refine, (str, Mapping)) or is_refinement_step(refine):
        refine = (refine,)
    out: list[Any] = []
    for item in refine:
        if isinstance(item, str):
            out.append(check_step_name(item))
        elif isinstance(item, Mapping):
            if set(item) != {"name", "params"} or not isinstance(item["name"], str) \
                    or not isinstance(item["params"], Mapping):
                raise ValueError(f"A recorded refinement step is {{'name': str, 'params': "
                                 f"dict}}; got {dict(item)!r}.")
            out.append({"name": item["name"], "params": _jsonable(dict(item["params"]))})
        elif is_refinement_step(item):
            out.append(item)
        else:
            raise ValueError(
                f"refine entries must be step names {sorted(REFINEMENT_STEPS)}, recorded steps "
                f"{{'name', 'params'}} or post-processing step objects (wsss_lib.postprocess); "
                f"got {item!r}."
            )
    return tuple(out)


def _step_from_record(record: Mapping[str, Any]) -> Any:
    name, params = record["name"], dict(record["params"])
    if name not in REFINEMENT_STEPS:
        raise ValueError(
            f"The recorded refinement step {name!r} is not a named step "
            f"{sorted(REFINEMENT_STEPS)}; it needs fitting or weights: pass the step object."
        )
    try:
        return REFINEMENT_STEPS[name](**params)
    except TypeError as err:
        raise ValueError(f"Cannot rebuild refinement step {name!r} from {params}: {err}.") from None


@dataclass(frozen=True)
class CamReadout:
    """How a network's output becomes a CAM and a pseudo-mask; every field is checked.

    Attributes:
        method: CAM method of :func:`wsss_lib.cam.compute_cam`: ``"cam"`` (the classifier's
            score map), ``"gradcam"`` or a registered method (any spelling: ``"Grad-CAM++"``
            becomes ``"gradcam++"``).
        layers: Layer names or indices fused for methods that read layers (``None``: the
            method's defaults, the paper's ``norm1`` of ViT blocks -5, -4, -2, -1; must be
            ``None`` for ``"cam"``). :meth:`resolve` turns them into canonical names.
        scales: Image scales averaged over (multi-scale inference; paper: 0.5, 1, 1.5, 2).
        fusion: Layer fusion rule (``"mean"``, ``"max"``, ``"weighted"``).
        fusion_weights: One weight per layer for ``fusion="weighted"``.
        normalize: CAM normalisation (``"minmax"``: the threshold refers to it).
        threshold: Pseudo-mask = ``cam > threshold``, in ``[0, 1]`` (paper: 0.3).
        refine: Refinement steps, in order: names (``"par"``, ``"crf"``), recorded steps
            ``{"name", "params"}``, or step objects (a fitted ``AffinityRefiner``, ...).
    """

    method: str = "cam"
    layers: tuple[str | int, ...] | None = None
    _: KW_ONLY
    scales: tuple[float, ...] = (1.0,)
    fusion: str = "mean"
    fusion_weights: tuple[float, ...] | None = None
    normalize: str = "minmax"
    threshold: float = PAPER_THRESHOLD
    refine: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        method = _check_method(self.method)
        checked = {
            "method": method,
            "layers": _check_layers(self.layers, method),
            "scales": _check_scales(self.scales),
            "fusion_weights": _check_fusion(self.fusion, self.fusion_weights),
            "normalize": _check_normalize(self.normalize),
            "threshold": _check_threshold(self.threshold),
            "refine": _check_refine(self.refine),
        }
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @property
    def label(self) -> str:
        """Short text, e.g. ``"cam > 0.30"`` or ``"gradcam[blocks.-1.norm1] > 0.45"``; settings
        other than their defaults are added before the threshold (``"@0.5,1"`` scales, ``"/max"``
        fusion, ``"+crf"`` refinement)."""
        layers = f"[{','.join(str(x) for x in self.layers)}]" if self.layers else ""
        extras = ""
        if self.scales != (1.0,):
            extras += "@" + ",".join(f"{s:g}" for s in self.scales)
        if self.fusion != "mean":
            extras += f"/{self.fusion}"
        if self.normalize != "minmax":
            extras += f"/norm={self.normalize}"
        extras += "".join(f"+{name}" for name in self.refine_names)
        return f"{self.method}{layers}{extras} > {self.threshold:.2f}"

    @property
    def refine_names(self) -> tuple[str, ...]:
        """The refinement steps' names, in order."""
        return tuple(item if isinstance(item, str) else str(item["name"])
                     if isinstance(item, Mapping) else str(item.name) for item in self.refine)

    def refinement_steps(self) -> list[Any]:
        """The post-processing steps to run, in order: a fresh step per name or record (built
        with the recorded parameters), step objects as given. Each maps a soft CAM float
        ``[B, H, W]`` and its images to a refined CAM ``[B, H, W]``."""
        return [_step_from_record(item) if isinstance(item, Mapping)
                else make_refinement_steps([item])[0] for item in self.refine]

    def _refine_records(self) -> list[dict[str, Any]]:
        return [{"name": str(step.name), "params": _jsonable(step.params())}
                for step in self.refinement_steps()]

    def to_dict(self) -> dict[str, Any]:
        """Compact JSON-able form: ``method``, ``layers`` (list or None) and ``threshold``, plus
        only the settings that differ from their defaults (refinement steps as names, or
        ``{"name", "params"}`` for step objects and records)."""
        out: dict[str, Any] = {
            "method": self.method,
            "layers": list(self.layers) if self.layers is not None else None,
            "threshold": self.threshold,
        }
        defaults = CamReadout()
        for name in ("scales", "fusion", "fusion_weights", "normalize"):
            value = getattr(self, name)
            if value != getattr(defaults, name):
                out[name] = list(value) if isinstance(value, tuple) else value
        if self.refine:
            out["refine"] = [item if isinstance(item, str) else dict(item)
                             if isinstance(item, Mapping)
                             else {"name": str(item.name), "params": _jsonable(item.params())}
                             for item in self.refine]
        return out

    def to_record(self) -> dict[str, Any]:
        """Complete JSON-able form, as a pseudo-mask manifest records it: ``method``,
        ``layers`` (list; ``[]`` for methods without layers), ``scales``, ``fusion``,
        ``normalize``, ``threshold``, ``refine`` (``[{"name", "params"}]`` of every step) and
        ``fusion_weights`` when set. Call it on a :meth:`resolve`\\ d read-out, whose layers
        are the model's canonical names."""
        record: dict[str, Any] = {
            "method": self.method,
            "layers": list(self.layers or ()),
            "scales": list(self.scales),
            "fusion": self.fusion,
            "normalize": self.normalize,
            "threshold": self.threshold,
            "refine": self._refine_records(),
        }
        if self.fusion_weights is not None:
            record["fusion_weights"] = list(self.fusion_weights)
        return json.loads(json.dumps(record))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CamReadout:
        """A read-out from :meth:`to_dict` or :meth:`to_record` output (missing keys take their
        defaults).

        Raises:
            ValueError: unknown keys or invalid values.
        """
        valid = [f.name for f in fields(cls) if f.name != "_"]
        unknown = sorted(set(data) - set(valid))
        if unknown:
            raise ValueError(f"Unknown CamReadout keys {unknown}; valid: {', '.join(valid)}.")
        kwargs = dict(data)
        for name in ("layers", "scales", "fusion_weights", "refine"):
            if isinstance(kwargs.get(name), list):
                kwargs[name] = tuple(kwargs[name])
        return cls(**kwargs)

    def resolve(self, model: nn.Module) -> CamReadout:
        """This read-out on ``model``: layer specs as the model's canonical names (``-1`` ->
        ``"blocks.11"``, ``"blocks.-1.norm1"`` -> ``"blocks.11.norm1"``), ``layers=None`` as
        :func:`wsss_lib.cam.default_gradcam_layers` for methods that read layers.

        Raises:
            ValueError: a layer the model does not have.
        """
        if not cam_method(self.method).takes_layers:
            return self
        specs = default_gradcam_layers(model) if self.layers is None else self.layers
        return replace(self, layers=tuple(model.resolve_module(spec)[0] for spec in specs))

    def cam_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`wsss_lib.cam.compute_cam` for this read-out (``method``,
        ``layers``, ``scales``, ``fusion``, ``normalize``, ``fusion_weights``); the threshold
        and the refinement steps are applied after it."""
        return {
            "method": self.method,
            "layers": list(self.layers) if self.layers is not None else None,
            "scales": self.scales,
            "fusion": self.fusion,
            "normalize": self.normalize,
            "fusion_weights": self.fusion_weights,
        }


def layer_cams_readout(readout: CamReadout, layer_cams: Any) -> Tensor:
    """``readout``'s CAM from stored layer maps (a :class:`wsss_lib.cam.LayerCams`), without
    running the network: equal to ``compute_cam(model, images, **readout.cam_kwargs())``.

    Args:
        readout: A ``"gradcam"`` read-out (the stored maps are torch Grad-CAMs) over layers and
            scales that ``layer_cams`` holds (``layers=None``: all of its layers); refinement
            steps and the threshold are not applied.
        layer_cams: From :func:`wsss_lib.cam.layer_gradcams`.

    Returns:
        float ``[N, H, W]``.
    """
    if readout.method != "gradcam":
        raise ValueError(f"Stored layer maps are Grad-CAMs; a {readout.method!r} read-out needs "
                         "compute_cam.")
    return layer_cams.cam(readout.layers, readout.fusion, readout.scales,
                          readout.fusion_weights, readout.normalize)


def readout_or_settings(readout: CamReadout | None, **settings: Any) -> CamReadout:
    """``readout``, or the :class:`CamReadout` of separate keyword arguments (``None`` values
    left out: the defaults), for functions that take either (``readout=`` or ``method=``, ...).

    Raises:
        ValueError: both a readout and separate settings, or invalid settings.
    """
    given = {k: v for k, v in settings.items() if v is not None}
    if readout is None:
        return CamReadout(**given)
    if not isinstance(readout, CamReadout):
        raise ValueError(f"readout must be a CamReadout; got {type(readout).__name__}.")
    if given:
        raise ValueError(f"Pass either readout= or the CAM settings {sorted(given)}, not both "
                         "(the readout holds them).")
    return readout
