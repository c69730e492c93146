"""Notebook 03's claims and verdicts, from the rows of :mod:`wsss_lib.studies.lambda_sweep`.

λ is chosen on ``val`` (never on ``test``): the λ > 0 with the best mean smoke IoU on ``val`` is
then compared on ``test`` with λ = 0 and with the ends of the grid.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from wsss_lib.paper import PAPER_LAMBDA
from wsss_lib.results.claims import best_claim, finite_or_minus_inf, paired_claim
from wsss_lib.results.method import chance_note, claim_sentences, untrained_sentence

__all__ = ["INTERIOR_OPTIMUM", "lambda_chosen_on_val", "lambda_claims", "lambda_verdicts"]

_PAPER_BEST = max(PAPER_LAMBDA, key=PAPER_LAMBDA.get)
#: The paper's claim about λ, with its numbers.
INTERIOR_OPTIMUM = (f"λ has an interior optimum (paper: λ = {_PAPER_BEST:g} beats "
                    f"{min(PAPER_LAMBDA):g} and {max(PAPER_LAMBDA):g})")


def _val_means(rows: Sequence[Mapping[str, Any]], lams: Sequence[float]) -> dict[float, float]:
    return {
        lam: np.nanmean([row.get("smoke_iou_val", math.nan) for row in rows
                         if float(row["name"]) == lam])
        for lam in lams
    }


def lambda_chosen_on_val(
    rows: Sequence[Mapping[str, Any]], candidates: Sequence[float] | None = None
) -> float | None:
    """The λ among ``candidates`` (default: every λ > 0 of ``rows``) with the best mean smoke IoU
    on ``val`` (over seeds); ties go to the smaller λ. None without a candidate."""
    if candidates is None:
        candidates = sorted({float(row["name"]) for row in rows if float(row["name"]) > 0})
    candidates = sorted(float(lam) for lam in candidates)
    if not candidates:
        return None
    means = _val_means(rows, candidates)
    return max(candidates, key=lambda lam: finite_or_minus_inf(means[lam]))


def lambda_claims(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Notebook 03's claims. ``rows`` are keyed by ``name`` = λ and need ``smoke_iou_val``.

    "Using the teacher helps": the λ > 0 with the best mean smoke IoU on ``val``
    (:func:`lambda_chosen_on_val`) beats λ = 0 (the single ViT) on ``test``. "λ has an interior
    optimum": the interior λ (neither the smallest nor the largest λ > 0) with the best mean on
    ``val`` beats both ends of the λ > 0 grid on ``test``
    (:func:`~wsss_lib.results.claims.best_claim`: paired over seeds, Student-t intervals). Only
    ``val`` chooses, so ``test`` is never used twice. Each claim lists the λ it compares
    (``"rows"``).
    """
    lams = sorted({float(row["name"]) for row in rows})
    positive = [lam for lam in lams if lam > 0]
    claims: list[dict[str, Any]] = []
    if not positive:
        return claims
    chosen = lambda_chosen_on_val(rows, positive)
    if 0.0 in lams:
        claims.append({**paired_claim(
            rows, chosen, 0.0,
            f"Using the teacher helps: λ = {chosen:g} (best on val) beats λ = 0"),
            "rows": (chosen, 0.0), "chosen_on_val": chosen})
    claim = INTERIOR_OPTIMUM
    if len(positive) < 3:
        claims.append({"claim": claim, "verdict": "inconclusive", "n": 0, "rows": (),
                       "sentence": f"{claim}: **inconclusive** — fewer than three λ > 0."})
        return claims
    inner = lambda_chosen_on_val(rows, positive[1:-1])
    result = best_claim(rows, inner, [positive[0], positive[-1]],
                        f"{claim}; the best interior λ on val, {inner:g}, against the ends",
                        {lam: f"λ = {lam:g}" for lam in positive})
    claims.append({**result, "claim": claim, "interior_on_val": inner, "chosen_on_val": chosen,
                   "rows": (inner, positive[0], positive[-1])})
    return claims


def lambda_verdicts(
    summary: Mapping[float, Mapping[str, float]], rows: Sequence[Mapping[str, Any]] = ()
) -> list[str]:
    """Notebook 03's conclusions: which students stayed at chance, the paired claims (*not
    judged* where one at chance is involved), then where our best mean λ is."""
    labels = {lam: f"λ = {lam:g}" for lam in summary}
    lams = sorted(summary)
    means = np.array([summary[lam]["smoke_iou"] for lam in lams])
    best = lams[int(np.nanargmax(means))]
    out = untrained_sentence(summary, labels)
    out += claim_sentences(lambda_claims(rows), summary, labels)
    note = chance_note(summary[best])
    out.append(f"Best mean smoke IoU on test at λ = {best:g} ({100 * np.nanmax(means):.2f} %"
               f"{', ' + note if note else ''}); the paper's best is λ = {_PAPER_BEST:g} "
               f"({PAPER_LAMBDA[_PAPER_BEST]:.2f} %, real data).")
    return out
