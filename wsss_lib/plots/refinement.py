"""Figures of notebooks 05 (CAM fusion) and 06 (post-processing): galleries, bars, bleed maps.

Every function returns a bare :class:`matplotlib.figure.Figure` (no pyplot state). The numbers
they draw come from :mod:`wsss_lib.studies.fusion` and :mod:`wsss_lib.studies.postprocessing`
(as arguments: this module imports no study code); bars show percent.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from torch import Tensor

from wsss_lib.data.regions import REGIONS, region_masks
from wsss_lib.plots.cams import cam_gallery
from wsss_lib.plots.scenes import CHIMNEY_COLOR, SMOKE_COLOR
from wsss_lib.utils import PAPER_THRESHOLD

__all__ = [
    "REGION_COLORS",
    "plot_bleed_overlays",
    "plot_layer_gallery",
    "plot_pipeline_bars",
    "plot_variant_bars",
]

#: Colours of false positives by region in :func:`plot_bleed_overlays` and the bars.
REGION_COLORS: dict[str, str] = {
    "sky": "#ff3030",
    "cloud/haze": "#ff40ff",
    "chimney": CHIMNEY_COLOR,
    "ground/buildings": "#ffe030",
}
_TRUE_POSITIVE_COLOR = SMOKE_COLOR


def _outline(ax: Any, mask: np.ndarray, color: str, style: str = "-") -> None:
    if mask.any():
        padded = np.pad(mask.astype(np.float32), 1)
        ys, xs = np.arange(-1, mask.shape[0] + 1), np.arange(-1, mask.shape[1] + 1)
        ax.contour(xs, ys, padded, levels=[0.5], colors=[color], linewidths=0.9,
                   linestyles=style)


def _bare(ax: Any) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def plot_layer_gallery(
    scenes: Any,
    columns: Mapping[str, Tensor | np.ndarray],
    indices: Sequence[int],
    title: str = "",
    tile_inches: float = 1.45,
) -> Figure:
    """Images next to one CAM per column, smoke (cyan) and chimney (orange) outlined on each CAM.

    A thin wrapper of :func:`wsss_lib.plots.cams.cam_gallery`, the gallery every notebook uses.

    Args:
        scenes: The scenes.
        columns: Column title -> CAMs float ``[N, H, W]`` of all scenes (e.g. each layer, fused).
        indices: Which scenes (rows).
        title: Figure title.
        tile_inches: Size of a tile.

    Returns:
        A matplotlib figure.
    """
    idx = list(indices)
    return cam_gallery(
        scenes.images[idx],
        {name: np.asarray(cams, dtype=np.float32)[idx] for name, cams in columns.items()},
        outlines={"smoke": (scenes.smoke_masks[idx], SMOKE_COLOR),
                  "chimney": (scenes.chimney_masks[idx], CHIMNEY_COLOR)},
        title=title or None,
        tile_inches=tile_inches,
    )


def _bar_text(value: float, threshold: float | None) -> str:
    if not np.isfinite(value):
        return ""
    return f"{value:.1f}" if threshold is None else f"{value:.1f}\n>{threshold:g}"


def plot_variant_bars(rows: Sequence[Mapping[str, Any]], title: str = "") -> Figure:
    """Grouped bars of smoke IoU per variant (x) and seed (colour) from
    :func:`wsss_lib.studies.fusion.evaluate_variants`.

    Each bar is labelled with its smoke IoU and, when its row records one, its own pseudo-mask
    threshold (``>0.35``): rows may be cut at different thresholds (chosen on val).

    Returns:
        A matplotlib figure.
    """
    seeds = list(dict.fromkeys(r["seed"] for r in rows))
    variants = list(dict.fromkeys(r["variant"] for r in rows))
    value = {(r["seed"], r["variant"]): 100 * r["smoke_iou"] for r in rows}
    cut = {(r["seed"], r["variant"]): r.get("threshold") for r in rows}
    fig = Figure(figsize=(max(6.0, 0.75 * len(variants) + 2), 3.6), layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(seeds)
    x = np.arange(len(variants))
    for k, seed in enumerate(seeds):
        heights = [value.get((seed, v), np.nan) for v in variants]
        bars = ax.bar(x + (k - (len(seeds) - 1) / 2) * width, heights, width, label=f"{seed} seed")
        ax.bar_label(bars, labels=[_bar_text(h, cut.get((seed, v))) for h, v in
                                   zip(heights, variants, strict=True)], fontsize=6, padding=1)
    finite = [v for v in value.values() if np.isfinite(v)]
    ax.set_ylim(0, 1.25 * max(finite, default=1.0) + 1e-6)  # room for the two-line labels
    ax.set_xticks(x, variants, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("smoke IoU (%, per image)")
    ax.legend(fontsize=8)
    ax.set_title(title or "Single layer vs fused vs multi-scale", fontsize=9)
    return fig


def plot_pipeline_bars(run: Any, title: str = "") -> Figure:
    """Smoke IoU per pipeline (left) and false-positive rate per region (right) of ``run``, a
    :class:`~wsss_lib.studies.postprocessing.PipelineRun` (``rows``, ``breakdown``).

    Skipped pipelines are listed on the axis with "skipped" instead of a bar; every other
    pipeline's axis label names its own pseudo-mask threshold (``CRF (>0.5)``).

    Returns:
        A matplotlib figure.
    """
    names = list(run.rows)
    ticks = [f"{n} (>{run.rows[n]['threshold']:g})" if "threshold" in run.rows[n] else n
             for n in names]
    fig = Figure(figsize=(11, 3.8), layout="constrained")
    ax_iou, ax_fp = fig.subplots(1, 2)
    x = np.arange(len(names))
    ious = [100 * run.rows[n].get("smoke_iou", np.nan) for n in names]
    bars = ax_iou.bar(x, ious, color="#3a7bd5")
    ax_iou.bar_label(bars, fmt="%.1f", fontsize=6, padding=1)
    for k, n in enumerate(names):
        if run.rows[n].get("status") != "ok":
            ax_iou.text(k, 0.0, " skipped", rotation=90, ha="center", va="bottom", fontsize=7)
    if "none" in run.rows and run.rows["none"].get("status") == "ok":
        ax_iou.axhline(100 * run.rows["none"]["smoke_iou"], color="k", lw=0.8, ls="--",
                       label="none (seed CAM)")
        ax_iou.legend(fontsize=7, loc="upper right")
    finite = [v for v in ious if np.isfinite(v)]
    ax_iou.set_ylim(0, 1.2 * max(finite, default=1.0) + 1e-6)  # headroom for labels and legend
    ax_iou.set_xticks(x, ticks, rotation=35, ha="right", fontsize=8)
    ax_iou.set_ylabel("smoke IoU (%, per image)")
    ax_iou.set_title("Smoke IoU after each pipeline", fontsize=9)
    width = 0.8 / len(REGIONS)
    for k, region in enumerate(REGIONS):
        rates = [100 * run.rows[n].get("fp_rate", {}).get(region, np.nan) for n in names]
        ax_fp.bar(x + (k - (len(REGIONS) - 1) / 2) * width, rates, width, label=region,
                  color=REGION_COLORS[region], edgecolor="#444444", linewidth=0.4)
    ax_fp.set_xticks(x, ticks, rotation=35, ha="right", fontsize=8)
    ax_fp.set_ylabel("% of the region called smoke")
    ax_fp.set_ylim(0, 125)  # headroom for the legend
    ax_fp.set_title("False positives by region (lower is better)", fontsize=9)
    ax_fp.legend(fontsize=7, ncol=4, loc="upper left")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def _bleed_image(image: np.ndarray, pred: np.ndarray, gt: np.ndarray,
                 regions: Mapping[str, np.ndarray]) -> np.ndarray:
    """Image with true positives tinted cyan and false positives tinted by region."""
    out = image.astype(np.float32)
    layers = [(pred & gt, _TRUE_POSITIVE_COLOR)]
    layers += [(pred & regions[name], REGION_COLORS[name]) for name in REGIONS]
    for mask, color in layers:
        out[mask] = 0.35 * out[mask] + 0.65 * np.array(to_rgb(color)) * 255
    return np.round(out).astype(np.uint8)


def plot_bleed_overlays(
    scenes: Any,
    run: Any,
    indices: Sequence[int],
    pipelines: Sequence[str] | None = None,
    threshold: float = PAPER_THRESHOLD,
    tile_inches: float = 1.35,
) -> Figure:
    """Where each pipeline's smoke label lands: one row per pipeline, one column per image.

    True positives are cyan; false positives are coloured by region (sky red, clouds/haze
    magenta, chimney orange, ground yellow); the true smoke is outlined in white, so uncovered
    smoke inside the outline is missed smoke. Each row is cut at the threshold its pipeline's row
    records (named under the pipeline's name), else at ``threshold``.

    Args:
        scenes: The scenes.
        run: From :func:`wsss_lib.studies.postprocessing.run_pipelines`.
        indices: Which scenes (columns), e.g. :func:`wsss_lib.studies.measure.pick_showcase`.
        pipelines: Which rows (default: all that ran).
        threshold: Pseudo-mask threshold of the pipelines whose row records none.
        tile_inches: Size of a tile.

    Returns:
        A matplotlib figure.
    """
    names = [n for n in (pipelines or run.cams) if n in run.cams]
    cuts = {n: float(run.rows.get(n, {}).get("threshold", threshold)) for n in names}
    regions = region_masks(scenes)
    fig = Figure(figsize=(tile_inches * len(indices) + 1.2, tile_inches * len(names) + 0.9),
                 layout="constrained")
    axes = fig.subplots(len(names), len(indices), squeeze=False)
    for r, name in enumerate(names):
        for c, i in enumerate(indices):
            ax = axes[r, c]
            pred = run.cams[name][i] > cuts[name]
            region_i = {k: v[i] for k, v in regions.items()}
            ax.imshow(_bleed_image(scenes.images[i], pred, scenes.smoke_masks[i], region_i))
            _outline(ax, scenes.smoke_masks[i], "white")
            _bare(ax)
            if c == 0:
                ax.set_ylabel(f"{name}\n> {cuts[name]:g}", fontsize=8)
    handles = [Patch(color=_TRUE_POSITIVE_COLOR, label="smoke (correct)")]
    handles += [Patch(color=REGION_COLORS[n], label=f"false: {n}") for n in REGIONS]
    fig.legend(handles=handles, loc="outside lower center", ncol=5, fontsize=7)
    fig.suptitle("Where the smoke label lands\n(each row cut at its own threshold, under its "
                 "name; white outline: true smoke)", fontsize=9)
    return fig
