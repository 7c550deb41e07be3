"""Two-sample tests: published values (R's help examples, Newcombe 1998), scipy/statsmodels directly, and
simulations of type-I error and CI coverage with Monte-Carlo tolerances (fixed seeds, so deterministic)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep
from statsmodels.stats.rates import confint_poisson_2indep
from statsmodels.stats.rates import test_poisson_2indep as poisson_test

from optimizer_pipeline.lib.decisions.two_sample_tests import (
    EXACT_BELOW,
    TwoSampleInputError,
    compare_means,
    compare_means_from_stats,
    compare_poisson,
    compare_proportions,
)

ALPHA = 0.05


def _se(p: float, sims: int) -> float:
    return math.sqrt(p * (1 - p) / sims)


# --- published reference values -------------------------------------------------------------------------------------


def test_newcombe_1998_example() -> None:
    # Newcombe (1998), Table II, example (a): 56/70 vs 48/80, method 10 (hybrid score) -> 0.0524 to 0.3339.
    res = compare_proportions(48, 80, 56, 70)
    assert res.estimate == pytest.approx(0.2)
    assert (round(res.ci_low, 4), round(res.ci_high, 4)) == (0.0524, 0.3339)
    assert res.lift == pytest.approx(0.8 / 0.6 - 1)


def test_r_welch_sleep_example() -> None:
    # help(t.test): t.test(extra ~ group, data = sleep) -> t = -1.8608, df = 17.776, p = 0.07939,
    # 95 % CI -3.3654832 0.2054832 (group 1 minus group 2).
    g1 = [0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0]
    g2 = [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4]
    for res in (compare_means(g2, g1), compare_means_from_stats(np.mean(g2), np.std(g2, ddof=1), 10, np.mean(g1),
                                                                np.std(g1, ddof=1), 10)):  # fmt: skip
        assert res.statistic == pytest.approx(-1.8608, abs=1e-4)
        assert res.p_value == pytest.approx(0.07939, abs=1e-5)
        assert res.ci_low == pytest.approx(-3.3654832, abs=1e-7)
        assert res.ci_high == pytest.approx(0.2054832, abs=1e-7)


def test_r_poisson_test_example() -> None:
    # help(poisson.test): poisson.test(c(11, 6+8+7), c(800, 1083+1050+878)) -> rate ratio 1.971488,
    # 95 % CI 0.8584264 4.2772659, p = 0.07967 (exact conditional; forced here, the counts are above EXACT_BELOW).
    res = compare_poisson(21, 3011.0, 11, 800.0, exact_below=10**9)
    assert res.estimate == pytest.approx(1.971488, abs=1e-6)
    assert (res.ci_low, res.ci_high) == pytest.approx((0.8584264, 4.2772659), abs=1e-7)
    assert res.p_value == pytest.approx(0.07967, abs=1e-5)
    assert (res.lift_ci_low, res.lift_ci_high) == pytest.approx((0.8584264 - 1, 4.2772659 - 1), abs=1e-7)


# --- scipy / statsmodels directly ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("c", "nc", "t", "nt"), [(150, 5000, 190, 5100), (3, 40, 9, 35), (0, 100, 5, 100)])
def test_proportions_match_chi2_and_statsmodels(c: int, nc: int, t: int, nt: int) -> None:
    res = compare_proportions(c, nc, t, nt)
    chi2, p = stats.chi2_contingency([[t, nt - t], [c, nc - c]], correction=False)[:2]
    assert res.p_value == pytest.approx(p, rel=1e-9) and res.statistic**2 == pytest.approx(chi2, rel=1e-9)
    assert (res.ci_low, res.ci_high) == pytest.approx(confint_proportions_2indep(t, nt, c, nc, method="newcomb"))
    with np.errstate(divide="ignore", invalid="ignore"):  # statsmodels divides by the zero count
        lo, hi = confint_proportions_2indep(t, nt, c, nc, method="score", compare="ratio", correction=False)
    if c > 0:
        assert (res.lift_ci_low + 1, res.lift_ci_high + 1) == pytest.approx((lo, hi), abs=1e-12)
    else:
        assert res.lift == math.inf and res.lift_ci_high == math.inf and res.lift_ci_low > 0


def test_integral_float_counts_are_accepted() -> None:
    assert compare_proportions(150.0, 5000.0, np.float64(190), np.int64(5100)) == compare_proportions(
        150, 5000, 190, 5100
    )
    assert compare_poisson(30.0, 1e4, 45.0, 1e4) == compare_poisson(30, 1e4, 45, 1e4)


def test_degenerate_proportions() -> None:
    for res in (compare_proportions(0, 100, 0, 120), compare_proportions(50, 50, 80, 80)):
        assert (res.statistic, res.p_value) == (0.0, 1.0) and res.ci_low < 0 < res.ci_high
    assert math.isnan(compare_proportions(0, 100, 0, 120).lift)


def test_means_match_scipy_and_summary_path() -> None:
    rng = np.random.default_rng(7)
    c, t = rng.lognormal(3.0, 1.0, 300), rng.lognormal(3.1, 1.3, 180)
    res = compare_means(c, t, alpha=0.1)
    ref = stats.ttest_ind(t, c, equal_var=False)
    assert (res.statistic, res.p_value) == pytest.approx((ref.statistic, ref.pvalue), rel=1e-12)
    assert (res.ci_low, res.ci_high) == pytest.approx(tuple(ref.confidence_interval(0.9)), rel=1e-12)
    agg = compare_means_from_stats(c.mean(), c.std(ddof=1), 300, t.mean(), t.std(ddof=1), 180, alpha=0.1)
    for field in ("estimate", "ci_low", "ci_high", "statistic", "p_value", "lift"):
        assert getattr(agg, field) == pytest.approx(getattr(res, field), rel=1e-10)
    assert res.lift == pytest.approx(t.mean() / c.mean() - 1) and math.isnan(res.lift_ci_low)


def test_poisson_score_path_matches_statsmodels() -> None:
    res = compare_poisson(180, 2.0e5, 230, 2.1e5)
    ref = poisson_test(230, 2.1e5, 180, 2.0e5, method="score", compare="ratio")
    assert (res.statistic, res.p_value) == pytest.approx((ref.statistic, ref.pvalue), rel=1e-12)
    assert (res.ci_low, res.ci_high) == pytest.approx(confint_poisson_2indep(230, 2.1e5, 180, 2.0e5), rel=1e-12)
    assert res.estimate == pytest.approx((230 / 2.1e5) / (180 / 2.0e5)) and res.lift == pytest.approx(res.estimate - 1)


def test_poisson_zero_counts_use_exact() -> None:
    none = compare_poisson(0, 100.0, 0, 100.0)
    assert none.p_value == 1.0 and (none.ci_low, none.ci_high) == (0.0, math.inf)
    zero_t = compare_poisson(5, 100.0, 0, 100.0)
    assert zero_t.estimate == 0.0 and zero_t.ci_low == 0.0 and zero_t.ci_high == pytest.approx(1.0912791, abs=1e-6)
    assert compare_poisson(0, 100.0, 5, 100.0).ci_high == math.inf
    assert "exact" in compare_poisson(4, 100.0, 50, 100.0).method and "score" in compare_poisson(5, 1.0, 5, 1.0).method


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: compare_proportions(5, 4, 1, 10), "control"),
        (lambda: compare_proportions(1, 10, -1, 10), "treatment"),
        (lambda: compare_proportions(1, 10, 1.5, 10), "treatment"),
        (lambda: compare_proportions(True, 10, 1, 10), "control"),
        (lambda: compare_proportions(1, 10, 1, math.nan), "treatment"),
        (lambda: compare_proportions(1, 0, 1, 10), "control"),
        (lambda: compare_proportions(1, 10, 1, 10, alpha=0.0), "alpha"),
        (lambda: compare_means([1.0], [1.0, 2.0]), "control"),
        (lambda: compare_means([1.0, 2.0], [1.0, np.nan]), "treatment"),
        (lambda: compare_means([1.0, 1.0], [2.0, 2.0]), "zero variance"),
        (lambda: compare_means_from_stats(1.0, -1.0, 10, 1.0, 1.0, 10), "control"),
        (lambda: compare_means_from_stats(1.0, 1.0, 10, 1.0, 1.0, 1), "treatment"),
        (lambda: compare_means_from_stats(1.0, 0.0, 10, 2.0, 0.0, 10), "zero variance"),
        (lambda: compare_poisson(3, 0.0, 3, 1.0), "control"),
        (lambda: compare_poisson(3, 1.0, -3, 1.0), "treatment"),
    ],
)
def test_bad_input_is_named(call, match: str) -> None:
    with pytest.raises(TwoSampleInputError, match=match):
        call()


# --- simulations: type-I error under H0 and CI coverage --------------------------------------------------------------


def test_proportions_type1_and_coverage() -> None:
    sims, n = 2000, 3000
    rng = np.random.default_rng(21)
    null = [compare_proportions(int(a), n, int(b), n) for a, b in zip(*rng.binomial(n, 0.03, (2, sims)), strict=True)]
    type1 = np.mean([r.p_value < ALPHA for r in null])
    assert abs(type1 - ALPHA) < 3 * _se(ALPHA, sims)
    # Under H1 (3.0 % -> 3.6 %, lift +20 %): coverage of the difference (Newcombe) and of the lift (score ratio).
    sims = 4000
    c, t = rng.binomial(n, 0.03, sims), rng.binomial(n, 0.036, sims)
    alt = [compare_proportions(int(a), n, int(b), n) for a, b in zip(c, t, strict=True)]
    cover_diff = np.mean([r.ci_low <= 0.006 <= r.ci_high for r in alt])
    cover_lift = np.mean([r.lift_ci_low <= 0.2 <= r.lift_ci_high for r in alt])
    for cover in (cover_diff, cover_lift):
        assert abs(cover - 0.95) < 3 * _se(0.95, sims)
    # The lift interval inverts the same score test: it excludes 0 exactly when p < alpha.
    assert all((r.p_value < ALPHA) == (r.lift_ci_low > 0 or r.lift_ci_high < 0) for r in null + alt)


def test_means_type1_and_coverage_skewed_unequal_variance() -> None:
    """Revenue-like lognormal values, unequal variances and sizes: Welch keeps its level and coverage."""
    sims = 2000
    rng = np.random.default_rng(22)
    # Lognormal mean exp(mu + s^2 / 2): 2.0 + 1.0 / 2 = 1.78 + 1.44 / 2, so H0 holds with different spreads.
    null = [compare_means(rng.lognormal(2.0, 1.0, 400), rng.lognormal(1.78, 1.2, 250)) for _ in range(sims)]
    type1 = np.mean([r.p_value < ALPHA for r in null])
    cover = np.mean([r.ci_low <= 0.0 <= r.ci_high for r in null])
    assert abs(type1 - ALPHA) < 3 * _se(ALPHA, sims)
    assert abs(cover - 0.95) < 3 * _se(0.95, sims)
    # Under H1 from aggregates (normal values, sd 5 vs 8, effect +1.5), coverage of the true difference.
    c, t = rng.normal(20.0, 5.0, (sims, 60)), rng.normal(21.5, 8.0, (sims, 90))
    rows = zip(c.mean(1), c.std(1, ddof=1), t.mean(1), t.std(1, ddof=1), strict=True)
    alt = [compare_means_from_stats(a, s, 60, b, u, 90) for a, s, b, u in rows]
    assert abs(np.mean([r.ci_low <= 1.5 <= r.ci_high for r in alt]) - 0.95) < 3 * _se(0.95, sims)


def test_poisson_type1_and_coverage() -> None:
    """Score path (~80 vs ~60 expected events, unequal exposure), 1,000 sims each under H0 and H1."""
    rng = np.random.default_rng(23)
    sims, expo_c, expo_t, rate = 1000, 40_000.0, 30_000.0, 0.002
    for ratio in (1.0, 1.25):
        k_c, k_t = rng.poisson(rate * expo_c, sims), rng.poisson(rate * ratio * expo_t, sims)
        assert min(k_c.min(), k_t.min()) >= EXACT_BELOW
        res = [compare_poisson(int(a), expo_c, int(b), expo_t) for a, b in zip(k_c, k_t, strict=True)]
        assert abs(np.mean([r.ci_low <= ratio <= r.ci_high for r in res]) - 0.95) < 3 * _se(0.95, sims)
        assert all((r.p_value < ALPHA) == (r.ci_low > 1 or r.ci_high < 1) for r in res)  # the CI inverts the test
        if ratio == 1.0:
            assert abs(np.mean([r.p_value < ALPHA for r in res]) - ALPHA) < 3 * _se(ALPHA, sims)


def test_poisson_exact_path_is_conservative() -> None:
    """Few events (~3 per arm): the exact conditional test holds its level and its CI covers at least 95 %."""
    sims = 2000
    rng = np.random.default_rng(24)
    k_c, k_t = rng.poisson(3.0, sims), rng.poisson(3.0, sims)
    res = [compare_poisson(int(a), 1000.0, int(b), 1000.0) for a, b in zip(k_c, k_t, strict=True)]
    assert all("exact" in r.method for r in res if min(r.treatment, r.control) * 1000 < EXACT_BELOW)
    assert np.mean([r.p_value < ALPHA for r in res]) <= ALPHA + 2 * _se(ALPHA, sims)
    assert np.mean([r.ci_low <= 1.0 <= r.ci_high for r in res]) >= 0.95 - 2 * _se(0.95, sims)
