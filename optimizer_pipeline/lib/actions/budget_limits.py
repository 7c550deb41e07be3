"""The limits every budget change passes, and the pure checks that say how far one ad set may move now.

Why: an ad account that changes budgets too often, too far or in machine-like amounts resets Meta's learning phase
and looks automated; a daily spend ceiling protects the client from a runaway plan. The limits are checked against
the ledger of executed changes (:mod:`budget_ledger`), so anyone can re-check them afterwards from the same rows.

Definitions (the property tests check exactly these on the ledger):

* rate: at most ``changes_per_hour`` calls in any rolling hour and ``changes_per_day`` in any rolling 24 h, counted
  per account and per ad set (executed, rolled back and failed calls all count: each was a call to Meta);
* velocity: for any two instants ``s < u`` with ``u - s <= 6 h`` an ad set's budget satisfies
  ``|b(u) - b(s)| <= 0.20 * b(s)`` (and ``0.50`` over 24 h). A new value is therefore allowed when it lies within
  the cap of *every* budget the ad set had in the window, i.e. in ``[max(1 - c) b, min(1 + c) b]``; the current
  budget always lies in it, so "no move" is always possible and a larger step is split over time;
* ceiling: the sum of an account's daily budgets after an increase stays at or below its daily ceiling;
* round: an amount whose cents are a multiple of 25 (whole units, halves, quarters: 50.00, 12.50, 7.25) looks
  hand-set; fuzzed amounts are never round.

Amounts are handled in cents (integers) so rounding can never push a value past a cap: lower bounds round up,
upper bounds round down.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import pandas as pd

#: Ledger statuses that are calls sent to the platform (count towards the rate limits).
CALL_STATUSES: tuple[str, ...] = ("executed", "rolled_back", "failed")
#: Ledger statuses whose ``after`` is the ad set's budget from ``at`` on.
APPLIED_STATUSES: tuple[str, ...] = ("executed", "rolled_back")
#: Limit name → the words used in explanations.
LIMIT_WORDS: dict[str, str] = {
    "": "no limit",
    "min_step": "the smallest worthwhile move (the caps leave less now)",
    "rate_hour_account": "the 15-changes-per-hour limit of the account",
    "rate_hour_adset": "the 15-changes-per-hour limit of the ad set",
    "rate_day_account": "the 100-changes-per-day limit of the account",
    "rate_day_adset": "the 100-changes-per-day limit of the ad set",
    "velocity_6h": "the 6 h velocity cap",
    "velocity_24h": "the 24 h velocity cap",
    "ceiling": "the account's daily spend ceiling",
    "fuzz": "the non-round rule (no fuzzed, non-round amount fits the limits now)",
}
ROUND_CENTS = 25


class BudgetLimitError(ValueError):
    """Limits or a proposed change that cannot be checked (the message names the field)."""


@dataclass(frozen=True)
class BudgetLimits:
    """The SafeExecutor's limits; defaults from issue 14."""

    changes_per_hour: int = 15
    changes_per_day: int = 100
    velocity_6h: float = 0.20
    velocity_24h: float = 0.50
    fuzz: float = 0.03
    jitter_seconds: tuple[float, float] = (3.0, 18.0)
    daily_ceiling: float = math.inf  # per account, in currency units; overridden by account_ceilings
    account_ceilings: Mapping[str, float] = field(default_factory=dict)
    #: A move of less than this share of the budget that does not finish its step is deferred, not sent: a call that
    #: changes (almost) nothing, or moves away from the target because the caps leave only fuzz, spends a change.
    min_step: float = 0.01

    def __post_init__(self) -> None:
        for name in ("changes_per_hour", "changes_per_day"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise BudgetLimitError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        for name in ("velocity_6h", "velocity_24h"):
            if not 0 < getattr(self, name) < 1:
                raise BudgetLimitError(f"{name} must be in (0, 1), got {getattr(self, name)!r}")
        if not 0 <= self.min_step < self.velocity_6h:
            raise BudgetLimitError(f"min_step must be in [0, velocity_6h), got {self.min_step!r}")
        if not 0 <= self.fuzz < self.velocity_6h:
            raise BudgetLimitError(f"fuzz must be in [0, velocity_6h), got {self.fuzz!r}")
        low, high = self.jitter_seconds
        if not 0 <= low <= high:
            raise BudgetLimitError(
                f"jitter_seconds must be (low, high) with 0 <= low <= high, got {self.jitter_seconds}"
            )
        for account, value in {"<default>": self.daily_ceiling, **self.account_ceilings}.items():
            if not value > 0:
                raise BudgetLimitError(f"daily ceiling of account {account!r} must be > 0, got {value!r}")

    def ceiling(self, account_id: str) -> float:
        """The daily spend ceiling of one account."""
        return float(self.account_ceilings.get(account_id, self.daily_ceiling))


@dataclass(frozen=True)
class Allowance:
    """The values an ad set's budget may take now: ``[low, high]`` in cents and which limit set each end."""

    low: int
    high: int
    low_limit: str
    high_limit: str
    blocked: str = ""  # a rate limit that forbids any call now

    def clip(self, wanted: int) -> tuple[int, str]:
        """The allowed value closest to ``wanted`` and the limit that bound it ("" when none did)."""
        if wanted > self.high:
            return self.high, self.high_limit
        if wanted < self.low:
            return self.low, self.low_limit
        return wanted, ""


def to_cents(amount: float) -> int:
    """Currency units → integer cents."""
    return round(float(amount) * 100)


def is_round(cents: int) -> bool:
    """True when an amount looks hand-set: its cents are a multiple of 25 (x.00, x.25, x.50, x.75)."""
    return cents % ROUND_CENTS == 0


def _ensure_utc(at: datetime) -> pd.Timestamp:
    if at.tzinfo is None:
        raise BudgetLimitError(f"time must be timezone-aware, got {at!r}")
    return pd.Timestamp(at).tz_convert("UTC")


def rate_block(history: pd.DataFrame, account_id: str, adset_id: str, at: datetime, limits: BudgetLimits) -> str:
    """The rate limit that forbids one more call at ``at`` for this account and ad set, or "" when none does."""
    now = _ensure_utc(at)
    calls = history[history["status"].isin(CALL_STATUSES)]
    times = pd.to_datetime(calls["at"], utc=True)
    for span, cap, name in (
        (timedelta(hours=1), limits.changes_per_hour, "rate_hour"),
        (timedelta(hours=24), limits.changes_per_day, "rate_day"),
    ):
        recent = (times > now - span) & (times <= now)
        if int((recent & (calls["account_id"] == account_id)).sum()) >= cap:
            return f"{name}_account"
        if int((recent & (calls["adset_id"] == adset_id)).sum()) >= cap:
            return f"{name}_adset"
    return ""


def velocity_allowance(
    history: pd.DataFrame, adset_id: str, current: float, at: datetime, limits: BudgetLimits
) -> Allowance:
    """The range the velocity caps allow for one ad set at ``at``: within each cap of every budget it had in the
    window (the budget in effect at the window's start, every value set inside it, and ``current``)."""
    now = _ensure_utc(at)
    applied = history[(history["adset_id"] == adset_id) & history["status"].isin(APPLIED_STATUSES)]
    times = pd.to_datetime(applied["at"], utc=True)
    cur = to_cents(current)
    low, high, low_limit, high_limit = -math.inf, math.inf, "", ""
    for hours, cap in ((6, limits.velocity_6h), (24, limits.velocity_24h)):
        start = now - timedelta(hours=hours)
        inside = applied[(times >= start) & (times <= now)]
        values = [cur, *map(to_cents, inside["before"]), *map(to_cents, inside["after"])]
        earlier = applied[times < start]
        if len(earlier):  # the budget in effect at the window's start: the latest earlier row, ledger order on ties
            last = pd.to_datetime(earlier["at"], utc=True).reset_index(drop=True).sort_values(kind="mergesort")
            values.append(to_cents(earlier["after"].iloc[int(last.index[-1])]))
        lo = max(math.ceil((1 - cap) * v - 1e-6) for v in values)
        hi = min(math.floor((1 + cap) * v + 1e-6) for v in values)
        name = f"velocity_{hours}h"
        if lo > low:
            low, low_limit = lo, name
        if hi < high:
            high, high_limit = hi, name
    return Allowance(int(low), int(high), low_limit, high_limit)


def allowance(
    history: pd.DataFrame,
    *,
    account_id: str,
    adset_id: str,
    current: float,
    account_total: float,
    at: datetime,
    limits: BudgetLimits,
) -> Allowance:
    """Everything an ad set may do at ``at``: blocked by a rate limit, or the velocity range with increases capped
    by the account ceiling (``account_total``: the account's current sum of daily budgets, ``current`` included)."""
    if current <= 0:
        raise BudgetLimitError(f"current budget of ad set {adset_id!r} must be > 0, got {current!r}")
    cur = to_cents(current)
    blocked = rate_block(history, account_id, adset_id, at, limits)
    if blocked:
        return Allowance(cur, cur, blocked, blocked, blocked)
    vel = velocity_allowance(history, adset_id, current, at, limits)
    low, high, low_limit, high_limit = vel.low, vel.high, vel.low_limit, vel.high_limit
    ceiling = limits.ceiling(account_id)
    if math.isfinite(ceiling):
        top = cur + max(0, math.floor((ceiling - account_total) * 100 + 1e-6))
        if top < high:
            high, high_limit = top, "ceiling"
    if low > high:  # an outside change left the ad set beyond its caps: stay put until the window passes
        return Allowance(cur, cur, low_limit, high_limit)
    return Allowance(low, high, low_limit, high_limit)


def explain(before: float, wanted: float, got: float, limit: str) -> str:
    """Plain words for one move: 'wanted +40.0 %, limited to +20.0 % by the 6 h velocity cap'."""
    if before <= 0:
        return ""
    want, move = 100 * (wanted / before - 1), 100 * (got / before - 1)
    if not limit:
        return f"wanted {want:+.1f} %, moved {move:+.1f} % (fuzzed), within every limit"
    if limit.startswith("rate") or limit == "fuzz":
        return f"wanted {want:+.1f} %, deferred by {LIMIT_WORDS[limit]}"
    return f"wanted {want:+.1f} %, limited to {move:+.1f} % by {LIMIT_WORDS[limit]}"
