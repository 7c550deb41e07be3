"""SRM: the Bayes factor against published values, false alarms under 120 looks, power, and the Upworthy archive."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.special import gammaln

from optimizer_pipeline.lib.decisions.srm import (
    SrmInputError,
    log_bayes_factor,
    sequential_p_values,
    srm_check,
)
from optimizer_pipeline_tests.shared_data import shared_data

LOOKS = 120  # a look every 6 h for 30 days
PER_LOOK = 1_700  # about 200k impressions over the 30 days


def _mc_bound(rate: float, sims: int, z: float = 3.0) -> float:
    """Upper tolerance for an observed rate whose true value is at most ``rate`` (z Monte-Carlo standard errors)."""
    return rate + z * np.sqrt(rate * (1 - rate) / sims)


def _paths(shares: list[float], sims: int, seed: int) -> np.ndarray:
    """Cumulative counts (sims, looks, arms) for a multinomial stream with ``PER_LOOK`` units per look."""
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.multinomial(PER_LOOK, shares, size=(sims, LOOKS)), axis=1).astype(float)


# Reference values: GrowthBook's tests of its port of Optimizely's ssrm_test (Lindon & Malek 2022), computed with the
# Python reference gbstats/ssrm.sequential_p_values (growthbook/growthbook, back-end ssrm tests).
@pytest.mark.parametrize(
    ("looks", "planned", "concentration", "expected"),
    [
        ([[800, 200]], [0.5, 0.5], 10_000, [8.126155715401769e-08]),
        ([[800, 200]], [0.5, 0.5], 100, [2.253273013435552e-75]),
        ([[600, 200, 200]], [0.34, 0.33, 0.33], 10_000, [1.4343631225400445e-06]),
        (
            [[500, 500], [1100, 900], [1800, 1200], [2600, 1400]],  # cumulative sums of the published daily rows
            [0.5, 0.5],
            10_000,
            [1.0, 0.20685901461423034, 1.099173293697608e-06, 5.115536116778213e-23],
        ),
    ],
)
def test_sequential_p_values_match_published_reference(looks, planned, concentration, expected) -> None:
    got = sequential_p_values(looks, planned, concentration)
    np.testing.assert_allclose(got, expected, rtol=1e-8)


def test_bayes_factor_equals_direct_marginal_likelihood_ratio() -> None:
    """BF = Dirichlet-multinomial pmf / multinomial pmf, each from scipy.stats (multinomial coefficients included)."""
    x, p, conc = np.array([37, 52, 11]), np.array([0.4, 0.45, 0.15]), 50.0
    direct = stats.dirichlet_multinomial.logpmf(x, conc * p, x.sum()) - stats.multinomial.logpmf(x, x.sum(), p)
    assert log_bayes_factor(x, p, conc) == pytest.approx(direct, rel=1e-10)
    # and the closed form written out with gammaln
    a = conc * p
    closed = gammaln(conc) - gammaln(conc + x.sum()) + np.sum(gammaln(a + x) - gammaln(a)) - np.sum(x * np.log(p))
    assert log_bayes_factor(x, p, conc) == pytest.approx(closed, rel=1e-12)


def test_sequential_false_alarms_stay_under_alpha_while_repeated_chi_square_does_not() -> None:
    sims = 2_000
    cum = _paths([0.5, 0.5], sims, seed=11)
    # measured: sequential 2.1 % / 0.25 % / 0.05 %, repeated chi-square 38.7 % / 9.5 % / 1.6 % at 0.05 / 0.01 / 0.001
    p_seq = np.array([sequential_p_values(path, [0.5, 0.5])[-1] for path in cum])  # running min over the 120 looks
    chi_p = stats.chisquare(cum, axis=2).pvalue  # (sims, looks): naive test repeated at every look
    naive_min = chi_p.min(axis=1)
    for alpha in (0.05, 0.01, 0.001):
        seq_rate = float(np.mean(p_seq <= alpha))
        naive_rate = float(np.mean(naive_min <= alpha))
        assert seq_rate <= _mc_bound(alpha, sims), (alpha, seq_rate)
        assert naive_rate > _mc_bound(alpha, sims), (alpha, naive_rate)
    # single look: the chi-square test alone is calibrated (so the excess above comes from peeking)
    assert float(np.mean(chi_p[:, -1] <= 0.05)) == pytest.approx(0.05, abs=3 * np.sqrt(0.05 * 0.95 / sims))


def test_shipped_alpha_false_alarm_rate_with_three_arms() -> None:
    sims, shares = 4_000, [0.5, 0.25, 0.25]
    cum = _paths(shares, sims, seed=12)
    p_seq = np.array([sequential_p_values(path, shares)[-1] for path in cum])
    assert float(np.mean(p_seq <= 0.001)) <= _mc_bound(0.001, sims)


def test_one_point_share_shift_at_200k_is_caught() -> None:
    rng = np.random.default_rng(13)
    sims, n = 1_000, 200_000
    shifted = rng.multinomial(n, [0.49, 0.51], size=sims)
    caught = np.mean([srm_check(c, [1, 1]).mismatch for c in shifted])
    assert caught >= 0.99
    # the half-point shift (49.5 % vs 50 %) at its expected counts is caught too
    assert srm_check([99_000, 101_000], [1, 1]).mismatch


def test_running_minimum_carries_over_looks() -> None:
    first = srm_check([800, 200], [0.5, 0.5], alpha=0.001)
    later = srm_check([1300, 700], [0.5, 0.5], previous_p_sequential=first.p_sequential)
    assert first.mismatch and later.mismatch
    assert later.p_sequential == first.p_sequential
    assert np.all(np.diff(sequential_p_values([[800, 200], [1300, 700], [1800, 1200]], [0.5, 0.5])) <= 0)


def test_result_fields_and_message() -> None:
    r = srm_check([53_900, 46_100], [1, 1], labels=["control", "variant B"])
    assert r.mismatch and r.worst_arm == "variant B"  # tie in standard errors: the under-served arm is named
    assert r.message.startswith("Sample-ratio mismatch: variant B got 46.1 % of impressions, planned 50 %")
    assert r.observed_shares == pytest.approx((0.539, 0.461))
    assert r.planned_shares == (0.5, 0.5)
    assert r.chi2_p == pytest.approx(stats.chisquare([53_900, 46_100]).pvalue)
    assert "planned 50 %" in r.message and "budgets" in r.message and "reach" in r.message
    ok = srm_check([50_050, 49_950], [1, 1], unit="reach")
    assert not ok.mismatch and "matches the plan" in ok.message and "reach" in ok.message
    assert not srm_check([0, 0], [1, 1]).mismatch


@pytest.mark.parametrize(
    ("counts", "weights", "kwargs"),
    [
        ([10], [1], {}),
        ([10, 20], [1, 1, 1], {}),
        ([10, -1], [1, 1], {}),
        ([10, 2.5], [1, 1], {}),
        ([10, 20], [1, 0], {}),
        ([10, 20], [1, 1], {"alpha": 0}),
        ([10, 20], [1, 1], {"labels": ["a"]}),
        ([10, 20], [1, 1], {"concentration": 0}),
        ([10, 20], [1, 1], {"previous_p_sequential": 2.0}),
    ],
)
def test_bad_input_raises(counts, weights, kwargs) -> None:
    with pytest.raises(SrmInputError):
        srm_check(counts, weights, **kwargs)


def test_non_cumulative_looks_raise() -> None:
    with pytest.raises(SrmInputError, match="cumulative"):
        sequential_p_values([[100, 100], [90, 120]], [1, 1])


def test_upworthy_broken_randomisation_weeks_are_flagged_far_more_often() -> None:
    """Archive README: chi-square p < 0.001 in 66.8 % of tests in weeks 201325-201402 against 0.5 % outside."""
    path = shared_data("upworthy_exploratory", "upworthy_exploratory_packages.parquet")
    df = pd.read_parquet(path, columns=["clickability_test_id", "impressions", "test_week"])
    rows = []
    for _, g in df.groupby("clickability_test_id"):
        if len(g) < 2:
            continue
        r = srm_check(g["impressions"].to_numpy(), np.ones(len(g)))
        week = int(g["test_week"].min())
        rows.append((201325 <= week <= 201402, r.mismatch, r.chi2_p < 0.001))
    res = pd.DataFrame(rows, columns=["broken", "seq", "chi2"])
    rates = res.groupby("broken")[["seq", "chi2"]].mean()
    # measured on this half of the archive: sequential 50.2 % vs 0.10 %; chi-square 67.3 % vs 0.47 %
    assert rates.loc[True, "chi2"] == pytest.approx(0.668, abs=0.05)
    assert rates.loc[False, "chi2"] < 0.01
    assert rates.loc[True, "seq"] > 0.4
    assert rates.loc[False, "seq"] < 0.005
