"""Budget limits: the pure checks over ledger rows (rate, velocity, ceiling), "round" amounts and explanations."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer_pipeline.lib.actions.budget_ledger import as_ledger, empty_ledger
from optimizer_pipeline.lib.actions.budget_limits import (
    BudgetLimitError,
    BudgetLimits,
    allowance,
    explain,
    is_round,
    rate_block,
    to_cents,
    velocity_allowance,
)

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


def row(at: datetime, before: float, after: float, status: str = "executed", adset: str = "s1", account: str = "a1"):
    return {
        "client": "c", "account_id": account, "adset_id": adset, "at": at, "before": before, "after": after,
        "wanted": after, "status": status, "plan_id": "p", "step": 0, "part": 0, "idempotency_key": f"k{at}",
        "experiment_id": "e", "look_at": "", "reason": "", "limit": "", "explanation": "", "confidence": 0.9,
        "metrics": "{}", "mode": "dry_run",
    }  # fmt: skip


def test_defaults_are_the_issue_numbers() -> None:
    lim = BudgetLimits()
    assert (lim.changes_per_hour, lim.changes_per_day, lim.velocity_6h, lim.velocity_24h, lim.fuzz) == (
        15, 100, 0.20, 0.50, 0.03,
    )  # fmt: skip
    assert lim.jitter_seconds == (3.0, 18.0) and lim.ceiling("any") == float("inf")
    assert BudgetLimits(account_ceilings={"a1": 500.0}).ceiling("a1") == 500.0


@pytest.mark.parametrize(
    "kwargs",
    [
        {"changes_per_hour": 0},
        {"velocity_6h": 1.2},
        {"velocity_24h": 0.0},
        {"fuzz": 0.25},
        {"jitter_seconds": (18.0, 3.0)},
        {"daily_ceiling": 0.0},
        {"account_ceilings": {"a1": -5.0}},
    ],
)
def test_bad_limits_raise(kwargs) -> None:
    with pytest.raises(BudgetLimitError, match=next(iter(kwargs)).split("_")[0]):
        BudgetLimits(**kwargs)


@pytest.mark.parametrize(
    ("cents", "expected"),
    [(5000, True), (1250, True), (725, True), (500, True), (5001, False), (1249, False), (1010, False), (3, False)],
)
def test_round_means_multiple_of_25_cents(cents: int, expected: bool) -> None:
    assert is_round(cents) is expected


def test_naive_time_raises() -> None:
    with pytest.raises(BudgetLimitError, match="timezone-aware"):
        rate_block(empty_ledger(), "a1", "s1", datetime(2026, 1, 1), BudgetLimits())


def test_rate_limit_counts_rolling_hour_per_account_and_ad_set() -> None:
    lim = BudgetLimits(changes_per_hour=2, changes_per_day=3)
    hist = as_ledger([row(T0, 50, 51, adset="s1"), row(T0 + timedelta(minutes=10), 51, 52, adset="s2")])
    at = T0 + timedelta(minutes=30)
    assert rate_block(hist, "a1", "s3", at, lim) == "rate_hour_account"
    assert rate_block(hist, "a2", "s1", at, lim) == ""  # another account, s1 once: one more allowed
    assert rate_block(hist, "a1", "s3", T0 + timedelta(hours=1), lim) == ""  # the first left the window (t - 1 h, t]
    hist = as_ledger([*hist.to_dict("records"), row(T0 + timedelta(hours=2), 52, 53, status="failed")])
    assert rate_block(hist, "a1", "s9", T0 + timedelta(hours=3, minutes=30), lim) == "rate_day_account"
    # an ad set's own count binds when its calls were booked under another account (same caps otherwise coincide)
    assert rate_block(hist, "a9", "s1", T0 + timedelta(minutes=30), BudgetLimits(changes_per_hour=1)) == (
        "rate_hour_adset"
    )
    # planned and deferred rows are not calls
    assert rate_block(as_ledger([row(T0, 50, 50, status="deferred")] * 3), "a1", "s1", T0, lim) == ""


def test_velocity_window_uses_every_budget_in_it() -> None:
    lim = BudgetLimits()
    # 100 -> 80 three hours ago: now within 20 % of both 100 and 80, i.e. [80, 96]
    hist = as_ledger([row(T0, 100, 80)])
    allow = velocity_allowance(hist, "s1", 80, T0 + timedelta(hours=3), lim)
    assert (allow.low, allow.high) == (8000, 9600) and allow.high_limit == "velocity_6h"
    # after 6 h only the 24 h cap remembers 100: [50, 120] against 100 and 80 -> [50, 120]; 6 h against 80: [64, 96]
    allow = velocity_allowance(hist, "s1", 80, T0 + timedelta(hours=7), lim)
    assert (allow.low, allow.high) == (6400, 9600)
    # after 24 h: back to +-20 % of the current budget
    allow = velocity_allowance(hist, "s1", 80, T0 + timedelta(hours=25), lim)
    assert (allow.low, allow.high) == (6400, 9600)
    # 24 h cap binds: +20 % four times in 24 h would be +107 %
    steps = [row(T0 + timedelta(hours=6 * k + 0.5 * k), 50 * 1.2**k, 50 * 1.2 ** (k + 1)) for k in range(3)]
    allow = velocity_allowance(as_ledger(steps), "s1", 50 * 1.2**3, T0 + timedelta(hours=20), lim)
    assert allow.high == 7500 and allow.high_limit == "velocity_24h"


@settings(max_examples=150, deadline=None, database=None)
@given(
    current=st.floats(1.0, 10_000.0),
    wanted_ratio=st.floats(0.05, 5.0),
    total_extra=st.floats(0.0, 5_000.0),
    ceiling=st.floats(1.0, 20_000.0) | st.just(float("inf")),
)
def test_allowance_contains_no_move_and_respects_caps(current, wanted_ratio, total_extra, ceiling) -> None:
    lim = BudgetLimits(daily_ceiling=ceiling)
    allow = allowance(
        empty_ledger(), account_id="a1", adset_id="s1", current=current, account_total=current + total_extra,
        at=T0, limits=lim,
    )  # fmt: skip
    cur = to_cents(current)
    assert allow.low <= cur <= allow.high
    assert allow.high <= 1.2 * cur + 1e-6 and allow.low >= 0.8 * cur - 1e-6
    if allow.high > cur:
        assert (allow.high - cur) / 100 <= max(0.0, ceiling - current - total_extra) + 1e-9
    value, limit = allow.clip(round(cur * wanted_ratio))
    assert allow.low <= value <= allow.high
    assert (limit == "") == (value == round(cur * wanted_ratio))


def test_non_positive_budget_raises() -> None:
    with pytest.raises(BudgetLimitError, match="current budget"):
        allowance(
            empty_ledger(), account_id="a", adset_id="s", current=0, account_total=0, at=T0, limits=BudgetLimits()
        )


def test_explanation_words() -> None:
    assert explain(50, 70, 60, "velocity_6h") == "wanted +40.0 %, limited to +20.0 % by the 6 h velocity cap"
    assert explain(50, 70, 50, "rate_hour_account").startswith("wanted +40.0 %, deferred by the 15-changes-per-hour")
    assert "within every limit" in explain(50, 55, 55.3, "")
    assert explain(0, 1, 1, "") == ""
