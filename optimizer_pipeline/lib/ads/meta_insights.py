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
* Retries (exponential backoff with "equal jitter", Brooker 2015, AWS Architecture Blog "Exponential Backoff And
  Jitter"): throttling codes 4, 17, 613, 80000-80014 (Business Use Case limits), Graph's transient codes 1, 2 or
  ``is_transient``, HTTP 5xx (also with a non-JSON body, caught by a ``requests`` response hook on the session's
  public ``requests`` attribute), and connection errors. A throttled answer's ``X-Business-Use-Case-Usage``
  ``estimated_time_to_regain_access`` (minutes) is waited out when longer than the backoff, up to ``max_wait_s``.
* Anything else (190 invalid token, 100 invalid parameter, 200 permission ...) raises :class:`MetaInsightsError` at
  once, naming the account, the Graph code and message; never the token (the SDK's own message lists request
  parameters, so it is not chained).

The SDK is pointed at a server through its public construction: ``FacebookSession(...)`` then the documented
``GRAPH`` attribute ("the graph url", a class attribute the session instance may override), and
``FacebookAdsApi(session, api_version)``; ``FacebookAdsApi.init`` is avoided (it sets a process-wide default API and
enables the SDK's crash reporter, which posts to Meta).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any, TypeVar

import pandas as pd
import requests
from facebook_business.adobjects.adaccount import AdAccount
from facebook_business.api import FacebookAdsApi
from facebook_business.exceptions import FacebookRequestError
from facebook_business.session import FacebookSession

from optimizer_pipeline.lib.ads.export_files import conform_rows

GRAPH_URL = "https://graph.facebook.com"
USAGE_HEADER = "X-Business-Use-Case-Usage"
DEFAULT_ACTION_TYPE = "offsite_conversion.fb_pixel_purchase"
THROTTLE_CODES: frozenset[int] = frozenset({4, 17, 613, *range(80000, 80015)})
TRANSIENT_CODES: frozenset[int] = frozenset({1, 2})
T = TypeVar("T")


class MetaInsightsError(RuntimeError):
    """A Graph API failure that retrying will not fix, or retries exhausted; carries the Graph error fields."""

    def __init__(
        self, message: str, *, code: int | None = None, subcode: int | None = None, http_status: int | None = None
    ):
        super().__init__(message)
        self.code, self.subcode, self.http_status = code, subcode, http_status


class MetaInsightsConfigError(ValueError):
    """Invalid Meta Insights settings (account id, dates, field names)."""


@dataclass(frozen=True)
class UseCaseUsage:
    """One entry of ``X-Business-Use-Case-Usage``: percentages of the quota used, minutes until access returns."""

    business_id: str
    type: str
    call_count: float
    total_cputime: float
    total_time: float
    estimated_time_to_regain_access: float  # minutes


def parse_business_use_case_usage(value: str | None) -> list[UseCaseUsage]:
    """Entries of the header value (JSON ``{business_id: [{type, call_count, ...}]}``); [] when absent/garbled."""
    if not value:
        return []
    try:
        parsed = json.loads(value)
    except ValueError:
        return []
    out = []
    for business_id, entries in parsed.items() if isinstance(parsed, dict) else ():
        for e in entries if isinstance(entries, list) else ():
            if isinstance(e, dict):
                out.append(
                    UseCaseUsage(
                        str(business_id),
                        str(e.get("type", "")),
                        float(e.get("call_count") or 0),
                        float(e.get("total_cputime") or 0),
                        float(e.get("total_time") or 0),
                        float(e.get("estimated_time_to_regain_access") or 0),
                    )
                )
    return out


@dataclass(frozen=True)
class MetaInsightsConfig:
    """Settings of one client's Meta source (the token is never shown in ``repr``)."""

    account_id: str  # "1234567890" or "act_1234567890"
    access_token: str = field(repr=False)
    app_secret: str | None = field(default=None, repr=False)  # adds appsecret_proof when set
    api_version: str | None = None  # None = the SDK's (v26.0 for facebook-business 26.0.x)
    graph_url: str = GRAPH_URL
    action_type: str = DEFAULT_ACTION_TYPE
    click_field: str = "inline_link_clicks"
    page_size: int = 500
    timeout_s: float = 60.0
    max_attempts: int = 6
    base_delay_s: float = 2.0
    max_delay_s: float = 120.0
    max_wait_s: float = 900.0  # longest throttle wait honoured; longer -> MetaInsightsError (the next run retries)

    def __post_init__(self) -> None:
        digits = self.account_id.removeprefix("act_")
        if not digits.isdigit():
            raise MetaInsightsConfigError(f"Meta ad account id must be digits or act_<digits>, got {self.account_id!r}")
        if self.click_field not in ("inline_link_clicks", "clicks"):
            raise MetaInsightsConfigError(f"click_field must be inline_link_clicks or clicks, got {self.click_field!r}")
        if not self.access_token:
            raise MetaInsightsConfigError(f"Meta access token for act_{digits} is empty")
        if self.page_size < 1 or self.max_attempts < 1:
            raise MetaInsightsConfigError("page_size and max_attempts must be at least 1")

    @property
    def account(self) -> str:
        """``act_<digits>``."""
        return "act_" + self.account_id.removeprefix("act_")


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


def _raise_for_non_graph_error(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """A ``requests`` response hook: a 5xx/429 whose body is not Graph's JSON (a proxy's HTML page) is an error.

    The SDK takes such a body for a successful page (``FacebookResponse.is_success`` only looks for an ``error``
    key) and then fails parsing it (``FacebookBadObjectError: Bad data to set object data``), which is not retried.
    """
    if response.status_code >= 500 or response.status_code == 429:
        try:
            response.json()
        except ValueError:
            raise requests.HTTPError(f"HTTP {response.status_code} without a Graph JSON body") from None


def make_api(config: MetaInsightsConfig) -> FacebookAdsApi:
    """An SDK API object for ``config.graph_url`` (no global default, no crash reporter)."""
    session = FacebookSession(app_secret=config.app_secret, access_token=config.access_token, timeout=config.timeout_s)
    session.GRAPH = config.graph_url.rstrip("/")
    session.requests.hooks["response"].append(_raise_for_non_graph_error)
    return FacebookAdsApi(session, api_version=config.api_version)


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


class _Caller:
    """Runs SDK calls with retries; keeps the last usage header and counts requests."""

    def __init__(self, config: MetaInsightsConfig, sleep: Callable[[float], None], rng: random.Random):
        self.config, self.sleep, self.rng = config, sleep, rng
        self.usage: list[UseCaseUsage] = []
        self.retries = 0
        self.waited_s = 0.0

    def note_headers(self, headers: Mapping[str, str] | None) -> None:
        parsed = parse_business_use_case_usage((headers or {}).get(USAGE_HEADER))
        if parsed:
            self.usage = parsed

    def _fail(self, exc: FacebookRequestError, what: str) -> MetaInsightsError:
        code, subcode, status = exc.api_error_code(), exc.api_error_subcode(), exc.http_status()
        message = exc.api_error_message() or f"HTTP {status} without a Graph error message"
        kind = exc.api_error_type() or "error"
        sub = f", subcode {subcode}" if subcode is not None else ""
        text = (
            f"Meta Insights for {self.config.account} failed ({what}): "
            f"Graph {kind} code {code}{sub}, HTTP {status}: {message}"
        )
        return MetaInsightsError(text, code=code, subcode=subcode, http_status=status)

    def _delay(self, attempt: int, throttle_minutes: float) -> float:
        backoff = min(self.config.max_delay_s, self.config.base_delay_s * 2**attempt)
        return max(backoff * (0.5 + 0.5 * self.rng.random()), 60.0 * throttle_minutes)

    def call(self, fn: Callable[[], T], what: str) -> T:
        """``fn()`` with retries. Errors are raised outside ``except`` blocks so they chain nothing: the SDK's and
        requests' messages carry request URLs and parameters (requests' include ``access_token``)."""
        last = MetaInsightsError(f"Meta Insights for {self.config.account} failed ({what})")
        for attempt in range(self.config.max_attempts):
            retryable, minutes = True, 0.0
            try:
                return fn()
            except FacebookRequestError as exc:
                self.note_headers(exc.http_headers())
                code, status = exc.api_error_code(), exc.http_status() or 0
                retryable = code in THROTTLE_CODES or code in TRANSIENT_CODES or status >= 500
                retryable = retryable or bool(exc.api_transient_error())
                last = self._fail(exc, what)
                if code in THROTTLE_CODES:
                    minutes = max((u.estimated_time_to_regain_access for u in self.usage), default=0.0)
            except (requests.ConnectionError, requests.Timeout, requests.HTTPError) as exc:
                detail = str(exc) if isinstance(exc, requests.HTTPError) else type(exc).__name__  # HTTPError: ours
                last = MetaInsightsError(f"Meta Insights for {self.config.account} failed ({what}): {detail}")
            if not retryable:
                raise last
            if attempt + 1 == self.config.max_attempts:
                break
            delay = self._delay(attempt, minutes)
            if delay > self.config.max_wait_s:
                raise MetaInsightsError(f"{last}; throttled for {minutes:g} min, longer than max_wait_s")
            self.retries += 1
            self.waited_s += delay
            self.sleep(delay)
        raise MetaInsightsError(f"{last} (gave up after {self.config.max_attempts} attempts)")


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
    caller = _Caller(config, sleep, rng or random.Random(0))
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
