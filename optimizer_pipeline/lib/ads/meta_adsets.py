"""Meta ad sets as the SafeExecutor needs them: read the budget and learning phase, and change ``daily_budget``,
through the official ``facebook-business`` SDK (``AdSet(id).api_get`` / ``api_update``).

* Money: Graph reads and writes ``daily_budget`` in the account currency's minor units as an integer ("2500" is
  25.00 EUR). Marketing API "Currencies": amounts are multiplied by the currency's offset, 100 for most currencies
  and 1 for those without a minor unit (JPY, KRW ...). ``MetaAdSetsConfig.currency_offset`` holds it; this module
  speaks major units (25.0) and converts at the edge, rounding half-even to a whole minor unit.
* Learning phase: ``learning_stage_info.status`` (Marketing API reference "Ad Campaign Learning Stage Info":
  LEARNING, SUCCESS, FAIL; FAIL is Ads Manager's "Learning limited"). It is only returned for active ad sets, not
  for dynamic-creative ones, and not for every account; absent -> ``learning_status`` None and ``in_learning`` False
  (the caller decides how strict to be).
* Writes are off unless ``allow_writes=True`` (live mode is an explicit setting, the default is a dry run upstream
  as well). A write is ``POST /{adset_id}`` with ``daily_budget``, then a read-back: the returned budget is the one
  Graph holds, and anything else than what was asked raises :class:`MetaBudgetNotConfirmedError`. Setting a budget
  to a value is idempotent, so a retried POST (after a 5xx or a throttle) cannot double a change.
* Retries and errors: :mod:`optimizer_pipeline.lib.ads.graph_calls` (throttling codes 4, 17, 613, 80000-80014 with
  the ``X-Business-Use-Case-Usage`` wait, 5xx, connection errors). Permission / token errors (10, 190, 200-299)
  raise :class:`MetaAdSetPermissionError` at once; Graph refusing the budget itself (code 100, e.g. subcode 1885272
  "Your Budget Is Too Low") raises :class:`MetaBudgetRejectedError`. Messages name the ad set, never the token.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any, ClassVar

from facebook_business.adobjects.adset import AdSet
from facebook_business.api import FacebookAdsApi

from optimizer_pipeline.lib.ads.graph_calls import (
    PERMISSION_CODES,
    GraphCaller,
    GraphCallError,
    GraphConfig,
    GraphConfigError,
    make_api,
)

ADSET_FIELDS: tuple[str, ...] = (
    "id",
    "name",
    "account_id",
    "daily_budget",
    "effective_status",
    "learning_stage_info",
)
LEARNING_STATUSES: frozenset[str] = frozenset({"LEARNING", "SUCCESS", "FAIL"})


class MetaAdSetError(GraphCallError):
    """A Graph failure reading or changing an ad set that retrying will not fix (or retries exhausted)."""


class MetaAdSetPermissionError(MetaAdSetError):
    """The token may not read or change this ad set (Graph codes 10, 190, 200-299)."""


class MetaBudgetRejectedError(MetaAdSetError):
    """Graph refused the new budget (code 100: below the minimum, above the maximum, not allowed here)."""


class MetaBudgetNotConfirmedError(MetaAdSetError):
    """Graph accepted the write but the ad set reads back another budget."""

    def __init__(self, message: str, *, confirmed: float | None) -> None:
        super().__init__(message)
        self.confirmed = confirmed


class MetaWritesDisabledError(RuntimeError):
    """A budget write was asked of a configuration without ``allow_writes=True``."""


class MetaAdSetInputError(GraphConfigError):
    """Invalid ad set id, budget or settings."""


@dataclass(frozen=True)
class MetaAdSetsConfig(GraphConfig):
    """Settings of one Meta ad account's ad sets (connection and retries: :class:`GraphConfig`)."""

    config_error: ClassVar[type[ValueError]] = MetaAdSetInputError

    currency_offset: int = 100  # minor units per major unit (Marketing API "Currencies"); 1 for JPY, KRW ...
    allow_writes: bool = False  # live mode: budget writes reach Meta only when True

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.currency_offset not in (1, 100):
            raise MetaAdSetInputError(f"currency_offset must be 100 or 1 (Meta's offsets), got {self.currency_offset}")


@dataclass(frozen=True)
class AdSetState:
    """One ad set as read from Graph; money in the account currency's major units."""

    id: str
    name: str
    account_id: str
    daily_budget: float | None  # None: no ad-set daily budget (lifetime budget or campaign budget)
    effective_status: str
    learning_status: str | None  # LEARNING / SUCCESS / FAIL; None when Graph gives no learning_stage_info
    in_learning: bool


def to_minor_units(amount: float, offset: int) -> int:
    """``amount`` (major units) as Graph's integer minor units, rounded half-even."""
    return int((Decimal(str(amount)) * offset).quantize(Decimal(1), rounding=ROUND_HALF_EVEN))


