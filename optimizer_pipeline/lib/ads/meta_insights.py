"""Daily ad-level insights of one Meta ad account, through the official ``facebook-business`` SDK, into
canonical ``ad_performance`` rows (the same rules as export files: :func:`...export_files.conform_rows`).

The request is the Ads Insights API's (developers.facebook.com/docs/marketing-api/insights):
``AdAccount('act_<id>').get_insights(fields, params={'level': 'ad', 'time_increment': 1, 'time_range': ...})``,
paged by the SDK's ``Cursor`` (it sends ``paging.cursors.after`` back while ``paging.next`` is present).

* Clicks are ``inline_link_clicks`` (clicks to the ad's destination, Ads Manager's "Link clicks"), not ``clicks``
  (every click, likes and profile taps included): the funnel clicks -> conversions and the CSV exports' "Link clicks"
  / TikTok's "Clicks (destination)" mean link clicks. ``click_field="clicks"`` switches.
* Conversions / revenue are the ``actions`` / ``action_values`` entries of one action type, by default
  ``offsite_conversion.fb_pixel_purchase`` (pixel purchases); ``omni_purchase`` is Ads Manager's "Purchases" across
  web, app and offline. Types are never summed (``purchase`` and ``omni_purchase`` overlap). No entry -> 0
  conversions; conversions without a value entry -> revenue null (value not tracked).
* Retries (backoff with jitter on throttling codes, transient errors, 5xx and connection errors; throttle waits from
  the ``X-Business-Use-Case-Usage`` header), errors that never carry the token, and how the SDK is pointed at a
  server (the session's ``GRAPH`` attribute): :mod:`optimizer_pipeline.lib.ads.graph_calls`, shared with the ad-set
  budget writer. Anything not retried (190 invalid token, 100 invalid parameter, 200 permission ...) raises
  :class:`MetaInsightsError` at once, naming the account, the Graph code and message.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, ClassVar

import pandas as pd
from facebook_business.adobjects.adaccount import AdAccount

from optimizer_pipeline.lib.ads.export_files import conform_rows
from optimizer_pipeline.lib.ads.graph_calls import (
    GRAPH_URL,
    GraphCaller,
    GraphCallError,
    GraphConfig,
    GraphConfigError,
    UseCaseUsage,
    make_api,
    parse_business_use_case_usage,
)

__all__ = [
    "DEFAULT_ACTION_TYPE",
    "GRAPH_URL",
    "MetaInsightsConfig",
    "MetaInsightsConfigError",
    "MetaInsightsError",
    "MetaInsightsResult",
    "UseCaseUsage",
    "fetch_ad_insights",
    "insight_to_raw",
    "insights_fields",
    "make_api",
    "parse_business_use_case_usage",
]

DEFAULT_ACTION_TYPE = "offsite_conversion.fb_pixel_purchase"


class MetaInsightsError(GraphCallError):
    """A Graph API failure that retrying will not fix, or retries exhausted; carries the Graph error fields."""


class MetaInsightsConfigError(GraphConfigError):
    """Invalid Meta Insights settings (account id, dates, field names)."""


@dataclass(frozen=True)
class MetaInsightsConfig(GraphConfig):
    """Settings of one client's Meta Insights source (connection and retries: :class:`GraphConfig`)."""

    config_error: ClassVar[type[ValueError]] = MetaInsightsConfigError

    action_type: str = DEFAULT_ACTION_TYPE
    click_field: str = "inline_link_clicks"
    page_size: int = 500

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.click_field not in ("inline_link_clicks", "clicks"):
            raise MetaInsightsConfigError(f"click_field must be inline_link_clicks or clicks, got {self.click_field!r}")
        if self.page_size < 1:
            raise MetaInsightsConfigError("page_size must be at least 1")


