"""The ledger audit finds every broken limit from the ledger alone, and none in a ledger that kept them."""

from datetime import UTC, datetime, timedelta

from optimizer_pipeline.lib.actions.budget_ledger import as_ledger, empty_ledger
from optimizer_pipeline.lib.actions.budget_limits import BudgetLimits
from optimizer_pipeline.lib.actions.ledger_audit import ledger_problems, within_limits

T0 = datetime(2026, 12, 1, tzinfo=UTC)


def _row(minutes: float, before: float, after: float, adset: str = "s1", status: str = "executed") -> dict:
    return {
        "client": "c", "account_id": "a1", "adset_id": adset, "at": T0 + timedelta(minutes=minutes),
        "before": before, "after": after, "wanted": after, "status": status, "plan_id": "bp-1", "step": 0,
        "part": 0, "idempotency_key": f"bp-1/0/{adset}/{minutes}", "experiment_id": "e", "look_at": "",
        "reason": "", "limit": "", "explanation": "", "confidence": 0.95, "metrics": "{}", "mode": "dry_run",
    }  # fmt: skip


def test_a_ledger_within_the_limits_passes() -> None:
    ok = as_ledger([_row(0, 50.0, 59.87), _row(7 * 60, 59.87, 70.13), _row(25 * 60, 70.13, 80.11)])
    assert ledger_problems(ok, BudgetLimits()) == []
    assert within_limits(ok, BudgetLimits()).passed
    assert within_limits(empty_ledger(), BudgetLimits()).passed


def test_each_broken_limit_is_named() -> None:
    fast = as_ledger([_row(i, 50.0, 50.0 + 0.01 * (i + 1), adset=f"s{i}") for i in range(16)])
    assert any("16 calls in a rolling hour" in p for p in ledger_problems(fast, BudgetLimits()))
    jump = as_ledger([_row(0, 50.0, 59.87), _row(60, 59.87, 66.13)])  # +32 % of 50 within 6 h
    problems = ledger_problems(jump, BudgetLimits())
    assert problems and "within 6 h" in problems[0] and "50.00 -> 66.13" in problems[0]
    day = as_ledger([_row(0, 50.0, 59.87), _row(7 * 60, 59.87, 71.63), _row(14 * 60, 71.63, 85.91)])
    assert any("within 24 h" in p for p in ledger_problems(day, BudgetLimits()))  # +72 % in 14 h
    assert not within_limits(day, BudgetLimits()).passed
