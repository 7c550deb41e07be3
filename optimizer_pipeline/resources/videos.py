"""The video file cache as a resource: limits are configuration, the cache logic is plain code."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from optimizer_pipeline.lib.market.video_cache import VideoCache


class VideoStore(dg.ConfigurableResource):
    """Content-addressed video files under ``<home>/videos``."""

    home: str
    timeout_s: float = 60.0
    max_megabytes: int = 300
    retries: int = 3
    retention_days: float = 7.0
    download_threads: int = 4

    def cache(self) -> VideoCache:
        return VideoCache(Path(self.home) / "videos")
