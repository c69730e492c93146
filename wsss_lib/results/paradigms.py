"""Notebook 02's claims and verdicts, from the rows of :mod:`wsss_lib.studies.paradigms`."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from wsss_lib.paper import PAPER_PARADIGMS
from wsss_lib.results.claims import finite_or_minus_inf, paired_claim
from wsss_lib.results.method import (
    chance_note,
    claim_sentences,
    untrained_rows,
    untrained_sentence,
)
from wsss_lib.results.tables import format_mean_std
from wsss_lib.studies.paradigms import PARADIGM_ROWS

__all__ = ["paradigm_claims", "paradigm_verdicts", "precision_sentence"]

#: Changes smaller than this (in points) are called flat by :func:`precision_sentence`.
FLAT_POINTS = 1.0


def _paper(row: str) -> str:
    return f"{PAPER_PARADIGMS[row]['smoke_iou']:.2f}"


def paradigm_claims(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The paper's claims that notebook 02 can test, each with its paired verdict and the two
    runs it compares (``"rows"``). A claim whose runs are not both in ``rows`` (a profile's
    ``paradigms`` can leave one out) is left out rather than declared inconclusive."""
    ts = _paper("ts_cnn_to_vit")
    tests = [
        ("ts_cnn_to_vit", "single_vit",
         f"Teacher-student (CNN→ViT) beats the single ViT (paper: {ts} vs "
         f"{_paper('single_vit')})", {}),
        ("ts_cnn_to_vit", "single_cnn",
         f"The student beats its teacher (paper: {ts} vs {_paper('single_cnn')})", {}),
        ("ts_cnn_to_vit", "co_training",
         f"Teacher-student beats co-training (paper: {ts} vs {_paper('co_training')})", {}),
        ("ts_cnn_to_vit", "single_vit",
         "Teacher-student moves CAM mass off chimneys (vs the single ViT)",
         {"metric": "cam_chimney_mass", "expect": "less"}),
    ]
    present = {row["name"] for row in rows}
    return [{**paired_claim(rows, a, b, claim, **options), "rows": (a, b)}
            for a, b, claim, options in tests if a in present and b in present]


def _change(entry_a: Mapping[str, Any], entry_b: Mapping[str, Any], metric: str) -> float:
    """``a - b`` of a summary metric, in points (NaN when either is missing)."""
    a, b = entry_a.get(metric, math.nan), entry_b.get(metric, math.nan)
    return 100.0 * (float(a) - float(b)) if a is not None and b is not None else math.nan


def precision_sentence(
    summary: Mapping[str, Mapping[str, Any]], a: str = "ts_cnn_to_vit", b: str = "single_vit"
) -> str | None:
    """Where a change of smoke IoU from run ``b`` to run ``a`` comes from: pixel precision and
    recall (pooled over ``test``).

    A smoke IoU gain with *higher precision* means the masks outline the plume better; one with
    *lower precision and higher recall* means they cover more of the image (a map that spreads
    over the sky finds more smoke and claims more non-smoke). Changes below :data:`FLAT_POINTS`
    count as flat. Mean differences over the seeds of the summary (the paired verdict on smoke
    IoU is the claims' job). None when either run is missing; *not judged* when either is at
    chance.
    """
    if a not in summary or b not in summary:
        return None
    name_a, name_b = PARADIGM_ROWS.get(a, a), PARADIGM_ROWS.get(b, b)
    what = f"Precision and recall, {name_a} vs {name_b}"
    untrained = untrained_rows({n: summary[n] for n in (a, b)}, PARADIGM_ROWS)
    if untrained:
        return (f"{what}: **not judged** — at chance on test (accuracy "
                f"{', '.join(untrained.values())}), so there is no trained network to compare.")
    iou, prec, rec = (_change(summary[a], summary[b], m)
                      for m in ("smoke_iou", "precision", "recall"))
    if not all(math.isfinite(v) for v in (iou, prec, rec)):
        return f"{what}: cannot be compared (a metric is undefined)."

    def direction(value: float) -> int:
        return 0 if abs(value) < FLAT_POINTS else (1 if value > 0 else -1)

    d_iou, d_prec, d_rec = direction(iou), direction(prec), direction(rec)
    if d_prec > 0 and d_rec >= 0:
        why = "the masks are more precise without losing smoke: they outline the plume better"
    elif d_prec > 0:
        why = "the masks are tighter: more precise, but they find less of the smoke"
    elif d_prec < 0 and d_rec > 0:
        why = ("the masks cover more of the image: they find more smoke but also claim more "
               "non-smoke, so read the smoke IoU together with the gallery")
    elif d_prec < 0:
        why = "the masks are worse on both counts"
    elif d_rec != 0:
        why = ("precision is flat, so the change comes from "
               f"{'finding more' if d_rec > 0 else 'missing more'} of the smoke")
    else:
        why = "the masks are about as precise and as complete"
    n = int(min(summary[a].get("n_seeds", 1), summary[b].get("n_seeds", 1)))
    iou_text = "flat" if d_iou == 0 else f"{iou:+.2f} points"
    return (f"{what}: smoke IoU {iou_text}, pixel precision {prec:+.2f} and recall {rec:+.2f} "
            f"points (means over {n} seed{'s' if n != 1 else ''}): {why}.")


def paradigm_verdicts(
    summary: Mapping[str, Mapping[str, float]], rows: Sequence[Mapping[str, Any]] = ()
) -> list[str]:
    """Notebook 02's conclusions: which networks stayed at chance, the paper's claims with paired
    verdicts (*not judged* where a network at chance is involved), where the teacher-student's
    change of smoke IoU comes from (:func:`precision_sentence`), then the best row."""
    out = untrained_sentence(summary, PARADIGM_ROWS)
    out += claim_sentences(paradigm_claims(rows), summary, PARADIGM_ROWS)
    precision = precision_sentence(summary)
    if precision is not None:
        out.append(precision)
    best = max(summary, key=lambda k: finite_or_minus_inf(summary[k]["smoke_iou"]))
    paper_best = max(PAPER_PARADIGMS, key=lambda k: PAPER_PARADIGMS[k]["smoke_iou"])
    note = chance_note(summary[best])
    out.append(f"Best smoke IoU here: {PARADIGM_ROWS.get(best, best)} "
               f"({format_mean_std(summary[best], 'smoke_iou')} %{', ' + note if note else ''}); "
               f"the paper's best is {PARADIGM_ROWS[paper_best].removesuffix(' (paper)')} "
               f"({_paper(paper_best)} %, real data).")
    return out
