"""Notebook 05's tables, verdicts and ``metrics.json``, from the rows of
:mod:`wsss_lib.studies.fusion`.

The weak and strong seed models are told apart by their measured last-layer smoke IoU
(:func:`rank_seeds`), so the comparison with the paper's poor and good seeds stays right even if
the expected order flips.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from wsss_lib.paper import PAPER_FUSION
from wsss_lib.results.document import MetricsDocument
from wsss_lib.results.tables import percent_text as _pct
from wsss_lib.results.tables import points_text as _points
from wsss_lib.studies.fusion import SUMMARY_VARIANTS

__all__ = [
    "GAIN_COLUMNS",
    "METRIC_COLUMNS",
    "MIN_SEED_GAP",
    "fusion_document",
    "fusion_verdicts",
    "rank_seeds",
    "weak_strong_rows",
]


def _paper_gain(seed: str, variant: str) -> float:
    """The paper's smoke IoU change from the last layer to ``variant``, in points."""
    return (PAPER_FUSION[f"{seed} seed / {variant}"]["smoke_iou"]
            - PAPER_FUSION[f"{seed} seed / last layer"]["smoke_iou"])


#: Table columns (entry key -> header) of CAM variants; values in %.
METRIC_COLUMNS: dict[str, str] = {
    "smoke_iou": "smoke IoU",
    "precision": "precision",
    "recall": "recall",
    "chimney_fp_rate": "chimney FP",
    "distractor_fp_rate": "cloud/haze FP",
    "cam_chimney_mass": "CAM mass on chimney",
    "blank_share": "blank CAMs",
}
#: Columns of the paper comparison (:func:`~wsss_lib.studies.fusion.fusion_summary`); values in
#: %, gains in points.
GAIN_COLUMNS: dict[str, str] = {
    "smoke_iou": "smoke IoU",
    "gain": "gain vs last layer",
    "ci95": "± 95 % interval",
    "improved_share": "images improved",
}


#: Smallest gap in last-layer smoke IoU for :func:`fusion_verdicts` to call one seed the weaker.
MIN_SEED_GAP = 0.02


def rank_seeds(summary: Mapping[str, Mapping[str, float]]) -> tuple[str, str]:
    """``(weak, strong)``: the two seeds of a :func:`~wsss_lib.studies.fusion.fusion_summary`,
    ordered by their measured last-layer smoke IoU (not by what they were expected to be)."""
    suffix = " / last layer"
    seeds = [k[: -len(suffix)] for k in summary if k.endswith(suffix)]
    if len(seeds) != 2:
        raise ValueError(f"Expected exactly two seeds in the summary, found {seeds}.")
    weak, strong = sorted(seeds, key=lambda k: summary[k + suffix]["smoke_iou"])
    return weak, strong


def weak_strong_rows(summary: Mapping[str, Mapping[str, float]]) -> dict[str, dict[str, float]]:
    """The summary renamed ``"weak seed / ..."`` / ``"strong seed / ..."`` (by measured rank), the
    row names of :data:`PAPER_FUSION`."""
    weak, strong = rank_seeds(summary)
    return {f"{role} seed / {name}": dict(summary[f"{seed} / {name}"])
            for role, seed in (("weak", weak), ("strong", strong)) for name in SUMMARY_VARIANTS}


def _gain_phrase(row: Mapping[str, float]) -> str:
    gain, ci = row["gain"], row["ci95"]
    if math.isnan(ci):
        return f"{_points(gain)} points"
    return f"{_points(gain)} ± {100 * ci:.1f} points (95% interval over images)"


def _significant(row: Mapping[str, float]) -> bool:
    return not math.isnan(row["ci95"]) and abs(row["gain"]) > row["ci95"]


def _effect(row: Mapping[str, float]) -> str:
    if not _significant(row):
        return "within noise"
    return "a real gain" if row["gain"] > 0 else "a real loss"


