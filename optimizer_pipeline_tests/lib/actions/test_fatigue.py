"""Per-ad fatigue: planted cases get the documented status, advice and weight; stationary ads stay fresh at the
configured rate; bad frames are rejected."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from optimizer_pipeline.lib.actions.fatigue import (
    MONITOR,
    OUTPUT_COLUMNS,
    PAUSE_NOW,
    REFRESH_CREATIVE,
    FatigueConfig,
    FatigueInputError,
    fatigue_signals,
)
from optimizer_pipeline_tests.lib.actions.test_change_point import simulate_ads

START = date(2026, 3, 2)
FAST = FatigueConfig(simulations=1000)


def _frame(sim: dict[str, np.ndarray], prefix: str = "ad") -> pd.DataFrame:
    ads, days = sim["clicks"].shape
    return pd.DataFrame(
        {
            "ad_id": [f"{prefix}-{i:04d}" for i in range(ads) for _ in range(days)],
            "date": [START + timedelta(days=d) for _ in range(ads) for d in range(days)],
            "impressions": sim["impressions"].ravel().astype(int),
            "clicks": sim["clicks"].ravel().astype(int),
            "spend": sim["spend"].ravel(),
            "frequency": sim["frequency"].ravel(),
        }
    )


def _planted() -> pd.DataFrame:
    base = simulate_ads(41, ads=1, days=24)
    halved = simulate_ads(42, ads=1, days=24, drop=0.5, change=12)
    high_freq, very_high_freq, pricey = (simulate_ads(s, ads=1, days=24) for s in (43, 44, 45))
    high_freq["frequency"][0, -3:] = 8.5
    very_high_freq["frequency"][0, -1] = 12.5
    pricey["spend"][0, -3:] *= 1.6
    short = simulate_ads(46, ads=1, days=5)
    frames = [_frame(s, name) for s, name in
              [(base, "fresh"), (halved, "halved"), (high_freq, "freq8"), (very_high_freq, "freq12"),
               (pricey, "cpm"), (short, "short")]]  # fmt: skip
    return pd.concat(frames, ignore_index=True)


def test_planted_cases() -> None:
    out = fatigue_signals(_planted(), vif=2.0, config=FAST).set_index("ad_id")
    assert list(out.reset_index().columns) == list(OUTPUT_COLUMNS)
    row = out.loc["fresh-0000"]
    assert (row.status, row.recommendation, row.decay_weight) == ("fresh", MONITOR, 1.0)
    row = out.loc["halved-0000"]  # CTR halved on day 13: the CUSUM and the 40 % rule agree -> pause
    assert (row.status, row.recommendation) == ("fatigued", PAUSE_NOW)
    assert START + timedelta(days=12) <= row.cusum_alarm_date <= START + timedelta(days=14)
    assert row.onset_date == min(row.cusum_alarm_date, row.onset_date)
    assert row.decay_weight == pytest.approx(max(0.1, 2 ** (-row.days_fatigued / 7)))
    assert row.days_fatigued == (row.as_of - row.onset_date).days + 1
    assert "CTR drop detected" in row.evidence and "below the ad's first days" in row.evidence
    row = out.loc["freq8-0000"]
    assert (row.status, row.recommendation, row.days_fatigued) == ("fatigued", REFRESH_CREATIVE, 3)
    assert row.decay_weight == pytest.approx(2 ** (-3 / 7))
    assert (out.loc["freq12-0000"].status, out.loc["freq12-0000"].recommendation) == ("fatigued", PAUSE_NOW)
    row = out.loc["cpm-0000"]
    assert (row.status, row.recommendation) == ("fatigued", REFRESH_CREATIVE) and "CPM is" in row.evidence
    row = out.loc["short-0000"]
    assert (row.status, row.recommendation) == ("fresh", MONITOR) and "not enough evidence" in row.evidence
    assert np.isnan(row.cusum_statistic)
    assert out["decay_weight"].between(0, 1, inclusive="right").all()


def test_watch_level_and_calendar_days_since_onset() -> None:
    watch, gap = simulate_ads(47, ads=1, days=20), simulate_ads(48, ads=1, days=20)
    watch["frequency"][0, -1] = 3.5
    gap["frequency"][0, -4:] = 9.0
    rows = pd.concat([_frame(watch, "watch"), _frame(gap, "gap")], ignore_index=True)
    rows = rows.drop(index=rows.index[(rows["ad_id"] == "gap-0000")][-2])  # a day without a row inside the onset
    out = fatigue_signals(rows, vif=2.0, config=FAST).set_index("ad_id")
    assert tuple(out.loc["watch-0000", ["status", "recommendation", "decay_weight"]]) == ("watch", MONITOR, 1.0)
    row = out.loc["gap-0000"]
    assert (row.status, row.days_fatigued) == ("fatigued", 4)  # calendar days, not rows
    assert row.decay_weight == pytest.approx(2 ** (-4 / 7))


def test_as_of_evaluates_an_earlier_day() -> None:
    rows = _planted()
    out = fatigue_signals(rows[rows["ad_id"] == "halved-0000"], vif=2.0, config=FAST, as_of=START + timedelta(days=11))
    assert out.loc[0, "status"] in ("fresh", "watch") and out.loc[0, "as_of"] == START + timedelta(days=11)


def test_stationary_ads_are_flagged_fatigued_at_about_the_configured_rate() -> None:
    # per-ad calibration on each ad's own days (the production path); 37 days = 7 baseline + 30 monitored
    ads = 300
    out = fatigue_signals(_frame(simulate_ads(51, ads=ads, days=37)), vif=2.0, config=FAST)
    share = float((out["status"] == "fatigued").mean())
    mc = 2 * np.sqrt(0.05 * 0.95 / ads + 0.05 * 0.95 / FAST.simulations)
    assert share <= 0.05 + mc
    assert out["cusum_false_alarm"].le(0.05).all()


@pytest.mark.parametrize(
    ("mutate", "kwargs", "match"),
    [
        (lambda f: f.drop(columns="clicks"), {}, "missing column"),
        (lambda f: pd.concat([f, f.iloc[:1]]), {}, "more than one row"),
        (lambda f: f.assign(clicks=f["impressions"] + 1), {}, "clicks <= impressions"),
        (lambda f: f, {"vif": 0.9}, "vif"),
        (lambda f: f, {"config": FatigueConfig(false_alarm=1.5)}, "false_alarm"),
        (lambda f: f, {"config": FatigueConfig(baseline_days=0)}, "baseline_days"),
        (lambda f: f, {"config": FatigueConfig(half_life_days=-1)}, "half_life_days"),
    ],
)
def test_bad_frames_are_rejected(mutate: Callable[[pd.DataFrame], pd.DataFrame], kwargs: dict, match: str) -> None:
    frame = mutate(_frame(simulate_ads(61, ads=2, days=10)))
    with pytest.raises(FatigueInputError, match=match):
        fatigue_signals(frame, **({"vif": 2.0, "config": FAST} | kwargs))
