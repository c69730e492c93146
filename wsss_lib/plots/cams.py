"""Figures for reading CAMs: a gallery of images next to their masks and maps, a threshold curve.

- :func:`cam_gallery` draws one row per image and one column per named map: ground-truth masks
  are tinted, soft maps (CAMs, probabilities) are colour-mapped over the image, and masks can be
  outlined on every map column so a reader sees at a glance where the CAM sits relative to the
  smoke and the chimney. Every notebook that shows CAMs uses it.
  Each network's column can be titled with its own read-out (which map, which threshold:
  ``readouts``), so a title never names another network's threshold.
- :func:`threshold_sweep_figure` plots per-image smoke IoU against the CAM threshold for one or
  more :class:`wsss_lib.metrics.SweepResult`, marking the chosen threshold, the best single
  threshold and the per-image oracle (an upper bound, never a result).
- :func:`readout_text` turns a read-out label (``CamReadout.label``, e.g.
  ``"gradcam[blocks.-1.norm1] > 0.85"``) into a short title (``"Grad-CAM, last block > 0.85"``).

Both figures are a bare :class:`matplotlib.figure.Figure` (no pyplot state): show and save it
with :func:`wsss_lib.plots.show.show_figure`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from wsss_lib.plots.scenes import (
    CHIMNEY_COLOR,
    SMOKE_COLOR,
    _as_numpy,
    _as_uint8_image,
    _outline,
    overlay_cam,
    overlay_mask,
)
from wsss_lib.utils import PAPER_THRESHOLD

__all__ = [
    "MASK_COLORS",
    "cam_gallery",
    "gallery_row_titles",
    "parse_readout",
    "readout_text",
    "threshold_sweep_figure",
]

#: Default tint of mask columns whose name contains one of these words (else ``SMOKE_COLOR``).
MASK_COLORS: dict[str, str] = {"smoke": SMOKE_COLOR, "chimney": CHIMNEY_COLOR}

# Outline of the pseudo-mask `cam > threshold` drawn on CAM columns.
_PSEUDO_MASK_COLOR = "white"


# How read-out methods and layers are written in titles.
_METHOD_TEXT = {"cam": "score map", "gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++"}
_LAYER_TEXT = {"blocks.-1.norm1": "last block"}
_READOUT = re.compile(
    r"^\s*(?P<method>[^\[\]>]+?)\s*(?:\[(?P<layers>[^\]]*)\])?\s*(?:>\s*(?P<cut>\S+))?\s*$"
)


def parse_readout(label: str) -> tuple[str, float | None]:
    """Split a read-out label into its map and its threshold.

    ``"gradcam[blocks.-1.norm1] > 0.85"`` (``CamReadout.label``) gives
    ``("gradcam[blocks.-1.norm1]", 0.85)``; a label without ``"> t"`` gives ``(label, None)``.

    Raises:
        ValueError: when the threshold is not a number in ``[0, 1]``.
    """
    match = _READOUT.match(str(label))
    if match is None or not match["method"]:
        return str(label).strip(), None
    layers = f"[{match['layers']}]" if match["layers"] is not None else ""
    cut = match["cut"]
    if cut is None:
        return match["method"] + layers, None
    try:
        value = float(cut)
    except ValueError:
        raise ValueError(f"Read-out {label!r}: {cut!r} after '>' is not a threshold.") from None
    if not 0.0 <= value <= 1.0:
        raise ValueError(f"Read-out {label!r}: threshold {value} is outside [0, 1].")
    return match["method"] + layers, value


def readout_text(label: str, threshold: float | None = None) -> str:
    """A read-out as a panel title: ``"cam > 0.35"`` -> ``"score map > 0.35"``,
    ``"gradcam[blocks.-1.norm1] > 0.85"`` -> ``"Grad-CAM, last block > 0.85"``, ``"gradcam"`` ->
    ``"Grad-CAM (default layers)"``.

    Args:
        label: ``CamReadout.label`` (map and threshold) or just the map (``"gradcam[layer3]"``).
        threshold: The threshold to write when ``label`` has none.
    """
    mapping, cut = parse_readout(label)
    cut = threshold if cut is None else cut
    match = _READOUT.match(mapping)
    method = match["method"] if match else mapping
    layers = match["layers"] if match else None
    text = _METHOD_TEXT.get(method.lower(), method)
    if layers is not None:
        names = [_LAYER_TEXT.get(layer.strip(), layer.strip()) for layer in layers.split(",")]
        text += ", " + ", ".join(names)
    elif method.lower() not in ("cam", "score map"):
        text += " (default layers)"
    return text if cut is None else f"{text} > {cut:.2f}"


def _column_cuts(
    soft_columns: Sequence[str],
    cam_threshold: float | Mapping[str, float] | None,
    readouts: Mapping[str, str] | None,
) -> tuple[dict[str, float], dict[str, str]]:
    """Each soft-map column's pseudo-mask threshold and its title line (read-out and threshold).

    A column's read-out label carries its own threshold (it wins over a single
    ``cam_threshold``, which is then a default); ``cam_threshold`` gives the others. A label and
    a per-column ``cam_threshold`` that disagree are an error: the title would name another
    threshold than the one outlined.
    """
    readouts = dict(readouts or {})
    unknown = sorted(set(readouts) - set(soft_columns))
    if unknown:
        raise ValueError(f"readouts names {unknown}, which are not CAM columns; the CAM columns "
                         f"are {list(soft_columns)}.")
    per_column = isinstance(cam_threshold, Mapping)
    cuts: dict[str, float] = {}
    lines: dict[str, str] = {}
    for name in soft_columns:
        given = cam_threshold.get(name) if per_column else cam_threshold
        label = readouts.get(name)
        if label is None:
            if given is not None:
                cuts[name] = float(given)
                if per_column:  # each column its own: say which in its title
                    lines[name] = f"map > {float(given):.2f}"
            continue
        mapping, own = parse_readout(label)
        if own is not None and given is not None and per_column and not math.isclose(
            own, float(given), abs_tol=0.005
        ):
            raise ValueError(
                f"Column {name!r}: its read-out {label!r} says threshold {own:.2f}, but "
                f"cam_threshold gives {float(given):g}. Pass the threshold the CAM was read at."
            )
        cut = own if own is not None else given
        if cut is not None:
            cuts[name] = float(cut)
        lines[name] = readout_text(mapping, cut)
    if lines:  # some columns are titled with their threshold: title every one that has one
        for name, cut in cuts.items():
            lines.setdefault(name, f"map > {cut:.2f}")
    return cuts, lines


def gallery_row_titles(scenes: Any) -> list[str]:
    """One short label per gallery image: smoke or clean, with or without a chimney."""
    has_chimney = scenes.chimney_masks.reshape(len(scenes), -1).any(axis=1)
    return [
        f"{'smoke' if label else 'clean'},\n{'chimney' if chimney else 'no chimney'}"
        for label, chimney in zip(scenes.labels, has_chimney, strict=True)
    ]


def _is_mask(arr: np.ndarray) -> bool:
    return arr.dtype == bool


def _column_arrays(
    columns: Mapping[str, Any], n: int, size: tuple[int, int]
) -> dict[str, np.ndarray]:
    """Columns as numpy ``[N, H, W]`` arrays, checked against the images."""
    if not columns:
        raise ValueError(
            "cam_gallery needs at least one column, e.g. columns={'CAM': cams} with cams a "
            "float [N, H, W] array in [0, 1]."
        )
    out: dict[str, np.ndarray] = {}
    for name, maps in columns.items():
        if maps is None:  # e.g. scenes.chimney_masks of real data without chimney masks
            continue
        arr = _as_numpy(maps)
        if arr.ndim == 4 and arr.shape[1] == 1:
            arr = arr[:, 0]
        if arr.ndim != 3 or arr.shape[0] != n or tuple(arr.shape[1:]) != size:
            raise ValueError(
                f"Column {name!r} has shape {tuple(arr.shape)}; expected [{n}, {size[0]}, "
                f"{size[1]}] (one map per image, at image size: upsample CAMs with "
                "wsss_lib.cam.upsample_cam)."
            )
        if not _is_mask(arr):
            arr = arr.astype(np.float32)
            if not np.isfinite(arr).all():
                raise ValueError(f"Column {name!r} contains NaN or inf values.")
        out[str(name)] = arr
    return out


def _mask_color(name: str, colors: Mapping[str, str] | None) -> str:
    if colors and name in colors:
        return colors[name]
    lowered = name.lower()
    for word, color in MASK_COLORS.items():
        if word in lowered:
            return color
    return SMOKE_COLOR


def cam_gallery(
    images: Any,
    columns: Mapping[str, Any],
    *,
    row_titles: Sequence[str] | None = None,
    outlines: Mapping[str, tuple[Any, str]] | None = None,
    annotations: Mapping[str, Sequence[str]] | None = None,
    cam_threshold: float | Mapping[str, float] | None = None,
    readouts: Mapping[str, str] | None = None,
    mask_colors: Mapping[str, str] | None = None,
    show_image: bool = True,
    title: str | None = None,
    tile_inches: float = 1.5,
    alpha: float = 0.5,
    cmap: str = "jet",
    colorbar_label: str | None = "CAM (normalised)",
) -> Figure:
    """A grid with one row per image: the image, then one panel per named mask or map.

    A column whose array is ``bool`` is a mask, tinted over the image (smoke cyan, chimney orange,
    by column name, or ``mask_colors``). Any other dtype is a soft map in ``[0, 1]`` (values are
    clipped), blended over the image with ``cmap``. ``outlines`` are drawn on every soft-map
    column, so the CAM can be compared with the truth without looking back and forth.

    Args:
        images: ``uint8 [N, H, W, 3]`` (or float in ``[0, 1]``), e.g. ``scenes.images[idx]``.
        columns: Ordered ``name -> [N, H, W]`` maps (numpy or torch), e.g.
            ``{"smoke mask": smoke, "chimney mask": chimney, "CNN CAM": cam_cnn}``. ``None``
            values are skipped, so ``scenes.chimney_masks`` of real data can be passed as is.
        row_titles: One label per image, written left of the row (e.g. ``"test_decoupled:
            chimney, no smoke"``).
        outlines: ``name -> (masks bool [N, H, W], colour)`` outlined on the soft-map columns,
            e.g. ``{"smoke": (smoke, SMOKE_COLOR)}``; listed in the legend (None masks skipped).
        annotations: ``column name -> one short text per image``, printed in the panel's
            corner (e.g. the classifier's smoke probability). Use ``"image"`` for the first column.
        cam_threshold: When given, the pseudo-mask ``map > cam_threshold`` of every soft-map column
            is outlined in white (the paper's 0.3 on min-max normalised CAMs); a mapping gives
            each column its own threshold (columns it does not name get no outline), and then
            each column's title names its own (``map > 0.35``).
        readouts: ``column name -> read-out`` of soft-map columns, e.g. ``{"ViT CAM":
            "gradcam[blocks.-1.norm1] > 0.85"}`` (``CamReadout.label``): the column's title gets
            a second line naming its map and threshold (``Grad-CAM, last block > 0.85``), and
            the threshold in the label outlines its pseudo-mask. Every network of a gallery is
            then titled with its own read-out, never with another's.
        mask_colors: ``column name -> colour`` for mask columns, overriding the defaults.
        show_image: Show the plain image as the first column.
        title: Figure title.
        tile_inches: Side of one panel in inches.
        alpha: Weight of the colour map in the blend of soft maps.
        cmap: Matplotlib colour map of soft maps.
        colorbar_label: Label of the colour bar of soft maps (None: no colour bar).

    Returns:
        The figure.

    Raises:
        ValueError: on shape mismatches (naming the column and the expected shape), an empty
            ``columns``, annotation / title lists of the wrong length, ``readouts`` naming no
            CAM column, or a read-out whose threshold disagrees with ``cam_threshold``.
    """
    imgs = _as_numpy(images)
    if imgs.ndim == 3:
        imgs = imgs[None]
    if imgs.ndim != 4 or imgs.shape[-1] != 3 or imgs.shape[0] == 0:
        raise ValueError(
            f"images must be a non-empty [N, H, W, 3] batch (channels last); got shape "
            f"{tuple(imgs.shape)}. Use scenes.images[idx], or denormalize(x).permute(0, 2, 3, 1)."
        )
    n, size = imgs.shape[0], (imgs.shape[1], imgs.shape[2])
    cols = _column_arrays(columns, n, size)
    if row_titles is not None and len(row_titles) != n:
        raise ValueError(f"row_titles has {len(row_titles)} entries for {n} images.")
    outline_arrays: list[tuple[str, np.ndarray, str]] = []
    for name, (masks, color) in (outlines or {}).items():
        if masks is None:
            continue
        arr = _as_numpy(masks).astype(bool)
        if arr.shape != (n, *size):
            raise ValueError(
                f"Outline {name!r} has shape {tuple(arr.shape)}; expected [{n}, {size[0]}, "
                f"{size[1]}]."
            )
        outline_arrays.append((str(name), arr, color))
    panel_names = (["image"] if show_image else []) + list(cols)
    if not panel_names:
        raise ValueError("Nothing to draw: every column is None and show_image is False.")
    for name, texts in (annotations or {}).items():
        if name not in panel_names:
            raise ValueError(f"annotations names column {name!r}; columns are {panel_names}.")
        if len(texts) != n:
            raise ValueError(f"annotations[{name!r}] has {len(texts)} entries for {n} images.")

    soft_columns = [name for name, arr in cols.items() if not _is_mask(arr)]
    has_soft = bool(soft_columns)
    cuts, title_lines = _column_cuts(soft_columns, cam_threshold, readouts)
    ncols = len(panel_names)
    label_width = 0.9 if row_titles is not None else 0.0
    bar_width = 0.5 if has_soft and colorbar_label else 0.0
    fig = Figure(
        figsize=(ncols * tile_inches + label_width + bar_width, n * tile_inches + 0.7),
        layout="constrained",
    )
    fig.get_layout_engine().set(w_pad=0.02, h_pad=0.02, wspace=0.02, hspace=0.02)
    axes = fig.subplots(n, ncols, squeeze=False)
    for row in range(n):
        image = _as_uint8_image(imgs[row])
        for col, name in enumerate(panel_names):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            if name == "image" and show_image:
                ax.imshow(image, interpolation="nearest")
            elif _is_mask(cols[name]):
                tinted = overlay_mask(image, cols[name][row], _mask_color(name, mask_colors), 0.6)
                ax.imshow(tinted, interpolation="nearest")
            else:
                cam = cols[name][row]
                ax.imshow(overlay_cam(image, cam, alpha=alpha, cmap=cmap), interpolation="nearest")
                for _, masks, color in outline_arrays:
                    _outline(ax, masks[row], color)
                cut = cuts.get(name)
                if cut is not None:
                    _outline(ax, cam > cut, _PSEUDO_MASK_COLOR, "--")
            if row == 0:
                line = title_lines.get(name)
                if line is not None and len(line) > 24:  # a long read-out: threshold below it
                    line = line.replace(" > ", "\n> ")
                ax.set_title(name if line is None else f"{name}\n{line}",
                             fontsize=8 if line is None else 7)
            text = (annotations or {}).get(name)
            if text is not None and text[row]:
                ax.text(
                    0.03, 0.04, text[row], transform=ax.transAxes, fontsize=6.5, color="white",
                    va="bottom", ha="left",
                    bbox={"facecolor": "black", "alpha": 0.55, "pad": 1.2, "linewidth": 0},
                )
        if row_titles is not None:
            axes[row, 0].set_ylabel(row_titles[row], fontsize=7, rotation=0, ha="right",
                                    va="center", labelpad=4)

    handles = [Line2D([], [], color=color, label=f"{name} (outline)")
               for name, _, color in outline_arrays]
    if cuts:
        cut = ("the threshold in its column's title" if title_lines
               else f"{next(iter(cuts.values())):g}")
        handles.append(Line2D([], [], color=_PSEUDO_MASK_COLOR, linestyle="--",
                              label=f"pseudo-mask: map > {cut}"))
    if handles:
        legend = fig.legend(handles=handles, loc="outside lower center", ncol=len(handles),
                            fontsize=7, facecolor="#333333", labelcolor="white")
        legend.get_frame().set_edgecolor("#333333")
    if has_soft and colorbar_label:
        mappable = ScalarMappable(norm=Normalize(0.0, 1.0), cmap=colormaps[cmap])
        bar = fig.colorbar(mappable, ax=axes, location="right", shrink=min(1.0, 3.0 / n),
                           fraction=0.04, pad=0.01)
        bar.set_label(colorbar_label, fontsize=7)
        bar.ax.tick_params(labelsize=6)
    if title:
        fig.suptitle(title, fontsize=9, x=0.01, ha="left")
    return fig


def threshold_sweep_figure(
    sweeps: Mapping[str, Any],
    *,
    threshold: float | None = PAPER_THRESHOLD,
    title: str | None = None,
    percent: bool = True,
    figsize: tuple[float, float] = (6.0, 3.6),
    readouts: Mapping[str, str] | None = None,
) -> Figure:
    """Per-image smoke IoU against the CAM threshold, one curve per named sweep.

    Each curve is marked at its best single threshold (a dot, optimistic when chosen on the
    evaluated images) and its per-image oracle is drawn as a dotted line of the same colour,
    labelled as an upper bound: no method that uses one threshold for all images reaches it.

    Args:
        sweeps: ``name -> SweepResult`` (from :func:`wsss_lib.metrics.threshold_sweep`), or any
            object with ``thresholds``, ``ious``, ``best_threshold``, ``best_iou`` and
            ``oracle_iou``.
        threshold: The threshold actually used by every curve (grey vertical line), or None.
        readouts: ``name -> read-out`` (``CamReadout.label``, e.g. ``"cam > 0.35"``) of curves
            read their own way: the curve is labelled with its map, and its own threshold is a
            dashed vertical line of its colour (instead of one threshold for all).
        title: Axes title.
        percent: Show IoU in % (else as a fraction).
        figsize: Figure size in inches.

    Returns:
        The figure.
    """
    if not sweeps:
        raise ValueError("threshold_sweep_figure needs at least one named SweepResult.")
    scale = 100.0 if percent else 1.0
    fig = Figure(figsize=figsize, layout="constrained")
    ax = fig.subplots()
    colors = colormaps["tab10"].colors
    readouts = dict(readouts or {})
    unknown = sorted(set(readouts) - set(sweeps))
    if unknown:
        raise ValueError(f"readouts names {unknown}; the curves are {list(sweeps)}.")
    for i, (name, sweep) in enumerate(sweeps.items()):
        color = colors[i % len(colors)]
        ious = np.asarray(sweep.ious, dtype=float) * scale
        label = readouts.get(name)
        mapping, own = parse_readout(label) if label is not None else (None, None)
        curve = name if mapping is None else f"{name}, {readout_text(mapping)}"
        ax.plot(sweep.thresholds, ious, color=color, lw=1.8, label=curve)
        if own is not None:
            ax.axvline(own, color=color, ls="--", lw=1.0,
                       label=f"{name}: threshold chosen on val ({own:.2f})")
        if np.isfinite(sweep.best_iou):
            ax.plot([sweep.best_threshold], [sweep.best_iou * scale], "o", color=color, ms=6,
                    label=f"{name}: best t = {sweep.best_threshold:.2f} "
                          f"({sweep.best_iou * scale:.1f})")
        if np.isfinite(sweep.oracle_iou):
            ax.axhline(sweep.oracle_iou * scale, color=color, ls=":", lw=1.3,
                       label=f"{name}: per-image oracle {sweep.oracle_iou * scale:.1f} "
                             "(upper bound)")
    if threshold is not None:
        ax.axvline(threshold, color="0.3", ls="--", lw=1.0, label=f"threshold used ({threshold:g})")
    ax.set_xlim(0, 1)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("CAM threshold t (pseudo-mask = CAM > t)")
    ax.set_ylabel("smoke IoU per image" + (" (%)" if percent else ""))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=6.5, loc="upper right")
    if title:
        ax.set_title(title, fontsize=9)
    return fig
