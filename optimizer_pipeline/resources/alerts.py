"""Where ad alerts go: a Slack-compatible incoming webhook when one is configured, else only the ``ad_alerts`` log.

The webhook URL is a secret (anyone holding it can post to the channel): it is bound as an ``EnvVar`` in
``defs/resources.py`` and never shown; ``post_webhook`` keeps it out of its errors.
"""

from __future__ import annotations

from typing import Any

import dagster as dg
import httpx

from optimizer_pipeline.lib.decisions.webhook import post_webhook


class AlertNotifier(dg.ConfigurableResource):
    """``webhook_url`` unset: alerts are recorded in the ``ad_alerts`` Markdown log only (the embedded default)."""

    webhook_url: str | None = None
    timeout_s: float = 10.0

    @property
    def channel(self) -> str:
        return "webhook" if self.webhook_url else "log"

    def send(self, payload: dict[str, Any]) -> int | None:
        """POST ``payload`` to the webhook (retried on 429 / 5xx); None when no webhook is configured."""
        if not self.webhook_url:
            return None
        with httpx.Client(timeout=self.timeout_s) as client:
            return post_webhook(self.webhook_url, payload, client)
