"""A local fake of the Apify API v2 on 127.0.0.1, so tests drive the real ``apify-client`` over real HTTP.

It answers exactly what the client sends (checked against apify-client 3.4 source and by running it).
Client 3.x says ``/v2/actors/...`` where the API docs say ``/v2/acts/...``; both are accepted, as by the API.

- ``POST /v2/actors/{actor~id}/runs`` -> 201 ``{"data": run}`` (body = run input, gzip-decoded when the client
  compressed it; every input is kept in ``.run_inputs``)
- ``GET /v2/actor-runs/{id}?waitForFinish=N`` -> ``RUNNING`` for the first ``running_polls`` polls, then the
  terminal ``final_status``
- ``GET /v2/actor-runs/{id}/log`` and ``GET /v2/actors/{actor~id}`` (used by ``actor.call()`` with its default
  log redirection)
- ``GET /v2/datasets/{id}/items?offset&limit&clean&desc`` -> JSON array + ``X-Apify-Pagination-*`` headers
- ``GET /v2/key-value-stores/{id}/records/{key}`` -> the video bytes, ``Content-Type: video/mp4``

Every API endpoint requires ``Authorization: Bearer <token>`` (401 otherwise); key-value store records are
public by default (as run storages' ``mediaUrls`` are used), set ``kv_requires_auth=True`` to change that.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import re
import threading
import time
import zlib
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import parse_qsl, unquote, urlsplit

DEFAULT_TOKEN = "apify_api_FAKEtoken0123456789abcdef"
DEFAULT_ACTOR_ID = "clockworks/tiktok-scraper"
DATASET_ID = "dsTikTokFake00001"
KV_STORE_ID = "kvTikTokFake00001"
REQUEST_QUEUE_ID = "rqTikTokFake00001"
ACT_ID = "actClockworksFake1"
NO_LIMIT = 999_999_999_999
ENDPOINT_KINDS = ("run_start", "run_get", "run_log", "actor_get", "dataset_items", "kv_record")
TRENDING_PARTS = ("tiktok_trending_dec2020", "trending_items.json.gz")
_STATUS_MESSAGES = {
    "SUCCEEDED": "Finished!",
    "FAILED": "The Actor process exited with code 1",
    "ABORTED": "Run was aborted",
    "TIMED-OUT": "Run exceeded its timeout",
}

_ROUTES: list[tuple[str, str, re.Pattern[str]]] = [
    ("POST", "run_start", re.compile(r"^/v2/act(?:s|ors)/(?P<actor>[^/]+)/runs$")),
    ("GET", "actor_get", re.compile(r"^/v2/act(?:s|ors)/(?P<actor>[^/]+)$")),
    ("GET", "run_get", re.compile(r"^/v2/actor-runs/(?P<run>[^/]+)$")),
    ("GET", "run_log", re.compile(r"^/v2/(?:actor-runs/(?P<run>[^/]+)/log|logs/(?P<log_run>[^/]+))$")),
    ("GET", "dataset_items", re.compile(r"^/v2/datasets/(?P<dataset>[^/]+)/items$")),
    ("GET", "kv_record", re.compile(r"^/v2/key-value-stores/(?P<store>[^/]+)/records/(?P<key>[^/]+)$")),
]


class SeenRequest(NamedTuple):
    """One request as the server saw it; unpacks as ``(method, path, query)``."""

    method: str
    path: str
    query: dict[str, str]

    @property
    def kind(self) -> str:
        """Endpoint kind (one of ``ENDPOINT_KINDS``) or ``"unknown"``."""
        return endpoint_kind(self.method, self.path)


def endpoint_kind(method: str, path: str) -> str:
    """Classify a request path the way failure injection and ``requests_of`` name endpoints."""
    for route_method, kind, pattern in _ROUTES:
        if method == route_method and pattern.match(path):
            return kind
    return "unknown"


@dataclass
class _Run:
    """Server-side state of one fake actor run."""

    id: str
    run_input: Any
    input_len: int
    started_at: datetime
    polls: int = 0
    status: str = "RUNNING"
    finished_at: datetime | None = None


def _iso(moment: datetime | None) -> str | None:
    """Apify's timestamp format: ISO 8601, milliseconds, ``Z``."""
    return None if moment is None else moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ApifyTestServer:
    """Context manager serving a fake Apify API v2 on a random free port of 127.0.0.1.

    ``failures`` maps an endpoint kind to ``status`` (fail every time) or ``(status, times)`` (fail the first
    ``times`` requests, then behave). ``items`` may be replaced after construction: the URL is known as soon as
    the object exists, so items can embed it (see :func:`clockworks_items_from_trending`).
    """

    def __init__(
        self,
        items: list[dict],
        *,
        failures: dict[str, int | tuple[int, int | None]] | None = None,
        video_bytes: dict[str, bytes] | None = None,
        token: str = DEFAULT_TOKEN,
        actor_id: str = DEFAULT_ACTOR_ID,
        final_status: str = "SUCCEEDED",
        running_polls: int = 1,
        compute_units: float = 0.0421,
        kv_requires_auth: bool = False,
        long_poll_cap_s: float = 0.05,
    ) -> None:
        self.items = items
        self.video_bytes = dict(video_bytes or {})
        self.token = token
        self.actor_id = actor_id
        self.final_status = final_status
        self.running_polls = running_polls
        self.compute_units = compute_units
        self.kv_requires_auth = kv_requires_auth
        self.long_poll_cap_s = long_poll_cap_s
        self.failures = {kind: self._parse_failure(kind, spec) for kind, spec in (failures or {}).items()}
        self.requests: list[SeenRequest] = []
        self.request_times: list[float] = []  # time.monotonic() of each entry of .requests
        self.run_inputs: list[Any] = []
        self.runs: dict[str, _Run] = {}
        self._served: dict[str, int] = {}
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @staticmethod
    def _parse_failure(kind: str, spec: int | tuple[int, int | None]) -> tuple[int, int | None]:
        if kind not in ENDPOINT_KINDS:
            raise ValueError(f"unknown endpoint kind {kind!r}; use one of {ENDPOINT_KINDS}")
        return (spec, None) if isinstance(spec, int) else (int(spec[0]), spec[1])

    @property
    def url(self) -> str:
        """Base URL to pass as ``api_url`` (the client appends ``/v2`` itself)."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def record_url(self, key: str, store_id: str = KV_STORE_ID) -> str:
        """Public URL of a key-value store record, as the actor writes into ``mediaUrls``."""
        return f"{self.url}/v2/key-value-stores/{store_id}/records/{key}"

    def requests_of(self, kind: str) -> list[SeenRequest]:
        """Requests of one endpoint kind, in arrival order."""
        with self._lock:
            return [r for r in self.requests if r.kind == kind]

    def times_of(self, kind: str) -> list[float]:
        """Arrival times (``time.monotonic()``) of one endpoint kind, to check retry backoff."""
        with self._lock:
            return [t for r, t in zip(self.requests, self.request_times, strict=True) if r.kind == kind]

    def __enter__(self) -> ApifyTestServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="apify-test-server", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- request handling (called from handler threads) ------------------------------------------------------

    def _log(self, method: str, path: str, query: dict[str, str]) -> None:
        with self._lock:
            self.requests.append(SeenRequest(method, path, query))
            self.request_times.append(time.monotonic())

    def _injected_failure(self, kind: str) -> int | None:
        """Status to fail this request with, counting served requests per kind."""
        with self._lock:
            served = self._served.get(kind, 0)
            self._served[kind] = served + 1
        spec = self.failures.get(kind)
        if spec is None:
            return None
        status, times = spec
        return status if times is None or served < times else None

    def _new_run(self, run_input: Any, input_len: int) -> _Run:
        with self._lock:
            run = _Run(f"runFake{len(self.runs) + 1:09d}", run_input, input_len, datetime.now(UTC))
            self.runs[run.id] = run
            self.run_inputs.append(run_input)
        return run

    def _poll_run(self, run: _Run, wait_for_finish: float) -> None:
        """Advance the fake run: RUNNING for ``running_polls`` polls (held briefly, like a long poll), then done."""
        with self._lock:
            run.polls += 1
            still_running = run.polls <= self.running_polls
            if not still_running and run.finished_at is None:
                run.status, run.finished_at = self.final_status, datetime.now(UTC)
        if still_running and wait_for_finish > 0:
            time.sleep(min(wait_for_finish, self.long_poll_cap_s))

    def run_object(self, run: _Run) -> dict[str, Any]:
        """Run JSON with every field ``apify_client._models.Run`` requires."""
        done = run.finished_at is not None
        duration = ((run.finished_at or datetime.now(UTC)) - run.started_at).total_seconds()
        cu = self.compute_units if done else round(self.compute_units / 2, 6)
        return {
            "id": run.id,
            "actId": ACT_ID,
            "userId": "userFake000000001",
            "actorTaskId": None,
            "startedAt": _iso(run.started_at),
            "finishedAt": _iso(run.finished_at),
            "status": run.status,
            "statusMessage": _STATUS_MESSAGES.get(run.status, "Scraping hashtag pages"),
            "isStatusMessageTerminal": done,
            "meta": {"origin": "API", "userAgent": "ApifyClient"},
            "stats": {
                "inputBodyLen": run.input_len,
                "restartCount": 0,
                "resurrectCount": 0,
                "durationMillis": int(duration * 1000),
                "runTimeSecs": round(duration, 3),
                "computeUnits": cu,
            },
            "options": {"build": "latest", "timeoutSecs": 3600, "memoryMbytes": 1024, "diskMbytes": 2048},
            "buildId": "buildFake00000001",
            "buildNumber": "1.0.42",
            "exitCode": (0 if run.status == "SUCCEEDED" else 1) if done else None,
            "generalAccess": "FOLLOW_USER_SETTING",
            "defaultKeyValueStoreId": KV_STORE_ID,
            "defaultDatasetId": DATASET_ID,
            "defaultRequestQueueId": REQUEST_QUEUE_ID,
            "usage": {"ACTOR_COMPUTE_UNITS": cu, "DATASET_WRITES": len(self.items)},
            "usageTotalUsd": round(cu * 0.4, 6),
        }

    def actor_object(self) -> dict[str, Any]:
        """Actor JSON with the fields ``ActorResource`` requires (asked for by ``call()`` log redirection)."""
        now = _iso(datetime.now(UTC))
        username, _, name = self.actor_id.partition("/")
        return {
            "id": ACT_ID,
            "userId": "userClockworks001",
            "name": name or username,
            "username": username,
            "isPublic": True,
            "createdAt": now,
            "modifiedAt": now,
            "stats": {},
            "versions": [],
            "pricingInfos": [],
            "defaultRunOptions": {"build": "latest", "timeoutSecs": 3600, "memoryMbytes": 1024},
        }


def _make_handler(server: ApifyTestServer) -> type[BaseHTTPRequestHandler]:
    """Handler class bound to one ``ApifyTestServer`` (http.server instantiates it per connection)."""

    class Handler(_ApifyHandler):
        fake = server

    return Handler


class _ApifyHandler(BaseHTTPRequestHandler):
    """Routes one request to the fake; speaks HTTP/1.1 keep-alive like the real API."""

    protocol_version = "HTTP/1.1"
    timeout = 30
    fake: ApifyTestServer

    def log_message(self, format: str, *args: Any) -> None:
        """Silence per-request stderr lines; ``.requests`` is the log."""

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # -- plumbing ---------------------------------------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        parts = urlsplit(self.path)
        path, query = parts.path, dict(parse_qsl(parts.query, keep_blank_values=True))
        body = self._read_body()
        self.fake._log(method, path, query)
        for route_method, kind, pattern in _ROUTES:
            match = pattern.match(path) if route_method == method else None
            if match:
                params = {k: unquote(v) for k, v in match.groupdict().items() if v is not None}
                self._route(kind, params, query, body)
                return
        self._error(404, "page-not-found", f"We have bad news: there is no API endpoint at {method} {path}")

    def _route(self, kind: str, params: dict[str, str], query: dict[str, str], body: bytes) -> None:
        if not self._authorized(kind, query):
            self._error(401, "token-not-valid", "Authentication token is not valid.")
            return
        status = self.fake._injected_failure(kind)
        if status is not None:
            self._injected(status)
            return
        getattr(self, f"_handle_{kind}")(params, query, body)

    def _authorized(self, kind: str, query: dict[str, str]) -> bool:
        header = self.headers.get("Authorization")
        supplied = header.removeprefix("Bearer ").strip() if header else query.get("token")
        if kind == "kv_record" and not self.fake.kv_requires_auth and supplied is None:
            return True
        return supplied == self.fake.token

    def _read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()  # CRLF after each chunk
            self.rfile.readline()  # CRLF after the last, empty chunk
            raw = b"".join(chunks)
        else:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        encoding = (self.headers.get("Content-Encoding") or "").lower()
        if encoding == "gzip":
            return gzip.decompress(raw)
        if encoding == "deflate":
            return zlib.decompress(raw)
        return raw

    def _send(self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json; charset=utf-8", headers)

    def _error(self, status: int, error_type: str, message: str) -> None:
        self._json(status, {"error": {"type": error_type, "message": message}})

    def _injected(self, status: int) -> None:
        if status == 429:
            payload = {"error": {"type": "rate-limit-exceeded", "message": "You have exceeded the rate limit."}}
            self._json(429, payload, {"Retry-After": "1"})
        elif status >= 500:
            self._error(status, "internal-server-error", "Internal server error (injected by ApifyTestServer)")
        else:
            self._error(status, "injected-error", f"Injected HTTP {status}")

    # -- endpoints ------------------------------------------------------------------------------------------------

    def _handle_run_start(self, params: dict[str, str], query: dict[str, str], body: bytes) -> None:
        if params["actor"].replace("~", "/") != self.fake.actor_id:
            self._error(404, "record-not-found", f"Actor {params['actor']} was not found")
            return
        content_type = (self.headers.get("Content-Type") or "").lower()
        try:
            run_input = json.loads(body) if body and "json" in content_type else body
        except ValueError:
            self._error(400, "invalid-input", "Input is not valid JSON")
            return
        run = self.fake._new_run(run_input, len(body))
        self._json(201, {"data": self.fake.run_object(run)})

    def _handle_run_get(self, params: dict[str, str], query: dict[str, str], body: bytes) -> None:
        run = self.fake.runs.get(params["run"])
        if run is None:
            self._error(404, "record-not-found", "Actor run was not found")
            return
        self.fake._poll_run(run, float(query.get("waitForFinish") or 0))
        self._json(200, {"data": self.fake.run_object(run)})

    def _handle_run_log(self, params: dict[str, str], query: dict[str, str], body: bytes) -> None:
        run_id = params.get("run") or params["log_run"]
        if run_id not in self.fake.runs:
            self._error(404, "record-not-found", "Log was not found")
            return
        stamp = _iso(self.fake.runs[run_id].started_at)
        text = f"{stamp} INFO  [fake] Scraping {len(self.fake.items)} items\n{stamp} INFO  [fake] Done\n"
        self._send(200, text.encode(), "text/plain; charset=utf-8")

    def _handle_actor_get(self, params: dict[str, str], query: dict[str, str], body: bytes) -> None:
        if params["actor"].replace("~", "/") not in {self.fake.actor_id, ACT_ID}:
            self._error(404, "record-not-found", "Actor was not found")
            return
        self._json(200, {"data": self.fake.actor_object()})

    def _handle_dataset_items(self, params: dict[str, str], query: dict[str, str], body: bytes) -> None:
        if params["dataset"] != DATASET_ID:
            self._error(404, "record-not-found", "Dataset was not found")
            return
        if query.get("format", "json") != "json":
            self._error(400, "invalid-parameter", "ApifyTestServer only serves format=json")
            return
        rows = list(self.fake.items)
        desc = query.get("desc") in {"true", "1"}
        if desc:
            rows.reverse()
        offset = int(query.get("offset") or 0)
        limit = int(query.get("limit") or NO_LIMIT)
        window = rows[offset : offset + limit]
        clean = query.get("clean") in {"true", "1"}
        skip_empty = clean or query.get("skipEmpty") in {"true", "1"}
        skip_hidden = clean or query.get("skipHidden") in {"true", "1"}
        out = [
            {k: v for k, v in row.items() if not (skip_hidden and k.startswith("#"))}
            for row in window
            if not (skip_empty and not row)
        ]
        headers = {
            "X-Apify-Pagination-Offset": str(offset),
            "X-Apify-Pagination-Limit": str(limit),
            "X-Apify-Pagination-Count": str(len(window)),
            "X-Apify-Pagination-Total": str(len(rows)),
            "X-Apify-Pagination-Desc": "true" if desc else "false",
        }
        self._json(200, out, headers)

    def _handle_kv_record(self, params: dict[str, str], query: dict[str, str], body: bytes) -> None:
        data = self.fake.video_bytes.get(params["key"]) if params["store"] == KV_STORE_ID else None
        if data is None:
            self._error(404, "record-not-found", "Record was not found")
            return
        self._send(200, data, "video/mp4")


# -- test data ---------------------------------------------------------------------------------------------------


def fake_video_bytes(video_id: str, size: int = 4096) -> bytes:
    """Deterministic, distinct per id, starts like an MP4 ``ftyp`` box; not a playable video."""
    header = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom"
    seed = hashlib.sha256(video_id.encode()).digest()
    body = (seed * (size // len(seed) + 1))[: max(size - len(header), 0)]
    return header + body


def video_records(items: list[dict]) -> dict[str, bytes]:
    """``video_bytes`` for ``ApifyTestServer``: one fake MP4 per item, keyed by the record key in its mediaUrls."""
    records: dict[str, bytes] = {}
    for item in items:
        for url in item.get("mediaUrls") or []:
            records[unquote(url.rsplit("/", 1)[-1])] = fake_video_bytes(str(item["id"]))
    return records


def _spread(key: str, salt: str, low: float, high: float) -> float:
    """Deterministic value in ``[low, high)`` from a key, so reshaped items are stable across runs."""
    digest = hashlib.sha256(f"{salt}:{key}".encode()).digest()
    return low + (high - low) * int.from_bytes(digest[:8], "big") / 2**64


def clockworks_items_from_trending(
    path: Path | str | None = None,
    n: int = 250,
    *,
    server_url: str,
    kv_store_id: str = KV_STORE_ID,
    search_hashtag: str = "fyp",
) -> list[dict]:
    """First ``n`` real trending items (2020 ``tiktok-scraper`` schema) reshaped to today's clockworks schema.

    Adds ``createTimeISO``, ``authorMeta.fans/heart/video`` (derived from the author id when missing),
    ``collectCount``, ``mediaUrls`` pointing at ``server_url``'s key-value store, ``searchHashtag`` and ``isAd``.
    ``path=None`` locates the shared dataset (skipping the test when it is absent).
    """
    if path is None:
        from optimizer_pipeline_tests.shared_data import shared_data

        path = shared_data(*TRENDING_PARTS)
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        raw = json.load(fh)
    base = server_url.rstrip("/")
    return [_reshape(item, base, kv_store_id, search_hashtag) for item in raw[:n]]


def _reshape(item: dict, base_url: str, kv_store_id: str, search_hashtag: str) -> dict:
    """One old-schema item -> clockworks item (a deep copy; the input is not modified)."""
    out = json.loads(json.dumps(item))
    vid = str(out["id"])
    out["createTimeISO"] = _iso(datetime.fromtimestamp(int(out["createTime"]), UTC))
    author = out.setdefault("authorMeta", {})
    author_key = str(author.get("id") or author.get("name") or vid)
    fans = int(10 ** _spread(author_key, "fans", 3.0, 6.7))
    author.setdefault("fans", fans)
    author.setdefault("heart", int(fans * _spread(author_key, "heart", 4.0, 40.0)))
    author.setdefault("video", int(_spread(author_key, "video", 12, 1500)))
    author.setdefault("profileUrl", f"https://www.tiktok.com/@{author.get('name', author_key)}")
    out.setdefault("collectCount", int(int(out.get("diggCount") or 0) * _spread(vid, "collect", 0.01, 0.12)))
    meta = out.setdefault("videoMeta", {})
    meta.setdefault("coverUrl", (out.get("covers") or {}).get("default"))
    meta.setdefault("subtitleLinks", [])
    out["mediaUrls"] = [f"{base_url}/v2/key-value-stores/{kv_store_id}/records/video-{vid}.mp4"]
    out["searchHashtag"] = {"name": search_hashtag, "views": int(10 ** _spread(search_hashtag, "views", 8, 12))}
    out.setdefault("isAd", False)
    return out


def clockworks_profile_items(
    handle: str,
    n: int,
    *,
    server_url: str,
    kv_store_id: str = KV_STORE_ID,
    hashtags: tuple[str, ...] = ("mealprep", "protein", "fyp"),
) -> list[dict]:
    """``n`` deterministic items of a profile scrape (actor input ``profiles: [handle]``) in the clockworks schema.

    As the actor writes them for profiles: every item is by ``handle``, carries ``input`` (the profile asked for)
    and no ``searchHashtag``; video ``i`` uses a deterministic subset of ``hashtags`` and lasts 8-100 s; its
    ``mediaUrls`` point at ``server_url``'s key-value store (serve them with :func:`video_records`).
    """
    base = server_url.rstrip("/")
    start = int(datetime(2026, 8, 1, tzinfo=UTC).timestamp())
    fans = int(10 ** _spread(handle, "fans", 4.0, 6.0))
    items = []
    for i in range(n):
        created = start + i * 7_200
        vid = str((created << 32) | (zlib.crc32(f"{handle}:{i}".encode()) & 0xFFFF_FFFF))
        tags = [t for t in hashtags if _spread(f"{vid}:{t}", "tag", 0, 1) < 0.6] or [hashtags[0]]
        views = int(10 ** _spread(vid, "views", 3.5, 5.5))
        likes = int(views * _spread(vid, "er", 0.03, 0.12))
        items.append(
            {
                "id": vid,
                "text": "profile post " + " ".join(f"#{t}" for t in tags),
                "createTime": created,
                "createTimeISO": _iso(datetime.fromtimestamp(created, UTC)),
                "authorMeta": {"id": str(zlib.crc32(handle.encode())), "name": handle, "fans": fans, "verified": False},
                "webVideoUrl": f"https://www.tiktok.com/@{handle}/video/{vid}",
                "videoMeta": {"height": 1280, "width": 720, "duration": int(_spread(vid, "duration", 8, 100))},
                "playCount": views,
                "diggCount": likes,
                "commentCount": likes // 20,
                "shareCount": likes // 15,
                "collectCount": likes // 10,
                "hashtags": [{"name": t} for t in tags],
                "mediaUrls": [f"{base}/v2/key-value-stores/{kv_store_id}/records/video-{vid}.mp4"],
                "input": handle,
                "isAd": False,
            }
        )
    return items
