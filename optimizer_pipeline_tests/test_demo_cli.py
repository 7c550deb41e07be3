"""The README's demo command, end to end in a subprocess, into a persistent home."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import dagster as dg
import pandas as pd

from optimizer_pipeline.lib.core.buckets import DURATION_BUCKETS
from optimizer_pipeline_tests.shared_data import REPO_ROOT


def test_demo_materialises_everything_and_prints_bucket_summary(tmp_path):
    home = tmp_path / "seed-7-scale-0.3"  # the per-seed home layout of benchmarks/recovery.py (below)
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
    # the test loop: a seeded event batch dropped in the inbox, posteriors and recommendations printed
    assert "Test loop [glowfuel]" in out.stdout and "Recommendations (Thompson sampling" in out.stdout
    assert sorted(p.name for p in (home / "inbox" / "glowfuel").iterdir() if p.is_file())
    posteriors = pd.read_parquet(home / "data" / "pattern_posteriors" / "glowfuel.parquet")
    assert len(posteriors) and (posteriors["clicks"] > 0).any()
    assert (home / "dagster.yaml").exists()
    # `dagster dev` with this home sees the materialisations
    with dg.DagsterInstance.from_config(str(home)) as instance:
        sources = ["glowfuel__at-greenbites", "glowfuel__at-preppro", "glowfuel__mealprep", "glowfuel__nutrition"]
        assert sorted(instance.get_dynamic_partitions("client_hashtag")) == sources
        for asset in ("bucket_videos", "video_features", "bucket_model", "bucket_patterns"):
            keys = instance.get_materialized_partitions(dg.AssetKey(asset))
            assert len(keys) == len(sources) * len(DURATION_BUCKETS), asset
        for asset in ("competitor_hashtag_strategy", "traffic_sources", "pattern_posteriors", "test_recommendations"):
            assert instance.get_materialized_partitions(dg.AssetKey(asset)) == {"glowfuel"}, asset
    # the recovery benchmark scores this home against its ground truth (a rerun of the whole demo would cost ~5 min
    # of CI; rerun safety is proven per asset in the asset tests)
    bench = [sys.executable, str(REPO_ROOT / "benchmarks" / "recovery.py"), "--quick", "--seeds", "7", "--reuse"]
    again = subprocess.run([*bench, "--home", str(tmp_path), "--json"], env=env, capture_output=True, text=True,
                           timeout=300)  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    report = json.loads(again.stdout)
    (seed,) = report["seeds"]
    assert seed["seed"] == 7 and seed["planted"] > 0 and 0 <= seed["recall"] <= 1
    assert seed["recovered"] + len(seed["missed"]) == seed["planted"]
    assert set(report["bars"]) == {"min_recall", "pooled_false_claim_share"}
    assert f"(recall {seed['recall']:.2f})" in out.stdout  # the demo printed the same recovery
