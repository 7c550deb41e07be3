"""``post_webhook`` against a real HTTP server on 127.0.0.1 (real httpx, no mocks): success, retries with backoff and
Retry-After, immediate failure on 4xx, and no error that shows the (secret) URL."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from optimizer_pipeline.lib.decisions.webhook import WebhookError, post_webhook

SECRET_PATH = "/services/T000/B000/s3cr3tT0ken"
PAYLOAD = {"text": "Ad alerts: 1 alert", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]}


class Hook:
    """Answers scripted (status, body, headers) replies in order (the last repeats) and records every request."""

    def __init__(self) -> None:
        self.replies: list[tuple[int, str, dict[str, str]]] = [(200, "ok", {})]
        self.requests: list[tuple[str, str, bytes]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                hook.requests.append((self.path, self.headers.get("Content-Type", ""), body))
                status, text, headers = hook.replies.pop(0) if len(hook.replies) > 1 else hook.replies[0]
                data = text.encode()
                self.send_response(status)
                for k, v in {"Content-Type": "text/plain", "Content-Length": str(len(data)), **headers}.items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        host, port = self.server.server_address[:2]
        self.url = f"http://{host}:{port}{SECRET_PATH}"

    def script(self, *replies: tuple[int, str, dict[str, str]]) -> None:
        self.replies = list(replies)


@pytest.fixture
def hook() -> Iterator[Hook]:
    h = Hook()
    thread = threading.Thread(target=h.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield h
    h.server.shutdown()
    h.server.server_close()


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as c:
        yield c


def assert_secret_free(err: BaseException, url: str) -> None:
    for text in (str(err), repr(err), repr(err.__cause__), repr(err.__context__)):
        assert url not in text and "s3cr3t" not in text, text


def test_posts_the_payload_as_json(hook, client):
    sleeps: list[float] = []
    assert post_webhook(hook.url, PAYLOAD, client, sleep=sleeps.append) == 200
    [(path, content_type, body)] = hook.requests
    assert path == SECRET_PATH and content_type == "application/json" and json.loads(body) == PAYLOAD
    assert sleeps == []


def test_retries_5xx_with_backoff_and_honours_retry_after(hook, client):
    hook.script((503, "busy", {}), (429, "rate_limited", {"Retry-After": "7"}), (204, "", {}))
    sleeps: list[float] = []
    assert post_webhook(hook.url, PAYLOAD, client, backoff_s=0.5, sleep=sleeps.append) == 204
    assert sleeps == [0.5, 7.0] and len(hook.requests) == 3


def test_gives_up_after_the_attempts_without_showing_the_url(hook, client):
    hook.script((500, f"boom at {hook.url}", {}))
    sleeps: list[float] = []
    with pytest.raises(WebhookError) as err:
        post_webhook(hook.url, PAYLOAD, client, attempts=3, sleep=sleeps.append)
    assert sleeps == [1.0, 2.0] and len(hook.requests) == 3
    assert err.value.status == 500 and "after 3 attempts: HTTP 500 (boom at <webhook>)" in str(err.value)
    assert_secret_free(err.value, hook.url)


def test_retry_after_is_capped(hook, client):
    hook.script((429, "", {"Retry-After": "3600"}), (200, "ok", {}))
    sleeps: list[float] = []
    post_webhook(hook.url, PAYLOAD, client, max_wait_s=30, sleep=sleeps.append)
    assert sleeps == [30]


@pytest.mark.parametrize(("status", "body"), [(400, "invalid_payload"), (403, "invalid_token"), (404, "no_service")])
def test_a_4xx_fails_at_once_with_a_clear_error(hook, client, status, body):
    hook.script((status, body, {}))
    with pytest.raises(WebhookError) as err:
        post_webhook(hook.url, PAYLOAD, client, sleep=lambda s: pytest.fail("a 4xx is not retried"))
    assert str(err.value) == f"webhook refused the message: HTTP {status} ({body})"
    assert err.value.status == status and len(hook.requests) == 1
    assert_secret_free(err.value, hook.url)


def test_no_answer_is_retried_then_reported_without_the_url(client):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}{SECRET_PATH}"
    sleeps: list[float] = []
    with pytest.raises(WebhookError) as err:
        post_webhook(url, PAYLOAD, client, attempts=2, sleep=sleeps.append)
    assert sleeps == [1.0] and err.value.status is None and "no answer (ConnectError)" in str(err.value)
    assert_secret_free(err.value, url)


def test_a_malformed_url_is_rejected_without_echoing_it(client):
    with pytest.raises(WebhookError) as err:
        post_webhook("hooks.slack.com/services/s3cr3tT0ken", PAYLOAD, client)
    assert "http(s)" in str(err.value) and "s3cr3t" not in str(err.value)
