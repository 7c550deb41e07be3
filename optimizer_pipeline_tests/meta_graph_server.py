"""A local fake of the Graph API ad-account insights edge on 127.0.0.1, so tests drive the real ``facebook-business``.

It answers exactly what the SDK (26.x) sends for ``AdAccount(...).get_insights(...)`` and its ``Cursor``:

- ``GET /v{N}.{M}/act_{id}/insights?access_token&fields&level&time_increment&time_range&limit&after&summary``
  -> ``{"data": [...], "paging": {"cursors": {"before", "after"}, "next": url}}``; ``next`` only while rows remain
  (the SDK pages by sending ``after`` back, and stops when ``next`` is absent). Numbers are strings, as Graph sends.
- Every response carries ``X-Business-Use-Case-Usage`` (JSON keyed by the account id: a list of ``{type,
  call_count, total_cputime, total_time, estimated_time_to_regain_access}``); ``call_count`` grows per request.
- Errors use Graph's envelope ``{"error": {"message", "type", "code", "error_subcode", "is_transient",
  "fbtrace_id"}}``: a wrong token gives 190 (HTTP 400), an unknown account 100; :meth:`MetaGraphServer.inject`
  queues errors (rate limits 4/17/613/80000 with a throttled usage header, HTTP 500/503), one per request, from the
  next request or after a number of normal answers.
- Ad sets (``adsets``, keyed by id): ``GET /v{N}.{M}/{adset_id}?fields=...`` answers the asked fields present on
  the object plus ``id`` (``daily_budget`` a string of minor units, ``learning_stage_info`` an object with
  ``status`` LEARNING / SUCCESS / FAIL); an unknown field is error 100. ``POST /v{N}.{M}/{adset_id}`` with the form
  field ``daily_budget`` stores it and answers ``{"success": true}``; below ``min_daily_budget`` (minor units) it
  answers error 100 / subcode 1885272 with Graph's ``error_user_title`` / ``error_user_msg``; ``clamp_daily_budget``
  makes it silently store at most that value (to exercise the read-back check; not a documented Graph behaviour).
  An unknown id is error 100 / subcode 33, as Graph answers.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections import deque
from dataclasses import dataclass
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, urlencode, urlsplit

DEFAULT_TOKEN = "EAAfakeGraphToken0123456789abcdefSECRET"
DEFAULT_ACCOUNT_ID = "1234567890"
USAGE_HEADER = "X-Business-Use-Case-Usage"
_INSIGHTS = re.compile(r"^/v(?P<version>\d+\.\d+)/act_(?P<account>[^/]+)/insights/?$")
_NODE = re.compile(r"^/v(?P<version>\d+\.\d+)/(?P<node>\d+)/?$")
ADSET_FIELDS = frozenset(
    {
        "id",
        "name",
        "account_id",
        "campaign_id",
        "daily_budget",
        "lifetime_budget",
        "budget_remaining",
        "status",
        "effective_status",
        "learning_stage_info",
    }
)


class SeenRequest(NamedTuple):
    """One request as the server saw it (``query`` includes ``access_token``; never log it in test output)."""

    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str] | None = None  # a POST's form fields


@dataclass(frozen=True)
class GraphError:
    """An error the server answers with once (see :meth:`MetaGraphServer.inject`)."""

    http_status: int
    code: int | None
    message: str
    type: str = "OAuthException"
    subcode: int | None = None
    is_transient: bool | None = None
    regain_minutes: int = 0  # estimated_time_to_regain_access in the usage header of this answer
    html: bool = False  # answer with a proxy's HTML page instead of Graph's JSON envelope
    user_title: str | None = None  # error_user_title / error_user_msg: Graph's text meant for the advertiser
    user_msg: str | None = None

    def body(self) -> dict[str, Any]:
        error: dict[str, Any] = {"message": self.message, "type": self.type, "fbtrace_id": "AfakeTraceId00"}
        if self.code is not None:
            error["code"] = self.code
        if self.subcode is not None:
            error["error_subcode"] = self.subcode
        if self.is_transient is not None:
            error["is_transient"] = self.is_transient
        if self.user_title is not None:
            error["error_user_title"] = self.user_title
        if self.user_msg is not None:
            error["error_user_msg"] = self.user_msg
        return {"error": error}


def rate_limit_error(code: int = 17, *, regain_minutes: int = 0) -> GraphError:
    """A throttling answer as Graph sends it (messages from the Marketing API rate-limiting page)."""
    messages = {
        4: "Application request limit reached",
        17: "User request limit reached",
        613: "Calls to this api have exceeded the rate limit.",
        80000: "There have been too many calls from this ad-account. Wait a bit and try again.",
    }
    subcodes = {17: 2446079, 613: 1487742, 4: 1504022}
    return GraphError(
        400,
        code,
        messages.get(code, "Rate limit reached"),
        subcode=subcodes.get(code),
        is_transient=True,
        regain_minutes=regain_minutes,
    )


def server_error(status: int = 500) -> GraphError:
    """An HTTP 5xx with Graph's transient 'unknown error' body."""
    return GraphError(
        status, 2, "An unexpected error has occurred. Please retry your request later.", is_transient=True
    )


