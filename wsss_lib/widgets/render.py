"""Panels of the explorer as arrays and PNG bytes, and the same view as a static figure.

Each panel is a ``uint8 [H, W, 3]`` image computed by :func:`render_panel` from the state and the
data; the widget layer encodes it with :func:`png_bytes` into an ``ipywidgets.Image`` (works in
JupyterLab, Voila and in tests, which can read the bytes back), and :func:`explorer_figure` draws
the same panels with matplotlib for the executed notebook and reports.
"""

from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from wsss_lib.plots.scenes import CHIMNEY_COLOR, SMOKE_COLOR, overlay_cam, overlay_mask
from wsss_lib.widgets.pipeline import ExplorerData, ImageRecord, format_metrics, image_metrics
from wsss_lib.widgets.state import ExplorerState

__all__ = [
    "FALSE_POSITIVE_COLOR",
    "PANEL_TITLES",
    "SlotView",
    "explorer_figure",
    "png_bytes",
    "render_panel",
    "slot_view",
    "upscale",
]

#: Tint of pseudo-mask pixels that lie on a chimney (the shortcut's false positives).
FALSE_POSITIVE_COLOR = "#ff1744"
#: Caption of each panel kind.
PANEL_TITLES = {
    "image": "image",
    "smoke": "true smoke mask",
    "chimney": "chimney mask",
    "cam": "CAM overlay",
    "mask": "pseudo-mask (red: chimney)",
}


@dataclass(frozen=True)
class SlotView:
    """What one model slot shows for the current state: CAM, pseudo-mask, metrics.

    Attributes:
        cam: float ``[H, W]`` in ``[0, 1]`` (post-processed).
        pred: bool ``[H, W]`` pseudo-mask ``cam > threshold``.
        metrics: :func:`~wsss_lib.widgets.pipeline.image_metrics` of the image.
        text: The metrics line shown under the panels.
        layers: Layers that were fused (empty for ``method="cam"``).
        notes: Notes from the CAM computation (e.g. layers a model lacks).
    """

    cam: np.ndarray
    pred: np.ndarray
    metrics: dict[str, float]
    text: str
    layers: tuple[str, ...]
    notes: tuple[str, ...]


def slot_view(data: ExplorerData, state: ExplorerState, slot: str) -> SlotView:
    """The :class:`SlotView` of ``slot`` (cheap once its CAM is cached: no model run)."""
    record = data.record(state.source, state.index)
    slot_cam = data.cam(state, slot)
    pred = slot_cam.cam > state.threshold
    metrics = image_metrics(slot_cam.cam, pred, record)
    return SlotView(
        cam=slot_cam.cam,
        pred=pred,
        metrics=metrics,
        text=format_metrics(metrics, record, slot_cam.probability),
        layers=slot_cam.layers,
        notes=slot_cam.notes,
    )


def _placeholder(image: np.ndarray) -> np.ndarray:
    """A faded grey copy of the image, shown where a mask is unknown."""
    grey = image.mean(axis=-1, keepdims=True)
    return np.repeat((0.35 * grey + 0.65 * 128).astype(np.uint8), 3, axis=-1)


def _mask_overlay(record: ImageRecord, mask: np.ndarray | None, color: str) -> np.ndarray:
    if mask is None:
        return _placeholder(record.image)
    return overlay_mask(record.image, mask, color=color, alpha=0.55)


def pseudo_mask_overlay(record: ImageRecord, pred: np.ndarray) -> np.ndarray:
    """The image with the pseudo-mask tinted; pixels that fall on a chimney in red."""
    out = overlay_mask(record.image, pred, color=SMOKE_COLOR, alpha=0.6)
    if record.chimney_mask is not None:
        on_chimney = pred & record.chimney_mask
        out = overlay_mask(out, on_chimney, color=FALSE_POSITIVE_COLOR, alpha=0.8)
    return out


