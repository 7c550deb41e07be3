"""Winner-vs-loser and daily/weekly summary texts: every number in them is a cell of the tables (found verbatim in
the formatted text), nothing is said without evidence, and bad periods are refused."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pandas as pd
import pytest

from optimizer_pipeline.lib.actions.winner_summary import (
    WinnerSummaryError,
    daily_summary,
    period_summary,
    weekly_summary,
    winner_vs_loser,
)

T0 = pd.Timestamp("2026-11-02", tz="UTC")


def _at(hours: int) -> pd.Timestamp:
    return T0 + pd.Timedelta(hours=hours)


def _dec(exp: str, h: int, decision: str, winner: str = "", decided: int | None = None, lift: float = 0.0,
         reason: str = "", variant: str = "b") -> dict:  # fmt: skip
    return {
        "experiment_id": exp, "look_at": _at(h), "look_index": h // 6, "decision": decision, "winner": winner,
        "decided_at": None if decided is None else _at(decided).isoformat(), "reason": reason,
        "primary_metric": "ctr", "variant": variant, "lift": lift, "lift_low": lift - 0.081, "lift_high": lift + 0.093,
        "z": 3.1, "boundary": 2.6, "confidence": 0.95, "chance_to_win": 0.991,
    }  # fmt: skip


DECISIONS = pd.DataFrame(
    [
        _dec("e1", 6, "continue", lift=0.04),
        _dec("e1", 12, "promote", "b", 12, lift=0.214),
        _dec("e1", 36, "promote", "b", 12, lift=0.19),
        _dec("e2", 6, "promote", "b", 6, lift=0.12),
        _dec("e2", 30, "continue", lift=0.01, reason="reversed: the promoted 'b' now looks worse than the control"),
        _dec("e3", 30, "blocked-srm", decided=30, reason="the traffic split does not match the plan (p = 0.0002)"),
    ]
)
VARIANTS = pd.DataFrame(
    [
        {"experiment_id": "e1", "look_at": _at(12), "variant": "a", "is_control": True, "metric_value": 0.0201,
         "units": 51234.0},
        {"experiment_id": "e1", "look_at": _at(12), "variant": "b", "is_control": False, "metric_value": 0.0244,
         "units": 50871.0},
        {"experiment_id": "e2", "look_at": _at(6), "variant": "a", "is_control": True, "metric_value": 0.01,
         "units": 1000.0},
        {"experiment_id": "e2", "look_at": _at(6), "variant": "b", "is_control": False, "metric_value": 0.0112,
         "units": 1000.0},
    ]
)  # fmt: skip
DNA = pd.DataFrame(
    [
        {"experiment_id": "e1", "variant": "a", "hook_type": "statement", "emo": "trust", "duration_bucket": "31-60s",
         "hook_cut_count": 1.0, "face_share": 0.5},
        {"experiment_id": "e1", "variant": "b", "hook_type": "question", "emo": "trust", "duration_bucket": "16-30s",
         "hook_cut_count": 3.0, "face_share": 0.5},
    ]
)  # fmt: skip


def test_winner_vs_loser_names_the_numbers_and_the_dna() -> None:
    text = winner_vs_loser("e1", DECISIONS, VARIANTS, DNA, features=["hook_cut_count", "face_share"])
    for piece in (
        "'b' was promoted on 2026-11-02 12:00 UTC on CTR",
        "CTR 2.44 %", "over 50,871 impressions", "CTR 2.01 %",
        "+21.4 %", "+13.3 % to +30.7 %", "confidence 95 %",  # the deciding look's lift and interval, not later
        f"differs by {(0.0244 / 0.0201 - 1) * 100:+.1f} %",
        "hook question vs statement", "length 16-30s vs 31-60s", "cuts in the first 3 seconds 3 vs 1",
    ):  # fmt: skip
        assert piece in text, piece
    assert "emotion" not in text and "face" not in text  # equal attributes are not "differences"
    assert "+19.0 %" not in text
    assert "is unknown" in winner_vs_loser("e1", DECISIONS, VARIANTS)
    assert "reversed on 2026-11-03 06:00 UTC (continue)" in winner_vs_loser("e2", DECISIONS, VARIANTS)


def test_no_promotion_says_so() -> None:
    text = winner_vs_loser("e3", DECISIONS, VARIANTS)
    assert "no promotion yet" in text and "blocked-srm" in text and "Not enough evidence" in text
    with pytest.raises(WinnerSummaryError, match="e9"):
        winner_vs_loser("e9", DECISIONS, VARIANTS)


def test_daily_summary() -> None:
    day1 = daily_summary(DECISIONS, VARIANTS, day=date(2026, 11, 2))
    assert day1.startswith("Daily summary (2026-11-02 00:00 UTC to 2026-11-03 00:00 UTC): 3 checks of 2 experiments;")
    assert "2 promotion(s), 0 reversal(s), 0 blocked test(s)" in day1
    assert "variant 'b' in 'e1' on 2026-11-02 12:00 UTC, CTR lift +21.4 % (interval +13.3 % to +30.7 %" in day1
    assert "'b' in 'e2' on 2026-11-02 06:00 UTC, CTR lift +12.0 %" in day1
    day2 = daily_summary(DECISIONS, VARIANTS, day=date(2026, 11, 3))
    assert "0 promotion(s), 1 reversal(s), 1 blocked test(s)" in day2
    assert "Reversed: the promotion of 'b' in 'e2' of 2026-11-02 06:00 UTC on 2026-11-03 06:00 UTC" in day2
    assert "Blocked: 'e3' is blocked-srm since 2026-11-03 06:00 UTC: the traffic split does not match" in day2
    quiet = daily_summary(DECISIONS, VARIANTS, day=date(2026, 10, 1))
    assert "0 checks of 0 experiments" in quiet and "No promotions, reversals or blocked tests." in quiet


def test_weekly_summary_and_bad_periods() -> None:
    week = weekly_summary(DECISIONS, VARIANTS, week_ending=date(2026, 11, 8))
    assert "Weekly summary (2026-11-02 00:00 UTC to 2026-11-09 00:00 UTC): 6 checks of 3 experiments" in week
    assert "2 promotion(s), 1 reversal(s), 1 blocked test(s)" in week
    with pytest.raises(WinnerSummaryError, match="timezone-aware"):
        period_summary(DECISIONS, start=datetime(2026, 11, 2), end=datetime(2026, 11, 3), title="x")
    with pytest.raises(WinnerSummaryError, match="start < end"):
        period_summary(DECISIONS, start=datetime(2026, 11, 3, tzinfo=UTC), end=datetime(2026, 11, 2, tzinfo=UTC),
                       title="x")  # fmt: skip
