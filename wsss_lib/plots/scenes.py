"""Drawing scenes: mask colours, overlays and the contact sheet (notebooks, widgets, scripts).

- :func:`overlay_mask` / :func:`overlay_cam` blend a mask or a CAM onto an image and return a new
  ``uint8 [H, W, 3]`` image (no matplotlib figure), so they work in widgets and reports alike.
- :func:`contact_sheet` draws a grid of scenes with smoke outlined in cyan and chimneys in orange
  (clouds/haze dashed white), the picture at the top of the README.

Colours are matplotlib colour specs: a name (``"cyan"``), a hex string or RGB floats in ``[0, 1]``.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from matplotlib import colormaps
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from wsss_lib.utils import atomic_write_bytes

__all__ = [
    "CHIMNEY_COLOR",
    "DISTRACTOR_COLOR",
    "SMOKE_COLOR",
    "contact_sheet",
    "overlay_cam",
    "overlay_mask",
    "save_figure",
]

#: Outline colour of smoke masks (matches the README caption).
SMOKE_COLOR = "#00e5ff"
#: Outline colour of chimney masks.
CHIMNEY_COLOR = "#ff9f1c"
#: Outline colour of cloud/haze (distractor) masks.
DISTRACTOR_COLOR = "#ffffff"


def _as_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().float().numpy() if x.is_floating_point() else x.cpu().numpy()
    return np.asarray(x)


def _as_uint8_image(image: Any) -> np.ndarray:
    """``uint8 [H, W, 3]`` from a uint8 image or a float image in ``[0, 1]``."""
    arr = _as_numpy(image)
    if arr.ndim != 3 or arr.shape[-1] != 3:
        raise ValueError(
            f"image must have shape [H, W, 3] (RGB, channels last); got {tuple(arr.shape)}. "
            "For a [3, H, W] tensor use image.permute(1, 2, 0)."
        )
    if arr.dtype == np.uint8:
        return arr
    if np.issubdtype(arr.dtype, np.floating):
        if arr.size and (arr.min() < 0 or arr.max() > 1):
            raise ValueError(
                "A float image must lie in [0, 1]; undo the ImageNet normalisation first "
                "(wsss_lib.data.denormalize)."
            )
        return np.round(arr * 255).astype(np.uint8)
    raise ValueError(f"image must be uint8 or float in [0, 1]; got dtype {arr.dtype}.")


def _check_hw(arr: np.ndarray, image: np.ndarray, name: str) -> None:
    if arr.shape != image.shape[:2]:
        raise ValueError(
            f"{name} has shape {tuple(arr.shape)} but the image is {tuple(image.shape[:2])}; "
            "upsample it to the image size first (wsss_lib.cam.upsample_cam)."
        )


def overlay_mask(
    image: Any,
    mask: Any,
    color: str | tuple[float, float, float] = SMOKE_COLOR,
    alpha: float = 0.45,
) -> np.ndarray:
    """Tint the masked pixels of an image with a colour.

    Args:
        image: ``uint8 [H, W, 3]`` (or float in ``[0, 1]``).
        mask: bool ``[H, W]``; True pixels are tinted.
        color: Matplotlib colour spec.
        alpha: Opacity of the tint in ``[0, 1]``.

    Returns:
        A new ``uint8 [H, W, 3]`` image.
    """
    img = _as_uint8_image(image)
    mask_arr = _as_numpy(mask).astype(bool)
    _check_hw(mask_arr, img, "mask")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1]; got {alpha}.")
    tint = np.array(to_rgb(color)) * 255.0
    out = img.astype(np.float32)
    out[mask_arr] = (1.0 - alpha) * out[mask_arr] + alpha * tint
    return np.round(out).astype(np.uint8)


def overlay_cam(image: Any, cam: Any, alpha: float = 0.5, cmap: str = "jet") -> np.ndarray:
    """Blend a CAM, colour-mapped (jet by default), over an image.

    Args:
        image: ``uint8 [H, W, 3]`` (or float in ``[0, 1]``).
        cam: float ``[H, W]`` in ``[0, 1]`` (values outside are clipped), same size as the image.
        alpha: Weight of the colour map in the blend.
        cmap: Matplotlib colour map name.

    Returns:
        A new ``uint8 [H, W, 3]`` image: ``(1 - alpha) * image + alpha * cmap(cam)``.
    """
    img = _as_uint8_image(image)
    cam_arr = _as_numpy(cam).astype(np.float32)
    if cam_arr.ndim == 3 and cam_arr.shape[0] == 1:
        cam_arr = cam_arr[0]
    _check_hw(cam_arr, img, "cam")
    if not np.isfinite(cam_arr).all():
        raise ValueError("cam contains NaN or inf values.")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1]; got {alpha}.")
    heat = colormaps[cmap](np.clip(cam_arr, 0.0, 1.0))[..., :3] * 255.0
    out = (1.0 - alpha) * img.astype(np.float32) + alpha * heat
    return np.round(out).astype(np.uint8)


def _outline(ax: Any, mask: np.ndarray, color: str, linestyle: str = "-") -> None:
    if mask.any():
        # Pad so masks touching the border still get a closed outline.
        padded = np.pad(mask.astype(np.float32), 1)
        ys, xs = np.arange(-1, mask.shape[0] + 1), np.arange(-1, mask.shape[1] + 1)
        ax.contour(
            xs, ys, padded, levels=[0.5], colors=[color], linewidths=1.1, linestyles=linestyle
        )


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: int = 100) -> None:
    """Save a figure as PNG atomically, without metadata that changes between runs."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, metadata={"Software": None})
    atomic_write_bytes(path, buffer.getvalue())


