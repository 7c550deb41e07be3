"""Pick the reference videos of one duration bucket, recording why every other video was left out.

Steps (each excluded row keeps its reason, so ``in_bucket == selected + excluded``):

1. keep the rows of the bucket;
2. quality: ``views < min_views`` -> "below min views", else ``engagement_rate < min_engagement_rate`` (or missing)
   -> "below min engagement rate";
3. engagement-rate outliers outside the Tukey fences ``[Q1 - 1.5 IQR, Q3 + 1.5 IQR]`` of the quality-passed rows
   (skipped with fewer than :data:`MIN_ROWS_FOR_FENCES` rows). By default (``er_scale="linear"``) this is the
   seed's rule on the rate itself. ``er_scale="log"`` computes the fences on ``log(engagement rate)`` and reports
   them on the rate scale: rates are right-skewed (roughly log-normal), and on a wide bucket linear fences also
   cut genuine top performers whose rates stack several multiplicative effects;
4. celebrity flag (not an exclusion): ``views > Q3 + 2.5 IQR`` of the remaining rows' views -> ``is_celebrity``,
   ``sample_weight = 0.5`` (same minimum row count);
5. ``creator_tier`` from follower count;
6. top-N by engagement rate (ties: smaller ``video_id`` first), the rest "below top-N";
7. ``performance_tier`` by rank: with ``n`` selected rows, rank ``r`` (0-based) is "top" while
   ``r < ceil(n*10/100)``, "strong" while ``r < ceil(n*30/100)``, "middle" while ``r < ceil(n*70/100)``, else
   "bottom". Cumulative ceilings (integer arithmetic, no float drift) give the top tier at least one row for n >= 1.
   n=10 -> 1/2/4/3, n=20 -> 2/4/8/6, n=47 -> 5/10/18/14, n=50 -> 5/10/20/15.

Quartiles are the linear-interpolation quantiles of pandas/numpy (``Series.quantile`` default).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from optimizer_pipeline.lib.core.buckets import bucket_bounds
from optimizer_pipeline.lib.market.video_schema import VIDEO_COLUMNS

EXCLUDED_BELOW_MIN_VIEWS = "below min views"
EXCLUDED_BELOW_MIN_ER = "below min engagement rate"
EXCLUDED_ER_OUTLIER = "engagement-rate outlier"
EXCLUDED_BELOW_TOP_N = "below top-N"
EXCLUSION_REASONS: tuple[str, ...] = (
    EXCLUDED_BELOW_MIN_VIEWS,
    EXCLUDED_BELOW_MIN_ER,
    EXCLUDED_ER_OUTLIER,
    EXCLUDED_BELOW_TOP_N,
)

STATUS_OK = "ok"
STATUS_INSUFFICIENT = "insufficient data"

ER_FENCE_IQR = 1.5
CELEBRITY_FENCE_IQR = 2.5
CELEBRITY_SAMPLE_WEIGHT = 0.5
MIN_ROWS_FOR_FENCES = 4

#: Follower thresholds: nano < 10k <= micro < 100k <= macro < 1M <= celebrity.
MICRO_FOLLOWERS = 10_000
MACRO_FOLLOWERS = 100_000
CELEBRITY_FOLLOWERS = 1_000_000

#: (tier, cumulative share of the ranked rows in percent); the last tier takes the rest.
PERFORMANCE_TIERS: tuple[tuple[str, int], ...] = (("top", 10), ("strong", 30), ("middle", 70), ("bottom", 100))

SELECTION_EXTRA_COLUMNS: tuple[str, ...] = (
    "is_celebrity",
    "sample_weight",
    "creator_tier",
    "performance_tier",
    "er_rank",
)
#: ``author`` travels with every excluded row: bucket intelligence compares buckets on all quality-passed videos,
#: clustered by creator, so the rows below the top N need their creator too.
EXCLUDED_COLUMNS: tuple[str, ...] = ("video_id", "reason", "engagement_rate", "views", "author")


@dataclass(frozen=True)
class BucketSelection:
    """Selected rows with weights and tiers, excluded rows with reasons, and the numbers behind the decision."""

    selected: pd.DataFrame
    excluded: pd.DataFrame
    status: str
    counts: dict[str, int] = field(default_factory=dict)
    thresholds: dict[str, float] = field(default_factory=dict)


def creator_tier(followers: pd.Series) -> pd.Series:
    """nano / micro / macro / celebrity from follower counts; "unknown" when the count is missing."""
    values = pd.to_numeric(followers, errors="coerce").astype("float64").to_numpy(na_value=np.nan)
    tiers = np.select(
        [np.isnan(values), values < MICRO_FOLLOWERS, values < MACRO_FOLLOWERS, values < CELEBRITY_FOLLOWERS],
        ["unknown", "nano", "micro", "macro"],
        default="celebrity",
    )
    return pd.Series(tiers, index=followers.index, dtype="str")


def performance_tiers(n: int) -> list[str]:
    """Tier of each rank 0..n-1 (best first), by cumulative ceilings of :data:`PERFORMANCE_TIERS`."""
    bounds = [(name, -(-n * pct // 100)) for name, pct in PERFORMANCE_TIERS]
    return [next(name for name, bound in bounds if rank < bound) for rank in range(n)]


def _fences(values: pd.Series, k: float) -> tuple[float, float, float, float]:
    """(Q1, Q3, low fence, high fence) with ``k`` IQRs beyond the quartiles."""
    q1, q3 = (float(v) for v in values.quantile([0.25, 0.75]))
    iqr = q3 - q1
    return q1, q3, q1 - k * iqr, q3 + k * iqr


def _excluded(rows: pd.DataFrame, reason: str) -> pd.DataFrame:
    """Excluded-table rows for ``rows`` with one reason."""
    out = rows[["video_id", "engagement_rate", "views", "author"]].copy()
    out.insert(1, "reason", pd.Series([reason] * len(rows), index=rows.index, dtype="str"))
    return out


def _rank(rows: pd.DataFrame) -> pd.DataFrame:
    """Rows ordered best first: engagement rate descending, then video_id ascending."""
    return rows.sort_values(["engagement_rate", "video_id"], ascending=[False, True], kind="mergesort")


def select_bucket(
    videos: pd.DataFrame,
    bucket: str,
    *,
    min_views: int = 1000,
    min_engagement_rate: float = 0.02,
    videos_per_bucket: int = 50,
    min_videos: int = 20,
    er_scale: str = "linear",
) -> BucketSelection:
    """Select up to ``videos_per_bucket`` reference videos of ``bucket``; see the module docstring for the steps."""
    bucket_bounds(bucket)  # raises KeyError for an unknown bucket label
    missing = [c for c in VIDEO_COLUMNS if c not in videos.columns]
    if missing:
        raise ValueError(f"videos lack columns {missing}")
    rows = videos.loc[videos["duration_bucket"] == bucket, list(VIDEO_COLUMNS)].reset_index(drop=True)
    thresholds: dict[str, float] = {"min_views": float(min_views), "min_engagement_rate": float(min_engagement_rate)}
    dropped: list[pd.DataFrame] = []

    low_views = (rows["views"] < min_views).fillna(True).to_numpy(dtype=bool)
    low_er = ~low_views & ~(rows["engagement_rate"] >= min_engagement_rate).fillna(False).to_numpy(dtype=bool)
    dropped += [_excluded(rows[low_views], EXCLUDED_BELOW_MIN_VIEWS), _excluded(rows[low_er], EXCLUDED_BELOW_MIN_ER)]
    kept = rows[~low_views & ~low_er]

    if er_scale not in ("log", "linear"):
        raise ValueError(f"er_scale must be 'log' or 'linear', got {er_scale!r}")
    if len(kept) >= MIN_ROWS_FOR_FENCES:
        er = kept["engagement_rate"].astype("float64")
        scaled = np.log(er.clip(lower=1e-12)) if er_scale == "log" else er
        q1, q3, low, high = _fences(scaled, ER_FENCE_IQR)
        if er_scale == "log":
            q1, q3, low, high = (float(np.exp(v)) for v in (q1, q3, low, high))
        thresholds.update(er_q1=q1, er_q3=q3, er_low_fence=low, er_high_fence=high)
        outlier = ~er.between(low, high)
        dropped.append(_excluded(kept[outlier], EXCLUDED_ER_OUTLIER))
        kept = kept[~outlier]

    kept = kept.copy()
    celebrity_fence = np.inf
    if len(kept) >= MIN_ROWS_FOR_FENCES:
        q1, q3, _, celebrity_fence = _fences(kept["views"].astype("float64"), CELEBRITY_FENCE_IQR)
        thresholds.update(views_q1=q1, views_q3=q3, views_celebrity_fence=celebrity_fence)
    kept["is_celebrity"] = (kept["views"].astype("float64") > celebrity_fence).astype("bool")
    kept["sample_weight"] = np.where(kept["is_celebrity"], CELEBRITY_SAMPLE_WEIGHT, 1.0)
    kept["creator_tier"] = creator_tier(kept["author_followers"])

    ranked = _rank(kept)
    selected = ranked.iloc[:videos_per_bucket].reset_index(drop=True)
    dropped.append(_excluded(ranked.iloc[videos_per_bucket:], EXCLUDED_BELOW_TOP_N))
    selected["performance_tier"] = pd.Series(performance_tiers(len(selected)), dtype="str")
    selected["er_rank"] = pd.Series(np.arange(1, len(selected) + 1), dtype="int64")

    excluded = pd.concat(dropped, ignore_index=True) if dropped else pd.DataFrame(columns=list(EXCLUDED_COLUMNS))
    counts = {"in_bucket": len(rows)}
    counts.update({reason: int((excluded["reason"] == reason).sum()) for reason in EXCLUSION_REASONS})
    counts["selected"] = len(selected)
    if counts["in_bucket"] != counts["selected"] + len(excluded):
        raise AssertionError(f"bucket bookkeeping broken: {counts}")
    return BucketSelection(
        selected=selected[[*VIDEO_COLUMNS, *SELECTION_EXTRA_COLUMNS]],
        excluded=excluded[list(EXCLUDED_COLUMNS)].reset_index(drop=True),
        status=STATUS_OK if len(selected) >= min_videos else STATUS_INSUFFICIENT,
        counts=counts,
        thresholds=thresholds,
    )
