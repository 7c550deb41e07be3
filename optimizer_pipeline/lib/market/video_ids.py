"""TikTok video ids: the creation time they encode and the key that spots duplicates.

TikTok ids carry the unix second of creation in their upper 32 bits (checked on the shared sets, see
:mod:`optimizer_pipeline.lib.market.normalize`). Some exports wrote ids through a float (``6.94656e+18``): those keep
their text but have no usable timestamp, and duplicates are detected on the rounded integer value.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

import numpy as np
import pandas as pd

#: TikTok ids hold the creation unix second in their upper 32 bits; only trust results in this window.
ID_TIMESTAMP_EARLIEST = pd.Timestamp("2016-01-01", tz="UTC")
_DIGITS = re.compile(r"^\d+$")


def is_digit_id(video_id: str) -> bool:
    """True for an id written as plain digits (not float-mangled): only those name a real video URL or timestamp."""
    return bool(_DIGITS.match(video_id))


def timestamps_from_video_ids(video_ids: list[str | None], latest: pd.Timestamp) -> pd.Series:
    """Creation times encoded in TikTok ids (upper 32 bits = unix seconds); NaT when not digits or implausible."""
    seconds = [int(i) >> 32 if i is not None and is_digit_id(i) and len(i) < 25 else -1 for i in video_ids]
    stamps = pd.Series(pd.to_datetime(np.asarray(seconds, dtype="int64"), unit="s", utc=True)).dt.as_unit("us")
    return stamps.where((stamps >= ID_TIMESTAMP_EARLIEST) & (stamps <= latest))


def id_key(video_id: str) -> str:
    """Duplicate-detection key: digits as-is, float-written ids rounded to their integer value."""
    if is_digit_id(video_id):
        return video_id
    try:
        return str(int(Decimal(video_id)))
    except (InvalidOperation, ValueError, OverflowError):
        return video_id
