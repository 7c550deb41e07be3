"""A local fake of the Anthropic Messages API on 127.0.0.1, so tests drive the real ``anthropic`` SDK over HTTP.

It speaks the wire format the SDK reads (checked against the installed anthropic 2.12 source and by running it):

- ``POST /v1/messages`` with an ``anthropic-version`` header and the API key, as ``x-api-key: <key>`` (what the
  API documents) or ``Authorization: Bearer <key>`` (what SDK 2.x sends for ``api_key=``); anything else gets 401
  ``{"type": "error", "error": {"type": "authentication_error", "message": "invalid x-api-key"}}``.
- The body must be JSON with ``model``, ``max_tokens`` and ``messages`` (400 ``invalid_request_error`` otherwise);
  a forced ``tool_choice`` must name one of ``tools``, and is refused for the models documented to reject forced
  tool use (``FORCED_TOOL_REJECTED``).
- Replies are scripted: :meth:`AnthropicTestServer.queue` takes :func:`tool_reply` (a ``tool_use`` message),
  :func:`text_reply` (text only), :func:`invalid_json_reply` (200 with a truncated JSON body) and
  :func:`error_reply` (429/500/401... with the real error JSON and optional ``retry-after``). When the queue is
  empty, ``default`` is served (a 500 with ``x-should-retry: false`` when there is none, so a test that under-
  scripts fails fast instead of hanging in SDK retries).
- Every request is logged in ``.requests`` (headers lower-cased, JSON body) for assertions.
"""

from __future__ import annotations

import itertools
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DEFAULT_API_KEY = "sk-ant-api03-FAKE-test-key-0123456789abcdef"
#: Models whose migration guides say a forced ``tool_choice`` returns HTTP 400.
FORCED_TOOL_REJECTED = frozenset({"claude-sonnet-5-5", "claude-opus-5-5", "claude-fable-5-1"})
_ids = itertools.count(1)


@dataclass(frozen=True)
class Reply:
    """One scripted HTTP response: a JSON ``payload`` (blank message fields filled from the request) or ``raw``."""

    status: int
    payload: dict | None = None
    raw: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    def body_for(self, request: dict) -> bytes:
        """The bytes to send for ``request``."""
        return self.raw if self.payload is None else json.dumps(_fill(self.payload, request)).encode()


@dataclass(frozen=True)
class SeenRequest:
    """One request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any

    @property
    def images(self) -> list[dict]:
        """Image content blocks of all user messages."""
        blocks = []
        for message in (self.body or {}).get("messages", []):
            content = message.get("content")
            if isinstance(content, list):
                blocks.extend(b for b in content if isinstance(b, dict) and b.get("type") == "image")
        return blocks

    @property
    def text(self) -> str:
        """All text blocks of all user messages, joined."""
        parts = []
        for message in (self.body or {}).get("messages", []):
            content = message.get("content")
            if isinstance(content, str):
                parts.append(content)
            elif isinstance(content, list):
                parts.extend(b.get("text", "") for b in content if isinstance(b, dict) and b.get("type") == "text")
        return "\n".join(parts)


def _message(content: list[dict], *, model: str, stop_reason: str, input_tokens: int, output_tokens: int) -> dict:
    return {
        "id": f"msg_fake{next(_ids):08d}",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens},
    }


def _json_reply(status: int, payload: dict, headers: dict[str, str] | None = None) -> Reply:
    return Reply(status, payload, headers={"content-type": "application/json", **(headers or {})})


def tool_reply(
    tool_input: dict,
    *,
    name: str | None = None,
    model: str | None = None,
    input_tokens: int = 1500,
    output_tokens: int = 60,
) -> Reply:
    """A ``tool_use`` message; ``name``/``model`` default to the request's forced tool and model."""
    block = {"type": "tool_use", "id": f"toolu_fake{next(_ids):08d}", "name": name, "input": tool_input}
    payload = _message(
        [block], model=model or "", stop_reason="tool_use", input_tokens=input_tokens, output_tokens=output_tokens
    )
    return _json_reply(200, payload)


def text_reply(text: str, *, model: str | None = None, input_tokens: int = 1500, output_tokens: int = 40) -> Reply:
    """A text-only message (what a structured-output reply looks like, and a malformed one in tool mode)."""
    payload = _message(
        [{"type": "text", "text": text}],
        model=model or "",
        stop_reason="end_turn",
        input_tokens=input_tokens,
        output_tokens=output_tokens,
    )
    return _json_reply(200, payload)


def invalid_json_reply() -> Reply:
    """A 200 whose body is cut off mid-JSON (a proxy or the network truncated it)."""
    raw = b'{"id": "msg_broken", "type": "message", "content": [{"type": "tool_u'
    return Reply(200, raw=raw, headers={"content-type": "application/json"})


