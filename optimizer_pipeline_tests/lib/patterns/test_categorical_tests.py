"""Chi-square / Cramér's V tier comparison against scipy: asymptotic, Fisher exact for two levels, and the Monte-Carlo
fallback refined until its p can reach the BH thresholds."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from optimizer_pipeline.lib.patterns.categorical_tests import (
    PERMUTATION_RESAMPLES,
    REFINED_RESAMPLES,
    chi2_categorical,
    contingency_p,
)
from optimizer_pipeline_tests.lib.patterns.comparison_contract import assert_all_finite


def test_chi2_matches_scipy_with_large_counts() -> None:
    top = {"question": 50, "statement": 20, "shock": 10}
    ref = {"question": 80, "statement": 150, "shock": 90}
    res = chi2_categorical(top, ref)
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
    res = chi2_categorical(top, ref)
    assert res.test == "chi2-permutation" and res.n_resamples == PERMUTATION_RESAMPLES
    table = np.array([[5, 2, 1], [8, 15, 9]])
    assert res.statistic == pytest.approx(stats.chi2_contingency(table, correction=False).statistic)
    monte_carlo = stats.chi2_contingency(
        table, correction=False, method=stats.MonteCarloMethod(n_resamples=20_000, rng=np.random.default_rng(1))
    )
    assert res.p_value == pytest.approx(monte_carlo.pvalue, abs=0.015)
    assert chi2_categorical(top, ref) == res  # fixed seed: reproducible
    assert res.p_value >= 1 / (PERMUTATION_RESAMPLES + 1)
    assert res.top_level == "a" and 0.0 <= res.ci_low <= res.effect <= res.ci_high <= 1.0
    assert_all_finite(res)


def test_chi2_levels_and_degenerate_cases() -> None:
    res = chi2_categorical({"a": 10, "b": 0, "z": 0}, {"a": 5, "b": 12})  # "z" is absent everywhere: dropped
    assert res.levels == ("a", "b") and res.df == 1
    for top, ref, word in [
        ({}, {"a": 3, "b": 2}, "empty"),
        ({"a": 0}, {"a": 0}, "empty"),
        ({"a": 7}, {"a": 30}, "constant"),
        ({"a": 7, "b": 0}, {"a": 30}, "constant"),
    ]:
        degenerate = chi2_categorical(top, ref)
        assert (degenerate.p_value, degenerate.effect, degenerate.ci_low, degenerate.ci_high) == (1.0, 0.0, 0.0, 0.0)
        assert word in degenerate.note
        assert_all_finite(degenerate)
    with pytest.raises(ValueError):
        chi2_categorical({"a": -1}, {"a": 3})


def test_two_levels_get_fishers_exact_p() -> None:
    """A 2 x 2 table has an exact test: no Monte-Carlo error, no asymptotics (the old code used a permutation p)."""
    res = chi2_categorical({"a": 7, "b": 3}, {"a": 10, "b": 22})
    assert res.test == "fisher" and res.n_resamples == 0
    assert res.p_value == pytest.approx(stats.fisher_exact([[7, 3], [10, 22]]).pvalue, rel=1e-12)
    assert res.effect == pytest.approx(stats.contingency.association(np.array([[7, 3], [10, 22]])), rel=1e-12)


def test_small_monte_carlo_p_is_refined_below_the_strong_threshold() -> None:
    """A first-pass p <= 0.001 is recomputed with 99,999 tables, so p can go below 0.01 / 145 (STRONG among ~145
    features) with a relative Monte-Carlo error that BH can use; the asymptotic p confirms the order of magnitude."""
    top, ref = {"a": 9, "b": 1, "c": 0}, {"a": 2, "b": 14, "c": 10}
    res = chi2_categorical(top, ref)
    assert res.test == "chi2-permutation" and res.n_resamples == REFINED_RESAMPLES
    assert 1 / (REFINED_RESAMPLES + 1) <= res.p_value < 0.01 / 145
    table = np.array([[9, 1, 0], [2, 14, 10]])
    assert stats.chi2_contingency(table, correction=False).pvalue < 1e-4
    direct = contingency_p(table)
    assert (direct.test, direct.p_value, direct.n_resamples) == (res.test, res.p_value, res.n_resamples)


def test_contingency_p_drops_empty_margins_and_rejects_bad_tables() -> None:
    assert contingency_p([[3, 0, 4], [0, 0, 0]]).p_value == 1.0  # one non-empty row: nothing to test
    assert contingency_p([[5, 0, 30], [40, 0, 6]]).test == "fisher"  # the empty column goes: 2 x 2
    with pytest.raises(ValueError):
        contingency_p([[1, -1], [2, 3]])
    with pytest.raises(ValueError):
        contingency_p([[1, 2], [2, 3]], n_resamples=0)
