"""Column contracts of the market-loop tables, so every writer and reader agrees on names and types."""

from __future__ import annotations

import pyarrow as pa

#: One row per accepted video of a client × hashtag scrape (asset ``tiktok_videos``).
VIDEO_SCHEMA = pa.schema(
    [
        ("video_id", pa.string()),
        ("url", pa.string()),
        ("author", pa.string()),
        ("author_id", pa.string()),
        ("author_followers", pa.int64()),  # null when the source does not say
        ("author_verified", pa.bool_()),
        ("duration_s", pa.float64()),
        ("created_at", pa.timestamp("us", tz="UTC")),
        ("views", pa.int64()),
        ("likes", pa.int64()),
        ("comments", pa.int64()),
        ("shares", pa.int64()),
        ("saves", pa.int64()),  # null when the source does not say
        ("caption", pa.string()),
        ("hashtags", pa.list_(pa.string())),
        ("music_id", pa.string()),
        ("music_original", pa.bool_()),
        ("download_url", pa.string()),
        ("local_path", pa.string()),
        ("width", pa.int64()),
        ("height", pa.int64()),
        ("engagement_rate", pa.float64()),  # (likes + comments + shares) / views
        ("duration_bucket", pa.string()),
        ("source", pa.string()),  # "apify", "replay:<file>", "sample"
        ("scraped_at", pa.timestamp("us", tz="UTC")),
    ]
)
VIDEO_COLUMNS: tuple[str, ...] = tuple(VIDEO_SCHEMA.names)

#: One row per input item that was not accepted, with the reason (read = accepted + rejected).
REJECTED_SCHEMA = pa.schema(
    [
        ("source", pa.string()),
        ("source_file", pa.string()),
        ("source_row", pa.int64()),
        ("video_id", pa.string()),
        ("reason", pa.string()),
        ("raw", pa.string()),  # the offending item as JSON, so nothing is lost
    ]
)
REJECTED_COLUMNS: tuple[str, ...] = tuple(REJECTED_SCHEMA.names)
