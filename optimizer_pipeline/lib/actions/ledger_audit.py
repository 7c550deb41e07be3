"""The SafeExecutor's limits re-checked from the ledger alone: the invariant behind the ``within_limits`` asset check.

The executor enforces the limits before each call; this audit reads only what the ledger says happened (calls per
rolling hour and day per account and ad set, and every pair of applied budgets within 6 h and 24 h), so an auditor
does not have to trust the code that moved the money. Money is compared in integer cents.
"""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd

from optimizer_pipeline.lib.actions.budget_limits import APPLIED_STATUSES, CALL_STATUSES, BudgetLimits, to_cents
from optimizer_pipeline.lib.core.invariants import Verdict


def _seconds(at: pd.Series) -> np.ndarray:
    """UTC instants as seconds since the epoch (exact to the microsecond)."""
    return (pd.to_datetime(at, utc=True) - pd.Timestamp(0, tz="UTC")).dt.total_seconds().to_numpy()


def _rate_problems(calls: pd.DataFrame, key: str, limit: int, window: timedelta, label: str) -> list[str]:
    out = []
    for who, rows in calls.groupby(key):
        t = np.sort(_seconds(rows["at"]))
        inside = np.searchsorted(t, t, side="right") - np.searchsorted(t, t - window.total_seconds(), side="right")
        if (inside > limit).any():
            out.append(f"{key} {who}: {int(inside.max())} calls in a rolling {label} (limit {limit})")
    return out


def _velocity_problems(applied: pd.DataFrame, window: timedelta, cap: float, label: str) -> list[str]:
    out = []
    for adset, rows in applied.groupby("adset_id"):
        rows = rows.sort_values("at", kind="mergesort")
        times = [pd.Timestamp(rows["at"].iloc[0]) - timedelta(microseconds=1), *pd.to_datetime(rows["at"], utc=True)]
        budgets = [to_cents(rows["before"].iloc[0]), *(to_cents(a) for a in rows["after"])]
        for i in range(len(budgets)):
            for j in range(i + 1, len(budgets)):
                if times[j] - times[i] > window:
                    break
                if abs(budgets[j] - budgets[i]) > cap * budgets[i] + 1:
                    out.append(
                        f"ad set {adset}: {budgets[i] / 100:.2f} -> {budgets[j] / 100:.2f} within {label} "
                        f"(cap {cap:.0%})"
                    )
                    break
    return out


def ledger_problems(ledger: pd.DataFrame, limits: BudgetLimits) -> list[str]:
    """Every limit the ledger shows broken (empty when it holds): call rates per account and ad set, 6 h and 24 h
    velocity per ad set, and applied budgets that are not the ones the rows before them left."""
    if ledger.empty:
        return []
    calls = ledger[ledger["status"].isin(CALL_STATUSES)]
    problems: list[str] = []
    for key in ("account_id", "adset_id"):
        problems += _rate_problems(calls, key, limits.changes_per_hour, timedelta(hours=1), "hour")
        problems += _rate_problems(calls, key, limits.changes_per_day, timedelta(hours=24), "24 h")
    applied = ledger[ledger["status"].isin(APPLIED_STATUSES)]
    problems += _velocity_problems(applied, timedelta(hours=6), limits.velocity_6h, "6 h")
    problems += _velocity_problems(applied, timedelta(hours=24), limits.velocity_24h, "24 h")
    return problems


def within_limits(ledger: pd.DataFrame, limits: BudgetLimits) -> Verdict:
    """The verdict of :func:`ledger_problems`, with the counts behind it."""
    problems = ledger_problems(ledger, limits)
    calls = int(ledger["status"].isin(CALL_STATUSES).sum()) if len(ledger) else 0
    if problems:
        return Verdict(False, "; ".join(problems[:5]), {"calls": calls, "problems": len(problems)})
    return Verdict(True, f"{calls} calls in the ledger, every rate and velocity limit held", {"calls": calls})
