"""The README's demo command, end to end in a subprocess, into a persistent home."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import dagster as dg
import pandas as pd
from dagster._core.scheduler.instigation import InstigatorType
from dagster._core.test_utils import create_test_daemon_workspace_context
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster._daemon.asset_daemon import AssetDaemon
from dagster._daemon.sensor import execute_sensor_iteration

from optimizer_pipeline.definitions import load_definitions
from optimizer_pipeline.lib.core.buckets import DURATION_BUCKETS
from optimizer_pipeline_tests.home_tables import audit_home
from optimizer_pipeline_tests.shared_data import REPO_ROOT


def test_demo_materialises_everything_and_prints_bucket_summary(tmp_path, monkeypatch):
    home = tmp_path / "seed-7-scale-0.4"  # the per-seed home layout of benchmarks/recovery.py (below)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPTIMIZER_", "DAGSTER_"))}
    cmd = [sys.executable, "-m", "optimizer_pipeline", "demo", "--home", str(home), "--scale", "0.4", "--seed", "7"]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert " - DEBUG - " not in out.stdout + out.stderr  # no Dagster DEBUG lines
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
    # the creative autopsy measured the sample creatives' videos, rendered into the home (never into the package)
    videos = sorted(p.name for p in (home / "creative_videos" / "glowfuel").iterdir())
    assert len(videos) == 13 and not (REPO_ROOT / "optimizer_pipeline" / "sample" / "creatives").exists()
    dna = pd.read_parquet(home / "data" / "creative_dna" / "glowfuel.parquet")
    assert (dna["video_status"] == "analysed").sum() == len(videos) and dna["video_status"].ne("set_aside").all()
    untagged = dna.set_index("creative_id").loc["gf-new-tired-dinners"]
    assert len(untagged["tags_filled"]) == 5 and untagged["pattern_hash"] in out.stdout
    assert f"creative autopsy [glowfuel]: {len(videos)} videos analysed, 0 set aside" in out.stdout
    # the memory: the demo's query answers from the stored winner index (how many match depends on the seed)
    index = pd.read_parquet(home / "data" / "winner_index" / "glowfuel.parquet")
    matching = min(3, int(((index["hook"] == "question") & (index["ctr"] >= 0.015)).sum()))
    assert f"winners [glowfuel]: {matching} of {len(index)} (hook=question and ctr>=0.015; by lift)" in out.stdout
    # the ten creative strategy reports of every hashtag and profile, as Markdown and JSON, their folders printed
    for source in ("mealprep", "nutrition", "at-greenbites", "at-preppro"):
        folder = home / "reports" / "glowfuel" / source
        assert len(list(folder.glob("*.md"))) == 10 and len(list(folder.glob("*.json"))) == 10, source
        assert f"{folder}: 10 reports" in out.stdout
    # `dagster dev` with this home sees the materialisations
    with dg.DagsterInstance.from_config(str(home)) as instance:
        sources = ["glowfuel__at-greenbites", "glowfuel__at-preppro", "glowfuel__mealprep", "glowfuel__nutrition"]
        assert sorted(instance.get_dynamic_partitions("client_hashtag")) == sources
        for asset in ("bucket_videos", "video_features", "bucket_model", "bucket_patterns"):
            keys = instance.get_materialized_partitions(dg.AssetKey(asset))
            assert len(keys) == len(sources) * len(DURATION_BUCKETS), asset
        for asset in (
            "competitor_hashtag_strategy", "traffic_sources", "pattern_posteriors", "test_recommendations",
            "creative_dna", "winner_index", "winner_insights",
        ):  # fmt: skip
            assert instance.get_materialized_partitions(dg.AssetKey(asset)) == {"glowfuel"}, asset
        assert instance.get_materialized_partitions(dg.AssetKey("creative_reports")) == set(sources)
        # Dagster chose the work: every run is a named job (no __ephemeral_asset_job__ / __ASSET_JOB)
        jobs = {run.job_name for run in instance.get_runs()}
        assert {"tiktok_refresh_job", "market_bucket_job", "conversion_loop_job", "memory_job"} <= jobs, jobs
        assert not any(job.startswith("__") for job in jobs), jobs
    # the first `dagster dev` starts no duplicate run: the daemon's own first sensor and automation ticks, with the
    # code location of workspace.yaml, request nothing (the demo stored the cursors where its runs left the data)
    for name in [k for k in os.environ if k.startswith(("OPTIMIZER_", "DAGSTER_"))]:  # the code server's environment
        monkeypatch.delenv(name)
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs_count()
        with create_test_daemon_workspace_context(
            WorkspaceFileTarget([str(REPO_ROOT / "workspace.yaml")]), instance
        ) as ctx:
            list(execute_sensor_iteration(ctx, logging.getLogger("test_demo_cli"), None, None))
            AssetDaemon(
                settings=instance.get_settings("auto_materialize"), pre_sensor_interval_seconds=0
            )._run_iteration_impl(ctx, None, {}, {})
        assert instance.get_runs_count() == runs and not instance.get_backfills()
        states = instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
        ticked = {s.name for s in states if instance.get_ticks(s.instigator_origin_id, s.selector_id, limit=1)}
        assert {"automation_sensor", "conversion_inbox_sensor", "influencer_status_sensor"} <= ticked, ticked
    # what the UI shows is what the data says: every metadata table of every materialisation renders as a table,
    # and the ones that show stored rows (keyed by video, pattern, utm id, feature, bucket...) match them cell by cell
    audit = audit_home(home, load_definitions())
    assert audit.tables >= 100 and audit.rows >= 300, audit
    shown = {c.split("[")[0] for c in audit.compared}
    assert {"bucket_patterns", "bucket_intelligence", "pattern_posteriors", "test_recommendations"} <= shown, shown
    assert {"traffic_sources", "creatives", "video_features", "tiktok_videos", "bucket_videos"} <= shown, shown
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
