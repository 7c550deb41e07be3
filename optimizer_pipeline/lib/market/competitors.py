"""Competitor hashtag strategy: which hashtags each competitor uses, how often, and at what engagement.

Input: each competitor's normalised videos (``tiktok_videos`` rows of its ``<client>__at-<handle>`` partition; only
``video_id``, ``hashtags``, ``engagement_rate`` and ``created_at`` are read). Output: one row per (competitor,
hashtag) with the columns of :data:`STRATEGY_COLUMNS`:

* ``videos``: the competitor's videos carrying the hashtag (a hashtag counts once per video);
* ``share_of_videos``: ``videos`` / all the competitor's videos (videos without hashtags included);
* ``median_engagement_rate`` / ``mean_engagement_rate``: over those videos;
* ``engagement_vs_competitor_median``: their median engagement rate / the median over *all* the competitor's
  videos (1.0 = typical for this competitor, > 1 = the hashtag goes with better-engaging posts; NaN when the
  competitor's median is 0). Descriptive, not causal: a hashtag is chosen together with everything else in a post;
* ``first_seen`` / ``last_seen``: creation time of the earliest and latest such video.

Rows are ordered by competitor, then by ``videos`` (most used first), then by hashtag. No Dagster import here.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

STRATEGY_COLUMNS: tuple[str, ...] = (
    "competitor",
    "hashtag",
    "videos",
    "share_of_videos",
    "median_engagement_rate",
    "mean_engagement_rate",
    "engagement_vs_competitor_median",
    "first_seen",
    "last_seen",
)
_DTYPES: dict[str, str] = {
    "competitor": "str",
    "hashtag": "str",
    "videos": "int64",
    "share_of_videos": "float64",
    "median_engagement_rate": "float64",
    "mean_engagement_rate": "float64",
    "engagement_vs_competitor_median": "float64",
    "first_seen": "datetime64[us, UTC]",
    "last_seen": "datetime64[us, UTC]",
}
REQUIRED_COLUMNS: tuple[str, ...] = ("video_id", "hashtags", "engagement_rate", "created_at")


def empty_strategy() -> pd.DataFrame:
    """The strategy table with no rows (a client without competitors, or without competitor data)."""
    return pd.DataFrame({c: pd.Series(dtype=_DTYPES[c]) for c in STRATEGY_COLUMNS})


def hashtag_strategy(videos_by_competitor: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """One row per (competitor, hashtag) from each competitor's videos; see the module docstring for the columns."""
    frames = [_one_competitor(handle, videos) for handle, videos in videos_by_competitor.items()]
    frames = [f for f in frames if len(f)]
    if not frames:
        return empty_strategy()
    table = pd.concat(frames, ignore_index=True)
    table = table.sort_values(
        ["competitor", "videos", "hashtag"], ascending=[True, False, True], kind="mergesort"
    ).reset_index(drop=True)
    return table.astype(_DTYPES)[list(STRATEGY_COLUMNS)]


def _one_competitor(handle: str, videos: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in REQUIRED_COLUMNS if c not in videos.columns]
    if missing:
        raise ValueError(f"videos of competitor {handle!r} lack column(s) {missing}")
    videos = videos.drop_duplicates("video_id")
    if videos.empty:
        return empty_strategy()
    created = pd.to_datetime(videos["created_at"], utc=True)
    base = pd.DataFrame(
        {
            "video_id": videos["video_id"].to_numpy(),
            "engagement_rate": videos["engagement_rate"].astype("float64").to_numpy(),
            "created_at": created.to_numpy(),
            "hashtag": [_tags(v) for v in videos["hashtags"]],
        }
    )
    competitor_median = float(base["engagement_rate"].median())
    per_tag = base.explode("hashtag").dropna(subset=["hashtag"])
    per_tag = per_tag.drop_duplicates(["video_id", "hashtag"])
    if per_tag.empty:
        return empty_strategy()
    g = per_tag.groupby("hashtag", sort=True)
    out = pd.DataFrame(
        {
            "videos": g["video_id"].count(),
            "median_engagement_rate": g["engagement_rate"].median(),
            "mean_engagement_rate": g["engagement_rate"].mean(),
            "first_seen": g["created_at"].min(),
            "last_seen": g["created_at"].max(),
        }
    ).reset_index()
    out.insert(0, "competitor", handle)
    out["share_of_videos"] = out["videos"] / len(base)
    out["engagement_vs_competitor_median"] = (
        out["median_engagement_rate"] / competitor_median if competitor_median > 0 else np.nan
    )
    return out


def _tags(value: object) -> list[str]:
    """A video's hashtags as a list of clean names (``None``/missing → no hashtags)."""
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return []
    names = [str(t).strip().lstrip("#").lower() for t in list(value)]  # type: ignore[call-overload]
    return [n for n in dict.fromkeys(names) if n]


def top_hashtags(table: pd.DataFrame, n: int = 5) -> pd.DataFrame:
    """The ``n`` most used hashtags of each competitor (the table is already ordered that way)."""
    if table.empty:
        return table
    return table.groupby("competitor", sort=False).head(n).reset_index(drop=True)


def competitor_summary(videos_by_competitor: Mapping[str, pd.DataFrame], table: pd.DataFrame) -> pd.DataFrame:
    """One row per competitor with data: videos, distinct hashtags, median engagement rate, top hashtag."""
    rows = []
    for handle, videos in videos_by_competitor.items():
        mine = table[table["competitor"] == handle]
        rows.append(
            {
                "competitor": handle,
                "videos": int(videos["video_id"].nunique()) if "video_id" in videos else 0,
                "hashtags": len(mine),
                "median_engagement_rate": float(videos["engagement_rate"].median()) if len(videos) else float("nan"),
                "top_hashtag": f"#{mine['hashtag'].iloc[0]}" if len(mine) else "",
            }
        )
    return pd.DataFrame(rows, columns=["competitor", "videos", "hashtags", "median_engagement_rate", "top_hashtag"])