def render_panel(data: ExplorerData, state: ExplorerState, name: str) -> np.ndarray:
    """The ``uint8 [H, W, 3]`` picture of panel ``name`` (see ``state.panel_keys``).

    ``"image"``, ``"smoke"``, ``"chimney"``: the image and its masks (faded grey when a mask is
    unknown, e.g. for a loaded photo). ``"<slot>.cam"``: CAM overlay; ``"<slot>.mask"``: the
    pseudo-mask at the current threshold.
    """
    record = data.record(state.source, state.index)
    if name == "image":
        return record.image
    if name == "smoke":
        return _mask_overlay(record, record.smoke_mask, SMOKE_COLOR)
    if name == "chimney":
        return _mask_overlay(record, record.chimney_mask, CHIMNEY_COLOR)
    slot, _, kind = name.partition(".")
    if kind == "cam":
        return overlay_cam(record.image, data.cam(state, slot).cam, alpha=0.5)
    if kind == "mask":
        return pseudo_mask_overlay(record, data.cam(state, slot).cam > state.threshold)
    raise ValueError(f"Unknown panel {name!r}; panels are image, smoke, chimney, "
                     "<slot>.cam and <slot>.mask.")


def upscale(image: np.ndarray, size: int) -> np.ndarray:
    """Enlarge ``uint8 [H, W, 3]`` by the largest whole factor that keeps it within ``size`` px.

    Nearest-neighbour, so the pixels of small images stay crisp in any browser.
    """
    factor = max(1, size // max(image.shape[0], image.shape[1]))
    if factor == 1:
        return image
    return np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


def png_bytes(image: np.ndarray) -> bytes:
    """PNG encoding of ``uint8 [H, W, 3]`` (fast compression: redraw speed matters more)."""
    buffer = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(image)).save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _describe_state(state: ExplorerState, view: SlotView, label: str) -> str:
    """Short lines saying which model and settings a figure row shows."""
    method = f"CAM: {state.method}" + (f" on {', '.join(view.layers)}" if view.layers else "")
    lines = [*textwrap.wrap(label, 44, break_on_hyphens=False), method]
    lines.append(f"scales {', '.join(f'{s:g}' for s in state.scales)}; "
                 f"post-processing: {' + '.join(state.refine) if state.refine else 'none'}")
    lines.append(f"threshold {state.threshold:.2f}")
    return "\n".join(lines)


def explorer_figure(data: ExplorerData, state: ExplorerState,
                    labels: dict[str, str] | None = None) -> Figure:
    """A static picture of the explorer's view: the image row, then one row per model.

    Row 1: image, smoke mask, chimney mask. One row per active slot: CAM overlay, pseudo-mask,
    and the metrics as text.

    Args:
        data: The explorer data.
        state: What to show.
        labels: Slot -> model description for the row titles (default: the cached models'
            labels).

    Returns:
        A matplotlib Figure (not attached to pyplot; save it or display it).
    """
    slots = state.active_slots
    record = data.record(state.source, state.index)
    fig = Figure(figsize=(9.0, 3.0 * (1 + len(slots))), layout="constrained")
    axes = fig.subplots(1 + len(slots), 3, squeeze=False)
    for ax, name in zip(axes[0], ("image", "smoke", "chimney"), strict=True):
        ax.imshow(render_panel(data, state, name), interpolation="nearest")
        known = {"smoke": record.smoke_mask, "chimney": record.chimney_mask}.get(name, True)
        title = PANEL_TITLES[name] + ("" if known is not None else " (unknown)")
        kind = {1: "smoke", 0: "clean", None: "label unknown"}[record.label]
        ax.set_title(title if name != "image" else f"{record.name} ({kind})", fontsize=9)
    for row, slot in enumerate(slots, start=1):
        view = slot_view(data, state, slot)
        cached = data.models.get(state.model(slot) or "")
        label = (labels or {}).get(slot) or (cached.label if cached else state.model(slot))
        for ax, kind in zip(axes[row][:2], ("cam", "mask"), strict=True):
            ax.imshow(render_panel(data, state, f"{slot}.{kind}"), interpolation="nearest")
            ax.set_title(f"{slot.upper()}: {PANEL_TITLES[kind]}", fontsize=9)
        text = _describe_state(state, view, f"model {slot.upper()}: {label}")
        if cached is not None and cached.near_chance:
            axes[row][2].text(0.0, 0.0, "near chance: this network did not learn to\n"
                              "recognise smoke; its CAM shows an untrained network",
                              va="bottom", ha="left", fontsize=8, color="#b00020",
                              transform=axes[row][2].transAxes)
        text += "\n\n" + view.text.replace(" · ", "\n")
        if view.notes:
            text += "\n" + "\n".join(view.notes)
        axes[row][2].text(0.0, 1.0, text, va="top", ha="left", fontsize=8,
                          transform=axes[row][2].transAxes)
    for ax in axes.flat:
        ax.set_axis_off()
    return fig

