"""Binary tier comparisons (Fisher, Wilson/Newcombe, lift) against scipy, statsmodels and simulations.

statsmodels is a test-only reference here; the library itself uses numpy/scipy only. Every simulation uses a fixed
seed, so the coverage numbers are deterministic (the bands are wide enough to survive a seed change).
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint

from optimizer_pipeline.lib.patterns.binary_tests import fisher_binary, lift, wilson_interval
from optimizer_pipeline_tests.lib.patterns.comparison_contract import assert_all_finite


def test_wilson_matches_statsmodels() -> None:
    for n in range(1, 31):
        for k in range(n + 1):
            for alpha in (0.05, 0.01):
                expected = proportion_confint(k, n, alpha=alpha, method="wilson")
                np.testing.assert_allclose(wilson_interval(k, n, alpha), expected, rtol=1e-10, atol=1e-12)
    assert wilson_interval(0, 0) == (0.0, 1.0)
    with pytest.raises(ValueError):
        wilson_interval(5, 4)
    with pytest.raises(ValueError):
        wilson_interval(1, 4, alpha=1.5)


FISHER_TABLES = [
    (tk, tn, rk, rn)
    for tn, rn in [(4, 16), (8, 32), (20, 80), (10, 10), (30, 5)]
    for tk, rk in {(0, 3), (1, 0), (tn // 2, rn // 5), (tn, rn // 2), (tn - 1, rn - 1), (2, 1), (tn, 0)}
    if tk <= tn and rk <= rn and 0 < tk + rk < tn + rn
]


@pytest.mark.parametrize(("top_k", "top_n", "ref_k", "ref_n"), FISHER_TABLES)
def test_fisher_matches_scipy_and_statsmodels(top_k: int, top_n: int, ref_k: int, ref_n: int) -> None:
    res = fisher_binary(top_k, top_n, ref_k, ref_n)
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
    assert_all_finite(res)


def test_fisher_alpha_and_degenerate_cases() -> None:
    wide, narrow = fisher_binary(5, 8, 6, 32, alpha=0.01), fisher_binary(5, 8, 6, 32, alpha=0.2)
    assert wide.ci_low < narrow.ci_low < narrow.ci_high < wide.ci_high
    np.testing.assert_allclose(
        (wide.ci_low, wide.ci_high), confint_proportions_2indep(5, 8, 6, 32, method="newcomb", alpha=0.01)
    )
    empty = fisher_binary(0, 0, 3, 10)
    assert (empty.p_value, empty.effect, empty.ci_low, empty.ci_high) == (1.0, 0.0, 0.0, 0.0)
    assert "empty" in empty.note
    for top_k, ref_k in [(0, 0), (8, 32)]:  # constant feature: p = 1, RD 0 with its valid Newcombe interval
        const = fisher_binary(top_k, 8, ref_k, 32)
        assert const.p_value == 1.0 and const.effect == 0.0 and const.odds_ratio == 1.0
        assert const.ci_low < 0.0 < const.ci_high and "constant" in const.note
        assert_all_finite(const)
    with pytest.raises(ValueError):
        fisher_binary(9, 8, 0, 32)
    with pytest.raises(ValueError):
        fisher_binary(-1, 8, 0, 32)
    assert fisher_binary(np.int64(3), np.int64(8), 2.0, 32).k_ref == 2


@pytest.mark.parametrize(("n_top", "n_ref"), [(8, 32), (20, 80)])
@pytest.mark.parametrize(("p_top", "p_ref"), [(0.5, 0.2), (0.3, 0.3)])
def test_risk_difference_ci_coverage(n_top: int, n_ref: int, p_top: float, p_ref: float) -> None:
    rng = np.random.default_rng(n_top * 100 + int(p_top * 10))
    draws = 400
    tk, rk = rng.binomial(n_top, p_top, draws), rng.binomial(n_ref, p_ref, draws)
    hits = 0
    for a, b in zip(tk, rk, strict=True):
        res = fisher_binary(int(a), n_top, int(b), n_ref)
        hits += res.ci_low <= p_top - p_ref <= res.ci_high
    assert 0.90 <= hits / draws <= 0.99


def test_lift_against_wilson() -> None:
    res = lift(5, 11, 8, 40)
    base = 8 / 40
    low, high = proportion_confint(5, 11, method="wilson")
    assert res.lift == pytest.approx((5 / 11) / base)
    assert (res.ci_low, res.ci_high) == pytest.approx((low / base, high / base))
    assert res.base_rate == base and res.p_top_given_pattern == pytest.approx(5 / 11)
    top_all = lift(6, 6, 8, 40)  # upper end is capped at n_all / n_top
    assert top_all.ci_high == pytest.approx(5.0) and top_all.lift == pytest.approx(5.0)
    for args in [(0, 0, 8, 40), (0, 5, 0, 40), (8, 8, 8, 8), (8, 40, 8, 40), (0, 0, 0, 0)]:
        degenerate = lift(*args)
        assert (degenerate.lift, degenerate.ci_low, degenerate.ci_high) == (1.0, 1.0, 1.0) and degenerate.note
        assert_all_finite(degenerate)
    with pytest.raises(ValueError):
        lift(5, 4, 8, 40)
    with pytest.raises(ValueError):
        lift(1, 38, 8, 40)  # 37 pattern videos outside the top tier, but only 32 exist
