"""Figures of the method notebooks (02–04): paradigm bars, the λ curve, alignment variants.

Every function takes summaries from :func:`wsss_lib.results.tables.summarize` (fractions in
``[0, 1]``, ``<metric>_std`` for the seed spread) as arguments, imports no study code, and
returns a bare :class:`matplotlib.figure.Figure`. Values are drawn in %; the paper's numbers are
always labelled "paper, real data" because they come from another dataset, resolution and network
size.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from wsss_lib.plots.cams import cam_gallery, gallery_row_titles
from wsss_lib.plots.scenes import CHIMNEY_COLOR, SMOKE_COLOR
from wsss_lib.utils import PAPER_THRESHOLD

__all__ = [
    "METRIC_TITLES",
    "cam_comparison",
    "plot_alignment",
    "plot_lambda_curve",
    "plot_metric_bars",
]

#: Axis titles of the metrics the method notebooks plot.
METRIC_TITLES = {
    "smoke_iou": "smoke IoU, test (%) ↑",
    "smoke_iou_decoupled": "smoke IoU, test_decoupled (%) ↑",
    "precision": "pixel precision, test (%) ↑",
    "recall": "pixel recall, test (%) ↑",
    "chimney_fp_rate": "chimney FP rate, test (%) ↓",
    "chimney_fp_rate_decoupled": "chimney FP rate, test_decoupled (%) ↓",
    "cam_chimney_mass": "CAM mass on chimneys, test (%) ↓",
    "cam_chimney_mass_decoupled": "CAM mass on chimneys, decoupled (%) ↓",
    "accuracy": "accuracy, test (%) ↑",
    "accuracy_decoupled": "accuracy, test_decoupled (%) ↑",
    "shortcut_gap": "accuracy gap test − decoupled (points) ↓",
}


def _mean_std(entry: Mapping[str, float], metric: str) -> tuple[float, float]:
    mean = 100.0 * entry.get(metric, math.nan)
    std = 100.0 * entry.get(f"{metric}_std", math.nan)
    return mean, (std if math.isfinite(std) else 0.0)


def plot_metric_bars(
    summary: Mapping[str, Mapping[str, float]],
    metrics: Sequence[str],
    labels: Mapping[str, str] | None = None,
    paper: Mapping[str, Mapping[str, float]] | None = None,
    title: str | None = None,
) -> Figure:
    """One panel per metric, one bar per run (mean over seeds, error bar = seed std).

    Args:
        summary: Run name -> summary entry.
        metrics: Metrics to plot (keys of the entries), one panel each.
        labels: Run name -> display label.
        paper: Run name -> ``{"smoke_iou": %}``; drawn as black diamonds on the smoke IoU panel,
            labelled "paper, real data".
        title: Figure title.
    """
    if not summary:
        raise ValueError("plot_metric_bars needs a non-empty summary.")
    labels = labels or {}
    names = list(summary)
    colors = colormaps["tab10"].colors
    fig = Figure(figsize=(2.9 * len(metrics) + 0.4, 3.4), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    x = np.arange(len(names))
    for ax, metric in zip(axes, metrics, strict=True):
        stats = [_mean_std(summary[n], metric) for n in names]
        ax.bar(x, [m for m, _ in stats], yerr=[s for _, s in stats], capsize=3,
               color=[colors[i % len(colors)] for i in range(len(names))], alpha=0.85)
        if paper is not None and metric == "smoke_iou":
            marked = [(i, paper[n]["smoke_iou"]) for i, n in enumerate(names)
                      if n in paper and "smoke_iou" in paper[n]]
            if marked:
                ax.plot([i for i, _ in marked], [v for _, v in marked], "D", color="black",
                        ms=5, label="paper, real data")
                ax.legend(fontsize=7, loc="upper left")
        ax.set_xticks(x, [labels.get(n, n) for n in names], rotation=35, ha="right", fontsize=7)
        ax.set_title(METRIC_TITLES.get(metric, metric), fontsize=8)
        ax.grid(axis="y", alpha=0.3)
        ax.tick_params(axis="y", labelsize=7)
    if title:
        fig.suptitle(title, fontsize=9, x=0.01, ha="left")
    return fig


def plot_lambda_curve(
    summary: Mapping[float, Mapping[str, float]],
    paper: Mapping[float, float],
    chimney_metrics: Sequence[str] = ("cam_chimney_mass", "chimney_fp_rate_decoupled"),
) -> Figure:
    """Smoke IoU against λ: ours (mean ± std band) and, in its own panel, the paper's curve.

    A third panel shows the chimney shortcut against λ. The paper's panel has its own y axis:
    its data, resolution and networks differ, so only the *shape* of the two curves compares.

    Args:
        summary: λ -> summary entry (fractions).
        paper: λ -> the paper's smoke IoU in % (real IJmond data).
        chimney_metrics: Metrics of the third panel.
    """
    if not summary:
        raise ValueError("plot_lambda_curve needs at least one λ.")
    lams = sorted(summary)
    fig = Figure(figsize=(11.0, 3.3), layout="constrained")
    ours, theirs, chimney = fig.subplots(1, 3)

    mean, std = (np.array(v) for v in zip(*[_mean_std(summary[lam], "smoke_iou")
                                            for lam in lams], strict=True))
    n_seeds = int(min(summary[lam].get("n_seeds", 1) for lam in lams))
    ours.plot(lams, mean, "o-", color="tab:blue", label=f"ours (mean of {n_seeds} seed(s))")
    ours.fill_between(lams, mean - std, mean + std, color="tab:blue", alpha=0.2, label="± std")
    best = lams[int(np.nanargmax(mean))]
    ours.axvline(best, color="tab:blue", ls=":", lw=1, label=f"our best λ = {best:g}")
    ours.set_title("ours: synthetic benchmark", fontsize=9)

    p_lams = sorted(paper)
    theirs.plot(p_lams, [paper[lam] for lam in p_lams], "s-", color="black",
                label="paper, real data")
    p_best = max(paper, key=paper.get)
    theirs.axvline(p_best, color="black", ls=":", lw=1, label=f"paper's best λ = {p_best:g}")
    theirs.set_title("paper, real data (ResNet-50+PCM → ViT-B/16, 512 px)", fontsize=8)

    colors = ("tab:orange", "tab:red", "tab:purple")
    for metric, color in zip(chimney_metrics, colors, strict=False):
        m, s = (np.array(v) for v in zip(*[_mean_std(summary[lam], metric) for lam in lams],
                                          strict=True))
        chimney.plot(lams, m, "o-", color=color, label=METRIC_TITLES.get(metric, metric))
        chimney.fill_between(lams, m - s, m + s, color=color, alpha=0.15)
    chimney.set_title("ours: the chimney shortcut (lower is better)", fontsize=9)

    for ax, ylabel in ((ours, "smoke IoU (%)"), (theirs, "smoke IoU (%)"), (chimney, "%")):
        ax.set_xlabel("λ (weight of the knowledge-transfer loss)")
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=6.5)
    return fig


def plot_alignment(
    summary: Mapping[str, Mapping[str, float]],
    paper: Mapping[str, Mapping[str, float]] | None = None,
    metrics: Sequence[str] = ("smoke_iou", "cam_chimney_mass", "chimney_fp_rate_decoupled"),
) -> Figure:
    """Horizontal bars per alignment variant (mean ± std), one panel per metric.

    The paper's smoke IoU, where it reports the variant, is a black diamond labelled
    "paper, real data".
    """
    if not summary:
        raise ValueError("plot_alignment needs a non-empty summary.")
    names = list(summary)
    y = np.arange(len(names))[::-1]
    fig = Figure(figsize=(3.3 * len(metrics) + 1.6, 0.36 * len(names) + 1.3),
                 layout="constrained")
    axes = fig.subplots(1, len(metrics), sharey=True, squeeze=False)[0]
    for ax, metric in zip(axes, metrics, strict=True):
        stats = [_mean_std(summary[n], metric) for n in names]
        color = "tab:blue" if metric.startswith("smoke") else "tab:orange"
        ax.barh(y, [m for m, _ in stats], xerr=[s for _, s in stats], capsize=2, color=color,
                alpha=0.8)
        if paper and metric == "smoke_iou":
            marked = [(y[i], paper[n]["smoke_iou"]) for i, n in enumerate(names) if n in paper]
            if marked:
                ax.plot([v for _, v in marked], [yy for yy, _ in marked], "D", color="black",
                        ms=5, label="paper, real data")
                ax.legend(fontsize=7, loc="lower right")
        ax.set_title(METRIC_TITLES.get(metric, metric), fontsize=8)
        ax.grid(axis="x", alpha=0.3)
        ax.tick_params(labelsize=7)
    axes[0].set_yticks(y, names)
    return fig


def cam_comparison(
    scenes: Any,
    cams: Mapping[Any, Any],
    labels: Mapping[Any, str] | None = None,
    threshold: float | Mapping[Any, float] = PAPER_THRESHOLD,
    title: str | None = None,
    readouts: Mapping[Any, str] | None = None,
) -> Figure:
    """The same images for every model: image, smoke mask, then one CAM column per model.

    Smoke (cyan) and chimney (orange) are outlined on every CAM, and the pseudo-mask
    ``CAM > threshold`` dashed white, so the chimney shortcut is visible at a glance. With one
    threshold per model (or ``readouts``), each model's column is titled with its own read-out.

    Args:
        scenes: :class:`~wsss_lib.data.SmokeScenes` with masks (e.g. from
            :func:`wsss_lib.studies.measure.gallery_scenes`).
        cams: Model name -> float ``[N, H, W]`` CAMs in ``[0, 1]``.
        labels: Model name -> column title.
        threshold: Pseudo-mask threshold outlined on the CAMs, or model name -> its own.
        title: Figure title.
        readouts: Model name -> its read-out, ``CamReadout.label`` (e.g. ``"cam > 0.35"``; from
            :func:`wsss_lib.results.method.seed_readouts`): the map and threshold written under
            its column's title.
    """
    labels = labels or {}

    def column(name: Any) -> str:
        return labels.get(name, str(name))

    columns = {"smoke mask": scenes.smoke_masks}
    columns.update({column(name): cam for name, cam in cams.items()})
    return cam_gallery(
        scenes.images,
        columns,
        row_titles=gallery_row_titles(scenes),
        outlines={"smoke": (scenes.smoke_masks, SMOKE_COLOR),
                  "chimney": (scenes.chimney_masks, CHIMNEY_COLOR)},
        cam_threshold=({column(name): value for name, value in threshold.items()}
                       if isinstance(threshold, Mapping) else threshold),
        readouts=({column(name): value for name, value in readouts.items() if name in cams}
                  if readouts else None),
        title=title,
    )