@dataclass(frozen=True)
class MetaInsightsResult:
    """Canonical rows (platform ``meta``), rejected rows, and what the calls cost."""

    rows: pd.DataFrame  # ACCEPTED_COLUMNS of export_files (source_file = "meta:act_<id>", source_line = row order)
    rejected: pd.DataFrame  # REJECTED_COLUMNS; raw = the Graph row as JSON
    usage: list[UseCaseUsage]  # the last X-Business-Use-Case-Usage seen ([] if none)
    requests: int  # HTTP requests made, retries included
    retries: int
    waited_s: float  # total sleep spent on retries


def insights_fields(click_field: str = "inline_link_clicks") -> list[str]:
    """The fields asked of Graph."""
    return [
        "ad_id",
        "ad_name",
        "adset_id",
        "campaign_id",
        "date_start",
        "date_stop",
        "impressions",
        "reach",
        "frequency",
        click_field,
        "spend",
        "actions",
        "action_values",
        "account_currency",
    ]


def _action_value(entries: Any, action_type: str) -> float | None:
    for entry in entries or ():
        if entry.get("action_type") == action_type:
            return float(entry.get("value") or 0)
    return None


def insight_to_raw(row: Mapping[str, Any], action_type: str, click_field: str) -> dict[str, Any]:
    """One Graph insights row as text cells named by canonical fields (input of ``conform_rows``)."""
    conversions = _action_value(row.get("actions"), action_type)
    revenue = _action_value(row.get("action_values"), action_type)
    if revenue is None and not conversions:
        revenue = 0.0
    return {
        "ad_id": row.get("ad_id") or "",
        "ad_name": row.get("ad_name") or "",
        "adset_id": row.get("adset_id") or "",
        "campaign_id": row.get("campaign_id") or "",
        "date": row.get("date_start") or "",
        "date_stop": row.get("date_stop") or "",
        "impressions": row.get("impressions") or "0",
        "reach": row.get("reach") or "",
        "frequency": row.get("frequency") or "",
        "clicks": row.get(click_field) or "0",
        "spend": row.get("spend") or "0",
        "conversions": repr(conversions) if conversions is not None else "0",
        "revenue": "" if revenue is None else repr(revenue),
        "currency": row.get("account_currency") or "",
    }


def fetch_ad_insights(
    config: MetaInsightsConfig,
    since: date,
    until: date,
    *,
    sleep: Callable[[float], None] = time.sleep,
    rng: random.Random | None = None,
) -> MetaInsightsResult:
    """Daily ad-level insights for ``since..until`` (inclusive) as canonical rows; see the module docstring."""
    if until < since:
        raise MetaInsightsConfigError(f"Meta Insights range ends ({until}) before it starts ({since})")
    caller = GraphCaller(
        config,
        sleep,
        rng or random.Random(0),
        subject=f"Meta Insights for {config.account}",
        error_type=MetaInsightsError,
    )
    api = make_api(config)
    account = AdAccount(config.account, api=api)
    params = {
        "level": "ad",
        "time_increment": "1",
        "time_range": {"since": since.isoformat(), "until": until.isoformat()},
        "limit": config.page_size,
    }
    fields = insights_fields(config.click_field)
    cursor = caller.call(lambda: account.get_insights(fields=fields, params=params), "first page")
    caller.note_headers(cursor.headers())
    graph_rows: list[dict[str, Any]] = []
    while True:
        item = caller.call(lambda: next(cursor, None), f"page after row {len(graph_rows)}")
        caller.note_headers(cursor.headers())
        if item is None:
            break
        graph_rows.append(item.export_all_data())
    raw = pd.DataFrame(
        [insight_to_raw(r, config.action_type, config.click_field) for r in graph_rows],
        columns=list(insight_to_raw({}, config.action_type, config.click_field)),
        dtype=object,
    )
    raw["source_line"] = range(1, len(raw) + 1)
    raw["raw"] = [json.dumps(r, sort_keys=True) for r in graph_rows]
    accepted, rejected = conform_rows(raw, source_file=f"meta:{config.account}", platform="meta")
    return MetaInsightsResult(
        accepted, rejected, caller.usage, api.get_num_requests_attempted(), caller.retries, caller.waited_s
    )
