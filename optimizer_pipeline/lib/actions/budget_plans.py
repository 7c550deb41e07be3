"""From a ``promote`` decision to a plan of target daily budgets per ad set, or the reason money does not move yet.

Why: moving budget to a winner in steps (60/40, then 70/30 after an hour, then 80/20 after two) keeps exploring while
the evidence settles and keeps each change small enough not to reset Meta's learning phase; the test's total budget
stays constant, so a plan only moves share between the winner's and the other arms' ad sets. Money does not follow
a winner still in the "ignorance zone" (under 2 days or under 100 of spend: too little data to trust a
platform-level result; Kohavi, Tang & Xu 2020, ch. 21 on novelty and early effects), an ad set still in Meta's
learning phase (``learning_stage_info.status == "LEARNING"``) or an experiment blocked by SRM or a guardrail.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pandas as pd

from optimizer_pipeline.lib.decisions.experiment_registry import Experiment

DEFAULT_SPLITS: tuple[tuple[float, float, float], ...] = ((0.6, 0.4, 0.0), (0.7, 0.3, 1.0), (0.8, 0.2, 2.0))
PLAN_STATUSES: tuple[str, ...] = ("ready", "observe", "held")
MIN_WINNER_DAYS = 2.0
MIN_WINNER_SPEND = 100.0
_METRIC_KEYS = ("primary_metric", "variant", "lift", "lift_low", "lift_high", "chance_to_win", "expected_loss")


class BudgetPlanError(ValueError):
    """A decision, experiment or ad-set state that cannot be planned (the message names what is wrong)."""


@dataclass(frozen=True)
class AdSetState:
    """An ad set as the plan sees it: its account, current daily budget and Meta learning stage."""

    adset_id: str
    account_id: str
    daily_budget: float
    learning_stage: str = "SUCCESS"  # learning_stage_info.status: LEARNING, SUCCESS or FAIL


@dataclass(frozen=True)
class PlanStep:
    """Target daily budget per ad set, applied not before ``not_before``."""

    index: int
    not_before: datetime
    share: float  # the winner's share of the test's total budget
    targets: Mapping[str, float]


@dataclass(frozen=True)
class BudgetPlan:
    """One promote decision turned into steps (``status == "ready"``) or held with its reason."""

    plan_id: str
    client: str
    experiment_id: str
    look_at: str
    decided_at: str
    winner: str
    status: str  # ready, observe, held
    reason: str
    explanation: str
    confidence: float
    metrics: str  # JSON
    accounts: Mapping[str, str] = field(default_factory=dict)  # adset_id -> account_id
    before: Mapping[str, float] = field(default_factory=dict)  # adset_id -> budget when planned
    steps: tuple[PlanStep, ...] = ()


def plan_id_for(client: str, experiment_id: str, decided_at: str) -> str:
    """Deterministic plan id: the same decision always gives the same plan."""
    digest = hashlib.sha256(f"{client}|{experiment_id}|{decided_at}".encode()).hexdigest()[:16]
    return f"bp-{digest}"


def _validate_splits(splits: Sequence[tuple[float, float, float]]) -> None:
    if not splits:
        raise BudgetPlanError("splits must name at least one step")
    last = -math.inf
    for winner, loser, hours in splits:
        if not (0 < winner < 1 and 0 < loser < 1 and abs(winner + loser - 1) < 1e-9):
            raise BudgetPlanError(f"split ({winner}, {loser}) must be two shares in (0, 1) summing to 1")
        if hours < 0 or hours < last:
            raise BudgetPlanError(f"split hours must be >= 0 and non-decreasing, got {hours}")
        last = hours


def _arm_adsets(experiment: Experiment, ad_rows: pd.DataFrame) -> dict[str, set[str]]:
    ads = ad_rows.dropna(subset=["adset_id"])
    return {
        v.name: set(ads.loc[ads["ad_id"].astype(str).isin(v.ad_ids), "adset_id"].astype(str))
        for v in experiment.variants
    }


def plan_budgets(
    client: str,
    decision: Mapping[str, Any],
    experiment: Experiment,
    ad_rows: pd.DataFrame,
    adsets: Sequence[AdSetState],
    *,
    splits: Sequence[tuple[float, float, float]] = DEFAULT_SPLITS,
    min_winner_days: float = MIN_WINNER_DAYS,
    min_winner_spend: float = MIN_WINNER_SPEND,
) -> BudgetPlan | None:
    """The plan for the experiment's latest ``experiment_decisions`` row; None when the decision moves no money
    (continue, stop-no-difference, insufficient-data). ``ad_rows`` (``ad_performance``: ad_id, adset_id, date,
    spend) maps ads to ad sets and measures the winner's age and spend up to the decision."""
    _validate_splits(splits)
    if decision.get("experiment_id") != experiment.id:
        raise BudgetPlanError(f"decision is for {decision.get('experiment_id')!r}, experiment is {experiment.id!r}")
    kind = decision.get("decision")
    if kind not in ("promote", "blocked-srm", "blocked-guardrail"):
        return None
    missing = [c for c in ("ad_id", "adset_id", "date", "spend") if c not in ad_rows.columns]
    if missing:
        raise BudgetPlanError(f"ad_rows lacks columns {missing}")
    decided_at = str(decision.get("decided_at") or decision.get("look_at"))
    when = pd.Timestamp(decided_at)
    if when.tzinfo is None:
        raise BudgetPlanError(f"decided_at must carry a timezone, got {decided_at!r}")
    metrics = json.dumps({k: _plain(decision.get(k)) for k in _METRIC_KEYS}, sort_keys=True)
    base = dict(
        plan_id=plan_id_for(client, experiment.id, decided_at),
        client=client,
        experiment_id=experiment.id,
        look_at=str(decision.get("look_at")),
        decided_at=decided_at,
        winner=str(decision.get("winner") or ""),
        confidence=float(decision.get("confidence", math.nan)),
        metrics=metrics,
    )
    if kind != "promote":
        why = "SRM" if kind == "blocked-srm" else "guardrail"
        return BudgetPlan(**base, status="held", reason=f"blocked by {why}", explanation=str(decision.get("reason")))
    names = {v.name for v in experiment.variants}
    if base["winner"] not in names:
        raise BudgetPlanError(f"winner {base['winner']!r} is not a variant of {experiment.id!r} ({sorted(names)})")
    arms = _arm_adsets(experiment, ad_rows)
    win_sets = arms[base["winner"]]
    lose_sets = set().union(*(s for n, s in arms.items() if n != base["winner"]))
    state = {a.adset_id: a for a in adsets}
    if not win_sets or not lose_sets:
        return BudgetPlan(
            **base, status="held", reason="no ad sets known for the winner or the other arms", explanation=""
        )
    if win_sets & lose_sets:
        shared = sorted(win_sets & lose_sets)
        return BudgetPlan(
            **base, status="held", reason=f"winner shares ad sets {shared} with other arms", explanation=""
        )
    unknown = sorted((win_sets | lose_sets) - set(state))
    if unknown:
        raise BudgetPlanError(f"no current budget given for ad sets {unknown}")
    winner_ads = experiment.variants[[v.name for v in experiment.variants].index(base["winner"])].ad_ids
    mine = ad_rows[ad_rows["ad_id"].astype(str).isin(winner_ads)]
    dates = pd.to_datetime(mine["date"])
    mine = mine[(dates.dt.date < when.date()).to_numpy()]
    spend = float(pd.to_numeric(mine["spend"]).fillna(0).sum())
    spent = pd.to_numeric(mine["spend"]).fillna(0).to_numpy() > 0
    age = float(pd.to_datetime(mine["date"])[spent].dt.date.nunique())  # days with winner spend before the decision
    if age < min_winner_days or spend < min_winner_spend:
        return BudgetPlan(
            **base,
            status="observe",
            reason=f"observe: winner younger than {min_winner_days:g} days / under {min_winner_spend:g} spend",
            explanation=f"the winner has {age:g} day(s) of data and {spend:.2f} spend; money moves once it has both",
        )
    learning = sorted(a for a in win_sets | lose_sets if state[a].learning_stage.upper() == "LEARNING")
    if learning:
        return BudgetPlan(**base, status="held", reason="ad set in learning phase", explanation=f"learning: {learning}")
    before = {a: float(state[a].daily_budget) for a in sorted(win_sets | lose_sets)}
    if any(b <= 0 for b in before.values()):
        raise BudgetPlanError(f"daily budgets must be > 0, got {before}")
    total = sum(before.values())
    win_total = sum(before[a] for a in win_sets)
    lose_total = total - win_total
    steps = []
    for i, (w, lo, hours) in enumerate(splits):
        targets = {a: round(w * total * before[a] / win_total, 2) for a in sorted(win_sets)}
        targets |= {a: round(lo * total * before[a] / lose_total, 2) for a in sorted(lose_sets)}
        steps.append(PlanStep(i, when.to_pydatetime() + timedelta(hours=hours), w, targets))
    shares = " → ".join(f"{round(100 * w)}/{round(100 * lo)}" for w, lo, _ in splits)
    return BudgetPlan(
        **base,
        status="ready",
        reason=f"promote {base['winner']} in {experiment.id}: {shares} of {total:.2f} a day",
        explanation=f"{decision.get('reason', '')} {decision.get('explanation', '')}".strip(),
        accounts={a: state[a].account_id for a in before},
        before=before,
        steps=tuple(steps),
    )