def invalid_token_error() -> GraphError:
    """Graph's answer to an expired or malformed token."""
    return GraphError(400, 190, "Invalid OAuth access token - Cannot parse access token", subcode=None)


def permission_error(permission: str = "ads_management") -> GraphError:
    """Graph's answer when the token's user or app lacks a permission on the object (code 200, HTTP 403)."""
    return GraphError(403, 200, f"(#200) Requires {permission} permission to manage the object")


def budget_too_low_error(minimum: str) -> GraphError:
    """Graph's answer to a daily budget below the account's minimum (code 100, subcode 1885272)."""
    return GraphError(
        400,
        100,
        "Invalid parameter",
        subcode=1885272,
        is_transient=False,
        user_title="Your Budget Is Too Low",
        user_msg=f"The minimum budget for this ad set is {minimum}.",
    )


def adset_objects(account_id: str = DEFAULT_ACCOUNT_ID) -> dict[str, dict[str, Any]]:
    """Four Graph-shaped ad sets: learning, learning done, learning failed, and paused without learning info."""
    base = {"account_id": account_id, "campaign_id": "23840000001", "status": "ACTIVE", "effective_status": "ACTIVE"}

    def learning(status: str) -> dict[str, Any]:
        return {
            "status": status,
            "attribution_windows": ["7d_click", "1d_view"],
            "conversions": 12 if status == "LEARNING" else 57,
            "last_sig_edit_ts": 1764460800,
        }

    return {
        "23840000001": {
            **base,
            "id": "23840000001",
            "name": "prospecting",
            "daily_budget": "2500",
            "learning_stage_info": learning("LEARNING"),
        },
        "23840000002": {
            **base,
            "id": "23840000002",
            "name": "retargeting",
            "daily_budget": "10050",
            "learning_stage_info": learning("SUCCESS"),
        },
        "23840000003": {
            **base,
            "id": "23840000003",
            "name": "broad",
            "daily_budget": "799",
            "learning_stage_info": learning("FAIL"),
        },
        "23840000004": {
            **base,
            "id": "23840000004",
            "name": "paused",
            "daily_budget": "1000",
            "status": "PAUSED",
            "effective_status": "PAUSED",
        },
    }


def insights_rows(n_ads: int, days: int, start: date = date(2026, 11, 1), *, currency: str = "EUR") -> list[dict]:
    """Deterministic Graph-shaped daily ad rows (numbers as strings, purchases in ``actions``/``action_values``)."""
    rows = []
    for d in range(days):
        day = (start + timedelta(days=d)).isoformat()
        for a in range(n_ads):
            impressions = 1000 + 137 * a + 59 * d
            reach = impressions * 4 // 5
            link_clicks = 10 + (7 * a + 3 * d) % 40
            purchases = (a + d) % 4
            row: dict[str, Any] = {
                "ad_id": f"2385{a:06d}",
                "ad_name": f"ad {a}",
                "adset_id": f"2384{a // 2:06d}",
                "campaign_id": "23840000001",
                "date_start": day,
                "date_stop": day,
                "impressions": str(impressions),
                "reach": str(reach),
                "frequency": f"{impressions / reach:.6f}",
                "clicks": str(link_clicks + 5),
                "inline_link_clicks": str(link_clicks),
                "spend": f"{5 + 0.37 * a + 0.11 * d:.2f}",
                "account_currency": currency,
                "actions": [
                    {"action_type": "link_click", "value": str(link_clicks)},
                    {"action_type": "offsite_conversion.fb_pixel_purchase", "value": str(purchases)},
                    {"action_type": "omni_purchase", "value": str(purchases + 1)},
                ],
                "action_values": [
                    {"action_type": "offsite_conversion.fb_pixel_purchase", "value": f"{31.5 * purchases:.2f}"},
                    {"action_type": "omni_purchase", "value": f"{31.5 * (purchases + 1):.2f}"},
                ],
            }
            if purchases == 0:  # Graph omits action types with no events
                row["actions"] = row["actions"][:1]
                row["action_values"] = row["action_values"][1:]
            rows.append(row)
    return rows


