"""Promotion history from a constructed decisions trail: kept looks are one event, a reversal is dated, a later
re-promotion is a new event, insufficient-data does not reverse, control wins are flagged."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from optimizer_pipeline.lib.actions.promotion_history import (
    HISTORY_COLUMNS,
    PromotionHistoryError,
    promotion_history,
)
from optimizer_pipeline.lib.decisions.experiment_decision import looks_between, replay
from optimizer_pipeline.lib.decisions.experiment_registry import parse_experiments
from optimizer_pipeline.lib.decisions.overdispersion import VifEstimate

T0 = pd.Timestamp("2026-11-01", tz="UTC")


def _at(hours: int) -> pd.Timestamp:
    return T0 + pd.Timedelta(hours=hours)


def _row(exp: str, h: int, decision: str, winner: str = "", decided: int | None = None, lift: float = 0.0,
         variant: str = "b", reason: str = "") -> dict:  # fmt: skip
    return {
        "experiment_id": exp, "look_at": _at(h), "look_index": h // 6, "decision": decision, "winner": winner,
        "decided_at": None if decided is None else _at(decided).isoformat(), "reason": reason,
        "primary_metric": "ctr", "variant": variant, "lift": lift, "lift_low": lift - 0.05,
        "lift_high": lift + 0.05, "z": 3.0, "boundary": 2.6, "confidence": 0.95, "chance_to_win": 0.98,
    }  # fmt: skip


TRAIL = pd.DataFrame(
    [
        _row("e1", 6, "continue", lift=0.05),
        _row("e1", 12, "promote", "b", 12, lift=0.20),
        _row("e1", 18, "promote", "b", 12, lift=0.12),
        _row("e1", 24, "insufficient-data"),
        _row("e1", 30, "continue", lift=0.01, reason="reversed: the promoted 'b' now looks worse"),
        _row("e1", 36, "promote", "b", 36, lift=0.09),
        _row("e2", 6, "promote", "a", 6, lift=-0.15),  # the control 'a' wins over 'b'
        _row("e2", 12, "promote", "a", 6, lift=-0.16),
        _row("e3", 6, "blocked-srm", decided=6),
    ]
)


def test_events_reversal_and_repromotion() -> None:
    h = promotion_history(TRAIL.sample(frac=1, random_state=1))  # order of the trail does not matter
    assert list(h.columns) == HISTORY_COLUMNS
    assert list(zip(h["experiment_id"], h["decided_at"], strict=True)) == [("e2", _at(6)), ("e1", _at(12)),
                                                                           ("e1", _at(36))]  # fmt: skip
    first = h.iloc[1]
    assert first["lift"] == pytest.approx(0.20)  # the deciding look, not the later kept look (0.12)
    assert first["lift_low"] == pytest.approx(0.15) and first["confidence"] == pytest.approx(0.95)
    assert first["reversed_at"] == _at(30)  # the insufficient-data look at 24 h does not reverse it
    assert first["reversed_by"] == "continue" and first["reversal_reason"].startswith("reversed:")
    assert not first["standing"]
    assert h.iloc[2]["standing"] and pd.isna(h.iloc[2]["reversed_at"])
    assert h.iloc[0]["standing"] and h.iloc[0]["lift"] == pytest.approx(-0.15)


def test_control_winner_from_variants_or_focus() -> None:
    h = promotion_history(TRAIL)
    assert h.set_index("decided_at")["winner_is_control"].tolist() == [True, False, False]
    variants = pd.DataFrame({"experiment_id": ["e1", "e1", "e2", "e2"], "variant": ["a", "b", "a", "b"],
                             "is_control": [True, False, True, False]})  # fmt: skip
    h2 = promotion_history(TRAIL.drop(columns="variant"), variants)
    assert h2["winner_is_control"].tolist() == [True, False, False]
    assert promotion_history(TRAIL.drop(columns="variant"))["winner_is_control"].isna().all()


def test_empty_and_bad_trails() -> None:
    assert list(promotion_history(TRAIL.iloc[:0]).columns) == HISTORY_COLUMNS
    assert len(promotion_history(TRAIL[TRAIL["decision"] != "promote"])) == 0
    with pytest.raises(PromotionHistoryError, match="decided_at"):
        promotion_history(TRAIL.drop(columns="decided_at"))
    with pytest.raises(PromotionHistoryError, match="is_control"):
        promotion_history(TRAIL, pd.DataFrame({"experiment_id": [], "variant": []}))


def test_on_a_replayed_trail_with_a_real_reversal() -> None:
    """The decision loop's own trail (``replay``): 'b' twice as good for 4 days, then half as good."""
    arms = [{"name": v, "ad_ids": [f"e-{v}"], "control": v == "control"} for v in ("control", "b")]
    raw = {"id": "e", "hypothesis": "t", "primary_metric": "ctr", "start": "2026-11-01T00:00:00Z", "status": "running",
           "variants": arms}  # fmt: skip
    exp = parse_experiments({"experiments": [raw]}, "test")[0]
    rng = np.random.default_rng(8)
    imp = np.r_[np.full(4, 100000), np.full(27, 400000)]
    ctr = {"e-control": np.full(31, 0.015), "e-b": np.r_[np.full(4, 0.03), np.full(27, 0.0075)]}
    ads = pd.DataFrame(
        [{"ad_id": ad, "date": date(2026, 11, 1) + timedelta(days=d), "impressions": imp[d],
          "clicks": rng.binomial(imp[d], ctr[ad][d]), "spend": 10.0, "conversions": 5, "revenue": 50.0}
         for ad in ctr for d in range(31)]
    )  # fmt: skip
    start = datetime(2026, 11, 1, tzinfo=UTC)
    looks = looks_between(start + timedelta(hours=6), start + timedelta(days=15), 24)
    res = replay([exp], ads, looks, VifEstimate(1.0, "between_day", 100, "binomial test data", 1.0))
    h = promotion_history(res.decisions, res.variants)
    assert list(h["winner"]) == ["b", "control"]
    first, second = h.iloc[0], h.iloc[1]
    assert not first["standing"] and first["reversed_at"] == second["decided_at"]
    assert first["reversed_by"] == "promote" and first["reversal_reason"].startswith("reversed: the promoted 'b'")
    assert first["lift"] > 0 and first["winner_is_control"] == False  # noqa: E712
    assert second["standing"] and second["winner_is_control"] == True  # noqa: E712
    t = res.decisions.set_index(pd.to_datetime(res.decisions["look_at"], utc=True))
    assert first["lift"] == pytest.approx(t.loc[first["decided_at"], "lift"])
