"""Figures of notebook 09: the shortcut across training levels, and the claims' intervals."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.figure import Figure

from wsss_lib.plots.method import _mean_std

__all__ = ["VERDICT_COLORS", "plot_claim_intervals", "plot_shortcut_levels"]

#: Colour of each verdict in :func:`plot_claim_intervals`.
VERDICT_COLORS = {"supported": "#2e7d32", "contradicted": "#c62828", "inconclusive": "#757575"}


def plot_shortcut_levels(
    summary: Mapping[str, Mapping[str, float]],
    levels: Sequence[Sequence[float]],
    rows: Sequence[str],
    metrics: Sequence[str],
    labels: Mapping[str, str] | None = None,
    title: str | None = None,
    metric_names: Mapping[str, str] | None = None,
) -> Figure:
    """One panel per metric: x = training level ``P(chimney | smoke)``, one line per row (mean
    over seeds in %, error bars = seed std). Summary keys are ``"<row>@<level>"``;
    ``metric_names`` titles the panels (e.g. ``wsss_lib.results.tables.METRIC_NAMES``)."""
    labels, metric_names = labels or {}, metric_names or {}
    colors = colormaps["tab10"].colors
    fig = Figure(figsize=(3.0 * len(metrics) + 0.6, 3.4), layout="constrained")
    axes = fig.subplots(1, len(metrics), squeeze=False)[0]
    x = [float(level[0]) for level in levels]
    for ax, metric in zip(axes, metrics, strict=True):
        for i, row in enumerate(rows):
            names = [f"{row}@{p:.2f}" for p in x]
            pts = [(p, summary[n]) for p, n in zip(x, names, strict=True) if n in summary]
            if not pts:
                continue
            mean, std = np.array([_mean_std(e, metric) for _, e in pts]).T
            ax.errorbar([p for p, _ in pts], mean, yerr=std, marker="o",
                        capsize=3, color=colors[i % len(colors)], label=labels.get(row, row))
        ax.set_title(metric_names.get(metric, metric), fontsize=9)
        ax.set_xlabel("trained at P(chimney | smoke)")
        ax.set_xticks(x)
        ax.set_ylabel("%")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def plot_claim_intervals(claims: Sequence[Mapping[str, Any]], title: str | None = None) -> Figure:
    """A forest plot: each claim's mean paired difference (points) with its 95 % interval,
    coloured by verdict, with a line at zero. A claim with no interval (one seed) is a dot."""
    if not claims:
        raise ValueError("plot_claim_intervals needs at least one claim.")
    fig = Figure(figsize=(9.5, 0.32 * len(claims) + 1.2), layout="constrained")
    ax = fig.subplots()
    for i, claim in enumerate(claims):
        y = len(claims) - 1 - i
        mean, low, high = (float(claim.get(k, math.nan)) for k in ("mean", "low", "high"))
        color = VERDICT_COLORS.get(claim.get("verdict", ""), "#757575")
        if math.isfinite(low) and math.isfinite(high):
            ax.plot([low, high], [y, y], color=color, lw=2)
        ax.plot([mean], [y], "o", color=color)
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(claims)))
    ax.set_yticklabels([_short(c) for c in reversed(claims)], fontsize=7)
    ax.set_xlabel("paired difference, a - b (points); line: 95 % interval over seeds")
    for verdict, color in VERDICT_COLORS.items():
        ax.plot([], [], "o-", color=color, label=verdict)
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(axis="x", alpha=0.3)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def _short(claim: Mapping[str, Any]) -> str:
    head = claim.get("short") or str(claim.get("claim", "")).split(" — ")[0][:60]
    regime = claim.get("regime", "")
    return f"{head[:70]} [{regime.removeprefix('trained at ')}] (n={claim.get('n', '?')})"