class MetaGraphServer:
    """Context manager serving the fake insights edge on a random free port of 127.0.0.1."""

    def __init__(
        self,
        rows: list[dict],
        *,
        token: str = DEFAULT_TOKEN,
        account_id: str = DEFAULT_ACCOUNT_ID,
        default_limit: int = 25,
        adsets: dict[str, dict[str, Any]] | None = None,
        min_daily_budget: int = 100,
        clamp_daily_budget: int | None = None,
    ) -> None:
        self.rows = rows
        self.adsets = adsets if adsets is not None else {}
        self.min_daily_budget = min_daily_budget
        self.clamp_daily_budget = clamp_daily_budget
        self.token = token
        self.account_id = account_id
        self.default_limit = default_limit
        self.requests: list[SeenRequest] = []
        self.call_count = 0
        self._errors: deque[GraphError | None] = deque()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL to use as the session's ``GRAPH`` (the SDK appends ``/vN.M/...``)."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def inject(self, *errors: GraphError, after: int = 0) -> None:
        """Answer requests with these errors, in order, once ``after`` more requests have been served normally."""
        with self._lock:
            self._errors.extend([None] * after)
            self._errors.extend(errors)

    def usage(self, regain_minutes: int = 0) -> dict[str, list[dict[str, Any]]]:
        """The usage header value after the current request (percentages grow with ``call_count``)."""
        pct = min(100, 3 * self.call_count)
        entry = {
            "type": "ads_insights",
            "call_count": 100 if regain_minutes else pct,
            "total_cputime": 100 if regain_minutes else pct // 2,
            "total_time": 100 if regain_minutes else pct // 2,
            "estimated_time_to_regain_access": regain_minutes,
            "ads_api_access_tier": "standard_access",
        }
        return {self.account_id: [entry]}

    def __enter__(self) -> MetaGraphServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="meta-graph-server", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def _next_error(self) -> GraphError | None:
        with self._lock:
            self.call_count += 1
            return self._errors.popleft() if self._errors else None

    def _page(self, path: str, query: dict[str, str]) -> dict[str, Any]:
        """One page of rows within ``time_range``, only the asked fields (plus date_start/date_stop, as Graph)."""
        time_range = json.loads(query.get("time_range") or "{}")
        since, until = time_range.get("since", "0000-00-00"), time_range.get("until", "9999-99-99")
        fields = [f for f in (query.get("fields") or "").split(",") if f] or ["date_start", "date_stop"]
        keep = {*fields, "date_start", "date_stop"}
        selected = [r for r in self.rows if since <= r["date_start"] <= until]
        offset = int(base64.b64decode(query["after"]).decode()) if query.get("after") else 0
        limit = int(query.get("limit") or self.default_limit)
        window = selected[offset : offset + limit]
        data = [{k: v for k, v in row.items() if k in keep} for row in window]
        end = offset + len(window)
        paging: dict[str, Any] = {
            "cursors": {
                "before": base64.b64encode(str(offset).encode()).decode(),
                "after": base64.b64encode(str(end).encode()).decode(),
            }
        }
        if end < len(selected):
            next_query = {k: v for k, v in query.items() if k != "after"}
            next_query["after"] = paging["cursors"]["after"]
            paging["next"] = f"{self.url}{path}?{urlencode(next_query)}"
        return {"data": data, "paging": paging}


