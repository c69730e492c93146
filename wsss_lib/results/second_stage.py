"""Notebook 10's rows as numbers: "% of supervised", how many masks WSSS is worth, the claims.

Rows come from :func:`wsss_lib.studies.second_stage.run_second_stage` (one per row name and
seed, fractions in ``[0, 1]``). Derived here, each with a hand-computed test
(``tests/test_second_stage.py``):

- :func:`percent_of_supervised`: stage 2's smoke IoU as a percentage of the fully supervised
  segmenter's, **per seed** (both trained on the same images with the same budget), then the
  mean over seeds with a Student-t 95 % interval;
- :func:`masks_worth`: where the curve "smoke IoU of the segmenter trained on ``k`` true masks"
  reaches stage 2's smoke IoU, linearly interpolated in ``log2(k)``;
- :func:`learning_curve`: the curve's points (mean and seed std per ``k``);
- :func:`second_stage_claims` (paired over seeds, :func:`wsss_lib.results.claims.paired_claim`)
  and :func:`second_stage_verdicts` (their sentences, or *not judged* when the networks did not
  learn: :func:`segmenters_learned`, and the pipeline's classifier at chance);
- :func:`second_stage_document`: the notebook's ``metrics.json``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from wsss_lib.results.claims import paired_claim, paired_rows
from wsss_lib.results.document import MetricsDocument
from wsss_lib.results.method import at_chance, chance_note
from wsss_lib.results.tables import as_percent, summarize
from wsss_lib.stats import t_quantile_975
from wsss_lib.studies.configs import OPTIONAL_TRAINING_KEYS, TRAINING_KEYS

__all__ = [
    "ROW_LABELS",
    "learning_curve",
    "masks_worth",
    "masks_worth_text",
    "percent_of_supervised",
    "row_labels",
    "second_stage_claims",
    "second_stage_document",
    "second_stage_verdicts",
    "second_stage_summary",
    "segmenters_learned",
]

#: Short labels of the fixed rows.
ROW_LABELS = {
    "whole_image": "whole image = smoke",
    "untrained": "untrained segmenter",
    "pseudo_masks": "pseudo-masks (stage 1)",
    "stage2": "WSSS stage 2 (segmenter on pseudo-masks)",
    "supervised": "fully supervised (all true masks)",
}


def row_labels(names: Sequence[str]) -> dict[str, str]:
    """Labels of ``names``: :data:`ROW_LABELS`, and ``"supervised, 64 masks"`` for
    ``supervised_k64``."""
    out = {}
    for name in names:
        if name.startswith("supervised_k"):
            out[name] = f"supervised, {name.removeprefix('supervised_k')} masks"
        else:
            out[name] = ROW_LABELS.get(name, name)
    return out


def second_stage_summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    """Mean and seed std per row name (:func:`~wsss_lib.results.tables.summarize`) of every
    numeric entry the row's runs have except ``n_masks`` (a count, not a fraction): rows differ
    in their entries (only the pseudo-masks have a classifier accuracy), in first-seen order."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        groups.setdefault(row["name"], []).append(row)
    out: dict[str, dict[str, float]] = {}
    for group in groups.values():
        metrics = [k for k, v in group[0].items() if k not in ("name", "seed", "n_masks")
                   and isinstance(v, (int, float)) and not isinstance(v, bool)]
        out.update(summarize(group, metrics))
    return out


# ------------------------------------------------------------------------------ derived metrics


