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

__all__ = ["INTERIOR_OPTIMUM", "lambda_claims", "lambda_verdicts"]

_PAPER_BEST = max(PAPER_LAMBDA, key=PAPER_LAMBDA.get)
#: The paper's claim about λ, with its numbers.
INTERIOR_OPTIMUM = (f"λ has an interior optimum (paper: λ = {_PAPER_BEST:g} beats "
                    f"{min(PAPER_LAMBDA):g} and {max(PAPER_LAMBDA):g})")


def lambda_claims(rows: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Notebook 03's claims. ``rows`` are keyed by ``name`` = λ and need ``smoke_iou_val``.

    "Using the teacher helps": the λ > 0 with the best mean smoke IoU on ``val`` beats λ = 0 (the
    single ViT) on ``test``. "λ has an interior optimum": the interior λ (neither the smallest nor
    the largest λ > 0) with the best mean on ``val`` beats both ends of the grid on ``test``
    (:func:`~wsss_lib.results.claims.best_claim`: paired over seeds, Student-t intervals). Only
    ``val`` chooses, so ``test`` is never used twice.
    """
    lams = sorted({float(row["name"]) for row in rows})
    positive = [lam for lam in lams if lam > 0]
    claims: list[dict[str, Any]] = []
    if not positive:
        return claims
    val_means = {
        lam: np.nanmean([row.get("smoke_iou_val", math.nan) for row in rows
                         if float(row["name"]) == lam])
        for lam in positive
    }

    def best_on_val(candidates: Sequence[float]) -> float:
        return max(candidates, key=lambda lam: finite_or_minus_inf(val_means[lam]))

    chosen = best_on_val(positive)
    if 0.0 in lams:
        claims.append(paired_claim(
            rows, chosen, 0.0,
            f"Using the teacher helps: λ = {chosen:g} (best on val) beats λ = 0"))
    claim = INTERIOR_OPTIMUM
    if len(positive) < 3:
        claims.append({"claim": claim, "verdict": "inconclusive", "n": 0,
                       "sentence": f"{claim}: **inconclusive** — fewer than three λ > 0."})
        return claims
    inner = best_on_val(positive[1:-1])
    result = best_claim(rows, inner, [positive[0], positive[-1]],
                        f"{claim}; the best interior λ on val, {inner:g}, against the ends",
                        {lam: f"λ = {lam:g}" for lam in positive})
    claims.append({**result, "claim": claim, "interior_on_val": inner, "chosen_on_val": chosen})
    return claims


def lambda_verdicts(
    summary: Mapping[float, Mapping[str, float]], rows: Sequence[Mapping[str, Any]] = ()
) -> list[str]:
    """Notebook 03's conclusions: paired claims, then where our best mean λ is."""
    lams = sorted(summary)
    means = np.array([summary[lam]["smoke_iou"] for lam in lams])
    best = lams[int(np.nanargmax(means))]
    out = [claim["sentence"] for claim in lambda_claims(rows)]
    out.append(f"Best mean smoke IoU on test at λ = {best:g} ({100 * np.nanmax(means):.2f} %); "
               f"the paper's best is λ = {_PAPER_BEST:g} ({PAPER_LAMBDA[_PAPER_BEST]:.2f} %, "
               "real data).")
    return out