def error_reply(status: int, error_type: str, message: str, *, retry_after: float | None = None) -> Reply:
    """An API error with the real body shape; ``retry_after`` seconds become a ``retry-after`` header."""
    headers = {} if retry_after is None else {"retry-after": f"{retry_after:g}"}
    return _json_reply(status, {"type": "error", "error": {"type": error_type, "message": message}}, headers)


def rate_limited(retry_after: float = 0.01) -> Reply:
    """429 as the API sends it when a rate limit is hit."""
    return error_reply(
        429, "rate_limit_error", "Number of request tokens has exceeded your rate limit.", retry_after=retry_after
    )


def server_error(retry_after: float | None = 0.01) -> Reply:
    """500 ``api_error``; a tiny ``retry-after`` keeps the SDK's retry fast in tests."""
    return error_reply(500, "api_error", "Internal server error", retry_after=retry_after)


class AnthropicTestServer:
    """Context manager serving a fake ``POST /v1/messages`` on a random free port of 127.0.0.1."""

    def __init__(self, *, api_key: str = DEFAULT_API_KEY, default: Reply | None = None) -> None:
        self.api_key = api_key
        self.default = default
        self.requests: list[SeenRequest] = []
        self._queue: list[Reply] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(self))
        self._httpd.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """Base URL to pass as the SDK's ``base_url``."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def queue(self, *replies: Reply) -> None:
        """Append replies, served in order to the next requests."""
        with self._lock:
            self._queue.extend(replies)

    @property
    def pending(self) -> int:
        """Scripted replies not served yet."""
        with self._lock:
            return len(self._queue)

    def __enter__(self) -> AnthropicTestServer:
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="anthropic-test-server", daemon=True
        )
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # -- request handling (handler threads) ---------------------------------------------------------------------

    def _authorized(self, headers: dict[str, str]) -> bool:
        return headers.get("x-api-key") == self.api_key or headers.get("authorization") == f"Bearer {self.api_key}"

    def _next_reply(self) -> Reply:
        with self._lock:
            if self._queue:
                return self._queue.pop(0)
        if self.default is not None:
            return self.default
        reply = error_reply(500, "api_error", "fake server: no scripted reply left")
        return Reply(reply.status, reply.payload, headers={**reply.headers, "x-should-retry": "false"})

    def respond(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> tuple[Reply, bytes]:
        """Validate one request like the API does, log it, and pick its reply (and the bytes to send)."""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        with self._lock:
            self.requests.append(SeenRequest(method, path, headers, body))
        reply = self._reply_for(method, path, headers, body)
        return reply, reply.body_for(body if isinstance(body, dict) else {})

    def _reply_for(self, method: str, path: str, headers: dict[str, str], body: Any) -> Reply:
        if (method, path.split("?")[0]) != ("POST", "/v1/messages"):
            return error_reply(404, "not_found_error", f"Not found: {method} {path}")
        if not self._authorized(headers):
            return error_reply(401, "authentication_error", "invalid x-api-key")
        if "anthropic-version" not in headers:
            return error_reply(400, "invalid_request_error", "anthropic-version: header is required")
        problem = _request_problem(body)
        if problem:
            return error_reply(400, "invalid_request_error", problem)
        return self._next_reply()


def _request_problem(body: Any) -> str | None:
    """What the real API would reject in this body (the parts this fake can check)."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    for key in ("model", "max_tokens", "messages"):
        if key not in body:
            return f"{key}: Field required"
    choice = body.get("tool_choice")
    if isinstance(choice, dict) and choice.get("type") in ("tool", "any") and body["model"] in FORCED_TOOL_REJECTED:
        return f"tool_choice: forced tool use is not supported with {body['model']}; use tool_choice auto"
    if isinstance(choice, dict) and choice.get("type") == "tool":
        names = [tool.get("name") for tool in body.get("tools") or []]
        if choice.get("name") not in names:
            return f"tool_choice.name: tool {choice.get('name')!r} not found in tools"
    return None


def _fill(payload: dict, request: dict) -> dict:
    """A message's blank ``model`` / tool ``name`` taken from the request, as the API echoes them."""
    if payload.get("type") != "message":
        return payload
    payload = json.loads(json.dumps(payload))
    payload["model"] = payload.get("model") or request.get("model")
    choice = request.get("tool_choice") or {}
    for block in payload.get("content", []):
        if block.get("type") == "tool_use" and block.get("name") is None:
            block["name"] = choice.get("name") or (request.get("tools") or [{}])[0].get("name")
    return payload


def _make_handler(server: AnthropicTestServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            """Keep test output quiet."""

        def _handle(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length) if length else b""
            headers = {k.lower(): v for k, v in self.headers.items()}
            reply, body = server.respond(self.command, self.path, headers, raw)
            self.send_response(reply.status)
            for key, value in {"request-id": f"req_fake{next(_ids):08d}", **reply.headers}.items():
                self.send_header(key, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = _handle
        do_GET = _handle

    return Handler
