"""Notebook 10's figure: the label-efficiency curve, with WSSS and the baselines as lines.

Takes a summary of :func:`wsss_lib.results.tables.summarize` (fractions, ``<metric>_std`` for
the seed spread) and the curve of :func:`wsss_lib.results.second_stage.learning_curve`; imports no
study code and returns a bare :class:`matplotlib.figure.Figure`. Values are drawn in %.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib.figure import Figure

__all__ = ["mask_gallery", "plot_label_efficiency"]

#: Horizontal reference lines: row -> (label, colour, line style).
_LINES = {
    "stage2": ("WSSS stage 2 (image labels only)", "tab:red", "-"),
    "pseudo_masks": ("pseudo-masks (stage 1)", "tab:orange", "--"),
    "whole_image": ("whole image = smoke", "grey", ":"),
    "untrained": ("untrained segmenter", "black", ":"),
}


def plot_label_efficiency(
    summary: Mapping[str, Mapping[str, float]],
    curves: Mapping[str, Mapping[str, Sequence[float]]],
    worth: Mapping[str, tuple[float, str]] | None = None,
    title: str | None = None,
) -> Figure:
    """One panel per metric: the supervised segmenter's score against its number of true masks
    (log axis; mean over seeds, error bars one seed std) and, as horizontal lines (band: seed
    std), stage 2, the pseudo-masks and the trivial baselines.

    Args:
        summary: Row name -> summary entry (fractions), with the rows of :data:`_LINES`.
        curves: Metric (e.g. ``"smoke_iou"``) -> ``{"k", "mean", "std"}`` from
            :func:`~wsss_lib.results.second_stage.learning_curve`; one panel each.
        worth: Metric -> ``(k, status)`` of :func:`~wsss_lib.results.second_stage.masks_worth`;
            a crossing inside the curve is marked with a dotted vertical line.
        title: Figure title.
    """
    if not curves:
        raise ValueError("plot_label_efficiency needs at least one curve.")
    worth = worth or {}
    fig = Figure(figsize=(5.2 * len(curves) + 0.4, 3.8), layout="constrained")
    axes = fig.subplots(1, len(curves), squeeze=False)[0]
    for ax, (metric, curve) in zip(axes, curves.items(), strict=True):
        ks = np.asarray(curve["k"], dtype=float)
        mean = 100 * np.asarray(curve["mean"], dtype=float)
        std = 100 * np.nan_to_num(np.asarray(curve["std"], dtype=float))
        ax.errorbar(ks, mean, yerr=std, marker="o", color="tab:blue", capsize=3,
                    label="supervised on k true masks")
        for name, (label, color, style) in _LINES.items():
            entry: Mapping[str, Any] = summary.get(name, {})
            value = 100 * float(entry.get(metric, math.nan))
            if not math.isfinite(value):
                continue
            ax.axhline(value, color=color, linestyle=style, label=label)
            spread = 100 * float(entry.get(f"{metric}_std", math.nan))
            if math.isfinite(spread) and spread > 0:
                ax.axhspan(value - spread, value + spread, color=color, alpha=0.12, lw=0)
        k, status = worth.get(metric, (math.nan, "undefined"))
        if status == "within":
            ax.axvline(k, color="tab:red", linestyle=":", lw=1)
            ax.annotate(f"≈ {k:.0f} masks", (k, ax.get_ylim()[0]), xytext=(4, 6),
                        textcoords="offset points", color="tab:red", fontsize=8)
        ax.set_xscale("log", base=2)
        ax.set_xticks(ks, [f"{k:g}" for k in ks], fontsize=8)
        ax.set_xlabel("true pixel masks the segmenter was trained on")
        where = "test_decoupled" if metric.endswith("_decoupled") else "test"
        ax.set_ylabel(f"smoke IoU, {where} (%)" if metric.startswith("smoke_iou")
                      else f"{metric} (%)")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7, loc="best")
    if title:
        fig.suptitle(title)
    return fig


def mask_gallery(
    images: np.ndarray,
    masks: Mapping[str, np.ndarray],
    title: str | None = None,
) -> Figure:
    """The same images under several masks: one row per image, the image first, then one
    column per entry of ``masks`` (smoke drawn in red over the dimmed image).

    Args:
        images: uint8 ``[N, H, W, 3]``.
        masks: Column title -> bool ``[N, H, W]`` (e.g. the true mask, the pseudo-mask, a
            segmenter's prediction).
        title: Figure title.
    """
    images = np.asarray(images)
    if images.ndim != 4 or len(images) == 0:
        raise ValueError(f"images must be a non-empty uint8 [N, H, W, 3]; got {images.shape}.")
    n, cols = len(images), 1 + len(masks)
    fig = Figure(figsize=(1.7 * cols + 0.2, 1.7 * n + 0.5), layout="constrained")
    axes = fig.subplots(n, cols, squeeze=False)
    for i in range(n):
        axes[i, 0].imshow(images[i])
        for j, mask in enumerate(masks.values(), start=1):
            shown = images[i].astype(np.float32) / 255 * 0.55
            red = np.asarray(mask[i], dtype=bool)
            shown[red] = 0.25 * shown[red] + 0.75 * np.array([1.0, 0.15, 0.1])
            axes[i, j].imshow(shown)
    for j, name in enumerate(["image", *masks]):
        axes[0, j].set_title(name, fontsize=8)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    if title:
        fig.suptitle(title, fontsize=9)
    return fig
