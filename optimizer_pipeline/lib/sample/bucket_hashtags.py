"""Synthetic hashtags with known bucket engagement and creator clustering: the truth behind the bucket-comparison
simulations (``optimizer_pipeline_tests/lib/patterns/test_bucket_comparison*.py`` and
``benchmarks/calibration_sims/bucket_null.py``).

A hashtag has a pool of ``creators``. Creator ``c`` has an effect ``u_c ~ N(0, icc · sigma²)`` on log ER shared by
all their videos in every bucket (ICC = the share of log-ER variance between creators), and an activity
``a_c ~ Gamma(ACTIVITY_SHAPE)`` (how much they post). A bucket with ``n`` candidate videos draws each video's
creator with probability ``∝ a_c`` and ``log ER = log(geo_mean_b) + u_c + N(0, (1 - icc) · sigma²)``, so the true
geometric-mean ER of bucket ``b`` (over the creator population) is ``geo_mean_b``. Views are log-normal and above the
pipeline's default ``min_views``.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from optimizer_pipeline.lib.market.bucket_selection import EXCLUDED_BELOW_TOP_N
from optimizer_pipeline.lib.market.video_schema import VIDEO_COLUMNS

ACTIVITY_SHAPE = 1.0
SIGMA = 0.5
CREATORS = 60
CANDIDATE_COLUMNS: tuple[str, ...] = ("video_id", "author", "engagement_rate", "views")


def hashtag_candidates(
    rng: np.random.Generator,
    sizes: Mapping[str, int],
    geo_means: Mapping[str, float],
    *,
    icc: float,
    sigma: float = SIGMA,
    creators: int = CREATORS,
) -> dict[str, pd.DataFrame]:
    """Candidate videos (:data:`CANDIDATE_COLUMNS`) of one hashtag per bucket (model in the module docstring)."""
    effect = rng.normal(0.0, np.sqrt(icc) * sigma, creators)
    activity = rng.gamma(ACTIVITY_SHAPE, size=creators)
    names = np.array([f"creator{c:03d}" for c in range(creators)], dtype=object)
    out = {}
    for bucket, n in sizes.items():
        who = rng.choice(creators, size=n, p=activity / activity.sum())
        log_er = np.log(geo_means[bucket]) + effect[who] + rng.normal(0.0, np.sqrt(1.0 - icc) * sigma, n)
        out[bucket] = pd.DataFrame(
            {
                "video_id": np.array([f"{bucket}-{i:05d}" for i in range(n)], dtype=object),
                "author": names[who],
                "engagement_rate": np.exp(log_er),
                "views": (2_000 * np.exp(rng.normal(0.0, 1.0, n))).astype("int64") + 1_000,
            }
        )
    return out


def as_scraped(candidates: pd.DataFrame, bucket: str) -> pd.DataFrame:
    """The candidates with every ``VIDEO_COLUMNS`` column (empty where the simulation says nothing), so
    ``select_bucket`` accepts them."""
    frame = pd.DataFrame({c: pd.Series([None] * len(candidates), dtype=object) for c in VIDEO_COLUMNS})
    for c in CANDIDATE_COLUMNS:
        frame[c] = candidates[c].to_numpy()
    frame["duration_bucket"] = bucket
    frame["author_followers"] = pd.Series([pd.NA] * len(candidates), dtype="Int64")
    return frame


def split_top_n(candidates: pd.DataFrame, top_n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``select_bucket``'s top-N step alone (no quality filters or fences): the best ``top_n`` by ER as the selected
    rows (unit weights), the rest as "below top-N" excluded rows that keep their ``author``."""
    order = np.lexsort((candidates["video_id"].to_numpy(), -candidates["engagement_rate"].to_numpy()))
    ranked = candidates.iloc[order]
    selected = ranked.iloc[:top_n].assign(sample_weight=1.0).reset_index(drop=True)
    excluded = ranked.iloc[top_n:].assign(reason=EXCLUDED_BELOW_TOP_N).reset_index(drop=True)
    return selected, excluded
