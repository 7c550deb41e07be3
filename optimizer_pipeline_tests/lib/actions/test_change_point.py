"""Page's CUSUM for a CTR drop: textbook recursion and Siegmund's ARL, simulated false alarms and detection delays.

The simulated ads follow the sample ad account's model (:mod:`optimizer_pipeline.lib.sample.ad_account`: weekday
factors, log-normal volume noise, a mean-one log-normal day multiplier on the CTR set for VIF 2), which differs from
the beta-binomial the threshold is calibrated on, so the false-alarm check is not circular.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from optimizer_pipeline.lib.actions.change_point import (
    ChangePointInputError,
    baseline_rate,
    calibrate_threshold,
    cusum_increments,
    cusum_path,
    detect_decline,
    first_alarm,
    siegmund_arl,
)
from optimizer_pipeline.lib.actions.fatigue_rules import (
    CTR_DECLINE_LEVELS,
    ctr_decline_path,
    first_day_at,
    threshold_levels,
)
from optimizer_pipeline.lib.decisions.overdispersion import between_day_vif
from optimizer_pipeline.lib.sample.ad_account import BASE_CTR, VOLUME_SIGMA, WEEKDAY_FACTORS, day_noise_sigma

ADS = 4000
BASELINE = 7
CHANGE_DAY = 9  # index of day 10: the planted decline starts on the 10th day


def simulate_ads(
    seed: int,
    *,
    ads: int = ADS,
    days: int = BASELINE + 30,
    daily: float = 12_000,
    vif: float = 2.0,
    drop: float = 0.0,
    change: int = CHANGE_DAY,
) -> dict[str, np.ndarray]:
    """clicks, impressions, spend, frequency (ads x days) as the sample ad account draws them; CTR x (1 - drop)
    from index ``change`` on."""
    rng = np.random.default_rng(seed)
    weekday = np.resize(np.array(WEEKDAY_FACTORS), days)
    n = rng.poisson(daily * weekday * np.exp(VOLUME_SIGMA * rng.standard_normal((ads, days)) - VOLUME_SIGMA**2 / 2))
    sigma = day_noise_sigma(vif, daily)
    m = np.exp(sigma * rng.standard_normal((ads, days)) - sigma**2 / 2)
    ctr = BASE_CTR * np.where(np.arange(days) >= change, 1 - drop, 1.0)
    clicks = rng.binomial(n, np.clip(ctr * m, 0, 1))
    cpm = rng.uniform(8, 12, (ads, 1)) * np.exp(0.08 * rng.standard_normal((ads, days)))
    freq = rng.uniform(1.15, 1.35, (ads, 1)) + 0.01 * np.arange(days)
    return {"clicks": clicks.astype(float), "impressions": n.astype(float), "spend": n * cpm / 1000, "frequency": freq}


def _weekday_impressions(daily: float, days: int = BASELINE + 30) -> np.ndarray:
    return daily * np.resize(np.array(WEEKDAY_FACTORS), days)


def _cusum_alarms(sim: dict[str, np.ndarray], threshold: float, vif: float, decline: float = 0.2) -> np.ndarray:
    p0, monitored = baseline_rate(sim["clicks"], sim["impressions"], BASELINE)
    inc = cusum_increments(sim["clicks"], sim["impressions"], p0, decline=decline, vif=vif)
    return first_alarm(cusum_path(inc, monitored), threshold)


def _tolerance(rate: float, n_test: int, calibration_se: float) -> float:
    """Two Monte-Carlo standard errors of (test share - calibration share)."""
    return 2 * float(np.sqrt(rate * (1 - rate) / n_test + calibration_se**2))


# --- reference checks -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("drift", "h", "published"),
    [(-0.5, 4.0, 336.0), (-0.5, 5.0, 930.0), (0.5, 4.0, 8.38), (0.5, 5.0, 10.4)],
)
def test_siegmund_matches_published_arl(drift: float, h: float, published: float) -> None:
    # Montgomery, "Introduction to Statistical Quality Control", table of CUSUM ARLs for k = 0.5 (shift 0 and 1 sigma)
    assert siegmund_arl(drift, h) == pytest.approx(published, rel=0.025)


def test_recursion_equals_textbook_loop() -> None:
    x = np.random.default_rng(3).normal(-0.2, 1, (5, 60))
    active = np.random.default_rng(4).random((5, 60)) > 0.2
    expected = np.zeros_like(x)
    for i in range(5):
        s = 0.0
        for t in range(60):
            if active[i, t]:
                s = max(0.0, s + x[i, t])
            expected[i, t] = s
    np.testing.assert_allclose(cusum_path(x, active), expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize(("mu", "h", "paths", "steps"), [(1.0, 4.0, 20_000, 120), (0.0, 4.0, 2_000, 3_500)])
def test_simulated_arl_matches_siegmund(mu: float, h: float, paths: int, steps: int) -> None:
    z = np.random.default_rng(7).normal(mu, 1, (paths, steps)) - 0.5
    alarm = first_alarm(cusum_path(z), h)
    assert np.all(alarm >= 0)  # no censoring
    run = alarm + 1
    se = run.std(ddof=1) / np.sqrt(paths)
    assert abs(run.mean() - siegmund_arl(mu - 0.5, h)) <= 3 * se + 0.01 * siegmund_arl(mu - 0.5, h)


def test_increments_are_binomial_llr_over_vif() -> None:
    c, n = np.array([[10.0, 30.0, 0.0]]), np.array([[1000.0, 2000.0, 500.0]])
    p0, p1 = 0.015, 0.015 * 0.8
    expected = (stats.binom.logpmf(c, n, p1) - stats.binom.logpmf(c, n, p0)) / 2.0
    np.testing.assert_allclose(cusum_increments(c, n, np.array([p0]), decline=0.2, vif=2.0), expected, rtol=1e-10)


# --- simulation: false alarms and delays ------------------------------------------------------------------------


@pytest.mark.parametrize("target", [0.05, 0.01])
def test_false_alarm_rate_within_target_on_overdispersed_stationary_ctr(target: float) -> None:
    cal = calibrate_threshold(_weekday_impressions(12_000), BASE_CTR, vif=2.0, false_alarm=target)
    assert cal.false_alarm <= target
    alarms = _cusum_alarms(simulate_ads(11), cal.threshold, vif=2.0)
    rate = float(np.mean(alarms >= 0))
    assert rate <= target + _tolerance(target, ADS, cal.mc_se)


def test_ignoring_overdispersion_false_alarms_far_more() -> None:
    # the plain binomial CUSUM (vif = 1), calibrated as if counts were binomial, run on VIF-2 counts
    cal = calibrate_threshold(_weekday_impressions(12_000), BASE_CTR, vif=1.0)
    rate = float(np.mean(_cusum_alarms(simulate_ads(11), cal.threshold, vif=1.0) >= 0))
    assert rate > 0.05 + 3 * _tolerance(0.05, ADS, cal.mc_se)  # measured about 27 %


def test_false_alarm_rate_with_the_vif_estimated_from_each_clients_history() -> None:
    # the production path: VIF from 20 ads x 28 days of the client's own history (between_day_vif), then 20 new
    # stationary ads per client; the MC error is the spread of the per-client rates (clients share a threshold)
    rates = []
    for k in range(150):
        hist = simulate_ads(1000 + k, ads=20, days=28)
        daily = pd.DataFrame(
            {
                "ad_id": np.repeat(np.arange(20), 28),
                "successes": hist["clicks"].ravel(),
                "trials": hist["impressions"].ravel(),
            }
        )
        vif = between_day_vif(daily).value
        cal = calibrate_threshold(_weekday_impressions(12_000), BASE_CTR, vif=vif, simulations=2000, seed=k)
        rates.append(np.mean(_cusum_alarms(simulate_ads(5000 + k, ads=20), cal.threshold, vif) >= 0))
    se = np.std(rates, ddof=1) / np.sqrt(len(rates))
    assert np.mean(rates) <= 0.05 + 2 * se  # measured 5.4 % +- 0.4 % (VIF estimates 1.99 +- 0.12)


def _delays(alarm: np.ndarray) -> np.ndarray:
    return np.where(alarm >= CHANGE_DAY, alarm - CHANGE_DAY, np.inf)


def _row(name: str, null_alarm: np.ndarray, drop_alarm: np.ndarray) -> dict[str, float]:
    d = _delays(drop_alarm)
    return {
        "method": name,
        "false_alarm_30d": float(np.mean(null_alarm >= 0)),
        "detected_by_day_30": float(np.mean(np.isfinite(d))),
        "median_delay": float(np.quantile(d, 0.5, method="higher")),
        "p90_delay": float(np.quantile(d, 0.9, method="higher")),
        "alarm_before_change": float(np.mean((drop_alarm >= 0) & (drop_alarm < CHANGE_DAY))),
    }


def delay_table(daily: float, seed: int, ads: int = ADS) -> list[dict[str, float]]:
    """CUSUM (5 % and 1 % per 30 days) vs the seed's 20 % / 40 % CTR rules: false alarms on stationary ads and
    delays on a 30 % drop from day 10, over 30 days."""
    null = simulate_ads(seed, ads=ads, days=30, daily=daily)
    drop = simulate_ads(seed + 1, ads=ads, days=30, daily=daily, drop=0.3)
    rows = []
    for target in (0.05, 0.01):
        cal = calibrate_threshold(
            _weekday_impressions(daily, 30), BASE_CTR, vif=2.0, false_alarm=target, horizon_days=30 - BASELINE
        )
        alarms = [_cusum_alarms(s, cal.threshold, 2.0) for s in (null, drop)]
        rows.append(_row(f"cusum ({target:.0%})", *alarms))
    levels = [
        threshold_levels(ctr_decline_path(s["clicks"], s["impressions"]), CTR_DECLINE_LEVELS) for s in (null, drop)
    ]
    for level, name in ((1, "rule CTR -20 %"), (2, "rule CTR -40 %")):
        rows.append(_row(name, first_day_at(levels[0], level), first_day_at(levels[1], level)))
    return rows


def test_planted_decline_delay_table() -> None:
    for daily in (12_000, 3_000, 1_000):
        table = delay_table(daily, seed=21)
        print(f"\n{daily} impressions/day, {ADS} ads, VIF 2, 30 % CTR drop from day 10 (delay in days, inf = missed)")
        for r in table:
            print("  ".join(f"{k}={v:.3g}" if isinstance(v, float) else f"{v:<15}" for k, v in r.items()))
        cusum5, cusum1, rule20, rule40 = table
        assert cusum5["false_alarm_30d"] <= 0.05 + _tolerance(0.05, ADS, 0.0035)
        assert cusum1["false_alarm_30d"] <= 0.01 + _tolerance(0.01, ADS, 0.0016)
        assert cusum5["alarm_before_change"] <= 0.05
        if daily == 12_000:  # the 20 % rule is as good here; the 40 % one misses a 30 % drop
            assert cusum5["median_delay"] <= 2 and cusum5["p90_delay"] <= 3
            assert rule40["median_delay"] == np.inf
        elif daily == 3_000:  # the 20 % rule flags half the healthy ads
            assert rule20["false_alarm_30d"] > 0.3
            assert cusum5["detected_by_day_30"] >= 0.9 and cusum5["median_delay"] <= 8
        else:  # both fixed rules are noise at 15 clicks a day
            assert rule20["false_alarm_30d"] > 0.5 and rule40["false_alarm_30d"] > 0.2


# --- one ad, and bad input --------------------------------------------------------------------------------------


def test_detect_decline_one_ad_alarms_after_the_drop() -> None:
    sim = simulate_ads(5, ads=1, days=30, drop=0.5)
    result = detect_decline(sim["clicks"][0], sim["impressions"][0], vif=2.0, simulations=1000)
    assert result.alarm_day >= CHANGE_DAY
    assert result.statistic.shape == (30,) and np.all(result.statistic[:BASELINE] == 0)
    assert result.baseline_rate == pytest.approx(BASE_CTR, rel=0.3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"decline": 1.2}, "decline"), ({"vif": 0.5}, "vif"), ({"false_alarm": 0.0}, "false_alarm"),
     ({"simulations": 10}, "simulations")],
)  # fmt: skip
def test_bad_settings_are_rejected(kwargs: dict, match: str) -> None:
    args = {"vif": 2.0} | kwargs
    with pytest.raises(ChangePointInputError, match=match):
        detect_decline(np.full(10, 150.0), np.full(10, 10_000.0), **args)


def test_bad_counts_are_rejected() -> None:
    with pytest.raises(ChangePointInputError, match="clicks <= impressions"):
        detect_decline([5.0, 200.0], [100.0, 100.0], vif=1.0)
    with pytest.raises(ChangePointInputError, match="baseline"):
        detect_decline(np.zeros(10), np.full(10, 100.0), vif=1.0)