def percent_of_supervised(
    rows: Sequence[Mapping[str, Any]], metric: str = "smoke_iou", row: str = "stage2",
    reference: str = "supervised",
) -> dict[str, Any]:
    """``row``'s ``metric`` as a percentage of ``reference``'s, per seed, then over seeds.

    For each seed with both rows: ``100 * row / reference`` (NaN when the reference is 0). The
    summary is the mean of these per-seed ratios with a Student-t 95 % interval (``n - 1``
    degrees of freedom; no interval with one seed).

    Returns:
        ``{"mean", "low", "high", "n", "per_seed": [...], "seeds": [...]}`` (percent).
    """
    values, refs, seeds = paired_rows(rows, row, reference, metric)
    ratios = [100.0 * v / r if r > 0 else math.nan for v, r in zip(values, refs, strict=True)]
    finite = np.array([x for x in ratios if math.isfinite(x)], dtype=np.float64)
    mean = float(finite.mean()) if finite.size else math.nan
    low = high = math.nan
    if finite.size >= 2:
        half = t_quantile_975(finite.size - 1) * float(finite.std(ddof=1)) / math.sqrt(finite.size)
        low, high = mean - half, mean + half
    return {"mean": mean, "low": low, "high": high, "n": int(finite.size),
            "per_seed": ratios, "seeds": seeds}


def masks_worth(ks: Sequence[float], values: Sequence[float], target: float
                ) -> tuple[float, str]:
    """How many true masks the supervised segmenter needs to reach ``target``.

    The curve is ``values[i]`` (e.g. smoke IoU) of the segmenter trained on ``ks[i]`` masks,
    ``ks`` increasing. The answer is the first crossing of ``target``, interpolated linearly in
    ``log2(k)`` between the last point below ``target`` and the first at or above it: for
    ``ks = [16, 64]``, ``values = [0.2, 0.4]`` and ``target = 0.3`` it is
    ``2 ** (4 + 0.5 * 2) = 32``.

    Returns:
        ``(k, status)``: ``status`` is ``"within"`` (``k`` interpolated), ``"below"`` (the curve's
        first point already reaches ``target``: WSSS is worth at most ``ks[0]`` masks, and ``k``
        is ``ks[0]``), ``"above"`` (no point reaches it: worth more than ``ks[-1]``, and ``k`` is
        ``ks[-1]``) or ``"undefined"`` (``target`` or the curve is NaN; ``k`` is NaN).

    Raises:
        ValueError: ``ks`` and ``values`` differ in length, are empty, or ``ks`` is not
            increasing and positive.
    """
    ks_arr = np.asarray(ks, dtype=np.float64)
    vals = np.asarray(values, dtype=np.float64)
    if ks_arr.ndim != 1 or ks_arr.shape != vals.shape or ks_arr.size == 0:
        raise ValueError(f"ks and values need the same non-zero length; got {ks_arr.shape} and "
                         f"{vals.shape}.")
    if np.any(ks_arr <= 0) or np.any(np.diff(ks_arr) <= 0):
        raise ValueError(f"ks must be positive and increasing; got {list(ks)}.")
    if not math.isfinite(target) or not np.all(np.isfinite(vals)):
        return math.nan, "undefined"
    reached = np.flatnonzero(vals >= target)
    if reached.size == 0:
        return float(ks_arr[-1]), "above"
    i = int(reached[0])
    if i == 0:
        return float(ks_arr[0]), "below"
    x0, x1 = math.log2(ks_arr[i - 1]), math.log2(ks_arr[i])
    y0, y1 = float(vals[i - 1]), float(vals[i])
    return float(2.0 ** (x0 + (target - y0) / (y1 - y0) * (x1 - x0))), "within"


def masks_worth_text(k: float, status: str) -> str:
    """``"about 90 masks"``, ``"16 masks or fewer"``, ``"more than 3072 masks"`` or
    ``"undefined"``."""
    if status == "within":
        return f"about {k:.0f} masks"
    if status == "below":
        return f"{k:.0f} masks or fewer"
    if status == "above":
        return f"more than {k:.0f} masks"
    return "undefined"


def learning_curve(
    summary: Mapping[str, Mapping[str, float]], n_train: int, metric: str = "smoke_iou"
) -> dict[str, list[float]]:
    """The supervised segmenter's ``metric`` against its number of true masks: every
    ``supervised_k<k>`` row of ``summary`` and the ``supervised`` row at ``n_train``.

    Returns:
        ``{"k": [...], "mean": [...], "std": [...]}``, ``k`` increasing (fractions).
    """
    points = {int(name.removeprefix("supervised_k")): entry for name, entry in summary.items()
              if name.startswith("supervised_k")}
    if "supervised" in summary:
        points[int(n_train)] = summary["supervised"]
    ks = sorted(points)
    return {"k": [float(k) for k in ks],
            "mean": [float(points[k].get(metric, math.nan)) for k in ks],
            "std": [float(points[k].get(f"{metric}_std", math.nan)) for k in ks]}