def _make_handler(server: MetaGraphServer) -> type[BaseHTTPRequestHandler]:
    class Handler(_GraphHandler):
        fake = server

    return Handler


class _GraphHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    fake: MetaGraphServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request stderr lines; ``.requests`` is the log."""

    def do_POST(self) -> None:
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        form = dict(parse_qsl(self.rfile.read(length).decode(), keep_blank_values=True))
        with self.fake._lock:
            self.fake.requests.append(SeenRequest("POST", parts.path, query, form))
        match = _NODE.match(parts.path)
        if match is None:
            self._error(GraphError(400, 100, f"Unknown path components: {parts.path}"))
            return
        if self._refused(query):
            return
        adset = self._adset(match["node"], "post")
        if adset is None:
            return
        if "daily_budget" in form:
            raw = form["daily_budget"]
            if not raw.isdigit():
                self._error(GraphError(400, 100, "(#100) Param daily_budget must be a non-negative integer"))
                return
            value = int(raw)
            if value < self.fake.min_daily_budget:
                minimum = f"{self.fake.min_daily_budget / 100:.2f}"
                self._error(budget_too_low_error(minimum))
                return
            if self.fake.clamp_daily_budget is not None:
                value = min(value, self.fake.clamp_daily_budget)
            with self.fake._lock:
                adset["daily_budget"] = str(value)
        self._json(200, {"success": True})

    def _refused(self, query: dict[str, str]) -> bool:
        """Answer a wrong token or an injected error; True when answered."""
        if query.get("access_token") != self.fake.token:
            self.fake._next_error()
            self._error(invalid_token_error())
            return True
        injected = self.fake._next_error()
        if injected is not None:
            self._error(injected)
            return True
        return False

    def _adset(self, node: str, verb: str) -> dict[str, Any] | None:
        adset = self.fake.adsets.get(node)
        if adset is None:
            message = (
                f"Unsupported {verb} request. Object with ID '{node}' does not exist, cannot be loaded due to missing "
                "permissions, or does not support this operation."
            )
            self._error(GraphError(400, 100, message, type="GraphMethodException", subcode=33))
        return adset

    def _get_node(self, node: str, query: dict[str, str]) -> None:
        if self._refused(query):
            return
        fields = [f for f in (query.get("fields") or "").split(",") if f] or ["id"]
        unknown = [f for f in fields if f not in ADSET_FIELDS]
        if unknown:
            message = f"(#100) Tried accessing nonexisting field ({unknown[0]}) on node type (AdSet)"
            self._error(GraphError(400, 100, message))
            return
        adset = self._adset(node, "get")
        if adset is None:
            return
        with self.fake._lock:
            answer = {k: adset[k] for k in fields if k in adset}
        answer["id"] = node
        self._json(200, answer)

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = dict(parse_qsl(parts.query, keep_blank_values=True))
        with self.fake._lock:
            self.fake.requests.append(SeenRequest("GET", parts.path, query))
        node = _NODE.match(parts.path)
        if node is not None:
            self._get_node(node["node"], query)
            return
        match = _INSIGHTS.match(parts.path)
        if match is None:
            self._error(GraphError(400, 100, f"Unknown path components: {parts.path}"))
            return
        if query.get("access_token") != self.fake.token:
            self.fake._next_error()
            self._error(invalid_token_error())
            return
        injected = self.fake._next_error()
        if injected is not None:
            self._error(injected)
            return
        if match["account"] != self.fake.account_id:
            message = (
                f"Unsupported get request. Object with ID 'act_{match['account']}' does not exist, cannot be loaded "
                "due to missing permissions, or does not support this operation."
            )
            self._error(GraphError(400, 100, message, type="GraphMethodException", subcode=33))
            return
        self._json(200, self.fake._page(parts.path, query))

    def _json(self, status: int, payload: Any, regain_minutes: int = 0) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header(USAGE_HEADER, json.dumps(self.fake.usage(regain_minutes)))
        self.end_headers()
        self.wfile.write(body)

    def _error(self, error: GraphError) -> None:
        if error.html:
            body = f"<html><body><h1>{error.http_status} {error.message}</h1></body></html>".encode()
            self.send_response(error.http_status)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self._json(error.http_status, error.body(), error.regain_minutes)
