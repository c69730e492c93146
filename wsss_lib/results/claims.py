"""The paper's claims, tested on paired rows: *supported*, *contradicted* or *inconclusive*.

Rows of one training seed saw the same images, so two rows' values pair up by seed
(:func:`paired_rows`); their differences in points and a Student-t 95 % interval decide the
verdict (:func:`paired_claim`, on :func:`wsss_lib.stats.paired_t` and
:func:`wsss_lib.stats.claim_verdict`). :func:`best_claim` tests "this row beats every other".
Each claim is a dict ``{"claim", "verdict", "sentence", "mean", "low", "high", "n", ...}``;
:class:`~wsss_lib.results.document.MetricsDocument` keeps its numbers in ``metrics.json``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from wsss_lib.results.tables import METRIC_NAMES

__all__ = ["best_claim", "finite_or_minus_inf", "paired_claim", "paired_rows"]


def paired_rows(
    rows: Sequence[Mapping[str, Any]], a: Any, b: Any, metric: str = "smoke_iou",
    key: str = "name",
) -> tuple[list[float], list[float], list[int]]:
    """Values of ``metric`` for rows ``a`` and ``b``, paired by seed (seeds missing in either or
    with a NaN value are left out).

    Returns:
        ``(values_a, values_b, seeds)`` in seed order.
    """
    by_seed: dict[int, dict[Any, float]] = {}
    for row in rows:
        by_seed.setdefault(int(row["seed"]), {})[row[key]] = float(row[metric])
    seeds = sorted(
        seed for seed, values in by_seed.items()
        if a in values and b in values and math.isfinite(values[a])
        and math.isfinite(values[b])
    )
    return ([by_seed[s][a] for s in seeds], [by_seed[s][b] for s in seeds], seeds)


def paired_claim(
    rows: Sequence[Mapping[str, Any]],
    a: Any,
    b: Any,
    claim: str,
    metric: str = "smoke_iou",
    expect: str = "greater",
    key: str = "name",
) -> dict[str, Any]:
    """Test the claim "row ``a`` is greater (``expect``) than row ``b`` on ``metric``".

    The paired differences over seeds (in percentage points) and their Student-t 95 % interval
    decide *supported* / *contradicted* / *inconclusive* (:func:`wsss_lib.stats.claim_verdict`).
    With fewer than two paired seeds no interval exists and the verdict is *inconclusive*.

    Returns:
        ``{"claim", "verdict", "sentence", "mean", "low", "high", "n", ...}`` (points).
    """
    from wsss_lib.stats import claim_verdict, paired_t

    values_a, values_b, seeds = paired_rows(rows, a, b, metric, key)
    what = METRIC_NAMES.get(metric, metric)
    if len(seeds) < 2:
        mean = 100 * (values_a[0] - values_b[0]) if seeds else math.nan
        return {
            "claim": claim, "verdict": "inconclusive", "mean": mean, "low": math.nan,
            "high": math.nan, "n": len(seeds),
            "sentence": f"{claim}: **inconclusive** — {len(seeds)} paired seed(s), no interval "
                        f"(difference in {what} {mean:+.2f} points); run at least 3 seeds.",
        }
    comparison = paired_t([100 * v for v in values_a], [100 * v for v in values_b])
    return claim_verdict(claim, comparison, expect=expect, what=what)


def best_claim(
    rows: Sequence[Mapping[str, Any]], best: Any, others: Sequence[Any], claim: str,
    labels: Mapping[Any, str], metric: str = "smoke_iou",
) -> dict[str, Any]:
    """"``best`` beats every row of ``others``": supported when every paired interval is above
    zero, contradicted when one lies below it, else inconclusive. The sentence lists them all."""
    parts = [paired_claim(rows, best, other, f"vs {labels.get(other, other)}", metric)
             for other in others]
    verdicts = {p["verdict"] for p in parts}
    if verdicts == {"supported"}:
        verdict = "supported"
    elif "contradicted" in verdicts:
        verdict = "contradicted"
    else:
        verdict = "inconclusive"
    detail = "; ".join(
        f"{labels.get(o, o)} {p['mean']:+.2f} ({p['low']:+.2f} to {p['high']:+.2f})"
        for o, p in zip(others, parts, strict=True)
    )
    n = min((p["n"] for p in parts), default=0)
    return {
        "claim": claim, "verdict": verdict, "parts": parts, "n": n,
        "sentence": f"{claim}: **{verdict}** — paired differences in "
                    f"{METRIC_NAMES.get(metric, metric)}, points with 95 % t intervals, "
                    f"n = {n}: {detail}.",
    }


def finite_or_minus_inf(value: float) -> float:
    """``value``, or -inf when it is not finite: for ``max(..., key=...)`` over rows with NaN."""
    return value if math.isfinite(value) else -math.inf
