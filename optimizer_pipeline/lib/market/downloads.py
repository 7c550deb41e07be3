"""Fetch the video files of selected rows in parallel; a failed video is a row status, never an exception."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pandas as pd

from optimizer_pipeline.lib.market.video_cache import FetchResult, VideoCache

DOWNLOAD_COLUMNS = ["video_path", "video_sha256", "video_bytes", "download_status", "download_error"]


def _text(v: object) -> str | None:
    return v if isinstance(v, str) and v else None


def attach_video_files(
    rows: pd.DataFrame,
    cache: VideoCache,
    *,
    threads: int = 4,
    timeout_s: float = 60.0,
    max_bytes: int = 300 * 2**20,
    retries: int = 3,
) -> pd.DataFrame:
    """Return ``rows`` plus :data:`DOWNLOAD_COLUMNS`; local files are used in place, URLs go through the cache."""

    def fetch(row: dict) -> FetchResult:
        return cache.fetch(
            str(row["video_id"]),
            _text(row.get("download_url")),
            local_path=_text(row.get("local_path")),
            timeout_s=timeout_s,
            max_bytes=max_bytes,
            retries=retries,
        )

    records = rows.to_dict("records")
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        results = list(pool.map(fetch, records))
    out = rows.copy()
    out["video_path"] = [r.path for r in results]
    out["video_sha256"] = [r.sha256 for r in results]
    out["video_bytes"] = pd.array([r.size_bytes for r in results], dtype="Int64")
    out["download_status"] = [r.status for r in results]
    out["download_error"] = [r.error for r in results]
    return out
