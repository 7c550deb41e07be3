"""The seed's fixed fatigue rules: pandas reference for the rolling ratios, tier boundaries, the decay weight, and
the 20 % rule's per-day trigger rate on stationary over-dispersed CTR against its normal approximation."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from optimizer_pipeline.lib.actions.fatigue_rules import (
    BASELINE_DAYS,
    CTR_DECLINE_LEVELS,
    FatigueRuleInputError,
    baseline_mask,
    cpm_rise_path,
    ctr_decline_path,
    decay_weight,
    first_day_at,
    frequency_tier,
    rule_evidence,
    rule_levels,
    threshold_levels,
)
from optimizer_pipeline.lib.sample.ad_account import BASE_CTR
from optimizer_pipeline_tests.lib.actions.test_change_point import simulate_ads


def _one_ad(seed: int = 1, days: int = 20) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = rng.integers(0, 5000, days).astype(float)
    n[[2, 9]] = 0  # days without delivery
    return pd.DataFrame(
        {"n": n, "c": rng.binomial(n.astype(int), 0.02).astype(float), "s": n * rng.uniform(5, 15, days) / 1000}
    )


def test_ctr_decline_and_cpm_rise_match_a_pandas_computation() -> None:
    ad = _one_ad()
    delivered = ad["n"] > 0
    base = delivered & (delivered.cumsum() <= BASELINE_DAYS)
    monitored = delivered & ~base
    recent = ad.rolling(3, min_periods=1).sum()
    want_ctr = (1 - (recent["c"] / recent["n"]) / (ad.loc[base, "c"].sum() / ad.loc[base, "n"].sum())).where(monitored)
    want_cpm = ((recent["s"] / recent["n"]) / (ad.loc[base, "s"].sum() / ad.loc[base, "n"].sum()) - 1).where(monitored)
    got_ctr = ctr_decline_path(ad["c"].to_numpy(), ad["n"].to_numpy())
    got_cpm = cpm_rise_path(ad["s"].to_numpy(), ad["n"].to_numpy())
    np.testing.assert_allclose(got_ctr, want_ctr.to_numpy(dtype=float), rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(got_cpm, want_cpm.to_numpy(dtype=float), rtol=1e-12, equal_nan=True)
    assert np.all(np.isnan(got_ctr[~monitored.to_numpy()]))


def test_baseline_skips_days_without_delivery() -> None:
    base, monitored = baseline_mask(np.array([0, 5, 5, 0, 5, 5]), baseline_days=2)
    assert base.tolist() == [False, True, True, False, False, False]
    assert monitored.tolist() == [False, False, False, False, True, True]


def test_tiers_and_levels_at_their_boundaries() -> None:
    assert frequency_tier(np.array([np.nan, 2.99, 3, 4.99, 5, 8, 11.9, 12, 40])).tolist() == [0, 0, 1, 1, 2, 3, 3, 4, 4]
    assert threshold_levels(np.array([np.nan, 0.1999, 0.2, 0.3999, 0.4, 0.9]), CTR_DECLINE_LEVELS).tolist() == [
        0, 0, 1, 1, 2, 2,
    ]  # fmt: skip
    assert first_day_at(np.array([[0, 1, 2, 2], [0, 0, 1, 0]]), 2).tolist() == [2, -1]
    levels = rule_levels(np.full(10, 100.0), np.full(10, 1e4), np.full(10, 100.0), np.linspace(1, 13, 10))
    assert levels["frequency"].tolist() == [0, 0, 1, 1, 1, 1, 2, 2, 2, 3]


def test_decay_weight_is_exponential_with_a_floor() -> None:
    w = decay_weight(np.array([0, 1, 7, 14, 100]))
    np.testing.assert_allclose(w, [1.0, 2 ** (-1 / 7), 0.5, 0.25, 0.1])
    assert decay_weight(3.5, half_life_days=3.5, min_weight=0.01) == pytest.approx(0.5)
    assert np.all((w > 0) & (w <= 1)) and np.all(np.diff(w) <= 0)


def test_rule_evidence_names_each_rule() -> None:
    text = rule_evidence(0.45, 0.31, 8.2)
    assert text == [
        "frequency 8.2 has reached the 8 tier (fatigued)",
        "CTR is 45% below the ad's first days (rule: >= 40%)",
        "CPM is 31% above the ad's first days (rule: >= 30%)",
    ]
    assert rule_evidence(0.1, np.nan, 1.2) == []


def test_twenty_percent_rule_trigger_rate_matches_normal_approximation() -> None:
    # stationary CTR, VIF 2, 3,000 impressions a day: on one monitored day the 20 % rule compares a 3-day window
    # with the 7-day baseline; log(ratio) ~ N(0, VIF / (3 n p) + VIF / (7 n p)) (delta method)
    ads, daily, day = 4000, 3_000, 12
    sim = simulate_ads(31, ads=ads, days=day + 1, daily=daily)
    fired = ctr_decline_path(sim["clicks"], sim["impressions"])[:, day] >= 0.2
    sd = np.sqrt(2.0 / (3 * daily * BASE_CTR) + 2.0 / (7 * daily * BASE_CTR))
    expected = stats.norm.cdf(np.log(0.8) / sd)  # about 6.3 %
    se = np.sqrt(expected * (1 - expected) / ads)
    assert abs(fired.mean() - expected) <= 3 * se + 0.1 * expected  # 10 %: weekday and volume noise, delta method


def test_a_halved_ctr_crosses_the_forty_percent_line_within_three_days() -> None:
    sim = simulate_ads(32, ads=500, days=20, drop=0.5, change=10)
    onset = first_day_at(threshold_levels(ctr_decline_path(sim["clicks"], sim["impressions"]), CTR_DECLINE_LEVELS), 2)
    assert np.mean((onset >= 10) & (onset <= 12)) >= 0.95


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: ctr_decline_path(np.array([5.0, 6]), np.array([4.0, 9])), "clicks <= impressions"),
        (lambda: ctr_decline_path(np.array([1.0]), np.array([4.0, 9])), "same shape"),
        (lambda: ctr_decline_path(np.array([1.0]), np.array([-4.0])), "impressions must be >= 0"),
        (lambda: ctr_decline_path(np.array([1.0]), np.array([4.0]), window_days=0), "window_days"),
        (lambda: baseline_mask(np.array([1.0]), baseline_days=0), "baseline_days"),
        (lambda: frequency_tier(np.array([])), "at least one day"),
        (lambda: decay_weight(3, half_life_days=0), "half_life_days"),
        (lambda: decay_weight(3, min_weight=0), "min_weight"),
        (lambda: decay_weight(np.nan), "NaN"),
    ],
)
def test_bad_input_is_rejected(call: Callable[[], object], match: str) -> None:
    with pytest.raises(FatigueRuleInputError, match=match):
        call()
