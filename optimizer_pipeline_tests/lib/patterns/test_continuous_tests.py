"""Continuous tier comparisons (Mann-Whitney, Cliff's delta, Hodges-Lehmann, Welch) against references.

Every simulation uses a fixed seed, so the coverage numbers are deterministic (the bands are wide enough to survive a
seed change).
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats

from optimizer_pipeline.lib.patterns.continuous_tests import _mwu_null_cdf, mann_whitney, welch
from optimizer_pipeline_tests.lib.patterns.comparison_contract import assert_all_finite


def _cliffs_delta_brute(x: np.ndarray, y: np.ndarray) -> float:
    return sum(np.sign(a - b) for a in x for b in y) / (len(x) * len(y))


@pytest.mark.parametrize("seed", range(6))
def test_mann_whitney_matches_references(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_top, n_ref = [(4, 16), (8, 32), (5, 7), (20, 30), (12, 40), (6, 6)][seed]
    top = rng.normal(0.6, 1.0, n_top)
    ref = rng.normal(0.0, 1.5, n_ref)
    if seed % 2:  # ties
        top, ref = np.round(top), np.round(ref)
    res = mann_whitney(top, ref)
    expected = stats.mannwhitneyu(top, ref, alternative="two-sided", method="auto")
    assert res.test == "mann-whitney" and res.effect_name == "cliff's delta" and res.shift_name == "hodges-lehmann"
    assert res.p_value == pytest.approx(expected.pvalue, rel=1e-12) and res.statistic == expected.statistic
    assert res.effect == pytest.approx(_cliffs_delta_brute(top, ref), abs=1e-12)
    assert res.shift == pytest.approx(np.median(np.subtract.outer(top, ref)))
    assert (res.median_top, res.median_ref) == (np.median(top), np.median(ref))
    assert (res.mean_top, res.mean_ref) == pytest.approx((top.mean(), ref.mean()))
    assert -1.0 <= res.ci_low <= res.effect <= res.ci_high <= 1.0
    assert res.shift_ci_low <= res.shift <= res.shift_ci_high
    assert_all_finite(res)


def test_cliffs_delta_ci_is_brunner_munzel() -> None:
    """Interval = logit(theta) -/+ t_df * se / (theta (1 - theta)); se and df checked against scipy.brunnermunzel."""
    rng = np.random.default_rng(21)
    top, ref = rng.normal(0.5, 2.0, 8), rng.normal(0.0, 1.0, 32)
    res = mann_whitney(top, ref)
    psi = (top[:, None] > ref[None, :]) + 0.5 * (top[:, None] == ref[None, :])
    theta = psi.mean()
    a, b = psi.mean(axis=1).var(ddof=1) / 8, psi.mean(axis=0).var(ddof=1) / 32
    se = math.sqrt(a + b)
    df = (a + b) ** 2 / (a**2 / 7 + b**2 / 31)
    bm = stats.brunnermunzel(ref, top)  # scipy's statistic is for "second sample tends to be larger"
    assert (theta - 0.5) / se == pytest.approx(bm.statistic, rel=1e-10)
    assert 2 * stats.t.sf(abs(bm.statistic), df) == pytest.approx(bm.pvalue, rel=1e-8)
    half = stats.t.isf(0.025, df) * se / (theta * (1 - theta))
    expected = 2 * special.expit(special.logit(theta) + np.array([-half, half])) - 1
    np.testing.assert_allclose((res.ci_low, res.ci_high), expected, rtol=1e-10)


def test_cliffs_delta_ci_under_complete_separation() -> None:
    res = mann_whitney([10.0, 11.0, 12.0, 13.0], [1.0, 2.0, 3.0, 4.0, 5.0])
    assert res.effect == 1.0 and res.ci_high == 1.0 and 0.0 < res.ci_low < 0.9
    flipped = mann_whitney([1.0, 2.0, 3.0, 4.0, 5.0], [10.0, 11.0, 12.0, 13.0])
    assert flipped.effect == -1.0 and flipped.ci_low == -1.0 and -0.9 < flipped.ci_high < 0.0
    # 8 vs 32 separated is much stronger evidence than 4 vs 5
    assert mann_whitney(np.arange(8.0) + 100, np.arange(32.0)).ci_low > res.ci_low


@pytest.mark.parametrize(("n_top", "n_ref"), [(8, 32), (20, 80)])
@pytest.mark.parametrize("mu", [0.0, 0.8])
def test_cliffs_delta_ci_coverage(n_top: int, n_ref: int, mu: float) -> None:
    """Normal shift mu: true delta = 2 Phi(mu / sqrt 2) - 1."""
    rng = np.random.default_rng(n_top + int(mu * 10))
    true_delta = 2 * stats.norm.cdf(mu / math.sqrt(2)) - 1
    draws = 400
    hits = sum(
        (r := mann_whitney(rng.normal(mu, 1, n_top), rng.normal(0, 1, n_ref))).ci_low <= true_delta <= r.ci_high
        for _ in range(draws)
    )
    assert 0.90 <= hits / draws <= 0.99


def test_cliffs_delta_ci_coverage_when_top_tier_is_more_spread() -> None:
    """Top ~ N(0.5, 2^2), ref ~ N(0, 1): true delta = 2 Phi(0.5 / sqrt 5) - 1 (a model-based interval fails here)."""
    rng = np.random.default_rng(99)
    true_delta = 2 * stats.norm.cdf(0.5 / math.sqrt(5)) - 1
    draws = 300
    hits = sum(
        (r := mann_whitney(rng.normal(0.5, 2, 8), rng.normal(0, 1, 32))).ci_low <= true_delta <= r.ci_high
        for _ in range(draws)
    )
    assert hits / draws >= 0.90


def test_mwu_null_distribution_matches_enumeration() -> None:
    for m, n in [(1, 1), (2, 3), (4, 5), (3, 7), (6, 4)]:
        counts = np.zeros(m * n + 1)
        for top_ranks in itertools.combinations(range(m + n), m):
            chosen = set(top_ranks)
            counts[sum(1 for i in top_ranks for j in range(m + n) if j not in chosen and i > j)] += 1
        np.testing.assert_allclose(_mwu_null_cdf(m, n), np.cumsum(counts) / counts.sum(), rtol=1e-12)
    cdf = _mwu_null_cdf(30, 30)  # largest exact size: still a proper, symmetric distribution
    assert cdf[-1] == pytest.approx(1.0) and cdf[449] == pytest.approx(1 - cdf[450], abs=1e-12)


@pytest.mark.parametrize(("n_top", "n_ref"), [(4, 6), (8, 32), (12, 12), (25, 40)])
def test_hodges_lehmann_interval_inverts_the_exact_test(n_top: int, n_ref: int) -> None:
    """Shifts just outside the interval are rejected by scipy's exact one-sided U test at alpha/2, just inside not."""
    rng = np.random.default_rng(n_top)
    top, ref = rng.normal(1.0, 1.0, n_top), rng.normal(0.0, 1.0, n_ref)
    res = mann_whitney(top, ref)
    method = "exact" if n_top + n_ref <= 60 else "asymptotic"
    eps = 1e-9

    def p_greater(delta: float) -> float:
        return stats.mannwhitneyu(top - delta, ref, alternative="greater", method=method).pvalue

    def p_less(delta: float) -> float:
        return stats.mannwhitneyu(top - delta, ref, alternative="less", method=method).pvalue

    assert p_greater(res.shift_ci_low - eps) <= 0.025 < p_greater(res.shift_ci_low + eps)
    assert p_less(res.shift_ci_high + eps) <= 0.025 < p_less(res.shift_ci_high - eps)


