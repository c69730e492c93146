"""The explorer's state as one immutable value, and pure rules for changing and diffing it.

Everything the explorer shows is a function of an :class:`ExplorerState`; a control change makes
a new state with :func:`update_state`, and :func:`panel_keys` / :func:`stale_panels` say which
panels the change invalidates. A threshold change, for example, only touches the pseudo-mask
panels and metrics: the CAM (keyed without the threshold) stays cached and the model does not run.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import Any

from wsss_lib.cam import CAM_METHODS
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

    Attributes:
        source: Image source: a split name (``"test"``) or a loaded file/folder name.
        index: Image index within the source.
        model_a: Cache key of the main model (see ``CachedModel.key``), or None.
        model_b: Cache key of the comparison model, or None for no comparison.
        method: CAM method, one of ``wsss_lib.cam.CAM_METHODS`` (``"cam"`` takes no layers).
        layers: Layers to fuse for Grad-CAM methods; empty means the model's default layers.
        scales: Image scales averaged over (multi-scale inference).
        fusion: Layer fusion rule, one of :data:`FUSION_CHOICES`.
        threshold: Pseudo-mask threshold on the min-max normalised CAM (paper: 0.3).
        steps: Post-processing step names, applied in this order.
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
    steps: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.source, str) or not self.source:
            raise ValueError(f"source must be a non-empty name; got {self.source!r}.")
        if isinstance(self.index, bool) or not isinstance(self.index, int) or self.index < 0:
            raise ValueError(f"index must be an int >= 0; got {self.index!r}.")
        if self.method not in CAM_METHODS:
            raise ValueError(f"Unknown CAM method {self.method!r}; choose one of {CAM_METHODS}.")
        if self.fusion not in FUSION_CHOICES:
            raise ValueError(f"fusion={self.fusion!r}; choose one of {FUSION_CHOICES}.")
        threshold = self.threshold
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) \
                or not math.isfinite(threshold) or not 0.0 <= threshold <= 1.0:
            raise ValueError(
                f"threshold must be a number in [0, 1] (paper: 0.3); got {threshold!r}.")
        object.__setattr__(self, "threshold", float(threshold))
        object.__setattr__(self, "layers", tuple(str(layer) for layer in self.layers))
        scales = tuple(float(s) for s in self.scales)
        if not scales or any(not (math.isfinite(s) and s > 0) for s in scales):
            raise ValueError(
                f"scales must be positive factors, e.g. (1.0, 1.5); got {self.scales!r}.")
        object.__setattr__(self, "scales", tuple(sorted(set(scales))))
        object.__setattr__(self, "steps", tuple(str(step) for step in self.steps))
        if len(set(self.steps)) != len(self.steps):
            raise ValueError(f"steps lists a step twice: {self.steps!r}.")

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
           () if state.method == "cam" else state.layers, state.scales, state.fusion)
    return (*key, state.steps) if refined else key


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