def from_minor_units(value: Any, offset: int) -> float | None:
    """Graph's minor-unit string ("2500") as major units (25.0); None when absent or empty."""
    if value is None or value == "":
        return None
    return float(Decimal(str(value)) / offset)


def _check_id(adset_id: str) -> str:
    if not isinstance(adset_id, str) or not adset_id.isdigit():
        raise MetaAdSetInputError(f"Meta ad set id must be a string of digits, got {adset_id!r}")
    return adset_id


def _permission_or_none(code: int | None) -> type[GraphCallError] | None:
    return MetaAdSetPermissionError if code in PERMISSION_CODES else None


def _rejected_or_permission(code: int | None) -> type[GraphCallError] | None:
    return MetaBudgetRejectedError if code == 100 else _permission_or_none(code)


def _caller(
    config: MetaAdSetsConfig,
    adset_id: str,
    sleep: Callable[[float], None],
    rng: random.Random,
    *,
    doing: str = "",
    error_for_code: Callable[[int | None], type[GraphCallError] | None] = _permission_or_none,
) -> GraphCaller:
    subject = f"Meta ad set {adset_id} ({config.account}){doing}"
    return GraphCaller(config, sleep, rng, subject=subject, error_type=MetaAdSetError, error_for_code=error_for_code)


def adset_state(data: dict[str, Any], offset: int) -> AdSetState:
    """An :class:`AdSetState` from Graph's ad set fields."""
    info = data.get("learning_stage_info")
    status = info.get("status") if isinstance(info, dict) else None
    return AdSetState(
        id=str(data.get("id") or ""),
        name=str(data.get("name") or ""),
        account_id=str(data.get("account_id") or ""),
        daily_budget=from_minor_units(data.get("daily_budget"), offset),
        effective_status=str(data.get("effective_status") or ""),
        learning_status=str(status) if status else None,
        in_learning=status == "LEARNING",
    )


def _read(api: FacebookAdsApi, caller: GraphCaller, adset_id: str, fields: Sequence[str], what: str) -> dict[str, Any]:
    obj = caller.call(lambda: AdSet(adset_id, api=api).api_get(fields=list(fields)), what)
    return obj.export_all_data()


def read_adsets(
    config: MetaAdSetsConfig,
    adset_ids: Sequence[str],
    *,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> list[AdSetState]:
    """Each ad set's name, account, daily budget (major units), delivery status and learning phase, in order."""
    ids = [_check_id(a) for a in adset_ids]
    api = make_api(config)
    rng = rng or random.Random(0)
    out = []
    for adset_id in ids:
        caller = _caller(config, adset_id, sleep, rng)
        out.append(adset_state(_read(api, caller, adset_id, ADSET_FIELDS, "read"), config.currency_offset))
    return out


def update_daily_budget(
    config: MetaAdSetsConfig,
    adset_id: str,
    new_budget: float,
    *,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> float:
    """Set the ad set's ``daily_budget`` to ``new_budget`` (major units), read it back, return the confirmed value."""
    _check_id(adset_id)
    if isinstance(new_budget, bool) or not isinstance(new_budget, (int, float)) or not math.isfinite(new_budget):
        raise MetaAdSetInputError(f"new daily budget of ad set {adset_id} must be a finite number, got {new_budget!r}")
    minor = to_minor_units(new_budget, config.currency_offset)
    if minor <= 0:
        raise MetaAdSetInputError(
            f"new daily budget of ad set {adset_id} must be at least one minor unit, got {new_budget!r}"
        )
    if not config.allow_writes:
        raise MetaWritesDisabledError(
            f"refusing to change the budget of Meta ad set {adset_id}: writes are off (set allow_writes=True for "
            "live mode)"
        )
    api = make_api(config)
    rng = rng or random.Random(0)
    shown = f"{minor / config.currency_offset:.{2 if config.currency_offset == 100 else 0}f}"
    doing = f" daily_budget -> {shown} ({minor} minor units)"
    writer = _caller(config, adset_id, sleep, rng, doing=doing, error_for_code=_rejected_or_permission)
    writer.call(lambda: AdSet(adset_id, api=api).api_update(params={"daily_budget": minor}), "update")
    reader = _caller(config, adset_id, sleep, rng)
    data = _read(api, reader, adset_id, ("id", "daily_budget"), "read back after update")
    raw = data.get("daily_budget")
    if raw is None or str(raw) != str(minor):
        raise MetaBudgetNotConfirmedError(
            f"Meta ad set {adset_id} ({config.account}): asked daily_budget {shown} ({minor} minor units), Graph "
            f"accepted the write but reads back {raw!r} minor units",
            confirmed=from_minor_units(raw, config.currency_offset) if str(raw).isdigit() else None,
        )
    return minor / config.currency_offset
