"""Budget plans: promote decisions become steps of target budgets (total constant), or are held with a reason."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optimizer_pipeline.lib.actions.budget_plans import (
    AdSetState,
    BudgetPlanError,
    plan_budgets,
    plan_id_for,
)
from optimizer_pipeline.lib.decisions.experiment_registry import Experiment, Variant

START = datetime(2026, 3, 1, tzinfo=UTC)
DECIDED = "2026-03-05T06:00:00+00:00"


def experiment(arms: int = 2) -> Experiment:
    variants = tuple(Variant(name=n, ad_ids=(f"ad-{n}",), control=(n == "A"), share=1 / arms) for n in "ABC"[:arms])
    return Experiment(
        id="exp-1", hypothesis="h", variants=variants, primary_metric="ctr", guardrails=(), min_relative_lift=0.05,
        start=START, max_duration_days=14, min_runtime_hours=48, min_samples_per_variant=1000, alpha=0.05,
        status="running",
    )  # fmt: skip


def ad_rows(days: int = 4, spend: float = 40.0, arms: int = 2) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"ad_id": f"ad-{n}", "adset_id": f"set-{n}", "date": date(2026, 3, 1) + timedelta(days=d), "spend": spend}
            for n in "ABC"[:arms]
            for d in range(days)
        ]
    )


def decision(kind: str = "promote", winner: str = "B") -> dict:
    return {
        "experiment_id": "exp-1", "look_at": DECIDED, "decision": kind, "winner": winner, "reason": "B wins",
        "explanation": "CTR +12 %", "confidence": 0.95, "primary_metric": "ctr", "variant": winner, "lift": 0.12,
        "lift_low": 0.06, "lift_high": 0.18, "chance_to_win": 0.99, "expected_loss": 0.001, "decided_at": DECIDED,
    }  # fmt: skip


STATES = [AdSetState("set-A", "acc", 50.0), AdSetState("set-B", "acc", 50.0), AdSetState("set-C", "acc", 100.0)]


def test_promote_gives_default_steps_with_constant_total() -> None:
    plan = plan_budgets("cl", decision(), experiment(), ad_rows(), STATES[:2])
    assert plan is not None and plan.status == "ready"
    assert (
        plan.plan_id
        == plan_id_for("cl", "exp-1", DECIDED)
        == plan_budgets("cl", decision(), experiment(), ad_rows(), STATES[:2]).plan_id
    )
    assert [s.targets for s in plan.steps] == [
        {"set-A": 40.0, "set-B": 60.0}, {"set-A": 30.0, "set-B": 70.0}, {"set-A": 20.0, "set-B": 80.0},
    ]  # fmt: skip
    decided = datetime.fromisoformat(DECIDED)
    assert [s.not_before - decided for s in plan.steps] == [timedelta(0), timedelta(hours=1), timedelta(hours=2)]
    assert plan.before == {"set-A": 50.0, "set-B": 50.0} and plan.accounts == {"set-A": "acc", "set-B": "acc"}
    assert json.loads(plan.metrics)["lift"] == 0.12 and plan.confidence == 0.95
    assert "60/40 → 70/30 → 80/20" in plan.reason


@settings(max_examples=100, deadline=None, database=None)
@given(
    budgets=st.lists(st.floats(1.0, 5000.0), min_size=3, max_size=3),
    share=st.floats(0.51, 0.95),
    winner=st.sampled_from(["A", "B", "C"]),
)
def test_total_is_kept_and_winner_gets_its_share(budgets, share, winner) -> None:
    states = [AdSetState(f"set-{n}", "acc", b) for n, b in zip("ABC", budgets, strict=True)]
    plan = plan_budgets(
        "cl", decision(winner=winner), experiment(3), ad_rows(arms=3), states, splits=[(share, 1 - share, 0.0)]
    )
    targets = plan.steps[0].targets
    assert abs(sum(targets.values()) - sum(budgets)) <= 0.01 * len(budgets)
    assert abs(targets[f"set-{winner}"] - share * sum(budgets)) <= 0.01
    losers = [n for n in "ABC" if n != winner]
    b = dict(zip("ABC", budgets, strict=True))
    # losers keep their relative sizes: each gets the losers' share in proportion to its budget (to the cent)
    lose_total = sum(b[n] for n in losers)
    for n in losers:
        assert abs(targets[f"set-{n}"] - (1 - share) * sum(budgets) * b[n] / lose_total) <= 0.005 + 1e-9


@pytest.mark.parametrize(
    ("days", "spend", "status", "reason"),
    [
        (1, 200.0, "observe", "observe: winner younger than 2 days / under 100 spend"),
        (4, 20.0, "observe", "observe: winner younger than 2 days / under 100 spend"),
        (4, 40.0, "ready", ""),
    ],
)
def test_ignorance_zone(days: int, spend: float, status: str, reason: str) -> None:
    plan = plan_budgets("cl", decision(), experiment(), ad_rows(days, spend), STATES[:2])
    assert plan.status == status and plan.reason.startswith(reason)
    assert (plan.steps == ()) == (status != "ready")


def test_learning_phase_and_blocks_hold_money() -> None:
    learning = [STATES[0], AdSetState("set-B", "acc", 50.0, learning_stage="LEARNING")]
    assert plan_budgets("cl", decision(), experiment(), ad_rows(), learning).reason == "ad set in learning phase"
    for kind, why in (("blocked-srm", "SRM"), ("blocked-guardrail", "guardrail")):
        plan = plan_budgets("cl", decision(kind, ""), experiment(), ad_rows(), STATES[:2])
        assert plan.status == "held" and plan.reason == f"blocked by {why}" and not plan.steps
    for kind in ("continue", "stop-no-difference", "insufficient-data"):
        assert plan_budgets("cl", decision(kind, ""), experiment(), ad_rows(), STATES[:2]) is None


def test_control_can_win_and_shared_ad_sets_are_held() -> None:
    plan = plan_budgets("cl", decision(winner="A"), experiment(), ad_rows(), STATES[:2])
    assert plan.steps[-1].targets == {"set-A": 80.0, "set-B": 20.0}
    shared = ad_rows().assign(adset_id="set-A")
    assert "shares ad sets" in plan_budgets("cl", decision(), experiment(), shared, STATES[:2]).reason


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"splits": [(0.6, 0.3, 0.0)]}, "summing to 1"),
        ({"splits": [(0.6, 0.4, 2.0), (0.7, 0.3, 1.0)]}, "non-decreasing"),
        ({"splits": []}, "at least one"),
    ],
)
def test_bad_splits_raise(kwargs, match) -> None:
    with pytest.raises(BudgetPlanError, match=match):
        plan_budgets("cl", decision(), experiment(), ad_rows(), STATES[:2], **kwargs)


def test_bad_inputs_raise() -> None:
    with pytest.raises(BudgetPlanError, match="winner 'Z'"):
        plan_budgets("cl", decision(winner="Z"), experiment(), ad_rows(), STATES[:2])
    with pytest.raises(BudgetPlanError, match="no current budget"):
        plan_budgets("cl", decision(), experiment(), ad_rows(), STATES[:1])
    with pytest.raises(BudgetPlanError, match="lacks columns"):
        plan_budgets("cl", decision(), experiment(), ad_rows().drop(columns="adset_id"), STATES[:2])
    with pytest.raises(BudgetPlanError, match="is for"):
        plan_budgets("cl", {**decision(), "experiment_id": "other"}, experiment(), ad_rows(), STATES[:2])
    with pytest.raises(BudgetPlanError, match="timezone"):
        plan_budgets("cl", {**decision(), "decided_at": "2026-03-05T06:00:00"}, experiment(), ad_rows(), STATES[:2])
