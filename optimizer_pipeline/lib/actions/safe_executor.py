"""The SafeExecutor: the only code that changes a budget, one limited, fuzzed, jittered and logged call at a time.

Why: a plan's target may be far from today's budget; sending it at once would break the rate and velocity limits
that keep Meta's delivery stable and the account from looking automated. Each run moves every due target as far as
:mod:`budget_limits` allows now (the rest stays pending for the next run, recorded with the limit that held it),
writes the ledger before and after each call (write-ahead, :mod:`budget_ledger`), and keys each call by
``plan_id/step/adset_id/part`` so a rerun never applies a part twice. Budgets are set to absolute values, so a call
resent after a crash between "planned" and its outcome sets the same value again and changes nothing twice.

Amounts are fuzzed by up to ``limits.fuzz`` (uniform, from the injected ``rng``) inside the allowed range, so the
fuzz itself never breaks a cap, and are never round (:func:`budget_limits.is_round`), except the last step of a
rollback, which restores the exact prior budget. Calls are spaced by a jitter drawn from ``limits.jitter_seconds``
through the injected ``sleep``; time comes from the injected ``clock``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol

import numpy as np
import pandas as pd

from optimizer_pipeline.lib.actions.budget_ledger import BudgetLedger
from optimizer_pipeline.lib.actions.budget_limits import (
    APPLIED_STATUSES,
    Allowance,
    BudgetLimitError,
    BudgetLimits,
    allowance,
    explain,
    is_round,
    to_cents,
)
from optimizer_pipeline.lib.actions.budget_plans import BudgetPlan

ROLLBACK_STEP = -1


class Sender(Protocol):
    """Sets one ad set's daily budget on the platform and returns the budget the platform confirms."""

    mode: str  # "dry_run" or "live"

    def send(self, account_id: str, adset_id: str, new_daily_budget: float) -> float: ...


class DryRunSender:
    """Sends nothing: confirms the requested budget, so the ledger shows what would have been sent."""

    mode = "dry_run"

    def send(self, account_id: str, adset_id: str, new_daily_budget: float) -> float:
        """Confirm ``new_daily_budget`` without calling anyone."""
        return new_daily_budget


