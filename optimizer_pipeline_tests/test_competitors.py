"""Competitor handles through Dagster: registry sync, each TikTok source scraping a profile, the strategy asset."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from optimizer_pipeline.cli.materialize import materialization_metadata
from optimizer_pipeline.defs.market.buckets import bucket_videos
from optimizer_pipeline.defs.market.competitors import competitor_hashtag_strategy
from optimizer_pipeline.defs.market.scrape import tiktok_videos
from optimizer_pipeline.defs.registry.sensors import client_registry_sensor
from optimizer_pipeline.defs.registry.sync import apply_registry
from optimizer_pipeline.lib.market.competitors import STRATEGY_COLUMNS, hashtag_strategy
from optimizer_pipeline.lib.registry.clients import SAMPLE_CLIENTS_FILE, load_registry
from optimizer_pipeline.lib.sample.competitor_items import SAMPLE_COMPETITORS
from optimizer_pipeline.lib.sample.design import DEFAULT_SEED
from optimizer_pipeline.partitions import market_key
from optimizer_pipeline.resources.parquet_io import ParquetIOManager
from optimizer_pipeline.resources.registry import ClientRegistry
from optimizer_pipeline.resources.tiktok import ApifyTikTokSource, ReplayTikTokSource, SampleTikTokSource
from optimizer_pipeline.resources.videos import VideoStore
from optimizer_pipeline_tests.apify_server import (
    DEFAULT_TOKEN,
    ApifyTestServer,
    clockworks_profile_items,
    video_records,
)
from optimizer_pipeline_tests.conftest import TEST_SCALE

ASSETS = [tiktok_videos, bucket_videos, competitor_hashtag_strategy]
SCRAPE = ["tiktok_videos", "tiktok_videos_rejected"]
ACME = """
clients:
  - name: Acme
    hashtags: [{tag: fyp, over_collection: 300}]
    competitors: ["@FitFoodie"]
