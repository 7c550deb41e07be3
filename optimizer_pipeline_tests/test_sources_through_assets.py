"""Each TikTok source behind the same assets: Apify (real client, local server), replay files, cache clean-up."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import dagster as dg
import pandas as pd

from optimizer_pipeline.cli.materialize import materialization_metadata
from optimizer_pipeline.defs.market.buckets import bucket_videos
from optimizer_pipeline.defs.market.maintenance import video_cache_cleanup_job
from optimizer_pipeline.defs.market.scrape import tiktok_videos
from optimizer_pipeline.lib.core.buckets import DURATION_BUCKETS
from optimizer_pipeline.partitions import market_key
from optimizer_pipeline.resources.parquet_io import ParquetIOManager
from optimizer_pipeline.resources.registry import ClientRegistry
from optimizer_pipeline.resources.tiktok import ApifyTikTokSource, ReplayTikTokSource
from optimizer_pipeline.resources.videos import VideoStore
from optimizer_pipeline_tests.apify_server import (
    DEFAULT_TOKEN,
    ApifyTestServer,
    clockworks_items_from_trending,
    video_records,
)

ASSETS = [tiktok_videos, bucket_videos]
REGISTRY = """
clients:
  - name: Acme
    hashtags:
      - tag: fyp
        over_collection: 300
"""


def materialise(instance, res: dict, ch: str) -> dict[str, dict]:
    meta: dict[str, dict] = {}
    runs = [(["tiktok_videos", "tiktok_videos_rejected"], ch)] + [
        (["bucket_videos", "bucket_videos_excluded"], market_key(ch, b)) for b in DURATION_BUCKETS
    ]
    for selection, pk in runs:
        result = dg.materialize(ASSETS, selection=selection, partition_key=pk, instance=instance, resources=res)
        assert result.success
        for name, values in materialization_metadata(result).items():
            meta[name if pk == ch else f"{name}/{pk.keys_by_dimension['duration_bucket']}"] = values
    return meta


def test_apify_source_scrapes_normalises_and_downloads(tmp_path):
    (tmp_path / "clients.yaml").write_text(REGISTRY)
    srv = ApifyTestServer([])
    srv.items = clockworks_items_from_trending(None, 250, server_url=srv.url)
    srv.video_bytes = video_records(srv.items)
    broken = srv.items[0]["mediaUrls"][0].rsplit("/", 1)[-1]
    srv.video_bytes.pop(broken)  # one video file is missing on the server: a row status, not a failed partition
    with srv, dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("client_hashtag", ["acme__fyp"])
        res = {
            "io_manager": ParquetIOManager(home=str(tmp_path)),
            "registry": ClientRegistry(path=str(tmp_path / "clients.yaml")),
            "tiktok": ApifyTikTokSource(token=DEFAULT_TOKEN, api_url=srv.url, page_size=100, min_retry_delay_s=0.01),
            "video_store": VideoStore(home=str(tmp_path), retries=1),
        }
        meta = materialise(instance, res, "acme__fyp")
        run_input = srv.run_inputs[0]
    assert run_input["hashtags"] == ["fyp"] and run_input["resultsPerPage"] == 300
    assert run_input["shouldDownloadVideos"] is True
    m = meta["tiktok_videos"]
    assert m["apify_item_count"] == 250 and m["apify_pages"] == 3 and m["apify_run_id"]
    assert m["apify_compute_units"] > 0
    assert m["read"] == 250 == m["accepted"] + m["rejected"]
    assert DEFAULT_TOKEN not in json.dumps(meta, default=str)
    sel = pd.concat(
        pd.read_parquet(tmp_path / "data" / "bucket_videos" / "acme__fyp" / f"{b}.parquet") for b in DURATION_BUCKETS
    )
    assert len(sel) > 50
    statuses = sel.set_index("video_id")["download_status"]
    assert set(statuses) <= {"downloaded", "failed"}
    assert (statuses == "downloaded").sum() >= len(sel) - 1
    for _, row in sel[sel["download_status"] == "downloaded"].head(5).iterrows():
        assert Path(row["video_path"]).is_file() and Path(row["video_path"]).stem == row["video_sha256"]
    if str(srv.items[0]["id"]) in statuses.index:
        assert statuses[str(srv.items[0]["id"])] == "failed"
        assert sum(meta[f"bucket_videos/{b}"]["download_failures"] for b in DURATION_BUCKETS) == 1


def test_replay_source_reads_every_export_format(tmp_path):
    (tmp_path / "clients.yaml").write_text(REGISTRY)
    folder = tmp_path / "exports" / "fyp"
    folder.mkdir(parents=True)
    base = {"createTimeISO": "2026-09-01T10:00:00.000Z", "videoMeta": {"duration": 12}, "authorMeta": {"name": "a"}}
    good = [
        {**base, "id": str(7000 + i), "playCount": 10_000 + i, "diggCount": 900, "commentCount": 30, "shareCount": 20}
        for i in range(3)
    ]
    (folder / "a.json").write_text(json.dumps(good[:2]))
    (folder / "b.jsonl").write_text(json.dumps(good[2]) + "\n{not json\n")
    (folder / "c.csv").write_text(
        "id,text,createTimeISO,videoMeta.duration,authorMeta.name,authorMeta.fans,playCount,diggCount,commentCount,"
        "shareCount\n8001,hi,2026-09-02T10:00:00Z,25,b,541.2K,1.2M,90K,1.1K,2K\n"
    )
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("client_hashtag", ["acme__fyp"])
        res = {
            "io_manager": ParquetIOManager(home=str(tmp_path)),
            "registry": ClientRegistry(path=str(tmp_path / "clients.yaml")),
            "tiktok": ReplayTikTokSource(folder=str(tmp_path / "exports")),
            "video_store": VideoStore(home=str(tmp_path)),
        }
        meta = materialise(instance, res, "acme__fyp")
    m = meta["tiktok_videos"]
    assert (m["read"], m["accepted"], m["rejected"]) == (5, 4, 1)
    videos = pd.read_parquet(tmp_path / "data" / "tiktok_videos" / "acme__fyp.parquet").set_index("video_id")
    assert videos.loc["8001", "views"] == 1_200_000 and videos.loc["8001", "author_followers"] == 541_200
    assert videos.loc["8001", "duration_bucket"] == "16-30s"
    rejected = pd.read_parquet(tmp_path / "data" / "tiktok_videos_rejected" / "acme__fyp.parquet")
    assert rejected["source_file"].tolist() == ["b.jsonl"] and rejected["source_row"].tolist() == [1]
    assert meta["bucket_videos/0-15s"]["status"] == "insufficient data"


def test_cleanup_job_removes_only_stale_files(tmp_path):
    store = VideoStore(home=str(tmp_path), retention_days=7)
    cache = store.cache()
    old_src, new_src = tmp_path / "old.mp4", tmp_path / "new.mp4"
    old_src.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"o" * 100)
    new_src.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"n" * 100)
    old = cache.fetch("old", old_src.as_uri())
    new = cache.fetch("new", new_src.as_uri())
    assert old.status == new.status == "downloaded", (old, new)
    ten_days_ago = time.time() - 10 * 86400
    os.utime(old.path, (ten_days_ago, ten_days_ago))
    result = video_cache_cleanup_job.execute_in_process(resources={"video_store": store})
    assert result.success
    assert not Path(old.path).exists() and Path(new.path).exists()
    assert cache.fetch("new", None).status == "cached"
    assert cache.fetch("old", None).status == "failed"
