"""The influencer status log as a resource, so its location (the home) is configuration.

See ``lib/testloop/influencer_status.py`` for the lifecycle and the log format."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import dagster as dg

from optimizer_pipeline.lib.testloop.influencer_status import StatusEntry, read_log, status_log_path


class InfluencerStatusLog(dg.ConfigurableResource):
    """``<home>/testloop/<client>/status_log.jsonl``, appended by ``optimizer-pipeline influencer-status``."""

    home: str

    def path(self, client: str) -> Path:
        return status_log_path(self.home, client)

    def read(self, client: str) -> tuple[list[StatusEntry], list[dict[str, Any]]]:
        """(entries in order, unreadable lines with their reason); a missing log is empty."""
        return read_log(self.path(client))
