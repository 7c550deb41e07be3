"""Declarative automation, ticked in process: one new ``tiktok_videos`` partition brings its whole downstream up to
date with no other click, touches no other hashtag, and the graph then stays quiet."""

from __future__ import annotations

import dagster as dg
import pytest
from dagster._core.definitions.asset_daemon_cursor import AssetDaemonCursor
from dagster._daemon.asset_daemon import asset_daemon_cursor_from_instigator_serialized_cursor

from optimizer_pipeline.cli.materialize import RunLog, automation_tick, run_job, run_until_settled
from optimizer_pipeline.cli.sensor_state import store_automation_cursor, stored_sensor_cursor
from optimizer_pipeline.definitions import load_definitions
from optimizer_pipeline.defs.resources import build_resources
from optimizer_pipeline.lib.core.buckets import DURATION_BUCKETS
from optimizer_pipeline.lib.registry.clients import SAMPLE_CLIENTS_FILE
from optimizer_pipeline.lib.sample.corpus import DEFAULT_SEED
from optimizer_pipeline.partitions import market_key
from optimizer_pipeline.resources.registry import ClientRegistry
from optimizer_pipeline.resources.tiktok import SampleTikTokSource
from optimizer_pipeline_tests.conftest import TEST_SCALE

HASHTAG = "glowfuel__nutrition"
MARKET = ("bucket_videos", "bucket_videos_excluded", "video_features", "bucket_model", "bucket_patterns")
ROLLUPS = ("cross_hashtag_patterns", "competitor_hashtag_strategy", "client_overview")  # [client]


def _defs(home: str, sample_home: str) -> dg.Definitions:
    tiktok = SampleTikTokSource(home=sample_home, seed=DEFAULT_SEED, scale=TEST_SCALE)
    registry = ClientRegistry(path=str(SAMPLE_CLIENTS_FILE))
    return load_definitions(build_resources(home=home, overrides={"tiktok": tiktok, "registry": registry}))


@pytest.fixture(scope="module")
def settled(sample_home, tmp_path_factory):
    """The sample registry, one tiktok_videos partition materialised, then automation ticked until quiet."""
    from optimizer_pipeline.defs.registry.sync import apply_registry
    from optimizer_pipeline.lib.registry.clients import load_registry

    defs = _defs(str(tmp_path_factory.mktemp("automation_home")), str(sample_home))
    runs: list[tuple[str, str, list[str]]] = []
    with dg.instance_for_test() as instance:
        apply_registry(load_registry(SAMPLE_CLIENTS_FILE), instance)
        before, cursor = automation_tick(defs, instance, None)  # the sensor's first tick: nothing to do yet
        log = RunLog(cursor=cursor)
        run_job(defs, instance, "tiktok_refresh_job", HASHTAG, log)
        run_until_settled(defs, instance, log, on_run=lambda job, pk, assets: runs.append((job, pk, assets)))
        yield defs, instance, log, runs, before


def test_first_tick_on_an_empty_graph_requests_nothing(settled):
    *_, before = settled
    assert before == {}


def test_one_new_partition_brings_its_whole_downstream_up_to_date(settled):
    _, instance, _, runs, _ = settled
    for asset in MARKET:
        done = instance.get_materialized_partitions(dg.AssetKey(asset))
        assert done == {str(market_key(HASHTAG, b)) for b in DURATION_BUCKETS}, asset
    assert instance.get_materialized_partitions(dg.AssetKey("bucket_intelligence")) == {HASHTAG}
    for asset in ROLLUPS:
        assert instance.get_materialized_partitions(dg.AssetKey(asset)) == {"glowfuel"}, asset
    # only that hashtag: no run touched another client_hashtag partition, every run carries a named job
    market_runs = [pk for job, pk, _ in runs if job != "client_rollup_job"]
    assert market_runs and all(pk.startswith(HASHTAG) for pk in market_runs), market_runs
    jobs = {r.job_name for r in instance.get_runs()}
    assert jobs <= {"tiktok_refresh_job", "market_bucket_job", "hashtag_intelligence_job", "client_rollup_job"}
    # each rollup ran once, after the whole wave of buckets (not once per bucket)
    for rollup in ROLLUPS:
        assert sum(1 for *_, assets in runs if rollup in assets) == 1, runs


def test_a_second_evaluation_right_after_requests_nothing(settled):
    defs, instance, log, *_ = settled
    again, cursor = automation_tick(defs, instance, log.cursor)
    assert again == {}
    assert automation_tick(defs, instance, cursor)[0] == {}


def test_a_fresh_cursor_does_not_redo_materialised_work(settled):
    """What the daemon's first tick does when it finds materialisations and no cursor: eager() only reacts to
    updates after its first evaluation, so nothing already materialised is requested again."""
    defs, instance, *_ = settled
    assert automation_tick(defs, instance, None)[0] == {}


def test_the_demo_cursor_is_stored_as_the_automation_sensor_cursor(settled):
    defs, instance, log, *_ = settled
    store_automation_cursor(defs, instance, log.cursor)
    raw = stored_sensor_cursor(instance, "automation_sensor")
    assert raw is not None
    restored = asset_daemon_cursor_from_instigator_serialized_cursor(raw, defs.resolve_asset_graph())
    assert isinstance(restored, AssetDaemonCursor) and restored.evaluation_id == log.cursor.evaluation_id
    assert automation_tick(defs, instance, restored)[0] == {}


def test_the_automation_sensor_runs_by_default():
    defs = load_definitions()
    sensor = defs.resolve_sensor_def("automation_sensor")
    assert isinstance(sensor, dg.AutomationConditionSensorDefinition)
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    names = {s.name for s in defs.get_repository_def().sensor_defs}
    assert "default_automation_condition_sensor" not in names  # ours replaces Dagster's (STOPPED by default)
