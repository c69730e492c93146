"""The explorer's state as one immutable value, and pure rules for changing and diffing it.

Everything the explorer shows is a function of an :class:`ExplorerState`; a control change makes
a new state with :func:`update_state`, and :func:`panel_keys` / :func:`stale_panels` say which
panels the change invalidates. A threshold change, for example, only touches the pseudo-mask
panels and metrics: the CAM (keyed without the threshold) stays cached and the model does not run.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from functools import cached_property
from typing import Any

from wsss_lib.cam.methods import cam_method
from wsss_lib.cam.readout import CamReadout
from wsss_lib.utils import PAPER_THRESHOLD

__all__ = [
    "FUSION_CHOICES",
    "SLOTS",
    "ExplorerState",
    "cam_key",
    "panel_keys",
    "stale_panels",
    "update_state",
]

#: The two model slots: "a" is always shown, "b" (comparison) when a model is chosen for it.
SLOTS = ("a", "b")
#: Layer-fusion rules offered ("weighted" needs per-layer weights, which a widget cannot guess).
FUSION_CHOICES = ("mean", "max")


@dataclass(frozen=True)
class ExplorerState:
    """Everything the user has chosen in the explorer.

    The CAM settings are the fields of a :class:`~wsss_lib.cam.readout.CamReadout`, checked by
    making one (:attr:`readout`); the explorer keeps them flat so that one control changes one
    field (:func:`update_state`).

    Attributes:
        source: Image source: a split name (``"test"``) or a loaded file/folder name.
        index: Image index within the source.
        model_a: Cache key of the main model (see ``CachedModel.key``), or None.
        model_b: Cache key of the comparison model, or None for no comparison.
        method: CAM method (``wsss_lib.cam.cam_method_names()``; ``"cam"`` takes no layers).
        layers: Layers to fuse for Grad-CAM methods; empty means the model's default layers
            (kept while a method without layers is chosen, so switching back restores them).
        scales: Image scales averaged over (multi-scale inference), sorted.
        fusion: Layer fusion rule, one of :data:`FUSION_CHOICES`.
        threshold: Pseudo-mask threshold on the min-max normalised CAM (paper: 0.3).
        refine: Post-processing step names, applied in this order.
    """

    source: str = "test"
    index: int = 0
    model_a: str | None = None
    model_b: str | None = None
    method: str = "cam"
    layers: tuple[str, ...] = ()
    scales: tuple[float, ...] = (1.0,)
    fusion: str = "mean"
    threshold: float = PAPER_THRESHOLD
    refine: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.source, str) or not self.source:
            raise ValueError(f"source must be a non-empty name; got {self.source!r}.")
        if isinstance(self.index, bool) or not isinstance(self.index, int) or self.index < 0:
            raise ValueError(f"index must be an int >= 0; got {self.index!r}.")
        if self.fusion not in FUSION_CHOICES:
            raise ValueError(f"fusion={self.fusion!r}; choose one of {FUSION_CHOICES}.")
        refine = (self.refine,) if isinstance(self.refine, str) else tuple(self.refine)
        if len(set(refine)) != len(refine):
            raise ValueError(f"refine lists a step twice: {refine!r}.")
        layers = (self.layers,) if isinstance(self.layers, str) else self.layers
        object.__setattr__(self, "layers", tuple(str(layer) for layer in layers))
        readout = CamReadout(self.method, self._readout_layers(self.method), scales=self.scales,
                             fusion=self.fusion, threshold=self.threshold, refine=refine)
        object.__setattr__(self, "method", readout.method)
        object.__setattr__(self, "scales", tuple(sorted(set(readout.scales))))
        object.__setattr__(self, "threshold", readout.threshold)
        object.__setattr__(self, "refine", tuple(str(step) for step in readout.refine))

    def _readout_layers(self, method: str) -> tuple[str, ...] | None:
        # Known method names only: an unknown one is reported by CamReadout itself.
        try:
            takes_layers = cam_method(method).takes_layers
        except ValueError:
            return None
        return self.layers if takes_layers and self.layers else None

    @cached_property
    def readout(self) -> CamReadout:
        """The chosen CAM settings as one :class:`~wsss_lib.cam.readout.CamReadout` (layers only
        for methods that read layers; empty layers: the method's defaults)."""
        return CamReadout(self.method, self._readout_layers(self.method), scales=self.scales,
                          fusion=self.fusion, threshold=self.threshold, refine=self.refine)

    def model(self, slot: str) -> str | None:
        """The model key of ``slot`` (``"a"`` or ``"b"``)."""
        if slot not in SLOTS:
            raise ValueError(f"slot must be one of {SLOTS}; got {slot!r}.")
        return self.model_a if slot == "a" else self.model_b

    @property
    def active_slots(self) -> tuple[str, ...]:
        """Slots that have a model; ``"b"`` only when it differs from ``"a"``."""
        slots = []
        if self.model_a is not None:
            slots.append("a")
        if self.model_b is not None and self.model_b != self.model_a:
            slots.append("b")
        return tuple(slots)


def update_state(state: ExplorerState, **changes: Any) -> ExplorerState:
    """A new state with ``changes`` applied and validated; ``state`` itself is unchanged.

    Changing ``source`` without an ``index`` resets the index to 0 (the old index may not exist in
    the new source).

    Raises:
        ValueError: an unknown field or an invalid value, naming it.
    """
    valid = {f.name for f in fields(ExplorerState)}
    unknown = sorted(set(changes) - valid)
    if unknown:
        raise ValueError(f"Unknown explorer setting(s) {unknown}; valid: {sorted(valid)}.")
    if "source" in changes and changes["source"] != state.source and "index" not in changes:
        changes["index"] = 0
    return replace(state, **changes)


def image_key(state: ExplorerState) -> tuple:
    """Identifies the displayed image (and its masks)."""
    return (state.source, state.index)


def cam_key(state: ExplorerState, slot: str, *, refined: bool = True) -> tuple:
    """Identifies the CAM of ``slot``: everything it depends on, but not the threshold.

    Args:
        state: The explorer state.
        slot: ``"a"`` or ``"b"``.
        refined: Include the post-processing steps (the refined CAM); else the raw model CAM.
    """
    key = (*image_key(state), state.model(slot), state.method,
           state.readout.layers or (), state.scales, state.fusion)
    return (*key, state.refine) if refined else key


def panel_keys(state: ExplorerState) -> dict[str, tuple]:
    """Panel name -> the inputs that determine what it shows.

    Panels: ``"image"``, ``"smoke"``, ``"chimney"`` and, per active slot ``s``, ``"s.cam"``
    (CAM overlay), ``"s.mask"`` (pseudo-mask) and ``"s.metrics"`` (the metrics text).
    """
    keys = {name: image_key(state) for name in ("image", "smoke", "chimney")}
    for slot in state.active_slots:
        cam = cam_key(state, slot)
        keys[f"{slot}.cam"] = cam
        keys[f"{slot}.mask"] = (*cam, state.threshold)
        keys[f"{slot}.metrics"] = (*cam, state.threshold)
    return keys


def stale_panels(old: dict[str, tuple] | None, new: dict[str, tuple]) -> list[str]:
    """Names of panels in ``new`` whose key differs from ``old`` (all of them when old is None)."""
    if old is None:
        return list(new)
    return [name for name, key in new.items() if old.get(name) != key]