def contact_sheet(
    scenes: Any,
    n: int = 36,
    path: str | os.PathLike[str] | None = None,
    ncols: int | None = None,
    title: str | None = None,
    row_titles: Sequence[str] | None = None,
    tile_inches: float = 1.3,
    show_distractors: bool = True,
) -> Figure:
    """A grid of the first ``n`` scenes with their masks outlined.

    Smoke masks are outlined in cyan, chimney masks in orange, clouds/haze dashed white (each only
    when the scenes have that mask, with a legend). Every tile is titled with its name and label.

    Args:
        scenes: A :class:`wsss_lib.data.SmokeScenes` (anything with ``images``, ``labels``,
            ``names`` and the optional mask fields).
        n: How many scenes to show (fewer if there are fewer).
        path: When given, the figure is also saved there as PNG.
        ncols: Columns of the grid (default: about square).
        title: Figure title (default describes the colours).
        row_titles: Optional text at the left of each row (e.g. what the row shows).
        tile_inches: Size of one tile in inches.
        show_distractors: Outline clouds/haze too.

    Returns:
        The matplotlib figure (not registered with pyplot; display it or save it).
    """
    count = min(int(n), len(scenes.images))
    if count <= 0:
        raise ValueError(f"Nothing to show: n={n} and the scenes hold {len(scenes.images)} images.")
    ncols = ncols or math.ceil(math.sqrt(count))
    nrows = math.ceil(count / ncols)
    if row_titles is not None and len(row_titles) != nrows:
        raise ValueError(f"row_titles has {len(row_titles)} entries for {nrows} rows.")
    layers = [
        (scenes.smoke_masks, SMOKE_COLOR, "-", "smoke"),
        (scenes.chimney_masks, CHIMNEY_COLOR, "-", "chimney"),
    ]
    if show_distractors:
        layers.append((scenes.distractor_masks, DISTRACTOR_COLOR, "--", "cloud / haze"))
    layers = [layer for layer in layers if layer[0] is not None]

    # A bare Figure (no pyplot): nothing global to close, and Jupyter shows it once when returned.
    extra_width = 0.3 if row_titles is not None else 0.0
    fig = Figure(
        figsize=(ncols * tile_inches + extra_width, nrows * (tile_inches + 0.15) + 0.45),
        layout="constrained",
    )
    fig.get_layout_engine().set(w_pad=0.02, h_pad=0.02, wspace=0.01, hspace=0.01)
    axes = fig.subplots(nrows, ncols, squeeze=False)
    for i, ax in enumerate(axes.flat):
        if i >= count:
            ax.set_axis_off()
            continue
        ax.imshow(scenes.images[i], interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        for masks, color, style, _ in layers:
            _outline(ax, np.asarray(masks[i], dtype=bool), color, style)
        label = "smoke" if int(scenes.labels[i]) == 1 else "clean"
        ax.set_title(f"{scenes.names[i]} · {label}", fontsize=6, pad=2)
    for row, text in enumerate(row_titles or []):
        axes[row, 0].set_ylabel(text, fontsize=7)

    handles = [Line2D([], [], color=c, linestyle=s, label=name) for _, c, s, name in layers]
    if handles:
        legend = fig.legend(
            handles=handles,
            loc="outside upper right",
            ncol=len(handles),
            fontsize=7,
            facecolor="#333333",
            labelcolor="white",
        )
        legend.get_frame().set_edgecolor("#333333")
    fig.suptitle(title or "Scenes with masks outlined", x=0.01, ha="left", fontsize=9)
    if path is not None:
        save_figure(fig, path, dpi=110)
    return fig