def _plain(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):
        return value.item()
    return value


#: Columns of the ``budget_plans`` table: one row per plan, nested parts as JSON so a plan round-trips exactly.
PLAN_COLUMNS: tuple[str, ...] = (
    "plan_id", "client", "experiment_id", "look_at", "decided_at", "winner", "status", "reason", "explanation",
    "confidence", "metrics", "accounts", "before", "steps",
)  # fmt: skip


def plan_record(plan: BudgetPlan) -> dict[str, Any]:
    """One ``budget_plans`` row: scalars as they are, accounts / before / steps as JSON."""
    steps = [
        {"index": s.index, "not_before": pd.Timestamp(s.not_before).isoformat(), "share": s.share, "targets": s.targets}
        for s in plan.steps
    ]
    return {
        **{k: getattr(plan, k) for k in PLAN_COLUMNS[:11]},
        "accounts": json.dumps(dict(plan.accounts), sort_keys=True),
        "before": json.dumps(dict(plan.before), sort_keys=True),
        "steps": json.dumps(steps, sort_keys=True),
    }


def plan_from_record(record: Mapping[str, Any]) -> BudgetPlan:
    """The :class:`BudgetPlan` a ``budget_plans`` row stores (inverse of :func:`plan_record`)."""
    steps = tuple(
        PlanStep(
            int(s["index"]),
            pd.Timestamp(s["not_before"]).to_pydatetime(),
            float(s["share"]),
            {k: float(v) for k, v in s["targets"].items()},
        )
        for s in json.loads(str(record["steps"]))
    )
    return BudgetPlan(
        **{k: record[k] for k in PLAN_COLUMNS[:9]},
        confidence=float(record["confidence"]),
        metrics=str(record["metrics"]),
        accounts=json.loads(str(record["accounts"])),
        before={k: float(v) for k, v in json.loads(str(record["before"])).items()},
        steps=steps,
    )


def adsets_from_spend(ad_rows: pd.DataFrame, account_id: str, before: Any) -> list[AdSetState]:
    """Ad set states when the platform's budgets cannot be read (export files carry none): an ad set's daily budget
    is taken as its newest day's spend before ``before`` (a date), its learning stage as unknown ("SUCCESS": export
    files do not say). Only for dry runs: live mode reads budgets and learning stages from the platform."""
    rows = ad_rows.dropna(subset=["adset_id"])
    days = pd.to_datetime(rows["date"]).dt.date
    rows = rows[(days < before).to_numpy()].assign(day=days[(days < before).to_numpy()])
    if rows.empty:
        return []
    per_day = rows.groupby(["adset_id", "day"])["spend"].sum().reset_index()
    newest = per_day.sort_values("day").groupby("adset_id").tail(1)
    return [
        AdSetState(str(a), account_id, round(float(s), 2))
        for a, s in zip(newest["adset_id"], newest["spend"], strict=True)
        if float(s) > 0
    ]
