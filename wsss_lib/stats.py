"""Paired comparisons and the verdicts the notebooks print.

A claim such as "teacher-student beats the single ViT" is tested on **paired** measurements: for
each seed, both rows were trained on the same data with the same teacher, so the seed-to-seed
noise they share cancels in their difference. The verdict rests on the 95 % interval of the mean
paired difference:

- *supported*: the whole interval lies on the side the claim predicts;
- *contradicted*: the whole interval lies on the other side;
- *inconclusive*: the interval contains zero (too few seeds, or too small an effect).

Two intervals are offered: Student's t over the paired differences (the default, right for a
handful of seeds) and a percentile bootstrap (for many paired units, e.g. images).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = [
    "VERDICTS",
    "PairedComparison",
    "claim_verdict",
    "paired_bootstrap",
    "paired_t",
    "seeds_for_half_width",
    "t_quantile_975",
]

VERDICTS = ("supported", "contradicted", "inconclusive")

# Two-sided 95 % quantiles of Student's t (0.975 one-sided) for 1..30 degrees of freedom.
_T975 = (
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228,
    2.201, 2.179, 2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086,
    2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042,
)


def t_quantile_975(df: int) -> float:
    """The 0.975 quantile of Student's t with ``df`` degrees of freedom (normal beyond 30)."""
    if df < 1:
        raise ValueError(f"Student's t needs at least 1 degree of freedom; got {df}.")
    if df <= len(_T975):
        return _T975[df - 1]
    return 1.960 + 2.4 / df  # within 0.005 of the exact value for df > 30


@dataclass(frozen=True)
class PairedComparison:
    """Mean paired difference ``a - b`` with its 95 % interval.

    Attributes:
        mean: Mean of the paired differences.
        low: Lower end of the 95 % interval.
        high: Upper end.
        n: Number of pairs.
        method: ``"t"`` or ``"bootstrap"``.
        differences: The paired differences themselves.
    """

    mean: float
    low: float
    high: float
    n: int
    method: str
    differences: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["differences"] = list(self.differences)
        return out


def _pairs(a: Sequence[float], b: Sequence[float]) -> np.ndarray:
    a_arr, b_arr = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a_arr.shape != b_arr.shape or a_arr.ndim != 1:
        raise ValueError(
            f"Paired values need two 1-D sequences of equal length; got shapes {a_arr.shape} "
            f"and {b_arr.shape}. Pair them by seed (or image) before comparing."
        )
    if a_arr.size < 2:
        raise ValueError(
            f"A paired interval needs at least 2 pairs; got {a_arr.size}. Run more seeds."
        )
    diff = a_arr - b_arr
    if not np.all(np.isfinite(diff)):
        raise ValueError("Paired values contain NaN or inf; drop or fix those runs first.")
    return diff


def paired_t(a: Sequence[float], b: Sequence[float]) -> PairedComparison:
    """Mean of ``a[i] - b[i]`` with Student's t 95 % interval (``n - 1`` degrees of freedom)."""
    diff = _pairs(a, b)
    n = diff.size
    mean = float(diff.mean())
    half = t_quantile_975(n - 1) * float(diff.std(ddof=1)) / math.sqrt(n)
    return PairedComparison(mean, mean - half, mean + half, n, "t", tuple(map(float, diff)))


def paired_bootstrap(
    a: Sequence[float], b: Sequence[float], n_resamples: int = 2000, seed: int = 0
) -> PairedComparison:
    """Mean of ``a[i] - b[i]`` with a percentile-bootstrap 95 % interval over the pairs."""
    diff = _pairs(a, b)
    rng = np.random.default_rng(seed)
    index = rng.integers(0, diff.size, size=(n_resamples, diff.size))
    means = diff[index].mean(axis=1)
    low, high = np.quantile(means, [0.025, 0.975])
    return PairedComparison(
        float(diff.mean()), float(low), float(high), diff.size, "bootstrap",
        tuple(map(float, diff)),
    )


def claim_verdict(
    claim: str,
    comparison: PairedComparison,
    *,
    expect: str = "greater",
    what: str = "smoke IoU",
    unit: str = " points",
) -> dict[str, Any]:
    """Judge a claim that ``a`` is greater (or less) than ``b`` from their paired comparison.

    Args:
        claim: The claim in words, e.g. ``"teacher-student beats the single ViT"``.
        comparison: :func:`paired_t` / :func:`paired_bootstrap` of ``a`` vs ``b``.
        expect: ``"greater"`` (the claim predicts ``a > b``) or ``"less"``.
        what: The measure, for the sentence.
        unit: Unit suffix of the numbers.

    Returns:
        ``{"claim", "verdict", "sentence", **comparison}`` with ``verdict`` in :data:`VERDICTS`
        and a sentence that prints the numbers it rests on.
    """
    if expect not in ("greater", "less"):
        raise ValueError(f"expect must be 'greater' or 'less'; got {expect!r}.")
    sign = 1.0 if expect == "greater" else -1.0
    low, high = sorted((sign * comparison.low, sign * comparison.high))
    if low > 0:
        verdict = "supported"
    elif high < 0:
        verdict = "contradicted"
    else:
        verdict = "inconclusive"
    test = "paired t" if comparison.method == "t" else "paired bootstrap"
    sentence = (
        f"{claim}: **{verdict}** — difference in {what} {comparison.mean:+.2f}{unit} "
        f"(95 % interval {comparison.low:+.2f} to {comparison.high:+.2f}, {test}, "
        f"n = {comparison.n})."
    )
    return {"claim": claim, "verdict": verdict, "sentence": sentence, **comparison.to_dict()}


def seeds_for_half_width(sd: float, half_width: float, n_max: int = 50) -> int | None:
    """The fewest paired seeds whose Student-t 95 % interval is at most ``half_width`` wide on
    each side, for paired differences of standard deviation ``sd``:
    the smallest ``n >= 2`` with ``t(0.975, n-1) * sd / sqrt(n) <= half_width``.

    Returns:
        ``n``, or None when even ``n_max`` seeds are not enough.
    """
    if not (sd >= 0 and half_width > 0):
        raise ValueError(f"need sd >= 0 and half_width > 0; got sd={sd!r}, "
                         f"half_width={half_width!r}.")
    for n in range(2, n_max + 1):
        if t_quantile_975(n - 1) * sd / math.sqrt(n) <= half_width:
            return n
    return None
