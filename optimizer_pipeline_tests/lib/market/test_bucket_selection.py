"""Bucket selection: every exclusion is listed with its reason, weights and tiers follow the documented rules."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest

from optimizer_pipeline.lib.market import bucket_selection as bk
from optimizer_pipeline.lib.market.bucket_selection import BucketSelection, performance_tiers, select_bucket
from optimizer_pipeline.lib.market.video_schema import VIDEO_COLUMNS


def make_videos(
    ers: list[float],
    views: list[int] | None = None,
    followers: list[int | None] | None = None,
    bucket: str = "16-30s",
    prefix: str = "v",
) -> pd.DataFrame:
    """VIDEO_COLUMNS frame with the given engagement rates (ids ``<prefix>000``, ``<prefix>001``...)."""
    n = len(ers)
    views = views or [100_000] * n
    followers = followers or [50_000] * n
    frame = pd.DataFrame({c: pd.Series([None] * n, dtype=object) for c in VIDEO_COLUMNS})
    frame["video_id"] = pd.array([f"{prefix}{i:03d}" for i in range(n)], dtype="str")
    frame["views"] = pd.array(views, dtype="Int64")
    frame["author_followers"] = pd.array(followers, dtype="Int64")
    frame["engagement_rate"] = pd.array(ers, dtype="float64")
    frame["duration_bucket"] = pd.array([bucket] * n, dtype="str")
    frame["duration_s"] = 20.0
    return frame


def spread(n: int, low: float = 0.05, high: float = 0.10) -> list[float]:
    """n distinct engagement rates evenly between low and high (no outliers among them)."""
    return list(np.linspace(low, high, n))


def assert_bookkeeping(sel: BucketSelection) -> None:
    """in_bucket == selected + excluded, and counts match the frames."""
    assert sel.counts["in_bucket"] == len(sel.selected) + len(sel.excluded)
    assert sel.counts["selected"] == len(sel.selected)
    assert {r: n for r, n in sel.counts.items() if r in bk.EXCLUSION_REASONS} == {
        r: int((sel.excluded["reason"] == r).sum()) for r in bk.EXCLUSION_REASONS
    }
    assert tuple(sel.selected.columns) == (*VIDEO_COLUMNS, *bk.SELECTION_EXTRA_COLUMNS)
    assert tuple(sel.excluded.columns) == bk.EXCLUDED_COLUMNS
    assert not set(sel.selected["video_id"]) & set(sel.excluded["video_id"])


@pytest.mark.parametrize("scale", ["log", "linear"])
def test_planted_outliers_excluded_and_listed(scale: str) -> None:
    ers = [*spread(30), 0.9, 0.95]  # two implausibly engaging videos
    sel = select_bucket(make_videos(ers), "16-30s", er_scale=scale)
    assert_bookkeeping(sel)
    outliers = sel.excluded[sel.excluded["reason"] == bk.EXCLUDED_ER_OUTLIER]
    assert sorted(outliers["video_id"]) == ["v030", "v031"]
    assert outliers["engagement_rate"].tolist() == [0.9, 0.95]
    assert sel.thresholds["er_high_fence"] < 0.9
    values = np.log(ers) if scale == "log" else np.asarray(ers)
    q1, q3 = np.quantile(values, [0.25, 0.75])
    fence = q3 + 1.5 * (q3 - q1)
    assert sel.thresholds["er_high_fence"] == pytest.approx(np.exp(fence) if scale == "log" else fence)
    assert sel.counts[bk.EXCLUDED_ER_OUTLIER] == 2 and sel.counts["selected"] == 30 and sel.status == "ok"


def test_log_fences_keep_genuine_top_performers_of_a_skewed_bucket() -> None:
    # log-normal engagement (median 8%, sigma 0.5): linear fences cut the top of the distribution itself
    rng = np.random.default_rng(3)
    ers = list(np.clip(0.08 * np.exp(rng.normal(0, 0.5, 200)), 0.021, 0.99))
    linear = select_bucket(make_videos(ers), "16-30s", videos_per_bucket=500, er_scale="linear")
    log = select_bucket(make_videos(ers), "16-30s", videos_per_bucket=500, er_scale="log")
    assert linear.counts[bk.EXCLUDED_ER_OUTLIER] >= 5
    assert log.counts[bk.EXCLUDED_ER_OUTLIER] <= 2
    assert log.selected["engagement_rate"].max() > linear.selected["engagement_rate"].max()
    with pytest.raises(ValueError, match="er_scale"):
        select_bucket(make_videos(ers), "16-30s", er_scale="sqrt")


def test_quality_filters_come_first() -> None:
    ers = [*spread(25), 0.01, 0.5]
    views = [100_000] * 25 + [100_000, 999]  # v026 fails on views before its high ER is considered
    sel = select_bucket(make_videos(ers, views), "16-30s")
    assert_bookkeeping(sel)
    reasons = dict(zip(sel.excluded["video_id"], sel.excluded["reason"], strict=True))
    assert reasons == {"v025": bk.EXCLUDED_BELOW_MIN_ER, "v026": bk.EXCLUDED_BELOW_MIN_VIEWS}


def test_celebrity_flagged_with_half_weight() -> None:
    views = [100_000 + 1_000 * i for i in range(29)] + [50_000_000]
    sel = select_bucket(make_videos(spread(30), views), "16-30s")
    assert_bookkeeping(sel)
    flagged = sel.selected[sel.selected["is_celebrity"]]
    assert flagged["video_id"].tolist() == ["v029"]
    assert flagged["sample_weight"].tolist() == [0.5]
    assert set(sel.selected.loc[~sel.selected["is_celebrity"], "sample_weight"]) == {1.0}
    assert sel.thresholds["views_celebrity_fence"] < 50_000_000
    assert len(sel.excluded) == 0  # a celebrity is down-weighted, not excluded


def test_creator_tiers() -> None:
    followers = [9_999, 10_000, 99_999, 100_000, 999_999, 1_000_000, None]
    tiers = bk.creator_tier(pd.Series(followers, dtype="Int64")).tolist()
    assert tiers == ["nano", "micro", "micro", "macro", "macro", "celebrity", "unknown"]


@pytest.mark.parametrize(
    ("n", "sizes"),
    [(1, (1, 0, 0, 0)), (3, (1, 0, 2, 0)), (10, (1, 2, 4, 3)), (20, (2, 4, 8, 6)), (47, (5, 10, 18, 14)),
     (50, (5, 10, 20, 15))],
)  # fmt: skip
def test_performance_tier_sizes(n: int, sizes: tuple[int, int, int, int]) -> None:
    sel = select_bucket(make_videos(spread(n)), "16-30s", videos_per_bucket=50, min_videos=1)
    counts = Counter(sel.selected["performance_tier"])
    assert tuple(counts[t] for t in ("top", "strong", "middle", "bottom")) == sizes
    assert sel.selected["er_rank"].tolist() == list(range(1, n + 1))
    assert sel.selected["engagement_rate"].is_monotonic_decreasing
    assert sel.selected["performance_tier"].iloc[0] == "top"
    assert performance_tiers(n) == sel.selected["performance_tier"].tolist()


def test_top_n_keeps_best_with_id_tiebreak() -> None:
    ers = [0.05] * 10 + spread(50, 0.06, 0.10)
    sel = select_bucket(make_videos(ers), "16-30s", videos_per_bucket=55)
    assert_bookkeeping(sel)
    below = sel.excluded[sel.excluded["reason"] == bk.EXCLUDED_BELOW_TOP_N]
    assert below["video_id"].tolist() == ["v005", "v006", "v007", "v008", "v009"]  # equal ER: smaller ids win
    assert sel.selected["video_id"].iloc[-5:].tolist() == ["v000", "v001", "v002", "v003", "v004"]
    assert sel.counts == {
        "in_bucket": 60,
        bk.EXCLUDED_BELOW_MIN_VIEWS: 0,
        bk.EXCLUDED_BELOW_MIN_ER: 0,
        bk.EXCLUDED_ER_OUTLIER: 0,
        bk.EXCLUDED_BELOW_TOP_N: 5,
        "selected": 55,
    }


def test_other_buckets_ignored_and_insufficient_data() -> None:
    videos = pd.concat(
        [make_videos(spread(5), bucket="0-15s", prefix="a"), make_videos(spread(40), bucket="31-60s", prefix="b")],
        ignore_index=True,
    )
    sel = select_bucket(videos, "0-15s")
    assert_bookkeeping(sel)
    assert sel.counts["in_bucket"] == 5 and sel.status == "insufficient data"
    assert select_bucket(videos, "31-60s").status == "ok"


def test_few_rows_skip_fences() -> None:
    sel = select_bucket(make_videos([0.05, 0.9, 0.06]), "16-30s", min_videos=3)
    assert_bookkeeping(sel)
    assert sel.status == "ok" and len(sel.selected) == 3
    assert "er_q1" not in sel.thresholds and "views_celebrity_fence" not in sel.thresholds
    assert not sel.selected["is_celebrity"].any()


def test_empty_input() -> None:
    sel = select_bucket(make_videos([]), "16-30s")
    assert_bookkeeping(sel)
    assert sel.status == "insufficient data" and sel.counts["in_bucket"] == 0 and sel.counts["selected"] == 0


def test_bad_arguments() -> None:
    with pytest.raises(KeyError):
        select_bucket(make_videos(spread(5)), "121-180s")
    with pytest.raises(ValueError, match="lack columns"):
        select_bucket(make_videos(spread(5)).drop(columns=["views"]), "16-30s")
