"""Turn raw clockworks-shaped items into ``VIDEO_SCHEMA`` rows, rejecting (never dropping) what cannot be trusted.

Every input item ends up in exactly one of ``accepted`` or ``rejected`` (``read == accepted + rejected``). A rejected
item gets the *first* failing check, in the order of :data:`REJECTION_REASONS`; reasons that need detail are written
``"<reason>: <detail>"`` (e.g. ``"missing count: comments"``), and :func:`reason_kind` maps them back to the constant.

Decisions (measured on the shared TikTok sets, see the tests):

* A missing likes/comments/shares count is a rejection, not a zero: a hidden comment count is not "no comments"
  (41 rows of the VN IE403 set). Missing followers or saves are allowed (nullable columns).
* Items without ``createTime``/``createTimeISO`` (``trend_cleaned.csv`` replaced it by hour/dayofweek) take the
  creation time from the video id: TikTok ids carry the unix second of creation in their upper 32 bits. On the
  trending Dec-2020 set ``id >> 32`` is 1–222 s before ``createTime``; on trend_cleaned it agrees with hour and
  weekday (UTC) for 17,943 of 18,000 rows, 17,979 within five minutes. Float-mangled ids (``6.94656e+18``) have no
  usable timestamp.
* Engagement above 1 (likes + comments + shares > views) is rejected: it is a counting or rounding artefact.
* A duration of 0 s (or below) counts as missing: the source did not know it (328 VN rows show ``00:00``).
* Hashtags are ``None`` when the source has no hashtag field at all, ``[]`` when it has an empty one.
* Float-mangled ids are kept verbatim as strings; duplicates are detected on the rounded integer value.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from optimizer_pipeline.lib.core.buckets import MAX_DURATION_S, bucket_for
from optimizer_pipeline.lib.market.display_counts import (
    MISSING_STRINGS,
    is_missing,
    parse_bool,
    parse_count_series,
    parse_duration_series,
    parse_timestamp_series,
)
from optimizer_pipeline.lib.market.hashtags import hashtag_names
from optimizer_pipeline.lib.market.video_ids import id_key, is_digit_id, timestamps_from_video_ids
from optimizer_pipeline.lib.market.video_schema import REJECTED_COLUMNS, REJECTED_SCHEMA, VIDEO_COLUMNS, VIDEO_SCHEMA

REASON_JSON = "unparseable JSON line"
REASON_MISSING_ID = "missing video id"
REASON_BAD_COUNT = "unparseable count"
REASON_NEGATIVE_COUNT = "negative count"
REASON_NO_VIEWS = "views missing or <= 0"
REASON_MISSING_COUNT = "missing count"
REASON_BAD_DATE = "unparseable date"
REASON_BAD_DURATION = "missing or unparseable duration"
REASON_TOO_LONG = "duration over 120 s"
REASON_ENGAGEMENT_ABOVE_1 = "engagement above 1 (likes+comments+shares > views)"
REASON_BEFORE_CUTOFF = "created before date cutoff"
REASON_DUPLICATE = "duplicate video id"
#: All reasons, in the order the checks run (an item is rejected for the first one it fails).
REJECTION_REASONS: tuple[str, ...] = (
    REASON_JSON,
    REASON_MISSING_ID,
    REASON_BAD_COUNT,
    REASON_NEGATIVE_COUNT,
    REASON_NO_VIEWS,
    REASON_MISSING_COUNT,
    REASON_BAD_DATE,
    REASON_BAD_DURATION,
    REASON_TOO_LONG,
    REASON_ENGAGEMENT_ABOVE_1,
    REASON_BEFORE_CUTOFF,
    REASON_DUPLICATE,
)

#: Output count column -> where it sits in a raw item (read in this order by ``_extract_row``).
COUNT_FIELDS: dict[str, str] = {
    "views": "playCount",
    "likes": "diggCount",
    "comments": "commentCount",
    "shares": "shareCount",
    "saves": "collectCount",
    "author_followers": "authorMeta.fans",
}
REQUIRED_COUNTS: tuple[str, ...] = ("likes", "comments", "shares")


def reason_kind(reason: str) -> str:
    """The :data:`REJECTION_REASONS` constant a (possibly detailed) reason string belongs to."""
    for kind in REJECTION_REASONS:
        if reason == kind or reason.startswith(kind + ":"):
            return kind
    return reason


@dataclass(frozen=True)
class NormalizeResult:
    """Accepted rows (``VIDEO_COLUMNS``), rejected rows (``REJECTED_COLUMNS``) and how many items were read."""

    accepted: pd.DataFrame
    rejected: pd.DataFrame
    read: int

    def __post_init__(self) -> None:
        """Refuse to exist when the bookkeeping does not add up: nothing may be lost silently."""
        if self.read != len(self.accepted) + len(self.rejected):
            raise AssertionError(f"read {self.read} != accepted {len(self.accepted)} + rejected {len(self.rejected)}")

    @property
    def n_accepted(self) -> int:
        """Number of accepted rows."""
        return len(self.accepted)

    @property
    def n_rejected(self) -> int:
        """Number of rejected rows."""
        return len(self.rejected)

    @property
    def counts_by_reason(self) -> dict[str, int]:
        """Rejections per exact reason string (with detail), most frequent first."""
        return dict(Counter(self.rejected["reason"].tolist()).most_common())

    @property
    def counts_by_kind(self) -> dict[str, int]:
        """Rejections per reason constant (detail stripped), most frequent first."""
        return dict(Counter(reason_kind(r) for r in self.rejected["reason"].tolist()).most_common())


def to_arrow(df: pd.DataFrame) -> pa.Table:
    """Accepted rows as an Arrow table with exactly ``VIDEO_SCHEMA``."""
    return pa.Table.from_pandas(df[list(VIDEO_COLUMNS)], schema=VIDEO_SCHEMA, preserve_index=False)


def rejected_to_arrow(df: pd.DataFrame) -> pa.Table:
    """Rejected rows as an Arrow table with exactly ``REJECTED_SCHEMA``."""
    return pa.Table.from_pandas(df[list(REJECTED_COLUMNS)], schema=REJECTED_SCHEMA, preserve_index=False)


def _dict(value: Any) -> dict:
    """The value when it is a dict, else an empty one (tolerates ``None`` or junk in nested slots)."""
    return value if isinstance(value, dict) else {}


def _text(*values: Any) -> str | None:
    """First value that is a non-empty scalar, as a stripped string."""
    for value in values:
        if value is None or isinstance(value, dict | list):
            continue
        text = value.strip() if type(value) is str else "" if is_missing(value) else str(value).strip()
        if text and text.lower() not in MISSING_STRINGS:
            return text
    return None


def _first_media(value: Any) -> Any:
    """First entry of ``mediaUrls`` (a list, or a bare string in flattened exports)."""
    if isinstance(value, list | tuple):
        return value[0] if value else None
    return value


_RAW_FIELDS: tuple[str, ...] = (
    "parse_error", "video_id", "caption", "created_iso", "created_unix", "author", "author_id", "author_verified",
    "music_id", "music_original", "duration", "width", "height", "url", "download_url", "local_path", "hashtags",
    "scraped_raw", "source_file", "source_row", *COUNT_FIELDS,
)  # fmt: skip


def _extract_row(pos: int, item: dict) -> tuple[Any, ...]:
    """Raw values of one item, in :data:`_RAW_FIELDS` order."""
    author, music, video = _dict(item.get("authorMeta")), _dict(item.get("musicMeta")), _dict(item.get("videoMeta"))
    return (
        item.get("_parse_error"),
        _text(item.get("id")),
        item.get("text"),
        item.get("createTimeISO"),
        item.get("createTime"),
        _text(author.get("name"), author.get("uniqueId"), author.get("nickName")),
        _text(author.get("id")),
        parse_bool(author.get("verified")),
        _text(music.get("musicId")),
        parse_bool(music.get("musicOriginal")),
        video.get("duration"),
        video.get("width"),
        video.get("height"),
        _text(item.get("webVideoUrl")),
        _text(_first_media(item.get("mediaUrls")), video.get("downloadAddr"), item.get("videoUrl")),
        _text(item.get("localVideoPath")),
        hashtag_names(item.get("hashtags")),
        item.get("_scrapedAt"),
        _text(item.get("_source_file")),
        item.get("_source_row", pos),
        item.get("playCount"),
        item.get("diggCount"),
        item.get("commentCount"),
        item.get("shareCount"),
        item.get("collectCount"),
        author.get("fans"),
    )


def _extract(items: list[dict]) -> dict[str, list[Any]]:
    """One raw (unparsed) value list per field: the only per-item Python loop (rows transposed in C)."""
    rows = [
        _extract_row(pos, item if isinstance(item, dict) else {"_parse_error": f"item is a {type(item).__name__}"})
        for pos, item in enumerate(items)
    ]
    columns = zip(*rows, strict=True) if rows else ([] for _ in _RAW_FIELDS)
    return {name: list(values) for name, values in zip(_RAW_FIELDS, columns, strict=True)}


class _Rejections:
    """First-failure bookkeeping: a reason per row, set only where none was set before."""

    def __init__(self, n: int) -> None:
        self.reason = np.full(n, None, dtype=object)

    @property
    def open(self) -> np.ndarray:
        """Rows without a reason yet."""
        return pd.isna(self.reason)

    def flag(self, mask: np.ndarray, reason: str | np.ndarray) -> None:
        """Give ``reason`` (a string, or one string per row) to the masked rows that are still open."""
        hit = np.asarray(mask, dtype=bool) & self.open
        self.reason[hit] = reason if isinstance(reason, str) else np.asarray(reason, dtype=object)[hit]


def _utc(stamp: pd.Timestamp) -> pd.Timestamp:
    """A tz-aware UTC timestamp in microseconds (naive input is taken as UTC)."""
    stamp = pd.Timestamp(stamp)
    return (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")).as_unit("us")


def _check_counts(raw: dict[str, list[Any]], rej: _Rejections) -> dict[str, pd.Series]:
    """Parse every count field; reject unparseable, negative, missing views and missing required counts."""
    parsed: dict[str, pd.Series] = {}
    errors: dict[str, list[str | None]] = {}
    for field in COUNT_FIELDS:
        parsed[field], errors[field] = parse_count_series(raw[field])
    for field in COUNT_FIELDS:
        bad = np.array([e is not None for e in errors[field]], dtype=bool)
        detail = [f"{REASON_BAD_COUNT}: {field}={v!r}" if b else "" for v, b in zip(raw[field], bad, strict=True)]
        rej.flag(bad, np.array(detail, dtype=object))
    for field in COUNT_FIELDS:
        rej.flag((parsed[field] < 0).fillna(False).to_numpy(dtype=bool), f"{REASON_NEGATIVE_COUNT}: {field}")
    rej.flag(~(parsed["views"] > 0).fillna(False).to_numpy(dtype=bool), REASON_NO_VIEWS)
    for field in REQUIRED_COUNTS:
        rej.flag(parsed[field].isna().to_numpy(), f"{REASON_MISSING_COUNT}: {field}")
    return parsed


def _check_dates(raw: dict[str, list[Any]], rej: _Rejections, scraped_at: pd.Timestamp) -> tuple[pd.Series, pd.Series]:
    """created_at (ISO, else unix, else id-encoded) and per-item scraped_at; reject what cannot be dated."""
    iso, iso_err = parse_timestamp_series(raw["created_iso"])
    unix, unix_err = parse_timestamp_series(raw["created_unix"])
    created = iso.where(iso.notna(), unix)
    no_field = [is_missing(a) and is_missing(b) for a, b in zip(raw["created_iso"], raw["created_unix"], strict=True)]
    from_id = np.flatnonzero(np.array(no_field, dtype=bool) & rej.open)
    if len(from_id):
        stamps = timestamps_from_video_ids([raw["video_id"][p] for p in from_id], scraped_at + pd.Timedelta(days=1))
        created.iloc[from_id] = stamps.array
    detail = [
        f"{REASON_BAD_DATE}: {a or b or 'no createTime/createTimeISO and no timestamp in the video id'}"
        for a, b in zip(iso_err, unix_err, strict=True)
    ]
    rej.flag(created.isna().to_numpy(), np.array(detail, dtype=object))
    scraped, scraped_err = parse_timestamp_series(raw["scraped_raw"])
    rej.flag(np.array([e is not None for e in scraped_err]), f"{REASON_BAD_DATE}: _scrapedAt")
    return created, scraped.fillna(scraped_at)


def _build_accepted(raw: dict[str, list[Any]], keep: np.ndarray, parsed: dict[str, Any], source: str) -> pd.DataFrame:
    """The accepted rows as a VIDEO_COLUMNS frame with Arrow-compatible dtypes."""
    idx = np.flatnonzero(keep)

    def pick(name: str) -> list[Any]:
        return [raw[name][i] for i in idx]

    def take(name: str) -> pd.Series:
        return parsed[name].iloc[idx].reset_index(drop=True)

    duration = take("duration")
    ids, authors = pick("video_id"), pick("author")
    urls = [
        url or (f"https://www.tiktok.com/@{a}/video/{i}" if a and is_digit_id(i) else None)
        for url, a, i in zip(pick("url"), authors, ids, strict=True)
    ]
    dims = {f: parse_count_series(pick(f))[0] for f in ("width", "height")}
    text = {f: pd.array(pick(f), dtype="str") for f in ("author_id", "music_id", "download_url", "local_path")}
    frame = pd.DataFrame(
        {
            "video_id": pd.array(ids, dtype="str"),
            "url": pd.array(urls, dtype="str"),
            "author": pd.array(authors, dtype="str"),
            "author_followers": take("author_followers"),
            "author_verified": pd.array(pick("author_verified"), dtype="boolean"),
            "duration_s": duration,
            "created_at": take("created_at"),
            **{f: take(f) for f in ("views", "likes", "comments", "shares", "saves")},
            "caption": pd.array([None if is_missing(c) else str(c) for c in pick("caption")], dtype="str"),
            "hashtags": pd.Series(pick("hashtags"), dtype=object),
            "music_original": pd.array(pick("music_original"), dtype="boolean"),
            **text,
            **{f: dims[f].where((dims[f] > 0).fillna(False)) for f in ("width", "height")},
            "engagement_rate": take("engagement"),
            "duration_bucket": pd.array([bucket_for(d) for d in duration], dtype="str"),
            "source": pd.array([source] * len(idx), dtype="str"),
            "scraped_at": take("scraped_at"),
        }
    )
    return frame[list(VIDEO_COLUMNS)]


def _build_rejected(items: list[dict], raw: dict[str, list[Any]], rej: _Rejections, source: str) -> pd.DataFrame:
    """The rejected rows as a REJECTED_COLUMNS frame, each with its item as compact JSON."""
    positions = np.flatnonzero(~rej.open)
    frame = pd.DataFrame(
        {
            "source": pd.array([source] * len(positions), dtype="str"),
            "source_file": pd.array([raw["source_file"][p] for p in positions], dtype="str"),
            "source_row": pd.array([raw["source_row"][p] for p in positions], dtype="Int64"),
            "video_id": pd.array([raw["video_id"][p] for p in positions], dtype="str"),
            "reason": pd.array(rej.reason[positions], dtype="str"),
            "raw": pd.array(
                [json.dumps(items[p], default=str, ensure_ascii=False, separators=(",", ":")) for p in positions],
                dtype="str",
            ),
        }
    )
    return frame[list(REJECTED_COLUMNS)]


def normalize_items(
    items: Iterable[dict],
    *,
    source: str,
    scraped_at: pd.Timestamp,
    date_cutoff: date | None = None,
) -> NormalizeResult:
    """Validate and map raw items to ``VIDEO_COLUMNS``; every item is either accepted or rejected with a reason."""
    items = list(items)
    scraped_default = _utc(scraped_at)
    raw = _extract(items)
    rej = _Rejections(len(items))
    rej.flag(np.array([e is not None for e in raw["parse_error"]], dtype=bool),
             np.array([f"{REASON_JSON}: {e}" for e in raw["parse_error"]], dtype=object))  # fmt: skip
    rej.flag(np.array([i is None for i in raw["video_id"]], dtype=bool), REASON_MISSING_ID)
    parsed: dict[str, Any] = _check_counts(raw, rej)
    parsed["created_at"], parsed["scraped_at"] = _check_dates(raw, rej, scraped_default)
    duration, _ = parse_duration_series(raw["duration"])
    parsed["duration"] = duration
    rej.flag(~(duration > 0).to_numpy(), REASON_BAD_DURATION)
    rej.flag((duration > MAX_DURATION_S).to_numpy(), REASON_TOO_LONG)
    as_float = {f: parsed[f].astype("float64").to_numpy(na_value=np.nan) for f in ("views", *REQUIRED_COUNTS)}
    with np.errstate(divide="ignore", invalid="ignore"):
        engagement = (as_float["likes"] + as_float["comments"] + as_float["shares"]) / as_float["views"]
    parsed["engagement"] = pd.Series(engagement, dtype="float64")
    rej.flag(engagement > 1, REASON_ENGAGEMENT_ABOVE_1)
    if date_cutoff is not None:
        cutoff = pd.Timestamp(date_cutoff.isoformat(), tz="UTC")
        rej.flag((parsed["created_at"] < cutoff).fillna(False).to_numpy(dtype=bool), REASON_BEFORE_CUTOFF)
    open_rows = np.flatnonzero(rej.open)
    keys = pd.Series([id_key(raw["video_id"][i]) for i in open_rows], dtype=object)
    duplicate = np.zeros(len(items), dtype=bool)
    duplicate[open_rows] = keys.duplicated(keep="first").to_numpy()
    rej.flag(duplicate, REASON_DUPLICATE)
    keep = rej.open
    return NormalizeResult(
        accepted=_build_accepted(raw, keep, parsed, source),
        rejected=_build_rejected(items, raw, rej, source),
        read=len(items),
    )