# ------------------------------------------------------------------------------ claims


def segmenters_learned(summary: Mapping[str, Mapping[str, float]]) -> bool:
    """Whether the fully supervised segmenter learned anything: its smoke IoU on ``test`` is
    above the whole-image baseline's (an untrained segmenter calls nothing or everything smoke,
    and scores 0 or the baseline)."""
    sup = summary.get("supervised", {}).get("smoke_iou", math.nan)
    whole = summary.get("whole_image", {}).get("smoke_iou", math.nan)
    return math.isfinite(sup) and math.isfinite(whole) and sup > whole


def second_stage_claims(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The paired claims of notebook 10 (differences in points, over seeds); each also lists
    the ``"rows"`` it compares."""
    specs = [
        ("stage2", "pseudo_masks", "smoke_iou",
         "stage 2 beats its own pseudo-masks (smoke IoU, test)"),
        ("stage2", "pseudo_masks", "smoke_iou_decoupled",
         "stage 2 beats its own pseudo-masks (smoke IoU, test_decoupled)"),
        ("supervised", "stage2", "smoke_iou",
         "full supervision beats stage 2 (smoke IoU, test)"),
        ("stage2", "whole_image", "smoke_iou",
         "stage 2 beats the whole-image baseline (smoke IoU, test)"),
    ]
    out = []
    for a, b, metric, claim in specs:
        result = paired_claim(rows, a, b, claim, metric=metric)
        result["rows"] = [a, b]
        out.append(result)
    return out


def second_stage_verdicts(
    summary: Mapping[str, Mapping[str, float]],
    claims: Sequence[Mapping[str, Any]],
    rows: Sequence[Mapping[str, Any]],
    n_train: int,
    pipeline: str,
) -> list[str]:
    """The sentences of notebook 10: whether its networks learned, the claims (or *not judged*),
    "% of supervised" on ``test`` and ``test_decoupled``, and the masks WSSS is worth."""
    out = []
    learned = segmenters_learned(summary)
    pipeline_entry = summary.get("pseudo_masks", {})
    if not learned:
        out.append("The segmenters did not learn here: the fully supervised one does not beat "
                   "the whole image called smoke on test (the `quick` profile trains for "
                   "seconds). Every number below describes untrained networks, and no claim "
                   "is judged.")
    if at_chance(pipeline_entry):
        out.append(f"The pseudo-mask pipeline ({pipeline}) is {chance_note(pipeline_entry)}: "
                   "its pseudo-masks come from a classifier that did not learn smoke.")
    for claim in claims:
        if not learned or at_chance(pipeline_entry):
            out.append(f"{claim['claim']}: **not judged** — the networks did not learn.")
        else:
            out.append(claim["sentence"])
    if not learned:
        out.append("Neither \"% of supervised\" nor the number of masks WSSS is worth means "
                   "anything for networks that did not learn; metrics.json still records them.")
        return out
    for metric, where in (("smoke_iou", "test"), ("smoke_iou_decoupled", "test_decoupled")):
        share = percent_of_supervised(rows, metric)
        interval = (f" (95 % interval {share['low']:.1f} to {share['high']:.1f}, n = "
                    f"{share['n']} seeds)" if math.isfinite(share["low"]) else
                    f" (n = {share['n']} seed(s), no interval)")
        out.append(f"On {where}, stage 2 reaches {share['mean']:.1f} % of the fully supervised "
                   f"segmenter's smoke IoU{interval}, trained on the same images with the same "
                   "architecture and budget.")
    curve = learning_curve(summary, n_train)
    target = summary.get("stage2", {}).get("smoke_iou", math.nan)
    if len(curve["k"]) >= 1:
        k, status = masks_worth(curve["k"], curve["mean"], target)
        decoupled = learning_curve(summary, n_train, "smoke_iou_decoupled")
        k_dec, status_dec = masks_worth(decoupled["k"], decoupled["mean"], summary.get(
            "stage2", {}).get("smoke_iou_decoupled", math.nan))
        out.append(f"How many pixel masks is WSSS worth? The segmenter trained on k true masks "
                   f"reaches stage 2's smoke IoU on test with {masks_worth_text(k, status)} "
                   f"({masks_worth_text(k_dec, status_dec)} on test_decoupled; interpolated in "
                   f"log k on the mean curve; WSSS used the image labels of all {n_train} images "
                   "and no mask).")
    return out


def second_stage_document(
    profile: str,
    summary: Mapping[str, Mapping[str, float]],
    rows: Sequence[Mapping[str, Any]],
    claims: Sequence[Mapping[str, Any]],
    notes: Sequence[str],
    settings: Mapping[str, Any],
    n_train: int,
    pipeline: str,
    pipelines: Mapping[str, Mapping[str, Any]] | None = None,
) -> MetricsDocument:
    """Notebook 10's ``metrics.json``: rows in % (mean, ``_std`` over seeds), the pipeline's
    read-out per seed, the derived numbers under ``results["derived"]`` (``percent_of_supervised``
    and ``_decoupled`` with ``_low`` / ``_high``; ``masks_worth`` (and ``_decoupled``) when
    inside the curve, else ``masks_worth_at_most`` / ``masks_worth_more_than``), and the val
    choice of the pipeline."""
    results: dict[str, Any] = dict(as_percent(summary))
    readouts = [r["readout"] for r in sorted(rows, key=lambda r: r["seed"])
                if r["name"] == "pseudo_masks" and r.get("readout")]
    if "pseudo_masks" in results:
        results["pseudo_masks"] = {**results["pseudo_masks"], "pipeline": pipeline,
                                   "readout_per_seed": readouts}
    derived: dict[str, Any] = {}
    for metric, suffix in (("smoke_iou", ""), ("smoke_iou_decoupled", "_decoupled")):
        share = percent_of_supervised(rows, metric)
        for key in ("mean", "low", "high"):
            name = f"percent_of_supervised{suffix}" + ("" if key == "mean" else f"_{key}")
            derived[name] = round(share[key], 2) if math.isfinite(share[key]) else None
    for metric, suffix in (("smoke_iou", ""), ("smoke_iou_decoupled", "_decoupled")):
        curve = learning_curve(summary, n_train, metric)
        k, status = masks_worth(curve["k"], curve["mean"],
                                summary.get("stage2", {}).get(metric, math.nan))
        key = {"within": "masks_worth", "below": "masks_worth_at_most",
               "above": "masks_worth_more_than"}.get(status)
        if key is not None:
            derived[f"{key}{suffix}"] = round(k, 1)
    derived["n_train"] = int(n_train)
    results["derived"] = derived
    if pipelines:
        results["pipeline_choice_val"] = {
            name: {"val_iou": round(100 * entry["val_iou"], 2)
                   if math.isfinite(entry["val_iou"]) else None}
            for name, entry in pipelines.items()}
    return MetricsDocument(
        notebook="10_second_stage",
        profile=str(profile),
        results=results,
        notes=[
            "Our numbers: %, synthetic benchmark; every segmenter is the method's CNN with the "
            "supervised paradigm's light decoder, trained on the train split the pseudo-mask "
            "networks saw (train_level in settings) with the same optimiser, epochs and number "
            "of steps; k-mask runs repeat their k images to the full training-set length. "
            "Smoke IoU is per image over smoke images; segmenters are cut at probability 0.5, "
            "pseudo-masks with their read-out chosen on val.",
            *notes,
        ],
        claims=claims,
        settings={k: settings[k] for k in (*TRAINING_KEYS, *OPTIONAL_TRAINING_KEYS, "seeds",
                                           "rows", "k_masks", "segmenter_epochs")
                  if k in settings},
    )