def fusion_verdicts(summary: Mapping[str, Mapping[str, float]]) -> list[str]:
    """Sentences comparing our fusion / multi-scale gains with the paper's, computed from numbers.

    Args:
        summary: Output of :func:`~wsss_lib.studies.fusion.fusion_summary` with two seeds.

    Returns:
        Plain-English verdicts, each true for whatever the numbers are.
    """
    weak, strong = rank_seeds(summary)
    single = {s: summary[f"{s} / last layer"]["smoke_iou"] for s in (weak, strong)}
    fused = {s: summary[f"{s} / fused (mean)"] for s in (weak, strong)}
    lines = [f"Weaker seed here: {weak} (last-layer smoke IoU {_pct(single[weak])}); stronger: "
             f"{strong} ({_pct(single[strong])})."]
    distinct = single[strong] - single[weak] >= MIN_SEED_GAP
    if not distinct:
        lines[0] = (f"The two seeds are about equally good here (last-layer smoke IoU "
                    f"{_pct(single[weak])} for {weak}, {_pct(single[strong])} for {strong}; less "
                    f"than {100 * MIN_SEED_GAP:.0f} points apart), so the poor-vs-good-seed "
                    "comparison cannot be tested on these models.")
    for s in (weak, strong):
        lines.append(
            f"Fusing the layers changes the {s} seed's smoke IoU by {_gain_phrase(fused[s])}: "
            f"{_pct(single[s])} -> {_pct(fused[s]['smoke_iou'])}, {_effect(fused[s])}."
        )
    helps_weak_more = fused[weak]["gain"] > fused[strong]["gain"]
    helps_weak = fused[weak]["gain"] > 0 and _significant(fused[weak])
    hurts_strong = fused[strong]["gain"] <= 0
    if not distinct:
        claim = "cannot be tested here: the two seeds are not a poor and a good one"
    elif helps_weak and helps_weak_more:
        claim = ("HOLDS here" if hurts_strong else
                 "holds in part here: fusion helps the weaker seed more, but it does not hurt the "
                 "stronger one")
    elif helps_weak_more:
        claim = ("does NOT clearly hold here: fusion favours the weaker seed, but its gain there "
                 "is not distinguishable from noise")
    else:
        claim = ("does NOT hold here: fusion does not help the weaker seed more than the stronger "
                 "one")
    lines.append(
        f"The paper's finding (fusion helps a poor seed a lot, "
        f"{_paper_gain('weak', 'fused (mean)'):+.1f} points, and slightly hurts a good one, "
        f"{_paper_gain('strong', 'fused (mean)'):+.1f} point, on real data) {claim}."
    )
    ms = summary[f"{strong} / multi-scale (last layer)"]
    lines.append(
        f"Multi-scale inference changes the {strong} seed's smoke IoU by {_gain_phrase(ms)}, "
        f"{_effect(ms)} (paper: {_paper_gain('strong', 'multi-scale (last layer)'):+.1f} points "
        "on real data)."
    )
    return lines


def fusion_document(
    S: Mapping[str, Any],
    paper_view: Mapping[str, Any],
    table: Mapping[str, Any],
    verdicts: Sequence[str],
    n_images: int,
    layers: Sequence[str],
) -> MetricsDocument:
    """Notebook 05's ``metrics.json``.

    Args:
        S: The notebook's settings (``profile``, ``image_size``, ``train_seed``, ``scales``,
            ``threshold``).
        paper_view: :func:`weak_strong_rows` in % (the rows compared with :data:`PAPER_FUSION`).
        table: Every variant's row in %, named ``"<seed> / <variant>"``.
        verdicts: From :func:`fusion_verdicts`.
        n_images: Test images evaluated.
        layers: The tapped layers.
    """
    return MetricsDocument(
        notebook="05_cam_fusion",
        profile=str(S["profile"]),
        results={**paper_view, **table},
        paper=PAPER_FUSION,
        notes=[
            *verdicts,
            "Smoke IoU and rates in %. Ours: synthetic scenes, small ViTs, "
            f"{S['image_size']} px, {n_images} test images, training seed {S['train_seed']}.",
            "Paper: real IJmond data at 512 px, ViT-B/16; 'weak seed' rows are matched with the "
            "paper's poor seed, 'strong seed' rows with its good seed.",
            f"Layers: {', '.join(layers)}; scales {list(S['scales'])}; threshold {S['threshold']}.",
        ],
    )
