"""The market assets through ``dagster.materialize`` with a real instance, dynamic partitions and Parquet files."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from optimizer_pipeline.cli.materialize import materialization_metadata
from optimizer_pipeline.defs.market.buckets import bucket_videos
from optimizer_pipeline.defs.market.scrape import tiktok_videos
from optimizer_pipeline.lib.core.buckets import DURATION_BUCKETS, bucket_for
from optimizer_pipeline.lib.registry.clients import SAMPLE_CLIENTS_FILE
from optimizer_pipeline.lib.sample.corpus import DEFAULT_SEED
from optimizer_pipeline.partitions import market_key
from optimizer_pipeline.resources.parquet_io import ParquetIOManager
from optimizer_pipeline.resources.registry import ClientRegistry
from optimizer_pipeline.resources.tiktok import SampleTikTokSource
from optimizer_pipeline.resources.videos import VideoStore
from optimizer_pipeline_tests.conftest import TEST_SCALE

ASSETS = [tiktok_videos, bucket_videos]
HASHTAGS = ("glowfuel__nutrition", "glowfuel__mealprep")


def resources(data_home: Path, sample_home: Path) -> dict:
    return {
        "io_manager": ParquetIOManager(home=str(data_home)),
        "registry": ClientRegistry(path=str(SAMPLE_CLIENTS_FILE)),
        "tiktok": SampleTikTokSource(home=str(sample_home), seed=DEFAULT_SEED, scale=TEST_SCALE),
        "video_store": VideoStore(home=str(data_home)),
    }


def run_market(instance, res: dict, ch: str) -> dict[str, dict]:
    """Materialise tiktok_videos, then every bucket; return metadata by asset/bucket."""
    out: dict[str, dict] = {}
    r = dg.materialize(
        ASSETS,
        selection=["tiktok_videos", "tiktok_videos_rejected"],
        partition_key=ch,
        instance=instance,
        resources=res,
    )
    assert r.success
    out.update(materialization_metadata(r))
    for bucket in DURATION_BUCKETS:
        r = dg.materialize(
            ASSETS,
            selection=["bucket_videos", "bucket_videos_excluded"],
            partition_key=market_key(ch, bucket),
            instance=instance,
            resources=res,
        )
        assert r.success
        out.update({f"{asset}/{bucket}": meta for asset, meta in materialization_metadata(r).items()})
    return out


@pytest.fixture(scope="module")
def materialised(sample_home, tmp_path_factory):
    data_home = tmp_path_factory.mktemp("data_home")
    res = resources(data_home, sample_home)
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions("client_hashtag", list(HASHTAGS))
        meta = {ch: run_market(inst, res, ch) for ch in HASHTAGS}
        yield data_home, meta, inst, res


def ground_truth(sample_home: Path) -> dict:
    return json.loads((sample_home / "sample" / "ground_truth.json").read_text())


def test_tiktok_videos_accounts_for_every_item(materialised, sample_home):
    data_home, meta, _, _ = materialised
    truth = ground_truth(sample_home)
    for ch in HASHTAGS:
        tag = ch.split("__")[1]
        accepted = pd.read_parquet(data_home / "data" / "tiktok_videos" / f"{ch}.parquet")
        rejected = pd.read_parquet(data_home / "data" / "tiktok_videos_rejected" / f"{ch}.parquet")
        items = json.loads((sample_home / "sample" / tag / "items.json").read_text())
        m = meta[ch]["tiktok_videos"]
        assert m["read"] == len(items) == len(accepted) + len(rejected)
        assert m["accepted"] == len(accepted) and m["rejected"] == len(rejected)
        assert accepted["video_id"].is_unique
        # every planted bad item and every pre-cutoff video is rejected; nothing else is
        bad = [b for b in truth["bad_items"] if b["hashtag"] == tag]
        before_cutoff = [v for v in truth["videos"] if v["hashtag"] == tag and v["role"] == "before_cutoff"]
        assert len(rejected) == len(bad) + len(before_cutoff)
        assert set(rejected["source_row"]) >= {b["row"] for b in bad}
        assert (rejected["reason"].str.contains("cutoff")).sum() == len(before_cutoff)
        # normalised values agree with the source and the bucket edges
        assert (accepted["duration_bucket"] == accepted["duration_s"].map(bucket_for)).all()
        assert accepted["engagement_rate"].between(0, 1).all()
        er = (accepted["likes"] + accepted["comments"] + accepted["shares"]) / accepted["views"]
        assert (er - accepted["engagement_rate"]).abs().max() < 1e-12
        assert (accepted["source"] == "sample").all()
        normal = {v["video_id"] for v in truth["videos"] if v["hashtag"] == tag and v["role"] == "normal"}
        with_file = accepted.dropna(subset=["local_path"])
        assert normal <= set(with_file["video_id"])  # quality/outlier cases carry no file, by design
        assert with_file["local_path"].map(lambda p: Path(p).exists()).all()


def test_bucket_videos_selection_statuses_and_files(materialised, sample_home):
    data_home, meta, _, _ = materialised
    truth = ground_truth(sample_home)
    for ch in HASHTAGS:
        tag = ch.split("__")[1]
        statuses = {b: meta[ch][f"bucket_videos/{b}"]["status"] for b in DURATION_BUCKETS}
        assert statuses["91-120s"] == "insufficient data"
        assert sum(s == "ok" for s in statuses.values()) >= 3, statuses
        accepted = pd.read_parquet(data_home / "data" / "tiktok_videos" / f"{ch}.parquet")
        for bucket in DURATION_BUCKETS:
            sel = pd.read_parquet(data_home / "data" / "bucket_videos" / ch / f"{bucket}.parquet")
            exc = pd.read_parquet(data_home / "data" / "bucket_videos_excluded" / ch / f"{bucket}.parquet")
            assert len(sel) + len(exc) == (accepted["duration_bucket"] == bucket).sum()
            assert (sel["duration_bucket"] == bucket).all()
            assert (sel["download_status"] == "local").all()
            assert sel["video_path"].map(lambda p: Path(p).exists()).all()
            assert sel["video_sha256"].str.len().eq(64).all()
            # planted anomalies never reach the selection
            outliers = {v["video_id"] for v in truth["videos"] if v["hashtag"] == tag and v["role"] == "outlier"}
            low = {
                v["video_id"]
                for v in truth["videos"]
                if v["hashtag"] == tag and v["role"] in ("low_views", "low_engagement")
            }
            assert not (set(sel["video_id"]) & (outliers | low))
            if len(sel):
                assert sel["performance_tier"].iloc[0] == "top"
                assert set(sel["performance_tier"]) <= {"top", "strong", "middle", "bottom"}
                assert sel.loc[sel["is_celebrity"], "sample_weight"].eq(0.5).all()
        all_excluded = pd.concat(
            pd.read_parquet(data_home / "data" / "bucket_videos_excluded" / ch / f"{b}.parquet")
            for b in DURATION_BUCKETS
        )
        reasons = Counter(all_excluded["reason"])
        assert reasons["below min views"] >= 1 and reasons["below min engagement rate"] >= 1
        n_outliers = sum(1 for v in truth["videos"] if v["hashtag"] == tag and v["role"] == "outlier")
        assert reasons["engagement-rate outlier"] >= n_outliers


def test_rematerialising_a_partition_changes_nothing(materialised):
    data_home, _, inst, res = materialised
    ch = HASHTAGS[0]
    files = [
        data_home / "data" / "tiktok_videos" / f"{ch}.parquet",
        data_home / "data" / "bucket_videos" / ch / "16-30s.parquet",
    ]
    before = [pd.read_parquet(f) for f in files]
    run_market(inst, res, ch)
    after = [pd.read_parquet(f) for f in files]
    for a, b in zip(before, after, strict=True):
        pd.testing.assert_frame_equal(a, b)