class SafeExecutor:
    """Steps due plan steps and rollbacks through the limits; see the module docstring."""

    def __init__(
        self,
        limits: BudgetLimits,
        clock: Callable[[], datetime],
        rng: np.random.Generator,
        sender: Sender,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limits, self.clock, self.rng, self.sender, self.sleep = limits, clock, rng, sender, sleep
        self._calls = 0

    # -- state read from the ledger -------------------------------------------------------------------------------
    @staticmethod
    def current_budget(history: pd.DataFrame, adset_id: str, budgets: Mapping[str, float]) -> float:
        """The ad set's budget: the last applied ledger value, else ``budgets`` (the platform's value)."""
        mine = history[(history["adset_id"] == adset_id) & history["status"].isin(APPLIED_STATUSES)]
        if len(mine):
            return float(mine["after"].iloc[-1])
        if adset_id not in budgets:
            raise BudgetLimitError(f"no current budget known for ad set {adset_id!r}")
        return float(budgets[adset_id])

    def _account_total(
        self, history: pd.DataFrame, account_id: str, accounts: Mapping[str, str], budgets: Mapping[str, float]
    ) -> float:
        known = dict(zip(history["adset_id"], history["account_id"], strict=True)) | dict(accounts)
        return sum(self.current_budget(history, a, budgets) for a, acc in known.items() if acc == account_id)

    # -- public steps ----------------------------------------------------------------------------------------------
    def run(self, ledger: BudgetLedger, plans: Sequence[BudgetPlan], budgets: Mapping[str, float]) -> pd.DataFrame:
        """Move every due target of every ready, not rolled-back plan as far as the limits allow now; return the
        ledger rows written. ``budgets``: current daily budget per ad set (used where the ledger has none)."""
        start = len(ledger.rows())
        self._calls = 0
        history = ledger.rows()
        rolled = set(history.loc[history["step"] == ROLLBACK_STEP, "plan_id"])
        accounts = {a: acc for p in plans for a, acc in p.accounts.items()}
        tasks = []
        for plan in plans:
            if plan.status != "ready" or plan.plan_id in rolled or not plan.steps:
                continue
            due = [s for s in plan.steps if pd.Timestamp(s.not_before) <= pd.Timestamp(self.clock())]
            if not due:
                continue
            step = due[-1]
            for adset, target in step.targets.items():
                if self._step_done(history, plan.plan_id, step.index, adset):
                    continue
                move = target - self.current_budget(history, adset, {**plan.before, **budgets})
                tasks.append((move, plan, step.index, adset, target))
        for _, plan, index, adset, target in sorted(tasks, key=lambda t: (t[0], t[1].plan_id, t[3])):
            self._move(ledger, plan, index, adset, target, accounts, {**plan.before, **budgets}, exact=False)
        return ledger.rows().iloc[start:].reset_index(drop=True)

    def rollback(self, ledger: BudgetLedger, plan: BudgetPlan, budgets: Mapping[str, float]) -> pd.DataFrame:
        """Step the plan's ad sets back to their exact budgets before the plan, through the same limits (call again
        on later runs until :meth:`rolled_back` is True); the plan is not executed further. Returns rows written."""
        start = len(ledger.rows())
        self._calls = 0
        history = ledger.rows()
        known = {**plan.before, **budgets}
        priors = self.priors(history, plan.plan_id)
        if not (history["plan_id"] == plan.plan_id).loc[history["step"] == ROLLBACK_STEP].any():
            ledger.append(
                [
                    self._row(plan, ROLLBACK_STEP, a, now, priors.get(a, now), "planned")
                    | {
                        "part": -1,
                        "idempotency_key": f"{plan.plan_id}/rollback/{a}/requested",
                        "reason": "rollback requested",
                    }
                    for a in sorted(set(plan.before) | set(priors))
                    for now in [self.current_budget(history, a, known)]
                ]
            )
        accounts = {**plan.accounts, **dict(zip(history["adset_id"], history["account_id"], strict=True))}
        for adset, prior in sorted(priors.items()):
            self._move(ledger, plan, ROLLBACK_STEP, adset, prior, accounts, known, exact=True)
        return ledger.rows().iloc[start:].reset_index(drop=True)

    @staticmethod
    def priors(history: pd.DataFrame, plan_id: str) -> dict[str, float]:
        """Ad set → its budget just before the plan's first applied change."""
        mine = history[(history["plan_id"] == plan_id) & (history["status"] == "executed")]
        return {str(a): float(g["before"].iloc[0]) for a, g in mine.groupby("adset_id", sort=True)}

    def rolled_back(self, ledger: BudgetLedger, plan_id: str) -> bool:
        """True when every ad set the plan changed is back at its exact prior budget."""
        history = ledger.rows()
        return all(
            to_cents(self.current_budget(history, a, {})) == to_cents(p)
            for a, p in self.priors(history, plan_id).items()
        )

    # -- one call --------------------------------------------------------------------------------------------------
    @staticmethod
    def _step_done(history: pd.DataFrame, plan_id: str, step: int, adset: str) -> bool:
        mine = history[(history["plan_id"] == plan_id) & (history["step"] == step) & (history["adset_id"] == adset)]
        return bool(((mine["status"] == "executed") & (mine["limit"] == "")).any())

    def _row(
        self, plan: BudgetPlan, step: int, adset: str, before: float, wanted: float, status: str
    ) -> dict[str, Any]:
        history_account = plan.accounts.get(adset, "")
        return {
            "client": plan.client,
            "account_id": history_account,
            "adset_id": adset,
            "at": self.clock(),
            "before": before,
            "after": before,
            "wanted": wanted,
            "status": status,
            "plan_id": plan.plan_id,
            "step": step,
            "part": 0,
            "idempotency_key": "",
            "experiment_id": plan.experiment_id,
            "look_at": plan.look_at,
            "reason": plan.reason if step != ROLLBACK_STEP else f"rollback of {plan.plan_id}",
            "limit": "",
            "explanation": "",
            "confidence": plan.confidence,
            "metrics": plan.metrics,
            "mode": self.sender.mode,
        }

    def _fuzzed(self, value: int, allow: Allowance, current: int) -> int | None:
        """``value`` fuzzed by up to ±fuzz, kept in the allowed range, not round and not ``current``; None if none."""
        fuzzed = round(value * (1 + self.rng.uniform(-self.limits.fuzz, self.limits.fuzz)))
        fuzzed = min(max(fuzzed, allow.low), allow.high)
        for d in (0, *(s * k for k in range(1, 25) for s in (1, -1))):
            c = fuzzed + d
            if allow.low <= c <= allow.high and not is_round(c) and c != current:
                return c
        return None

    def _move(
        self,
        ledger: BudgetLedger,
        plan: BudgetPlan,
        step: int,
        adset: str,
        target: float,
        accounts: Mapping[str, str],
        budgets: Mapping[str, float],
        *,
        exact: bool,
    ) -> None:
        if self._calls:
            low, high = self.limits.jitter_seconds
            self.sleep(float(self.rng.uniform(low, high)))
        at = self.clock()
        history = ledger.rows()
        account = accounts.get(adset, plan.accounts.get(adset, ""))
        current = self.current_budget(history, adset, budgets)
        cur, wanted = to_cents(current), to_cents(target)
        if cur == wanted:
            return
        allow = allowance(
            history,
            account_id=account,
            adset_id=adset,
            current=current,
            account_total=self._account_total(history, account, accounts, budgets),
            at=at,
            limits=self.limits,
        )
        row = self._row(plan, step, adset, current, target, "deferred") | {"account_id": account, "at": at}
        value, limit = allow.clip(wanted)
        if not (exact and value == wanted):
            value = self._fuzzed(value, allow, cur) if not allow.blocked else None
        finishes = value is not None and abs(value - wanted) <= abs(round(self.limits.fuzz * wanted))
        small = value is not None and abs(value - cur) < self.limits.min_step * cur and not finishes
        backwards = value is not None and (value - cur) * (wanted - cur) < 0
        if value is not None and (small or backwards) and not allow.blocked:
            value, limit = None, limit or "min_step"
        if value is None or value == cur:
            limit = allow.blocked or limit or "fuzz"
            ledger.append([row | {"limit": limit, "explanation": explain(current, target, current, limit)}])
            return
        applied = history[
            (history["plan_id"] == plan.plan_id)
            & (history["step"] == step)
            & (history["adset_id"] == adset)
            & history["status"].isin(APPLIED_STATUSES)
        ]
        part = len(applied)
        after = value / 100
        row |= {
            "after": after,
            "part": part,
            "idempotency_key": f"{plan.plan_id}/{'rollback' if step == ROLLBACK_STEP else step}/{adset}/{part}",
            "limit": limit,
            "explanation": explain(current, target, after, limit),
        }
        ledger.append([row | {"status": "planned"}])
        self._calls += 1
        try:
            confirmed = float(self.sender.send(account, adset, after))
        except Exception as exc:  # any sender failure is recorded and retried next run
            ledger.append([row | {"status": "failed", "after": current, "explanation": f"sender failed: {exc}"}])
            return
        done = "rolled_back" if step == ROLLBACK_STEP else "executed"
        ledger.append([row | {"status": done, "after": confirmed}])