"""


def run(instance, res: dict, selection: list[str], pk) -> dict[str, dict]:
    result = dg.materialize(ASSETS, selection=selection, partition_key=pk, instance=instance, resources=res)
    assert result.success
    return materialization_metadata(result)


# -- registry → partitions --------------------------------------------------------------------------------------


def test_sync_adds_and_removes_competitor_keys(tmp_path):
    path = tmp_path / "clients.yaml"
    path.write_text(ACME.replace('["@FitFoodie"]', "[fitfoodie, preppro]"))
    with dg.instance_for_test() as instance:
        first = apply_registry(load_registry(path), instance)
        assert first.add["client_hashtag"] == ["acme__at-fitfoodie", "acme__at-preppro", "acme__fyp"]
        path.write_text(ACME)  # preppro dropped
        ctx = dg.build_sensor_context(instance=instance, resources={"registry": ClientRegistry(path=str(path))})
        result = client_registry_sensor(ctx)
        assert isinstance(result, dg.SensorResult)
        [req] = result.dynamic_partitions_requests
        assert isinstance(req, dg.DeleteDynamicPartitionsRequest) and list(req.partition_keys) == ["acme__at-preppro"]
        apply_registry(load_registry(path), instance)
        assert sorted(instance.get_dynamic_partitions("client_hashtag")) == ["acme__at-fitfoodie", "acme__fyp"]
        assert apply_registry(load_registry(path), instance).empty


# -- each source scrapes a profile ------------------------------------------------------------------------------


def acme_resources(tmp_path: Path, tiktok) -> dict:
    (tmp_path / "clients.yaml").write_text(ACME)
    return {
        "io_manager": ParquetIOManager(home=str(tmp_path)),
        "registry": ClientRegistry(path=str(tmp_path / "clients.yaml")),
        "tiktok": tiktok,
        "video_store": VideoStore(home=str(tmp_path), retries=1),
    }


def test_apify_scrapes_the_profile_through_the_real_client(tmp_path):
    srv = ApifyTestServer([])
    srv.items = clockworks_profile_items("fitfoodie", 40, server_url=srv.url)
    srv.video_bytes = video_records(srv.items)
    tiktok = ApifyTikTokSource(token=DEFAULT_TOKEN, api_url=srv.url, page_size=25, min_retry_delay_s=0.01)
    res = acme_resources(tmp_path, tiktok)
    with srv, dg.instance_for_test() as instance:
        apply_registry(load_registry(tmp_path / "clients.yaml"), instance)
        meta = run(instance, res, SCRAPE, "acme__at-fitfoodie")
        bucket = run(
            instance, res, ["bucket_videos", "bucket_videos_excluded"], market_key("acme__at-fitfoodie", "31-60s")
        )
        [run_input] = srv.run_inputs
    assert run_input["profiles"] == ["fitfoodie"] and "hashtags" not in run_input
    assert run_input["resultsPerPage"] == 800 and run_input["shouldDownloadVideos"] is True  # the client's defaults
    m = meta["tiktok_videos"]
    assert m["kind"] == "competitor profile" and m["competitor"] == "@fitfoodie" and "hashtag" not in m
    assert m["apify_item_count"] == 40 and m["apify_pages"] == 2 and m["read"] == 40 == m["accepted"]
    assert DEFAULT_TOKEN not in json.dumps(meta, default=str)
    videos = pd.read_parquet(tmp_path / "data" / "tiktok_videos" / "acme__at-fitfoodie.parquet")
    assert set(videos["author"]) == {"fitfoodie"} and (videos["source"] == "apify").all()
    # downstream assets analyse the competitor partition unchanged (here: one bucket, videos downloaded)
    sel = pd.read_parquet(tmp_path / "data" / "bucket_videos" / "acme__at-fitfoodie" / "31-60s.parquet")
    assert bucket["bucket_videos"]["selected"] == len(sel) > 0 and (sel["download_status"] == "downloaded").all()


def test_replay_reads_the_at_handle_folder(tmp_path):
    folder = tmp_path / "exports" / "@fitfoodie"
    folder.mkdir(parents=True)
    items = clockworks_profile_items("fitfoodie", 6, server_url="http://unused")
    (folder / "a.json").write_text(json.dumps(items[:4]))
    (folder / "b.jsonl").write_text("\n".join(json.dumps(i) for i in items[4:]) + "\n")
    (tmp_path / "exports" / "fyp").mkdir()  # the hashtag's folder is not read for the profile
    (tmp_path / "exports" / "fyp" / "x.json").write_text(
        json.dumps(clockworks_profile_items("other", 3, server_url=""))
    )
    res = acme_resources(tmp_path, ReplayTikTokSource(folder=str(tmp_path / "exports")))
    with dg.instance_for_test() as instance:
        apply_registry(load_registry(tmp_path / "clients.yaml"), instance)
        meta = run(instance, res, SCRAPE, "acme__at-fitfoodie")
        assert (meta["tiktok_videos"]["read"], meta["tiktok_videos"]["accepted"]) == (6, 6)
        assert meta["tiktok_videos"]["kind"] == "competitor profile"
        assert "a.json" in meta["tiktok_videos"]["replay_files"] and "b.jsonl" in meta["tiktok_videos"]["replay_files"]
        (folder / "a.json").unlink()
        (folder / "b.jsonl").unlink()
        failed = dg.materialize(
            ASSETS,
            selection=SCRAPE,
            partition_key="acme__at-fitfoodie",
            instance=instance,
            resources=res,
            raise_on_error=False,
        )
    assert not failed.success
    [event] = [e for e in failed.all_events if e.is_step_failure]
    assert "@fitfoodie" in str(event.step_failure_data.error) and "competitor profile" in str(
        event.step_failure_data.error
    )


# -- the sample corpus and the strategy asset -------------------------------------------------------------------


def linked_home(sample_home: Path, home: Path) -> Path:
    """A home whose ``sample/`` links to the session corpus' files, so writing competitor items leaves it alone."""
    (home / "sample").mkdir(parents=True)
    for entry in (sample_home / "sample").iterdir():
        (home / "sample" / entry.name).symlink_to(entry)
    return home


@pytest.fixture(scope="module")
def sample_run(sample_home, tmp_path_factory):
    home = linked_home(sample_home, tmp_path_factory.mktemp("competitor_home"))
    res = {
        "io_manager": ParquetIOManager(home=str(home)),
        "registry": ClientRegistry(path=str(SAMPLE_CLIENTS_FILE)),
        "tiktok": SampleTikTokSource(home=str(home), seed=DEFAULT_SEED, scale=TEST_SCALE),
        "video_store": VideoStore(home=str(home)),
    }
    with dg.instance_for_test() as instance:
        apply_registry(load_registry(SAMPLE_CLIENTS_FILE), instance)
        meta = {key: run(instance, res, SCRAPE, key) for key in ("glowfuel__at-greenbites", "glowfuel__at-preppro")}
        meta["bucket"] = run(
            instance, res, ["bucket_videos", "bucket_videos_excluded"], market_key("glowfuel__at-greenbites", "0-15s")
        )
        meta["strategy"] = run(instance, res, ["competitor_hashtag_strategy"], "glowfuel")
        yield home, meta, instance, res


