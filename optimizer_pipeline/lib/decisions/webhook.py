"""Posting a JSON message to a webhook: a Slack incoming webhook (https://api.slack.com/messaging/webhooks) or any
endpoint that accepts the same JSON POST.

A webhook URL is a secret (whoever has it can post to the channel), so no message, exception or exception chain
raised here contains it. 2xx is success; 429 and 5xx are retried with exponential backoff (a 429's ``Retry-After``
is honoured, capped), as are timeouts and connection errors; any other status fails at once with the status and the
start of the response body (Slack answers e.g. ``invalid_payload`` or ``no_service``). The sleep is injectable so
tests do not wait.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
_BODY_CHARS = 200


class WebhookError(RuntimeError):
    """A message that could not be delivered; ``status`` is the last HTTP status (None: no answer)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def post_webhook(
    url: str,
    payload: Mapping[str, Any],
    client: httpx.Client,
    *,
    attempts: int = 4,
    backoff_s: float = 1.0,
    max_wait_s: float = 60.0,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """POST ``payload`` as JSON to ``url``; the 2xx status on success, :class:`WebhookError` otherwise."""
    parts = urlsplit(url) if isinstance(url, str) else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise WebhookError("webhook URL must be an http(s) URL (not shown: it is a secret)")
    if attempts < 1:
        raise ValueError(f"attempts must be >= 1, got {attempts}")
    last = "not attempted"
    status: int | None = None
    for attempt in range(1, attempts + 1):
        wait = backoff_s * 2 ** (attempt - 1)
        try:
            response = client.post(url, json=dict(payload))
        except httpx.TransportError as exc:
            last, status = f"no answer ({type(exc).__name__})", None
        else:
            status = response.status_code
            if 200 <= status < 300:
                return status
            body = _body(response, url)
            if status not in RETRY_STATUSES:
                raise WebhookError(f"webhook refused the message: HTTP {status}{body}", status)
            last = f"HTTP {status}{body}"
            wait = _retry_after(response, wait)
        if attempt < attempts:
            sleep(min(wait, max_wait_s))
    raise WebhookError(f"webhook failed after {attempts} attempts: {last}", status)


def _body(response: httpx.Response, url: str) -> str:
    text = " ".join(response.text.split()).replace(url, "<webhook>")[:_BODY_CHARS]
    return f" ({text})" if text else ""


def _retry_after(response: httpx.Response, default: float) -> float:
    """Seconds from a ``Retry-After: <seconds>`` header (the HTTP-date form falls back to the backoff)."""
    value = response.headers.get("retry-after", "").strip()
    try:
        seconds = float(value)
    except ValueError:
        return default
    return seconds if seconds >= 0 else default
