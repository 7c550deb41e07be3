"""pattern_stats against independent references (scipy, statsmodels, brute force) and known-truth simulations.

statsmodels is a test-only reference here; the library itself uses numpy/scipy only. Every simulation uses a fixed
seed, so the coverage numbers are deterministic (the bands are wide enough to survive a seed change).
"""

from __future__ import annotations

import dataclasses
import itertools
import math

import numpy as np
import pandas as pd
import pytest
from scipy import special, stats
from statsmodels.stats.multitest import multipletests
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from optimizer_pipeline.lib.patterns import pattern_stats as ps

Comparison = ps.BinaryComparison | ps.CategoricalComparison | ps.ContinuousComparison | ps.LiftEstimate


def _assert_all_finite(result: Comparison) -> None:
    """Every float field is a finite float (the "never NaN" contract)."""
    for f in dataclasses.fields(result):
        value = getattr(result, f.name)
        if isinstance(value, float):
            assert math.isfinite(value), f"{f.name} = {value}"


# --------------------------------------------------------------------------------------------------------------------
# Benjamini-Hochberg


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("size", [1, 2, 3, 7, 20, 50, 200])
def test_bh_matches_statsmodels(seed: int, size: int) -> None:
    rng = np.random.default_rng(seed * 1000 + size)
    p = np.concatenate([rng.uniform(size=size - size // 4), rng.beta(0.2, 5.0, size=size // 4)])
    rng.shuffle(p)
    for vec in (p, np.round(p, 2)):  # rounding creates ties
        expected = multipletests(vec, alpha=0.1, method="fdr_bh")[1]
        np.testing.assert_allclose(ps.bh_qvalues(vec), expected, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("seed", [3, 4])
def test_bh_nan_stays_nan_and_is_not_counted(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = rng.uniform(size=60) ** 2
    p[rng.choice(60, size=12, replace=False)] = np.nan
    q = ps.bh_qvalues(p)
    nan = np.isnan(p)
    assert np.array_equal(np.isnan(q), nan)
    np.testing.assert_allclose(q[~nan], multipletests(p[~nan], method="fdr_bh")[1], rtol=1e-12)


def test_bh_edges() -> None:
    assert ps.bh_qvalues([]).shape == (0,)
    assert np.isnan(ps.bh_qvalues([np.nan, np.nan])).all()
    q = ps.bh_qvalues(np.array([[0.01, 0.04], [0.03, 0.9]]))
    assert q.shape == (2, 2)
    np.testing.assert_allclose(q.ravel(), multipletests([0.01, 0.04, 0.03, 0.9], method="fdr_bh")[1])
    rng = np.random.default_rng(5)
    p = rng.uniform(size=100)
    q = ps.bh_qvalues(p)
    order = np.argsort(p)
    assert np.all(np.diff(q[order]) >= 0) and q.max() <= 1.0 and np.all(q >= p)
    with pytest.raises(ValueError):
        ps.bh_qvalues([0.2, 1.5])
    with pytest.raises(ValueError):
        ps.bh_qvalues([-0.1])


def test_bh_controls_fdr_in_simulation() -> None:
    """m = 50 z-tests, 20 % true effects: mean FDP at q <= 0.1 stays <= 0.1 (theory: 0.1 * 0.8 = 0.08)."""
    rng = np.random.default_rng(11)
    reps, m, m1 = 1000, 50, 10
    z = rng.normal(size=(reps, m))
    z[:, :m1] += 3.0
    p = 2 * stats.norm.sf(np.abs(z))
    false_disc, power = [], []
    for row in p:
        reject = ps.bh_qvalues(row) <= 0.1
        false_disc.append(reject[m1:].sum() / max(1, reject.sum()))
        power.append(reject[:m1].mean())
    assert np.mean(false_disc) <= 0.1 + 0.01
    assert np.mean(power) > 0.5  # not trivially controlled by rejecting nothing


# --------------------------------------------------------------------------------------------------------------------
# binary features


def test_wilson_matches_statsmodels() -> None:
    for n in range(1, 31):
        for k in range(n + 1):
            for alpha in (0.05, 0.01):
                expected = proportion_confint(k, n, alpha=alpha, method="wilson")
                np.testing.assert_allclose(ps.wilson_interval(k, n, alpha), expected, rtol=1e-10, atol=1e-12)
    assert ps.wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        ps.wilson_interval(5, 4)
    with pytest.raises(ValueError):
        ps.wilson_interval(1, 4, alpha=1.5)


FISHER_TABLES = [
    (tk, tn, rk, rn)
    for tn, rn in [(4, 16), (8, 32), (20, 80), (10, 10), (30, 5)]
    for tk, rk in {(0, 3), (1, 0), (tn // 2, rn // 5), (tn, rn // 2), (tn - 1, rn - 1), (2, 1), (tn, 0)}
    if tk <= tn and rk <= rn and 0 < tk + rk < tn + rn
]


@pytest.mark.parametrize(("top_k", "top_n", "ref_k", "ref_n"), FISHER_TABLES)
def test_fisher_matches_scipy_and_statsmodels(top_k: int, top_n: int, ref_k: int, ref_n: int) -> None:
    res = ps.fisher_binary(top_k, top_n, ref_k, ref_n)
    table = [[top_k, top_n - top_k], [ref_k, ref_n - ref_k]]
    scipy_res = stats.fisher_exact(table)
    assert res.test == "fisher" and res.effect_name == "risk difference"
    assert res.p_value == pytest.approx(scipy_res.pvalue, rel=1e-12)
    assert res.prevalence_top == top_k / top_n and res.prevalence_ref == ref_k / ref_n
    assert res.effect == pytest.approx(top_k / top_n - ref_k / ref_n)
    newcombe = confint_proportions_2indep(top_k, top_n, ref_k, ref_n, method="newcomb", compare="diff", alpha=0.05)
    np.testing.assert_allclose((res.ci_low, res.ci_high), newcombe, rtol=1e-10, atol=1e-12)
    zero_cell = min(top_k, top_n - top_k, ref_k, ref_n - ref_k) == 0
    if zero_cell:  # Haldane-Anscombe: +0.5 in every cell == statsmodels' "logit-adjusted"
        method = "logit-adjusted"
        a, b, c, d = (v + 0.5 for v in (top_k, top_n - top_k, ref_k, ref_n - ref_k))
        assert res.odds_ratio == pytest.approx(a * d / (b * c))
        assert "Haldane" in res.note
    else:
        method = "logit"
        assert res.odds_ratio == pytest.approx(scipy_res.statistic, rel=1e-12)
        assert res.note == ""
    or_ci = confint_proportions_2indep(top_k, top_n, ref_k, ref_n, method=method, compare="odds-ratio")
    np.testing.assert_allclose((res.odds_ratio_ci_low, res.odds_ratio_ci_high), or_ci, rtol=1e-10)
    assert res.odds_ratio_ci_low < res.odds_ratio < res.odds_ratio_ci_high
    _assert_all_finite(res)


def test_fisher_alpha_and_degenerate_cases() -> None:
    wide, narrow = ps.fisher_binary(5, 8, 6, 32, alpha=0.01), ps.fisher_binary(5, 8, 6, 32, alpha=0.2)
    assert wide.ci_low < narrow.ci_low < narrow.ci_high < wide.ci_high
    np.testing.assert_allclose(
        (wide.ci_low, wide.ci_high), confint_proportions_2indep(5, 8, 6, 32, method="newcomb", alpha=0.01)
    )
    empty = ps.fisher_binary(0, 0, 3, 10)
    assert (empty.p_value, empty.effect, empty.ci_low, empty.ci_high) == (1.0, 0.0, 0.0, 0.0)
    assert "empty" in empty.note
    for top_k, ref_k in [(0, 0), (8, 32)]:  # constant feature: p = 1, RD 0 with its valid Newcombe interval
        const = ps.fisher_binary(top_k, 8, ref_k, 32)
        assert const.p_value == 1.0 and const.effect == 0.0 and const.odds_ratio == 1.0
        assert const.ci_low < 0.0 < const.ci_high and "constant" in const.note
        _assert_all_finite(const)
    with pytest.raises(ValueError):
        ps.fisher_binary(9, 8, 0, 32)
    with pytest.raises(ValueError):
        ps.fisher_binary(-1, 8, 0, 32)
    assert ps.fisher_binary(np.int64(3), np.int64(8), 2.0, 32).k_ref == 2


@pytest.mark.parametrize(("n_top", "n_ref"), [(8, 32), (20, 80)])
@pytest.mark.parametrize(("p_top", "p_ref"), [(0.5, 0.2), (0.3, 0.3)])
def test_risk_difference_ci_coverage(n_top: int, n_ref: int, p_top: float, p_ref: float) -> None:
    rng = np.random.default_rng(n_top * 100 + int(p_top * 10))
    draws = 400
    tk, rk = rng.binomial(n_top, p_top, draws), rng.binomial(n_ref, p_ref, draws)
    hits = 0
    for a, b in zip(tk, rk, strict=True):
        res = ps.fisher_binary(int(a), n_top, int(b), n_ref)
        hits += res.ci_low <= p_top - p_ref <= res.ci_high
    assert 0.90 <= hits / draws <= 0.99


def test_lift_against_wilson() -> None:
    res = ps.lift(5, 11, 8, 40)
    base = 8 / 40
    low, high = proportion_confint(5, 11, method="wilson")
    assert res.lift == pytest.approx((5 / 11) / base)
    assert (res.ci_low, res.ci_high) == pytest.approx((low / base, high / base))
    assert res.base_rate == base and res.p_top_given_pattern == pytest.approx(5 / 11)
    top_all = ps.lift(6, 6, 8, 40)  # upper end is capped at n_all / n_top
    assert top_all.ci_high == pytest.approx(5.0) and top_all.lift == pytest.approx(5.0)
    for args in [(0, 0, 8, 40), (0, 5, 0, 40), (8, 8, 8, 8), (8, 40, 8, 40), (0, 0, 0, 0)]:
        degenerate = ps.lift(*args)
        assert (degenerate.lift, degenerate.ci_low, degenerate.ci_high) == (1.0, 1.0, 1.0) and degenerate.note
        _assert_all_finite(degenerate)
    with pytest.raises(ValueError):
        ps.lift(5, 4, 8, 40)
    with pytest.raises(ValueError):
        ps.lift(1, 38, 8, 40)  # 37 pattern videos outside the top tier, but only 32 exist


# --------------------------------------------------------------------------------------------------------------------
# categorical features


def test_chi2_matches_scipy_with_large_counts() -> None:
    top = {"question": 50, "statement": 20, "shock": 10}
    ref = {"question": 80, "statement": 150, "shock": 90}
    res = ps.chi2_categorical(top, ref)
    table = np.array([[50, 20, 10], [80, 150, 90]])
    expected = stats.chi2_contingency(table, correction=False)
    assert res.test == "chi2" and res.n_resamples == 0 and res.effect_name == "cramer's v"
    assert res.statistic == pytest.approx(expected.statistic, rel=1e-12)
    assert res.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    assert res.df == expected.dof == 2
    assert res.effect == pytest.approx(stats.contingency.association(table, method="cramer"), rel=1e-12)
    # the V interval inverts the noncentral chi-square at lambda = N * V^2
    n = table.sum()
    assert stats.ncx2.cdf(res.statistic, 2, n * res.ci_low**2) == pytest.approx(0.975, abs=1e-7)
    assert stats.ncx2.cdf(res.statistic, 2, n * res.ci_high**2) == pytest.approx(0.025, abs=1e-7)
    assert res.top_level == "question"
    assert (res.prevalence_top, res.prevalence_ref) == pytest.approx((50 / 80, 80 / 320))
    assert res.shares_top["shock"] == pytest.approx(10 / 80) and res.levels == ("question", "statement", "shock")


def test_chi2_permutation_when_expected_counts_small() -> None:
    top, ref = {"a": 5, "b": 2, "c": 1}, {"a": 8, "b": 15, "c": 9}
    res = ps.chi2_categorical(top, ref)
    assert res.test == "chi2-permutation" and res.n_resamples == ps.PERMUTATION_RESAMPLES
    table = np.array([[5, 2, 1], [8, 15, 9]])
    assert res.statistic == pytest.approx(stats.chi2_contingency(table, correction=False).statistic)
    monte_carlo = stats.chi2_contingency(
        table, correction=False, method=stats.MonteCarloMethod(n_resamples=20_000, rng=np.random.default_rng(1))
    )
    assert res.p_value == pytest.approx(monte_carlo.pvalue, abs=0.015)
    assert ps.chi2_categorical(top, ref) == res  # fixed seed: reproducible
    assert res.p_value >= 1 / (ps.PERMUTATION_RESAMPLES + 1)
    assert res.top_level == "a" and 0.0 <= res.ci_low <= res.effect <= res.ci_high <= 1.0
    _assert_all_finite(res)


def test_chi2_levels_and_degenerate_cases() -> None:
    res = ps.chi2_categorical({"a": 10, "b": 0, "z": 0}, {"a": 5, "b": 12})  # "z" is absent everywhere: dropped
    assert res.levels == ("a", "b") and res.df == 1
    for top, ref, word in [
        ({}, {"a": 3, "b": 2}, "empty"),
        ({"a": 0}, {"a": 0}, "empty"),
        ({"a": 7}, {"a": 30}, "constant"),
        ({"a": 7, "b": 0}, {"a": 30}, "constant"),
    ]:
        degenerate = ps.chi2_categorical(top, ref)
        assert (degenerate.p_value, degenerate.effect, degenerate.ci_low, degenerate.ci_high) == (1.0, 0.0, 0.0, 0.0)
        assert word in degenerate.note
        _assert_all_finite(degenerate)
    with pytest.raises(ValueError):
        ps.chi2_categorical({"a": -1}, {"a": 3})


# --------------------------------------------------------------------------------------------------------------------
# continuous features


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
    res = ps.mann_whitney(top, ref)
    expected = stats.mannwhitneyu(top, ref, alternative="two-sided", method="auto")
    assert res.test == "mann-whitney" and res.effect_name == "cliff's delta" and res.shift_name == "hodges-lehmann"
    assert res.p_value == pytest.approx(expected.pvalue, rel=1e-12) and res.statistic == expected.statistic
    assert res.effect == pytest.approx(_cliffs_delta_brute(top, ref), abs=1e-12)
    assert res.shift == pytest.approx(np.median(np.subtract.outer(top, ref)))
    assert (res.median_top, res.median_ref) == (np.median(top), np.median(ref))
    assert (res.mean_top, res.mean_ref) == pytest.approx((top.mean(), ref.mean()))
    assert -1.0 <= res.ci_low <= res.effect <= res.ci_high <= 1.0
    assert res.shift_ci_low <= res.shift <= res.shift_ci_high
    _assert_all_finite(res)


def test_cliffs_delta_ci_is_brunner_munzel() -> None:
    """Interval = logit(theta) -/+ t_df * se / (theta (1 - theta)); se and df checked against scipy.brunnermunzel."""
    rng = np.random.default_rng(21)
    top, ref = rng.normal(0.5, 2.0, 8), rng.normal(0.0, 1.0, 32)
    res = ps.mann_whitney(top, ref)
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
    res = ps.mann_whitney([10.0, 11.0, 12.0, 13.0], [1.0, 2.0, 3.0, 4.0, 5.0])
    assert res.effect == 1.0 and res.ci_high == 1.0 and 0.0 < res.ci_low < 0.9
    flipped = ps.mann_whitney([1.0, 2.0, 3.0, 4.0, 5.0], [10.0, 11.0, 12.0, 13.0])
    assert flipped.effect == -1.0 and flipped.ci_low == -1.0 and -0.9 < flipped.ci_high < 0.0
    # 8 vs 32 separated is much stronger evidence than 4 vs 5
    assert ps.mann_whitney(np.arange(8.0) + 100, np.arange(32.0)).ci_low > res.ci_low


@pytest.mark.parametrize(("n_top", "n_ref"), [(8, 32), (20, 80)])
@pytest.mark.parametrize("mu", [0.0, 0.8])
def test_cliffs_delta_ci_coverage(n_top: int, n_ref: int, mu: float) -> None:
    """Normal shift mu: true delta = 2 Phi(mu / sqrt 2) - 1."""
    rng = np.random.default_rng(n_top + int(mu * 10))
    true_delta = 2 * stats.norm.cdf(mu / math.sqrt(2)) - 1
    draws = 400
    hits = sum(
        (r := ps.mann_whitney(rng.normal(mu, 1, n_top), rng.normal(0, 1, n_ref))).ci_low <= true_delta <= r.ci_high
        for _ in range(draws)
    )
    assert 0.90 <= hits / draws <= 0.99


def test_cliffs_delta_ci_coverage_when_top_tier_is_more_spread() -> None:
    """Top ~ N(0.5, 2^2), ref ~ N(0, 1): true delta = 2 Phi(0.5 / sqrt 5) - 1 (a model-based interval fails here)."""
    rng = np.random.default_rng(99)
    true_delta = 2 * stats.norm.cdf(0.5 / math.sqrt(5)) - 1
    draws = 300
    hits = sum(
        (r := ps.mann_whitney(rng.normal(0.5, 2, 8), rng.normal(0, 1, 32))).ci_low <= true_delta <= r.ci_high
        for _ in range(draws)
    )
    assert hits / draws >= 0.90


def test_mwu_null_distribution_matches_enumeration() -> None:
    for m, n in [(1, 1), (2, 3), (4, 5), (3, 7), (6, 4)]:
        counts = np.zeros(m * n + 1)
        for top_ranks in itertools.combinations(range(m + n), m):
            chosen = set(top_ranks)
            counts[sum(1 for i in top_ranks for j in range(m + n) if j not in chosen and i > j)] += 1
        np.testing.assert_allclose(ps._mwu_null_cdf(m, n), np.cumsum(counts) / counts.sum(), rtol=1e-12)
    cdf = ps._mwu_null_cdf(30, 30)  # largest exact size: still a proper, symmetric distribution
    assert cdf[-1] == pytest.approx(1.0) and cdf[449] == pytest.approx(1 - cdf[450], abs=1e-12)


@pytest.mark.parametrize(("n_top", "n_ref"), [(4, 6), (8, 32), (12, 12), (25, 40)])
def test_hodges_lehmann_interval_inverts_the_exact_test(n_top: int, n_ref: int) -> None:
    """Shifts just outside the interval are rejected by scipy's exact one-sided U test at alpha/2, just inside not."""
    rng = np.random.default_rng(n_top)
    top, ref = rng.normal(1.0, 1.0, n_top), rng.normal(0.0, 1.0, n_ref)
    res = ps.mann_whitney(top, ref)
    method = "exact" if n_top + n_ref <= 60 else "asymptotic"
    eps = 1e-9

    def p_greater(delta: float) -> float:
        return stats.mannwhitneyu(top - delta, ref, alternative="greater", method=method).pvalue

    def p_less(delta: float) -> float:
        return stats.mannwhitneyu(top - delta, ref, alternative="less", method=method).pvalue

    assert p_greater(res.shift_ci_low - eps) <= 0.025 < p_greater(res.shift_ci_low + eps)
    assert p_less(res.shift_ci_high + eps) <= 0.025 < p_less(res.shift_ci_high - eps)


def test_hodges_lehmann_tiny_tiers_report_the_range() -> None:
    res = ps.mann_whitney([1.0, 3.0], [0.0, 2.0, 2.5])  # P(U = 0) = 0.1 > 0.025: no 95 % interval exists
    diffs = np.subtract.outer([1.0, 3.0], [0.0, 2.0, 2.5])
    assert (res.shift_ci_low, res.shift_ci_high) == (diffs.min(), diffs.max())
    assert "too small" in res.note


@pytest.mark.parametrize("seed", range(4))
def test_welch_matches_scipy_and_hand_formula(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_top, n_ref = [(4, 16), (8, 32), (20, 80), (30, 7)][seed]
    top, ref = rng.normal(1.0, 2.0, n_top), rng.normal(0.0, 1.0, n_ref)
    res = ps.welch(top, ref)
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
        (r := ps.welch(rng.normal(g_true, 1, 8), rng.normal(0, 1, 32))).ci_low <= g_true <= r.ci_high
        for _ in range(draws)
    )
    assert 0.90 <= hits / draws <= 0.99


@pytest.mark.parametrize("func", [ps.mann_whitney, ps.welch])
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
    _assert_all_finite(res)


def test_welch_specific_degenerate_inputs() -> None:
    for top, ref, word in [([3.0], [1.0, 2.0, 4.0], "at least 2"), ([1.0, 1.0], [0.0, 0.0, 0.0], "no variance")]:
        res = ps.welch(top, ref)
        assert res.p_value == 1.0 and res.effect == 0.0 and word in res.note
        _assert_all_finite(res)
    one_constant = ps.welch([1.0, 1.0, 1.0], [0.0, 0.5, -0.3, 0.2])  # one tier constant is fine for Welch
    assert one_constant.note == "" and 0 < one_constant.p_value < 1
    separated = ps.mann_whitney([1.0, 1.0], [0.0, 0.0, 0.0])  # rank test still works
    assert separated.effect == 1.0 and separated.p_value < 1.0


def test_missing_values_are_dropped_and_pandas_accepted() -> None:
    top = pd.Series([1.2, None, 2.5, 3.1, 0.7], dtype="Float64")
    ref = pd.Series([0.1, 0.4, np.nan, -0.2, 0.3, 0.0])
    res = ps.mann_whitney(top, ref)
    clean = ps.mann_whitney([1.2, 2.5, 3.1, 0.7], [0.1, 0.4, -0.2, 0.3, 0.0])
    assert (res.n_top, res.n_ref) == (4, 5) and "dropped 2" in res.note
    assert (res.p_value, res.effect, res.ci_low, res.shift) == (clean.p_value, clean.effect, clean.ci_low, clean.shift)
    assert ps.welch(top, ref).n_top == 4


def test_random_small_inputs_are_always_finite() -> None:
    """Fuzz: tiers of 1-12 values, often tied or constant, never raise and never produce NaN."""
    rng = np.random.default_rng(2024)
    for _ in range(100):
        n_top, n_ref = rng.integers(1, 13, size=2)
        top = np.round(rng.normal(rng.uniform(-1, 1), rng.uniform(0, 2), n_top), int(rng.integers(0, 2)))
        ref = np.round(rng.normal(0, rng.uniform(0, 2), n_ref), int(rng.integers(0, 2)))
        for res in (ps.mann_whitney(top, ref), ps.welch(top, ref)):
            _assert_all_finite(res)
            assert 0.0 <= res.p_value <= 1.0 and res.ci_low <= res.ci_high
        tk, rk = int(rng.integers(0, n_top + 1)), int(rng.integers(0, n_ref + 1))
        _assert_all_finite(ps.fisher_binary(tk, int(n_top), rk, int(n_ref)))
        top_counts = dict(zip("abc", rng.integers(0, 5, size=3).tolist(), strict=True))
        ref_counts = dict(zip("abc", rng.integers(0, 9, size=3).tolist(), strict=True))
        cat = ps.chi2_categorical(top_counts, ref_counts, n_resamples=499)
        _assert_all_finite(cat)
        assert 0.0 <= cat.p_value <= 1.0