def test_sample_competitors_reuse_the_corpus_videos(sample_run, sample_home):
    home, meta, _, _ = sample_run
    corpus_videos = {p.resolve() for p in (sample_home / "sample" / "videos").glob("*.mp4")}
    truth_ids = {
        v["video_id"] for v in json.loads((sample_home / "sample" / "ground_truth.json").read_text())["videos"]
    }
    for handle in SAMPLE_COMPETITORS:
        m = meta[f"glowfuel__at-{handle}"]["tiktok_videos"]
        assert m["kind"] == "competitor profile" and m["competitor"] == f"@{handle}" and m["rejected"] == 0
        videos = pd.read_parquet(home / "data" / "tiktok_videos" / f"glowfuel__at-{handle}.parquet")
        assert set(videos["author"]) == {handle} and not set(videos["video_id"]) & truth_ids
        assert {Path(p).resolve() for p in videos["local_path"]} <= corpus_videos  # no new video file
    assert not list((sample_home / "sample").glob("@*"))  # the session corpus itself is unchanged
    sel = pd.read_parquet(home / "data" / "bucket_videos" / "glowfuel__at-greenbites" / "0-15s.parquet")
    assert meta["bucket"]["bucket_videos"]["status"] == "ok" and (sel["download_status"] == "local").all()


def test_strategy_asset_on_the_sample(sample_run):
    home, meta, _, _ = sample_run
    m = meta["strategy"]["competitor_hashtag_strategy"]
    assert m["status"] == "ok" and m["competitors"] == 2
    table = pd.read_parquet(home / "data" / "competitor_hashtag_strategy" / "glowfuel.parquet")
    assert tuple(table.columns) == STRATEGY_COLUMNS and m["rows"] == len(table) > 0
    assert "#nutrition" in m["preview"] and "@preppro" in m["preview"] and "@greenbites" in m["per_competitor"]
    # the same numbers as the pure function on the same Parquet files
    videos = {
        h: pd.read_parquet(home / "data" / "tiktok_videos" / f"glowfuel__at-{h}.parquet")
        for h in ("greenbites", "preppro")
    }
    pd.testing.assert_frame_equal(table, hashtag_strategy(videos))
    # and the planted strategies show: each competitor's favourite hashtag first, its boosting hashtag above 1
    by = table.set_index(["competitor", "hashtag"])
    assert table.groupby("competitor")["hashtag"].first().to_dict() == {
        "greenbites": "nutrition",
        "preppro": "mealprep",
    }
    ratio = table[table["videos"] >= 40].set_index(["competitor", "hashtag"])["engagement_vs_competitor_median"]
    for handle, boost in (("greenbites", "healthyrecipes"), ("preppro", "protein")):
        assert ratio[handle].idxmax() == boost and ratio[handle].max() > 1.2, ratio[handle]
        assert by.loc[(handle, "fyp"), "engagement_vs_competitor_median"] < 0.9


def test_missing_competitor_data_and_clients_without_competitors_are_statuses(sample_run, tmp_path):
    home, _, instance, res = sample_run
    registry = tmp_path / "clients.yaml"
    registry.write_text(
        SAMPLE_CLIENTS_FILE.read_text().replace("[greenbites, preppro]", "[greenbites, ghostbrand, newbrand]")
        + "  - name: Acme\n    hashtags: [fyp]\n"
    )
    instance.add_dynamic_partitions("client_hashtag", ["glowfuel__at-ghostbrand"])  # registered, never scraped
    instance.add_dynamic_partitions("client", ["acme"])  # newbrand is not synced at all
    res = {**res, "registry": ClientRegistry(path=str(registry))}
    m = run(instance, res, ["competitor_hashtag_strategy"], "glowfuel")["competitor_hashtag_strategy"]
    assert m["status"] == "partial: 2 of 3 competitor(s) without data"
    assert "not materialised" in m["per_competitor"] and "not registered" in m["per_competitor"]
    table = pd.read_parquet(home / "data" / "competitor_hashtag_strategy" / "glowfuel.parquet")
    assert set(table["competitor"]) == {"greenbites"}
    m = run(instance, res, ["competitor_hashtag_strategy"], "acme")["competitor_hashtag_strategy"]
    assert m["status"] == "no competitors in the registry" and m["rows"] == 0
    empty = pd.read_parquet(home / "data" / "competitor_hashtag_strategy" / "acme.parquet")
    assert empty.empty and tuple(empty.columns) == STRATEGY_COLUMNS
