"""One home for calling Meta's Graph API through the official ``facebook-business`` SDK: settings, the SDK API
object, retries with backoff, the ``X-Business-Use-Case-Usage`` header, and errors that never carry the token.

* Retries (exponential backoff with "equal jitter", Brooker 2015, AWS Architecture Blog "Exponential Backoff And
  Jitter"): throttling codes 4, 17, 613, 80000-80014 (Business Use Case limits; Marketing API "Rate Limiting":
  17 / subcode 2446079 "User request limit reached", 613 / subcode 1487742 "too many calls from this ad-account"),
  Graph's transient codes 1, 2 or ``is_transient``, HTTP 5xx (also with a non-JSON body, caught by a ``requests``
  response hook on the session's public ``requests`` attribute), and connection errors. A throttled answer's
  ``X-Business-Use-Case-Usage`` ``estimated_time_to_regain_access`` (minutes) is waited out when longer than the
  backoff, up to ``max_wait_s``.
* Anything else (190 invalid token, 10 / 200-299 permission, 100 invalid parameter ...) raises at once, naming the
  object, the Graph code and message; never the token (the SDK's own message lists request parameters and
  ``requests``' messages hold the URL with ``access_token``, so neither is chained).

The SDK is pointed at a server through its public construction: ``FacebookSession(...)`` then the documented
``GRAPH`` attribute ("the graph url", a class attribute the session instance may override), and
``FacebookAdsApi(session, api_version)``; ``FacebookAdsApi.init`` is avoided (it sets a process-wide default API and
enables the SDK's crash reporter, which posts to Meta).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeVar

import requests
from facebook_business.api import FacebookAdsApi
from facebook_business.exceptions import FacebookRequestError
from facebook_business.session import FacebookSession

GRAPH_URL = "https://graph.facebook.com"
USAGE_HEADER = "X-Business-Use-Case-Usage"
THROTTLE_CODES: frozenset[int] = frozenset({4, 17, 613, *range(80000, 80015)})
TRANSIENT_CODES: frozenset[int] = frozenset({1, 2})
PERMISSION_CODES: frozenset[int] = frozenset({10, 190, *range(200, 300)})  # token / permission: never retried
T = TypeVar("T")


class GraphCallError(RuntimeError):
    """A Graph API failure that retrying will not fix, or retries exhausted; carries the Graph error fields."""

    def __init__(
        self, message: str, *, code: int | None = None, subcode: int | None = None, http_status: int | None = None
    ):
        super().__init__(message)
        self.code, self.subcode, self.http_status = code, subcode, http_status


class GraphConfigError(ValueError):
    """Invalid Graph API settings (account id, token, attempts)."""


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
class GraphConfig:
    """Connection and retry settings of one Meta ad account (the token is never shown in ``repr``)."""

    config_error: ClassVar[type[ValueError]] = GraphConfigError

    account_id: str  # "1234567890" or "act_1234567890"
    access_token: str = field(repr=False)
    app_secret: str | None = field(default=None, repr=False)  # adds appsecret_proof when set
    api_version: str | None = None  # None = the SDK's (v26.0 for facebook-business 26.0.x)
    graph_url: str = GRAPH_URL
    timeout_s: float = 60.0
    max_attempts: int = 6
    base_delay_s: float = 2.0
    max_delay_s: float = 120.0
    max_wait_s: float = 900.0  # longest throttle wait honoured; longer -> error (the next run retries)

    def __post_init__(self) -> None:
        digits = self.account_id.removeprefix("act_")
        if not digits.isdigit():
            raise self.config_error(f"Meta ad account id must be digits or act_<digits>, got {self.account_id!r}")
        if not self.access_token:
            raise self.config_error(f"Meta access token for act_{digits} is empty")
        if self.max_attempts < 1:
            raise self.config_error("max_attempts must be at least 1")

    @property
    def account(self) -> str:
        """``act_<digits>``."""
        return "act_" + self.account_id.removeprefix("act_")


def _raise_for_non_graph_error(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """A ``requests`` response hook: a 5xx/429 whose body is not Graph's JSON (a proxy's HTML page) is an error.

    The SDK takes such a body for a successful answer (``FacebookResponse.is_success`` only looks for an ``error``
    key) and then fails parsing it (``FacebookBadObjectError: Bad data to set object data``), which is not retried.
    """
    if response.status_code >= 500 or response.status_code == 429:
        try:
            response.json()
        except ValueError:
            raise requests.HTTPError(f"HTTP {response.status_code} without a Graph JSON body") from None


def make_api(config: GraphConfig) -> FacebookAdsApi:
    """An SDK API object for ``config.graph_url`` (no global default, no crash reporter)."""
    session = FacebookSession(app_secret=config.app_secret, access_token=config.access_token, timeout=config.timeout_s)
    session.GRAPH = config.graph_url.rstrip("/")
    session.requests.hooks["response"].append(_raise_for_non_graph_error)
    return FacebookAdsApi(session, api_version=config.api_version)


def _same_error(code: int | None) -> None:
    return None


class GraphCaller:
    """Runs SDK calls with retries; keeps the last usage header, counts retries and the time slept.

    ``subject`` starts every error message ("Meta Insights for act_1", "Meta ad set 238..."); ``error_type`` is the
    class raised, or ``error_for_code(code)`` when that returns a class (e.g. a permission error).
    """

    def __init__(
        self,
        config: GraphConfig,
        sleep: Callable[[float], None],
        rng: random.Random,
        *,
        subject: str,
        error_type: type[GraphCallError] = GraphCallError,
        error_for_code: Callable[[int | None], type[GraphCallError] | None] = _same_error,
    ):
        self.config, self.sleep, self.rng = config, sleep, rng
        self.subject, self.error_type, self.error_for_code = subject, error_type, error_for_code
        self.usage: list[UseCaseUsage] = []
        self.retries = 0
        self.waited_s = 0.0

    def note_headers(self, headers: Mapping[str, str] | None) -> None:
        """Keep the usage header of an answer, if it has one."""
        parsed = parse_business_use_case_usage((headers or {}).get(USAGE_HEADER))
        if parsed:
            self.usage = parsed

    def _fail(self, exc: FacebookRequestError, what: str) -> GraphCallError:
        code, subcode, status = exc.api_error_code(), exc.api_error_subcode(), exc.http_status()
        message = exc.api_error_message() or f"HTTP {status} without a Graph error message"
        kind = exc.api_error_type() or "error"
        sub = f", subcode {subcode}" if subcode is not None else ""
        body = exc.body() if isinstance(exc.body(), dict) else {}
        error = body.get("error") if isinstance(body.get("error"), dict) else {}
        user = " - ".join(str(error[k]) for k in ("error_user_title", "error_user_msg") if error.get(k))
        message = f"{message} ({user})" if user else message
        text = f"{self.subject} failed ({what}): Graph {kind} code {code}{sub}, HTTP {status}: {message}"
        cls = self.error_for_code(code) or self.error_type
        return cls(text, code=code, subcode=subcode, http_status=status)

    def _delay(self, attempt: int, throttle_minutes: float) -> float:
        backoff = min(self.config.max_delay_s, self.config.base_delay_s * 2**attempt)
        return max(backoff * (0.5 + 0.5 * self.rng.random()), 60.0 * throttle_minutes)

    def call(self, fn: Callable[[], T], what: str) -> T:
        """``fn()`` with retries. Errors are raised outside ``except`` blocks so they chain nothing: the SDK's and
        requests' messages carry request URLs and parameters (requests' include ``access_token``)."""
        last = self.error_type(f"{self.subject} failed ({what})")
        for attempt in range(self.config.max_attempts):
            retryable, minutes = True, 0.0
            try:
                return fn()
            except FacebookRequestError as exc:
                self.note_headers(exc.http_headers())
                code, status = exc.api_error_code(), exc.http_status() or 0
                if code in PERMISSION_CODES:
                    retryable = False
                else:
                    retryable = code in THROTTLE_CODES or code in TRANSIENT_CODES or status >= 500
                    retryable = retryable or bool(exc.api_transient_error())
                last = self._fail(exc, what)
                if code in THROTTLE_CODES:
                    minutes = max((u.estimated_time_to_regain_access for u in self.usage), default=0.0)
            except (requests.ConnectionError, requests.Timeout, requests.HTTPError) as exc:
                detail = str(exc) if isinstance(exc, requests.HTTPError) else type(exc).__name__  # HTTPError: ours
                last = self.error_type(f"{self.subject} failed ({what}): {detail}")
            if not retryable:
                raise last
            if attempt + 1 == self.config.max_attempts:
                break
            delay = self._delay(attempt, minutes)
            if delay > self.config.max_wait_s:
                raise type(last)(
                    f"{last}; throttled for {minutes:g} min, longer than max_wait_s",
                    code=last.code,
                    subcode=last.subcode,
                    http_status=last.http_status,
                )
            self.retries += 1
            self.waited_s += delay
            self.sleep(delay)
        raise type(last)(
            f"{last} (gave up after {self.config.max_attempts} attempts)",
            code=last.code,
            subcode=last.subcode,
            http_status=last.http_status,
        )
