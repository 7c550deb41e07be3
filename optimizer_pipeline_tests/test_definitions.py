"""The code location loads with the embedded default and with each TikTok source configured."""

from __future__ import annotations

import dagster as dg
import pytest

from optimizer_pipeline.cli.materialize import planned_runs
from optimizer_pipeline.definitions import load_definitions
from optimizer_pipeline.defs.resources import build_resources
from optimizer_pipeline.resources.tiktok import ApifyTikTokSource, ReplayTikTokSource, SampleTikTokSource

MARKET_ASSETS = {"tiktok_videos", "tiktok_videos_rejected", "bucket_videos", "bucket_videos_excluded"}


def test_definitions_load_with_defaults(monkeypatch, tmp_path):
    monkeypatch.delenv("OPTIMIZER_TIKTOK_SOURCE", raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    defs = load_definitions()
    keys = {k.to_user_string() for k in defs.resolve_asset_graph().get_all_asset_keys()}
    assert keys >= MARKET_ASSETS
    assert defs.resolve_sensor_def("client_registry_sensor")
    assert defs.resolve_schedule_def("video_cache_cleanup_schedule")
    assert defs.resolve_job_def("video_cache_cleanup_job")
    assert defs.resolve_sensor_def("conversion_inbox_sensor")
    assert defs.resolve_sensor_def("influencer_status_sensor").job_name == "influencer_status_job"
    assert defs.resolve_job_def("conversion_loop_job")
    assert keys >= {"creatives", "traffic_sources", "conversion_events", "pattern_posteriors", "test_recommendations"}
    assert isinstance(build_resources()["tiktok"], SampleTikTokSource)


def test_requested_partitions_run_upstream_first_through_named_jobs(monkeypatch, tmp_path):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    requested = {dg.AssetKey("bucket_videos"): {"glowfuel__nutrition|0-15s"}, dg.AssetKey("tiktok_videos"): {"k"}}
    planned = planned_runs(load_definitions(), requested)
    runs = [(job, pk, sorted(k.to_user_string() for k in keys)) for job, pk, keys in planned]
    assert runs == [
        ("tiktok_refresh_job", "k", ["tiktok_videos", "tiktok_videos_rejected"]),  # a multi-asset runs whole
        ("market_bucket_job", "glowfuel__nutrition|0-15s", ["bucket_videos", "bucket_videos_excluded"]),
    ]


def test_one_partition_shares_a_run_until_an_edge_crosses_partitions(monkeypatch, tmp_path):
    """Buckets, features and models of one partition run together; bucket_patterns, which reads every bucket of
    its hashtag, waits for a later run, and so does the [client_hashtag] intelligence."""
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    pk = "glowfuel__nutrition|0-15s"
    chain = ("bucket_videos", "video_features", "bucket_model", "bucket_patterns")
    requested = {dg.AssetKey(name): {pk} for name in chain}
    requested[dg.AssetKey("bucket_intelligence")] = {"glowfuel__nutrition"}
    runs = [
        (job, key, sorted(k.to_user_string() for k in keys))
        for job, key, keys in planned_runs(load_definitions(), requested)
    ]
    assert runs == [
        ("market_bucket_job", pk, sorted(["bucket_videos", "bucket_videos_excluded", "video_features",
                                          "video_features_quarantine", "bucket_model", "bucket_model_importance"])),
        ("market_bucket_job", pk, ["bucket_patterns"]),
        ("hashtag_intelligence_job", "glowfuel__nutrition", ["bucket_intelligence"]),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("env", "cls"),
    [
        ({"OPTIMIZER_TIKTOK_SOURCE": "apify", "OPTIMIZER_APIFY_TOKEN": "secret-token-value"}, ApifyTikTokSource),
        ({"OPTIMIZER_TIKTOK_SOURCE": "replay", "OPTIMIZER_REPLAY_DIR": "/tmp/exports"}, ReplayTikTokSource),
    ],
)
def test_source_is_chosen_by_configuration(monkeypatch, env, cls):
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    source = build_resources()["tiktok"]
    assert isinstance(source, cls)
    # secrets stay EnvVar references, never literal values in the definitions
    assert "secret-token-value" not in repr(source)


def test_unknown_source_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("OPTIMIZER_TIKTOK_SOURCE", "tiktok-direct")
    with pytest.raises(ValueError, match="sample, replay, apify"):
        build_resources()


def test_env_var_references_are_used_when_set(monkeypatch):
    monkeypatch.setenv("OPTIMIZER_HOME", "/srv/optimizer")
    monkeypatch.setenv("OPTIMIZER_PII_KEY", "a-pii-passphrase-of-some-length")
    res = build_resources()
    assert isinstance(res["io_manager"].home, dg.EnvVar)
    assert isinstance(res["pii"].key, dg.EnvVar)  # the key is a reference, never a value in the definitions
    assert "a-pii-passphrase" not in repr(res["pii"])
