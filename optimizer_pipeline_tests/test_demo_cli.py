"""The README's demo command, end to end in a subprocess, into a persistent home."""

from __future__ import annotations

import os
import subprocess
import sys

import dagster as dg
import pandas as pd

from optimizer_pipeline.lib.buckets import DURATION_BUCKETS


def test_demo_materialises_everything_and_prints_bucket_summary(tmp_path):
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPTIMIZER_", "DAGSTER_"))}
    cmd = [sys.executable, "-m", "optimizer_pipeline", "demo", "--home", str(home), "--scale", "0.3", "--seed", "7"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    for ch in ("glowfuel__nutrition", "glowfuel__mealprep"):
        assert out.stdout.count(ch) >= len(DURATION_BUCKETS), out.stdout
        for bucket in DURATION_BUCKETS:
            assert (home / "data" / "bucket_videos" / ch / f"{bucket}.parquet").exists()
    assert "insufficient data" in out.stdout
    assert "Models and patterns per bucket" in out.stdout
    assert "Recovery of the sample corpus's planted effects" in out.stdout
    assert (home / "sample" / "ground_truth.json").exists()
    assert (home / "dagster.yaml").exists()
    # `dagster dev` with this home sees the materialisations
    with dg.DagsterInstance.from_config(str(home)) as instance:
        sources = ["glowfuel__at-greenbites", "glowfuel__at-preppro", "glowfuel__mealprep", "glowfuel__nutrition"]
        assert sorted(instance.get_dynamic_partitions("client_hashtag")) == sources
        for asset in ("bucket_videos", "video_features", "bucket_model", "bucket_patterns"):
            keys = instance.get_materialized_partitions(dg.AssetKey(asset))
            assert len(keys) == len(sources) * len(DURATION_BUCKETS), asset
        assert instance.get_materialized_partitions(dg.AssetKey("competitor_hashtag_strategy")) == {"glowfuel"}
    # a second run reuses the corpus and leaves the data identical
    before = pd.read_parquet(home / "data" / "tiktok_videos" / "glowfuel__nutrition.parquet")
    again = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "reused" in again.stdout
    pd.testing.assert_frame_equal(
        before, pd.read_parquet(home / "data" / "tiktok_videos" / "glowfuel__nutrition.parquet")
    )