def test_hodges_lehmann_tiny_tiers_report_the_range() -> None:
    res = mann_whitney([1.0, 3.0], [0.0, 2.0, 2.5])  # P(U = 0) = 0.1 > 0.025: no 95 % interval exists
    diffs = np.subtract.outer([1.0, 3.0], [0.0, 2.0, 2.5])
    assert (res.shift_ci_low, res.shift_ci_high) == (diffs.min(), diffs.max())
    assert "too small" in res.note


@pytest.mark.parametrize("seed", range(4))
def test_welch_matches_scipy_and_hand_formula(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_top, n_ref = [(4, 16), (8, 32), (20, 80), (30, 7)][seed]
    top, ref = rng.normal(1.0, 2.0, n_top), rng.normal(0.0, 1.0, n_ref)
    res = welch(top, ref)
    expected = stats.ttest_ind(top, ref, equal_var=False)
    ci = expected.confidence_interval()
    assert res.test == "welch" and res.effect_name == "hedges g" and res.shift_name == "mean difference"
    assert res.p_value == pytest.approx(expected.pvalue, rel=1e-12)
    assert res.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert (res.shift_ci_low, res.shift_ci_high) == pytest.approx((ci.low, ci.high), rel=1e-12)
    assert res.shift == pytest.approx(top.mean() - ref.mean())
    df = n_top + n_ref - 2
    sp = math.sqrt(((n_top - 1) * top.var(ddof=1) + (n_ref - 1) * ref.var(ddof=1)) / df)
    d = (top.mean() - ref.mean()) / sp
    j = special.gamma(df / 2) / (math.sqrt(df / 2) * special.gamma((df - 1) / 2))
    assert res.effect == pytest.approx(j * d, rel=1e-10)
    assert res.effect == pytest.approx((1 - 3 / (4 * df - 1)) * d, rel=2e-3)  # Hedges' classic approximation
    # interval: noncentral t inversion of the pooled t statistic, scaled by J
    scale = math.sqrt(1 / n_top + 1 / n_ref)
    t_pooled = d / scale
    assert stats.nct.cdf(t_pooled, df, res.ci_low / (j * scale)) == pytest.approx(0.975, abs=1e-8)
    assert stats.nct.cdf(t_pooled, df, res.ci_high / (j * scale)) == pytest.approx(0.025, abs=1e-8)
    assert (res.mean_top, res.mean_ref, res.median_top) == pytest.approx((top.mean(), ref.mean(), np.median(top)))


def test_hedges_g_ci_coverage() -> None:
    rng = np.random.default_rng(8)
    draws, g_true = 300, 0.8
    hits = sum(
        (r := welch(rng.normal(g_true, 1, 8), rng.normal(0, 1, 32))).ci_low <= g_true <= r.ci_high for _ in range(draws)
    )
    assert 0.90 <= hits / draws <= 0.99


@pytest.mark.parametrize("func", [mann_whitney, welch])
@pytest.mark.parametrize(
    ("top", "ref", "word"),
    [
        ([], [1.0, 2.0, 3.0], "empty"),
        ([1.0, 2.0], [], "empty"),
        ([np.nan, np.inf], [1.0, 2.0], "empty"),
        ([2.0, 2.0, 2.0], [2.0, 2.0, 2.0, 2.0], "identical"),
        ([5.0], [5.0], "identical"),
    ],
)
def test_continuous_degenerate_inputs(func, top: list[float], ref: list[float], word: str) -> None:
    res = func(top, ref)
    assert (res.p_value, res.effect, res.ci_low, res.ci_high) == (1.0, 0.0, 0.0, 0.0)
    assert word in res.note
    assert_all_finite(res)


def test_welch_specific_degenerate_inputs() -> None:
    for top, ref, word in [([3.0], [1.0, 2.0, 4.0], "at least 2"), ([1.0, 1.0], [0.0, 0.0, 0.0], "no variance")]:
        res = welch(top, ref)
        assert res.p_value == 1.0 and res.effect == 0.0 and word in res.note
        assert_all_finite(res)
    one_constant = welch([1.0, 1.0, 1.0], [0.0, 0.5, -0.3, 0.2])  # one tier constant is fine for Welch
    assert one_constant.note == "" and 0 < one_constant.p_value < 1
    separated = mann_whitney([1.0, 1.0], [0.0, 0.0, 0.0])  # rank test still works
    assert separated.effect == 1.0 and separated.p_value < 1.0


def test_missing_values_are_dropped_and_pandas_accepted() -> None:
    top = pd.Series([1.2, None, 2.5, 3.1, 0.7], dtype="Float64")
    ref = pd.Series([0.1, 0.4, np.nan, -0.2, 0.3, 0.0])
    res = mann_whitney(top, ref)
    clean = mann_whitney([1.2, 2.5, 3.1, 0.7], [0.1, 0.4, -0.2, 0.3, 0.0])
    assert (res.n_top, res.n_ref) == (4, 5) and "dropped 2" in res.note
    assert (res.p_value, res.effect, res.ci_low, res.shift) == (clean.p_value, clean.effect, clean.ci_low, clean.shift)
    assert welch(top, ref).n_top == 4
