"""Paired statistics behind every verdict: t quantiles, intervals by hand, the three verdicts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from wsss_lib.stats import (
    PairedComparison,
    claim_verdict,
    paired_bootstrap,
    paired_t,
    t_quantile_975,
)


def test_t_quantiles_match_the_table_and_approach_the_normal():
    assert t_quantile_975(1) == pytest.approx(12.706)
    assert t_quantile_975(2) == pytest.approx(4.303)
    assert t_quantile_975(30) == pytest.approx(2.042)
    assert t_quantile_975(60) == pytest.approx(2.000, abs=0.005)
    assert t_quantile_975(10_000) == pytest.approx(1.960, abs=0.001)
    with pytest.raises(ValueError, match="degree of freedom"):
        t_quantile_975(0)


def test_paired_t_by_hand():
    a, b = [3.0, 5.0, 10.0], [1.0, 2.0, 4.0]  # differences 2, 3, 6: mean 11/3
    result = paired_t(a, b)
    diff = np.array([2.0, 3.0, 6.0])
    half = 4.303 * diff.std(ddof=1) / math.sqrt(3)
    assert result.mean == pytest.approx(11 / 3)
    assert (result.low, result.high) == (pytest.approx(11 / 3 - half), pytest.approx(11 / 3 + half))
    assert result.n == 3 and result.method == "t" and result.differences == (2.0, 3.0, 6.0)


def test_pairing_is_what_cancels_shared_noise():
    """Rows far apart in level but moving together per seed: the paired interval is tight."""
    base = np.array([10.0, 40.0, 25.0, 60.0])
    result = paired_t(base + 1.0, base)
    assert result.low == pytest.approx(1.0) and result.high == pytest.approx(1.0)


def test_bootstrap_interval_brackets_the_mean_and_is_reproducible():
    rng = np.random.default_rng(0)
    a = rng.normal(1.0, 1.0, 200)
    b = np.zeros(200)
    first, second = paired_bootstrap(a, b, seed=3), paired_bootstrap(a, b, seed=3)
    assert first == second
    assert first.low < first.mean < first.high
    assert first.low > 0.7 and first.high < 1.3  # ~1 ± 1.96 / sqrt(200)


@pytest.mark.parametrize(
    ("low", "high", "expect", "verdict"),
    [
        (0.5, 2.0, "greater", "supported"),
        (-2.0, -0.5, "greater", "contradicted"),
        (-0.5, 2.0, "greater", "inconclusive"),
        (-2.0, -0.5, "less", "supported"),
        (0.5, 2.0, "less", "contradicted"),
        (0.0, 2.0, "greater", "inconclusive"),  # touching zero is not enough
    ],
)
def test_claim_verdict_follows_the_interval(low, high, expect, verdict):
    comparison = PairedComparison((low + high) / 2, low, high, 3, "t", (0.0, 0.0, 0.0))
    result = claim_verdict("x beats y", comparison, expect=expect)
    assert result["verdict"] == verdict
    assert result["sentence"].startswith(f"x beats y: **{verdict}**")
    assert f"{low:+.2f} to {high:+.2f}" in result["sentence"] and "n = 3" in result["sentence"]


def test_bad_pairs_are_refused_with_the_fix():
    with pytest.raises(ValueError, match="equal length"):
        paired_t([1.0, 2.0], [1.0])
    with pytest.raises(ValueError, match="at least 2 pairs"):
        paired_t([1.0], [0.0])
    with pytest.raises(ValueError, match="NaN"):
        paired_t([1.0, math.nan], [0.0, 0.0])
    with pytest.raises(ValueError, match="expect"):
        claim_verdict("c", paired_t([1.0, 2.0], [0.0, 0.0]), expect="bigger")
