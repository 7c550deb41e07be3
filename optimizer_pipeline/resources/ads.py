"""Where a client's daily ad metrics come from: export files in its ad inbox, or the Meta Insights API.

Which one a client uses is registry configuration (``decisions.ad_source`` in ``clients.yaml``); both resources are
always bound, so switching a client is a registry edit, not a deployment. The Meta access token and app secret are
``EnvVar`` references bound in ``defs/resources.py``; they never reach logs or metadata (``MetaInsightsConfig``
hides them from ``repr`` and the fetch raises without chaining the HTTP error that could echo them).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import ClassVar

import dagster as dg

from optimizer_pipeline.lib.ads.export_files import AD_INBOX_SUFFIXES
from optimizer_pipeline.lib.ads.meta_insights import (
    DEFAULT_ACTION_TYPE,
    GRAPH_URL,
    MetaInsightsConfig,
    MetaInsightsResult,
    fetch_ad_insights,
)
from optimizer_pipeline.lib.testloop.inbox import is_candidate_name
from optimizer_pipeline.resources.inbox import InboxFolders


class AdInbox(InboxFolders):
    """``<root>/<client>/`` holds a client's ad-platform CSV exports; ``root`` defaults to ``<home>/ad_inbox``.

    Same rules as the conversion inbox. Files are read in name order (a daily export's name sorts by its day), so a
    later file's revision of an ad-day replaces the earlier one and a rerun reads them in the same order.
    """

    FOLDER: ClassVar[str] = "ad_inbox"
    SUFFIXES: ClassVar[tuple[str, ...]] = AD_INBOX_SUFFIXES
    KIND: ClassVar[str] = "ad export"

    def files(self, client: str, names: Sequence[str] | None = None) -> list[Path]:
        """The export files to read, by name: exactly ``names`` when given (what a sensor's run key covers), else
        every candidate file of the folder (a materialisation from the UI)."""
        if names is not None:
            return self.named_files(client, names)
        folder = self.folder(client)
        if not folder.is_dir():
            return []
        found = [p for p in folder.iterdir() if p.is_file() and is_candidate_name(p.name, AD_INBOX_SUFFIXES)]
        return sorted(found, key=lambda p: p.name)


class MetaAdsSource(dg.ConfigurableResource):
    """The Meta Marketing API's Insights edge through the ``facebook-business`` SDK (daily, ad level).

    ``access_token`` unset: a client configured with ``ad_source: meta`` fails with a message naming the variable
    to set. ``graph_url`` points the SDK elsewhere (tests use a local server that speaks the Graph API).
    """

    access_token: str | None = None
    app_secret: str | None = None
    graph_url: str = GRAPH_URL
    api_version: str | None = None
    lookback_days: int = 28

    def fetch(
        self, client: str, account_id: str, since: date, until: date, action_type: str = DEFAULT_ACTION_TYPE
    ) -> MetaInsightsResult:
        """Daily ad insights of ``account_id`` from ``since`` to ``until`` (inclusive)."""
        if not self.access_token:
            raise ValueError(
                f"client {client!r} reads its ad metrics from Meta (decisions.ad_source: meta) but no access token "
                "is configured: set OPTIMIZER_META_ACCESS_TOKEN"
            )
        config = MetaInsightsConfig(
            account_id=account_id,
            access_token=self.access_token,
            app_secret=self.app_secret or None,
            api_version=self.api_version or None,
            graph_url=self.graph_url,
            action_type=action_type,
        )
        return fetch_ad_insights(config, since, until)
