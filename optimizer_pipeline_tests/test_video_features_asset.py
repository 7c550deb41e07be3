"""``video_features`` through ``dagster.materialize``: fixed schema, resume from cache, quarantine, labels."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from optimizer_pipeline.cli.materialize import materialization_metadata
from optimizer_pipeline.defs.features.assets import video_features
from optimizer_pipeline.defs.market.buckets import bucket_videos
from optimizer_pipeline.defs.market.scrape import tiktok_videos
from optimizer_pipeline.lib.features import FEATURE_VERSION, feature_columns
from optimizer_pipeline.lib.features.table import table_columns
from optimizer_pipeline.lib.registry.clients import SAMPLE_CLIENTS_FILE
from optimizer_pipeline.lib.sample.corpus import DEFAULT_SEED
from optimizer_pipeline.partitions import market_key
from optimizer_pipeline.resources.features import AnthropicCreativeLabeler, FeatureStore, RuleLabeler
from optimizer_pipeline.resources.parquet_io import ParquetIOManager
from optimizer_pipeline.resources.registry import ClientRegistry
from optimizer_pipeline.resources.tiktok import ReplayTikTokSource, SampleTikTokSource
from optimizer_pipeline.resources.videos import VideoStore
from optimizer_pipeline_tests.anthropic_server import DEFAULT_API_KEY, AnthropicTestServer, tool_reply
from optimizer_pipeline_tests.conftest import TEST_SCALE

ASSETS = [tiktok_videos, bucket_videos, video_features]
CH = "glowfuel__nutrition"
BUCKET = "0-15s"


def materialize(instance, res: dict, ch: str, bucket: str, *, raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
    r = dg.materialize(
        ASSETS,
        selection=["tiktok_videos", "tiktok_videos_rejected"],
        partition_key=ch,
        instance=instance,
        resources=res,
    )
    assert r.success
    return dg.materialize(
        ASSETS,
        selection=["bucket_videos", "bucket_videos_excluded", "video_features", "video_features_quarantine"],
        partition_key=market_key(ch, bucket),
        instance=instance,
        resources=res,
        raise_on_error=raise_on_error,
    )


def metadata(result: dg.ExecuteInProcessResult, asset: str) -> dict:
    found = materialization_metadata(result)
    assert asset in found, f"no materialization of {asset}"
    return found[asset]


def base_resources(home: Path, **overrides) -> dict:
    return {
        "io_manager": ParquetIOManager(home=str(home)),
        "registry": ClientRegistry(path=str(SAMPLE_CLIENTS_FILE)),
        "video_store": VideoStore(home=str(home)),
        "feature_store": FeatureStore(home=str(home), workers=2),
        "labeler": RuleLabeler(),
        **overrides,
    }


def test_features_fixed_schema_and_resume(tmp_path, sample_home):
    res = base_resources(
        tmp_path, tiktok=SampleTikTokSource(home=str(sample_home), seed=DEFAULT_SEED, scale=TEST_SCALE)
    )
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("client_hashtag", [CH])
        first = materialize(instance, res, CH, BUCKET)
        path = tmp_path / "data" / "video_features" / CH / f"{BUCKET}.parquet"
        table = pd.read_parquet(path)
        selected = pd.read_parquet(tmp_path / "data" / "bucket_videos" / CH / f"{BUCKET}.parquet")
        meta = metadata(first, "video_features")
        assert list(table.columns) == table_columns()
        assert len(table) == len(selected) == meta["videos"] and meta["quarantined"] == 0
        assert meta["computed"] == len(selected) and meta["from_cache"] == 0
        numeric = table[[c for c in feature_columns() if pd.api.types.is_numeric_dtype(table[c])]]
        assert np.isfinite(numeric.to_numpy(dtype="float64")).all()
        assert (table["feature_version"] == FEATURE_VERSION).all()
        assert set(table["label_source"]) == {"rules"}
        assert "data:image/png;base64" in meta["distributions"]
        # the measured features agree with the generator's design of each video
        truth = json.loads((sample_home / "sample" / "ground_truth.json").read_text())
        design = {v["video_id"]: v["design"] for v in truth["videos"]}
        measured = table.set_index("video_id")
        hook = np.array([design[v]["hook_cut_count"] for v in measured.index])
        assert np.mean(measured["hook_cut_count"].to_numpy() == hook) >= 0.9

        second = materialize(instance, res, CH, BUCKET)  # rerun: nothing recomputed, same table
        meta2 = metadata(second, "video_features")
        assert meta2["computed"] == 0 and meta2["from_cache"] == len(selected)
        pd.testing.assert_frame_equal(table, pd.read_parquet(path))


def _replay_folder(tmp_path: Path, sample_home: Path, n_good: int, bad: dict[str, bytes]) -> Path:
    """A replay export of n_good real sample videos plus broken files, all 10 s long, ER from 3% to 10%."""
    folder = tmp_path / "exports" / "fyp"
    folder.mkdir(parents=True)
    sources = sorted((sample_home / "sample" / "videos").glob("*.mp4"))[:n_good]
    files = {f"good{i}.mp4": src.read_bytes() for i, src in enumerate(sources)} | bad
    items = []
    for i, (name, data) in enumerate(sorted(files.items())):
        (folder / name).write_bytes(data)
        items.append(
            {
                "id": str(9000 + i),
                "createTimeISO": "2026-09-01T10:00:00Z",
                "videoMeta": {"duration": 10},
                "authorMeta": {"name": f"creator{i}", "fans": 5000},
                "playCount": 10_000,
                "diggCount": 300 + 50 * i,
                "commentCount": 10,
                "shareCount": 5,
                "localVideoPath": name,
            }
        )
    (folder / "items.json").write_text(json.dumps(items))
    (tmp_path / "clients.yaml").write_text("clients:\n  - name: Acme\n    hashtags: [fyp]\n")
    return tmp_path / "exports"


def test_broken_files_are_quarantined_without_failing(tmp_path, sample_home):
    bad = {"zero.mp4": b""}
    exports = _replay_folder(tmp_path, sample_home, 9, bad)
    res = base_resources(
        tmp_path,
        tiktok=ReplayTikTokSource(folder=str(exports)),
        registry=ClientRegistry(path=str(tmp_path / "clients.yaml")),
    )
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("client_hashtag", ["acme__fyp"])
        result = materialize(instance, res, "acme__fyp", BUCKET)
    assert result.success
    q = pd.read_parquet(tmp_path / "data" / "video_features_quarantine" / "acme__fyp" / f"{BUCKET}.parquet")
    table = pd.read_parquet(tmp_path / "data" / "video_features" / "acme__fyp" / f"{BUCKET}.parquet")
    assert len(table) == 9 and len(q) == 1
    assert q["stage"].tolist() == ["extract"] and q["reason"].str.contains("zero|empty", case=False).all()


def test_more_than_a_fifth_broken_fails_listing_them(tmp_path, sample_home):
    rng = np.random.default_rng(0)
    bad = {
        "noise.mp4": rng.bytes(50_000),
        "zero.mp4": b"",
        "cut.mp4": sorted((sample_home / "sample" / "videos").glob("*.mp4"))[0].read_bytes()[:300],
    }
    exports = _replay_folder(tmp_path, sample_home, 4, bad)
    res = base_resources(
        tmp_path,
        tiktok=ReplayTikTokSource(folder=str(exports)),
        registry=ClientRegistry(path=str(tmp_path / "clients.yaml")),
    )
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("client_hashtag", ["acme__fyp"])
        result = materialize(instance, res, "acme__fyp", BUCKET, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    text = str(failure.event_specific_data.error)
    assert "of 7 videos failed feature extraction, more than the 20% allowed" in text
    # items sort as cut.mp4 (9000), good0-3 (9001-9004), noise.mp4 (9005), zero.mp4 (9006): the listing names them
    listed = [line for line in text.splitlines() if line.startswith("- 900")]
    assert len(listed) >= 2 and all(line[2:6] in ("9000", "9005", "9006") for line in listed)


def test_anthropic_labels_through_the_asset(tmp_path, sample_home):
    exports = _replay_folder(tmp_path, sample_home, 3, {})
    good = {"hook_type": "question", "emotion": "curiosity", "cta_type": "urgency", "pain_point": "no_time"}
    with AnthropicTestServer(default=tool_reply(good, input_tokens=2000, output_tokens=100)) as srv:
        labeler = AnthropicCreativeLabeler(api_key=DEFAULT_API_KEY, base_url=srv.url, model="claude-sonnet-4-6")
        res = base_resources(
            tmp_path,
            tiktok=ReplayTikTokSource(folder=str(exports)),
            registry=ClientRegistry(path=str(tmp_path / "clients.yaml")),
            labeler=labeler,
        )
        with dg.instance_for_test() as instance:
            instance.add_dynamic_partitions("client_hashtag", ["acme__fyp"])
            result = materialize(instance, res, "acme__fyp", BUCKET)
            requests_first = len(srv.requests)
            materialize(instance, res, "acme__fyp", BUCKET)  # labels come from the cache now
            assert len(srv.requests) == requests_first == 3
    table = pd.read_parquet(tmp_path / "data" / "video_features" / "acme__fyp" / f"{BUCKET}.parquet")
    assert set(table["label_source"]) == {"anthropic"} and set(table["hook_type"]) == {"question"}
    assert metadata(result, "video_features")["label_cost_usd"] == pytest.approx(3 * (2000 * 3 + 100 * 15) / 1e6)
    assert all(r.images for r in srv.requests)
    assert DEFAULT_API_KEY not in json.dumps(metadata(result, "video_features"), default=str)
