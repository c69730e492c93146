"""Notebook 05's tables, verdicts and ``metrics.json``, from the rows of
:mod:`wsss_lib.studies.fusion`.

The weak and strong seed models are told apart by their measured last-layer smoke IoU
(:func:`rank_seeds`), so the comparison with the paper's poor and good seeds stays right even if
the expected order flips. Every sentence is computed: a seed classifier near chance (test
accuracy below :data:`~wsss_lib.results.bias.NEAR_CHANCE_ACCURACY`) gets no verdict, and the
gains are stated for both read-outs, each CAM at its own threshold chosen on ``val`` and all at
one fixed threshold (the paper's way), with a sentence when the two disagree.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from wsss_lib.paper import PAPER_FUSION
from wsss_lib.results.document import MetricsDocument
from wsss_lib.results.method import at_chance
from wsss_lib.results.tables import percent_text as _pct
from wsss_lib.results.tables import points_text as _points
from wsss_lib.studies.fusion import SUMMARY_VARIANTS
from wsss_lib.utils import PAPER_THRESHOLD

__all__ = [
    "BLANK_WARNING_SHARE",
    "GAIN_COLUMNS",
    "METRIC_COLUMNS",
    "METRIC_KEEP",
    "MIN_SEED_GAP",
    "chance_lines",
    "fusion_document",
    "near_chance",
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
    "threshold": "threshold (chosen on val)",
    "fixed_threshold.smoke_iou": "smoke IoU at the fixed threshold",
    "precision": "precision",
    "recall": "recall",
    "chimney_fp_rate": "chimney FP",
    "distractor_fp_rate": "cloud/haze FP",
    "cam_chimney_mass": "CAM mass on chimney",
    "blank_share": "blank CAMs",
}
#: Entries of a variant's row kept in the table (the top-level keys of :data:`METRIC_COLUMNS`).
METRIC_KEEP: tuple[str, ...] = tuple(dict.fromkeys(k.split(".")[0] for k in METRIC_COLUMNS))
#: Columns of the paper comparison (:func:`~wsss_lib.studies.fusion.fusion_summary`); values in
#: %, gains in points.
GAIN_COLUMNS: dict[str, str] = {
    "smoke_iou": "smoke IoU",
    "threshold": "threshold",
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


def weak_strong_rows(
    summary: Mapping[str, Mapping[str, float]], order: tuple[str, str] | None = None
) -> dict[str, dict[str, float]]:
    """The summary renamed ``"weak seed / ..."`` / ``"strong seed / ..."``, the row names of
    :data:`PAPER_FUSION`.

    Args:
        summary: From :func:`~wsss_lib.studies.fusion.fusion_summary`.
        order: ``(weak, strong)`` seed names; default :func:`rank_seeds` of ``summary``. Pass the
            ranking of the main read-out when renaming a second read-out of the same seeds, so
            that "weak seed" names the same network in both tables.
    """
    weak, strong = order or rank_seeds(summary)
    return {f"{role} seed / {name}": dict(summary[f"{seed} / {name}"])
            for role, seed in (("weak", weak), ("strong", strong)) for name in SUMMARY_VARIANTS}


#: Share of blank last-layer maps above which :func:`fusion_verdicts` says the gains are
#: measured against an (almost) empty pseudo-mask.
BLANK_WARNING_SHARE = 0.5


def near_chance(accuracy: Mapping[str, float] | None) -> list[str]:
    """The networks of ``accuracy`` (name -> test accuracy) that classify near chance."""
    return [name for name, acc in (accuracy or {}).items() if at_chance({"accuracy": acc})]


def chance_lines(accuracy: Mapping[str, float] | None, what: str = "below") -> list[str]:
    """One sentence per network near chance (test accuracy below
    :data:`~wsss_lib.results.bias.NEAR_CHANCE_ACCURACY`; chance is 50 %), saying that its CAM
    numbers describe an untrained network and that the verdicts ``what`` are withheld."""
    return [
        f"The {name} classifies the test images near chance (accuracy "
        f"{100 * (accuracy or {})[name]:.0f} %, chance 50 %): it has not learnt what smoke is in "
        f"this training budget, so its CAM numbers describe an untrained network and the "
        f"verdicts {what} draw no conclusion from them."
        for name in near_chance(accuracy)
    ]


def _gain_phrase(row: Mapping[str, float]) -> str:
    gain, ci = row["gain"], row["ci95"]
    if math.isnan(ci):
        return f"{_points(gain)} points"
    return f"{_points(gain)} ± {100 * ci:.1f} points (95% interval over images)"


def _significant(row: Mapping[str, float]) -> bool:
    return not math.isnan(row["ci95"]) and abs(row["gain"]) > row["ci95"]


def _effect(row: Mapping[str, float], untrained: bool = False) -> str:
    if untrained:
        return "no verdict: the classifier is near chance"
    if not _significant(row):
        return "within noise"
    return "a real gain" if row["gain"] > 0 else "a real loss"


def _cut(row: Mapping[str, float]) -> str:
    return f"> {row['threshold']:g}" if "threshold" in row else ""


def _blank_note(row: Mapping[str, float]) -> str:
    share = row.get("blank_share", 0.0)
    if not share > BLANK_WARNING_SHARE:
        return ""
    return (f" (its last-layer map is blank on {100 * share:.0f}% of the test images: no "
            "gradient reaches that layer, so the gain is measured against an empty mask)")


def fusion_verdicts(
    summary: Mapping[str, Mapping[str, float]],
    accuracy: Mapping[str, float] | None = None,
    fixed: Mapping[str, Mapping[str, float]] | None = None,
    fixed_threshold: float = PAPER_THRESHOLD,
) -> list[str]:
    """Sentences comparing our fusion / multi-scale gains with the paper's, computed from numbers.

    Args:
        summary: Output of :func:`~wsss_lib.studies.fusion.fusion_summary` with two seeds (each
            CAM at its own threshold, chosen on val, when it was given ``thresholds``).
        accuracy: Seed name -> test accuracy of its classifier; a seed near chance gets no
            verdict (:func:`chance_lines`).
        fixed: The same summary with every CAM at ``fixed_threshold`` (the paper's read-out);
            adds its gains and a sentence when the two read-outs disagree.
        fixed_threshold: The threshold of ``fixed``.

    Returns:
        Plain-English verdicts, each true for whatever the numbers are.
    """
    weak, strong = rank_seeds(summary)
    untrained = set(near_chance(accuracy))
    single = {s: summary[f"{s} / last layer"]["smoke_iou"] for s in (weak, strong)}
    fused = {s: summary[f"{s} / fused (mean)"] for s in (weak, strong)}
    cuts = ("each CAM at its own threshold chosen on val" if "threshold" in fused[weak]
            and fixed is not None else "")
    lines = chance_lines({s: accuracy[s] for s in (weak, strong)} if accuracy else None)
    if cuts:
        lines.append(f"Read-out of the sentences below: {cuts}; the last ones repeat the gains at "
                     f"the fixed threshold {fixed_threshold:g}.")
    first = (f"Weaker seed here: {weak} (last-layer smoke IoU {_pct(single[weak])}); stronger: "
             f"{strong} ({_pct(single[strong])}).")
    distinct = single[strong] - single[weak] >= MIN_SEED_GAP
    if not distinct:
        first = (f"The two seeds are about equally good here (last-layer smoke IoU "
                 f"{_pct(single[weak])} for {weak}, {_pct(single[strong])} for {strong}; less "
                 f"than {100 * MIN_SEED_GAP:.0f} points apart), so the poor-vs-good-seed "
                 "comparison cannot be tested on these models.")
    lines.append(first)
    for s in (weak, strong):
        base = summary[f"{s} / last layer"]
        lines.append(
            f"Fusing the layers changes the {s} seed's smoke IoU by {_gain_phrase(fused[s])}: "
            f"{_pct(single[s])} ({_cut(base)}) -> {_pct(fused[s]['smoke_iou'])} "
            f"({_cut(fused[s])}), {_effect(fused[s], s in untrained)}{_blank_note(base)}."
            .replace(" ()", "")
        )
    helps_weak_more = fused[weak]["gain"] > fused[strong]["gain"]
    helps_weak = fused[weak]["gain"] > 0 and _significant(fused[weak])
    hurts_strong = fused[strong]["gain"] <= 0
    if untrained:
        claim = (f"cannot be tested here: the {' and the '.join(sorted(untrained))} "
                 f"classifier{'s are' if len(untrained) > 1 else ' is'} near chance")
    elif not distinct:
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
    base = summary[f"{strong} / last layer"]
    lines.append(
        f"Multi-scale inference changes the {strong} seed's smoke IoU by {_gain_phrase(ms)}: "
        f"{_pct(single[strong])} ({_cut(base)}) -> {_pct(ms['smoke_iou'])} ({_cut(ms)}), "
        f"{_effect(ms, strong in untrained)} (paper: "
        f"{_paper_gain('strong', 'multi-scale (last layer)'):+.1f} points on real data)."
        .replace(" ()", "")
    )
    if fixed is not None:
        lines += _fixed_lines(summary, fixed, fixed_threshold, (weak, strong), untrained)
    return lines


def _fixed_lines(
    summary: Mapping[str, Mapping[str, float]],
    fixed: Mapping[str, Mapping[str, float]],
    threshold: float,
    seeds: tuple[str, str],
    untrained: set[str],
) -> list[str]:
    """The gains at the fixed threshold, and where the two read-outs disagree."""
    strong = seeds[1]
    pairs = [(f"fusion on the {s} seed", f"fusing the layers changes the {s} seed's smoke IoU",
              f"{s} / fused (mean)", s) for s in seeds]
    pairs.append((f"multi-scale on the {strong} seed",
                  f"multi-scale inference changes the {strong} seed's smoke IoU",
                  f"{strong} / multi-scale (last layer)", strong))
    parts = [f"{what} by {_gain_phrase(fixed[key])}, {_effect(fixed[key], s in untrained)}"
             for _, what, key, s in pairs]
    lines = [f"At the fixed threshold {threshold:g} instead: " + "; ".join(parts) + "."]
    for label, _, key, s in pairs:
        if s in untrained:
            continue
        chosen, at_fixed = _effect(summary[key]), _effect(fixed[key])
        if chosen != at_fixed:
            lines.append(
                f"The two read-outs disagree on {label}: {chosen} with thresholds chosen on val, "
                f"{at_fixed} at the fixed {threshold:g}. A fused or multi-scale map spreads over "
                "[0, 1] differently from one layer's, so one fixed cut is not neutral between "
                "them; the val-chosen read-out is the one notebooks 02-04 and 06 use."
            )
    return lines


def fusion_document(
    S: Mapping[str, Any],
    paper_view: Mapping[str, Any],
    table: Mapping[str, Any],
    verdicts: Sequence[str],
    n_images: int,
    layers: Sequence[str],
    fixed_view: Mapping[str, Any] | None = None,
    accuracy: Mapping[str, float] | None = None,
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
        fixed_view: :func:`weak_strong_rows` of the summary at the fixed threshold, in %; stored
            as ``"... (fixed threshold)"`` rows.
        accuracy: Seed name -> test accuracy of its classifier (stored in %, as
            ``"<seed> / classifier"`` rows).
    """
    extra = {f"{name} (fixed threshold)": row for name, row in (fixed_view or {}).items()}
    extra.update({f"{seed} / classifier": {"accuracy": round(100 * acc, 2)}
                  for seed, acc in (accuracy or {}).items()})
    return MetricsDocument(
        notebook="05_cam_fusion",
        profile=str(S["profile"]),
        results={**paper_view, **table, **extra},
        paper=PAPER_FUSION,
        notes=[
            *verdicts,
            "Smoke IoU and rates in %. Ours: synthetic scenes, small ViTs, "
            f"{S['image_size']} px, {n_images} test images, training seed {S['train_seed']}.",
            "Paper: real IJmond data at 512 px, ViT-B/16; 'weak seed' rows are matched with the "
            "paper's poor seed, 'strong seed' rows with its good seed.",
            f"Layers: {', '.join(layers)}; scales {list(S['scales'])}; pseudo-mask thresholds "
            f"chosen on val per CAM (each row's 'threshold'), and the fixed {S['threshold']} "
            "for comparison.",
        ],
    )
