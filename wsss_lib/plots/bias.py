"""Figures of notebook 01: the shortcut against co-occurrence strength, and the CAM gallery.

Both take what :mod:`wsss_lib.studies.bias` and :mod:`wsss_lib.results.bias` compute (rows and
arrays, as arguments) and return a bare :class:`matplotlib.figure.Figure`; values are drawn in %.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure

from wsss_lib.plots.cams import cam_gallery, readout_text
from wsss_lib.plots.scenes import CHIMNEY_COLOR, SMOKE_COLOR
from wsss_lib.utils import PAPER_THRESHOLD

__all__ = ["plot_bias_sweep", "plot_cam_gallery"]

# Drawn in this order; the rows name their architecture ("cnn" / "vit").
_ARCHS = ("cnn", "vit")
_ARCH_TITLES = {"cnn": "CNN", "vit": "ViT"}
_ARCH_COLORS = {"cnn": "#1f77b4", "vit": "#d62728"}
# Metric-key suffix of each test split.
_SPLIT_SUFFIX = {"test": "", "test_decoupled": "_decoupled"}


def plot_bias_sweep(
    summary: Sequence[Mapping[str, Any]],
    supervised: Mapping[str, Any] | None = None,
    baseline: Mapping[str, float] | None = None,
    figsize: tuple[float, float] = (12.0, 3.5),
) -> Figure:
    """Four panels against co-occurrence in training: smoke IoU, chimney FP rate, CAM chimney
    mass and accuracy; CNN blue, ViT red; solid = ``test``, dashed = ``test_decoupled``; error
    bars = std over seeds. Levels are evenly spaced, weakest to strongest co-occurrence.

    Args:
        summary: From :func:`wsss_lib.results.bias.summarize_sweep`.
        supervised: From :func:`wsss_lib.studies.bias.run_supervised_reference`: a dotted black
            line on the IoU panel.
        baseline: From :func:`wsss_lib.studies.bias.whole_image_baseline`: a dotted grey line on
            the IoU panel.
        figsize: Figure size in inches.
    """
    panels = [
        ("smoke_iou", "smoke IoU per image (%)"),
        ("chimney_fp_rate", "chimney pixels called smoke (%)"),
        ("cam_chimney_mass", "CAM mass on chimneys (%)"),
        ("accuracy", "classification accuracy (%)"),
    ]
    levels = sorted({(r["strength"], r["p_smoke"], r["level"]) for r in summary})
    position = {(p_smoke, label): i for i, (_, p_smoke, label) in enumerate(levels)}
    fig = Figure(figsize=figsize, layout="constrained")
    axes = fig.subplots(1, len(panels))
    for ax, (metric, ylabel) in zip(axes, panels, strict=True):
        for arch in _ARCHS:
            rows = sorted((r for r in summary if r["arch"] == arch), key=lambda r: r["strength"])
            if not rows:
                continue
            x = [position[(r["p_smoke"], r["level"])] for r in rows]
            for split, style in (("test", "-"), ("test_decoupled", "--")):
                key = metric + _SPLIT_SUFFIX[split]
                y = [100 * r[key] for r in rows]
                err = [100 * (r.get(f"{key}_std") or 0.0) for r in rows]
                ax.errorbar(x, y, yerr=err if any(err) else None, color=_ARCH_COLORS[arch],
                            ls=style, marker="o" if split == "test" else "s", ms=4, capsize=2,
                            lw=1.5, label=f"{_ARCH_TITLES[arch]} {rows[0]['model']}, {split}")
        if metric == "smoke_iou" and supervised is not None:
            ax.axhline(100 * supervised["smoke_iou"], color="0.1", ls=":", lw=1.4,
                       label=f"fully supervised {supervised['model']} @{supervised['level']}, "
                             "test")
        if metric == "smoke_iou" and baseline is not None:
            ax.axhline(100 * baseline["smoke_iou"], color="0.55", ls=":", lw=1.4,
                       label="whole image called smoke, test")
        if metric == "accuracy":
            ax.axhline(50.0, color="0.55", ls=":", lw=1.0)
        ax.set_xticks(range(len(levels)), [label for _, _, label in levels], fontsize=7,
                      rotation=25)
        ax.set_xlim(-0.3, len(levels) - 0.7)
        ax.set_xlabel("training P(chimney|smoke) / P(chimney|clean)", fontsize=8)
        ax.set_ylabel(ylabel, fontsize=8)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 3), fontsize=7)
    fig.suptitle("The chimney shortcut against co-occurrence in training (CAMs min-max "
                 f"normalised, pseudo-mask = {_pseudo_mask_rule(summary)}; dotted grey on "
                 "accuracy = chance)", fontsize=9)
    return fig


def _pseudo_mask_rule(summary: Sequence[Mapping[str, Any]]) -> str:
    """How the rows' pseudo-masks were cut: one rule when every row (and seed) was read alike,
    else "each network's read-out, chosen on val" (never one row's threshold for all)."""
    readouts = {label for row in summary for label in row.get("readouts", ())}
    thresholds = {round(float(row["threshold"]), 6) for row in summary
                  if row.get("threshold") is not None}
    if len(readouts) > 1 or len(thresholds) > 1:
        return "each network's read-out, chosen on val"
    if readouts:
        return readout_text(next(iter(readouts)))
    return f"CAM > {next(iter(thresholds)) if thresholds else 0.3:g}"


def plot_cam_gallery(
    maps: Mapping[str, Any],
    threshold: float = PAPER_THRESHOLD,
    title: str | None = None,
    readouts: Mapping[str, str] | None = None,
) -> Figure:
    """Rows image | smoke mask | chimney mask | one CAM per model, from
    :func:`wsss_lib.studies.bias.gallery_maps`.

    CAM panels outline the true smoke (cyan) and chimney (orange), dash the pseudo-mask
    ``CAM > threshold`` in white (each model's own threshold when ``maps`` has ``"thresholds"``)
    and print the classifier's smoke probability. Each model's column is titled with its own
    threshold, and with its read-out when ``readouts`` (column title -> ``CamReadout.label``,
    e.g. from :func:`wsss_lib.results.bias.gallery_readouts`) names it.
    """
    columns = {"smoke mask": maps["smoke"], "chimney mask": maps["chimney"], **maps["cams"]}
    annotations = {name: [f"p(smoke)={p:.2f}" for p in probs]
                   for name, probs in maps["probs"].items()}
    return cam_gallery(
        maps["images"],
        columns,
        row_titles=maps["row_titles"],
        outlines={
            "smoke": (maps["smoke"], SMOKE_COLOR),
            "chimney": (maps["chimney"], CHIMNEY_COLOR),
        },
        annotations=annotations,
        cam_threshold=maps.get("thresholds") or threshold,
        readouts=readouts or maps.get("readouts"),
        title=title,
        colorbar_label="CAM (min-max normalised per image)",
    )
