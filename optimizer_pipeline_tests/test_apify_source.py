"""The real apify-client against ApifyTestServer (127.0.0.1): pagination, retries, failures, token hygiene."""

from __future__ import annotations

import time
import traceback
from pathlib import Path

import pytest

from optimizer_pipeline.lib.market.apify_scrape import (
    ApifyRunResult,
    ApifyScrapeError,
    build_run_input,
    run_actor_and_collect,
)
from optimizer_pipeline.lib.market.video_cache import VideoCache
from optimizer_pipeline.resources.tiktok import ApifyTikTokSource
from optimizer_pipeline_tests.apify_server import (
    DATASET_ID,
    DEFAULT_TOKEN,
    ApifyTestServer,
    clockworks_items_from_trending,
    fake_video_bytes,
    video_records,
)

FAST = {"min_retry_delay_s": 0.01, "wait_timeout_s": 30}


def _collect(srv: ApifyTestServer, **overrides: object) -> ApifyRunResult:
    kwargs: dict = {
        "token": DEFAULT_TOKEN,
        "actor_id": ApifyTikTokSource.model_fields["actor_id"].default,
        "run_input": build_run_input("fyp", 30),
        "api_url": srv.url,
        "page_size": 100,
        **FAST,
    }
    kwargs.update(overrides)
    return run_actor_and_collect(**kwargs)


def _full_text(exc: BaseException) -> str:
    """Everything a log would show for this exception: message, chain and traceback."""
    return "".join(traceback.format_exception(exc))


@pytest.fixture
def trending_server() -> ApifyTestServer:
    srv = ApifyTestServer([])
    srv.items = clockworks_items_from_trending(None, 250, server_url=srv.url)
    srv.video_bytes = video_records(srv.items)
    with srv:
        yield srv


def test_collects_all_real_items_over_three_pages(trending_server: ApifyTestServer) -> None:
    srv = trending_server
    result = _collect(srv, run_input=build_run_input("#fyp", 30))

    assert [q.query["offset"] for q in srv.requests_of("dataset_items")] == ["0", "100", "200"]
    assert {q.query["limit"] for q in srv.requests_of("dataset_items")} == {"100"}
    assert all(q.path == f"/v2/datasets/{DATASET_ID}/items" for q in srv.requests_of("dataset_items"))
    assert result.pages == 3
    assert result.items == srv.items  # same items, same order
    assert result.item_count == 250
    assert srv.run_inputs == [
        {
            "hashtags": ["fyp"],
            "resultsPerPage": 30,
            "shouldDownloadVideos": True,
            "shouldDownloadCovers": False,
            "shouldDownloadSubtitles": False,
            "shouldDownloadSlideshowImages": False,
        }
    ]
    assert srv.requests_of("run_start")[0].path == "/v2/actors/clockworks~tiktok-scraper/runs"
    assert list(srv.runs) == [result.run_id]
    assert len(srv.requests_of("run_get")) >= 2  # RUNNING was polled through
    assert result.status == "SUCCEEDED"
    assert result.dataset_id == DATASET_ID
    assert result.compute_units == pytest.approx(0.0421)
    assert result.started_at is not None and result.finished_at is not None
    assert result.started_at <= result.finished_at


def test_reshaped_items_have_the_clockworks_fields(trending_server: ApifyTestServer) -> None:
    item = trending_server.items[0]
    assert item["createTimeISO"].endswith("Z") and item["createTimeISO"].startswith("2020-")
    assert {"fans", "heart", "video"} <= set(item["authorMeta"])
    assert item["searchHashtag"]["name"] == "fyp" and item["isAd"] is False
    assert isinstance(item["collectCount"], int)
    assert item["mediaUrls"] == [
        f"{trending_server.url}/v2/key-value-stores/kvTikTokFake00001/records/video-{item['id']}.mp4"
    ]


def test_media_urls_download_through_the_video_cache(trending_server: ApifyTestServer, tmp_path) -> None:
    result = _collect(trending_server)
    cache = VideoCache(tmp_path)
    item = result.items[7]
    fetched = cache.fetch(item["id"], item["mediaUrls"][0], backoff_s=0.01)
    assert fetched.status == "downloaded", fetched.error
    assert Path(fetched.path).read_bytes() == fake_video_bytes(item["id"])


def test_rate_limited_start_is_retried_with_backoff() -> None:
    items = [{"id": str(i)} for i in range(5)]
    with ApifyTestServer(items, failures={"run_start": (429, 2)}) as srv:
        result = _collect(srv, min_retry_delay_s=0.05)
        starts = srv.times_of("run_start")

    assert result.item_count == 5
    assert len(starts) == 3  # 429, 429, 201
    assert len(srv.runs) == 1
    first_gap, second_gap = starts[1] - starts[0], starts[2] - starts[1]
    assert first_gap >= 0.05  # min delay
    assert second_gap >= 0.10  # doubled


def test_transient_5xx_on_run_polling_is_retried() -> None:
    with ApifyTestServer([{"id": "1"}], failures={"run_get": (503, 3)}) as srv:
        result = _collect(srv)
    assert result.item_count == 1
    assert len(srv.requests_of("run_get")) >= 4


def test_permanent_500_on_dataset_items_is_a_clear_error() -> None:
    with ApifyTestServer([{"id": "1"}], failures={"dataset_items": 500}) as srv:
        with pytest.raises(ApifyScrapeError) as info:
            _collect(srv, max_retries=3)
        assert len(srv.requests_of("dataset_items")) == 4

    message = str(info.value)
    assert "clockworks/tiktok-scraper" in message
    assert "dataset items" in message
    assert "HTTP 500" in message
    assert "after 4 attempt(s)" in message
    assert DEFAULT_TOKEN not in _full_text(info.value)


@pytest.mark.parametrize("status", ["FAILED", "ABORTED", "TIMED-OUT"])
def test_unsuccessful_run_raises_and_reads_no_items(status: str) -> None:
    with ApifyTestServer([{"id": "1"}], final_status=status) as srv:
        with pytest.raises(ApifyScrapeError) as info:
            _collect(srv)
        run_id = next(iter(srv.runs))
        assert srv.requests_of("dataset_items") == []
    assert f"run {run_id} of actor clockworks/tiktok-scraper ended with status {status}" in str(info.value)
    assert "clockworks/tiktok-scraper" in str(info.value)


def test_wrong_token_is_rejected_once_without_echoing_it() -> None:
    wrong = "apify_api_WRONGwrongWRONG"
    with ApifyTestServer([{"id": "1"}]) as srv:
        with pytest.raises(ApifyScrapeError) as info:
            _collect(srv, token=wrong)
        assert len(srv.requests) == 1  # 401 is not retried
    assert "HTTP 401" in str(info.value)
    assert "token was rejected" in str(info.value)
    assert wrong not in _full_text(info.value)


def test_run_still_running_after_the_wait_timeout_raises() -> None:
    with ApifyTestServer([{"id": "1"}], running_polls=10_000) as srv:
        started = time.monotonic()
        with pytest.raises(ApifyScrapeError, match=r"did not finish within 1s \(status RUNNING\)"):
            _collect(srv, wait_timeout_s=1)
    assert time.monotonic() - started < 10


def test_clean_pages_advance_by_scanned_rows() -> None:
    items = [{"id": "1", "#debug": "x"}, {}, {"id": "2"}, {}, {"id": "3"}]
    with ApifyTestServer(items) as srv:
        result = _collect(srv, page_size=2)
    assert result.items == [{"id": "1"}, {"id": "2"}, {"id": "3"}]
    assert [q.query["offset"] for q in srv.requests_of("dataset_items")] == ["0", "2", "4"]
    assert all(q.query["clean"] == "true" for q in srv.requests_of("dataset_items"))


def test_empty_dataset_is_one_page() -> None:
    with ApifyTestServer([]) as srv:
        result = _collect(srv)
    assert (result.items, result.pages, result.item_count) == ([], 1, 0)


def test_unreachable_api_is_a_clear_error() -> None:
    with ApifyTestServer([]) as srv:
        dead_url = srv.url  # port is free again once the server is closed
    with pytest.raises(ApifyScrapeError, match=r"run start .* failed after 2 attempt\(s\): ConnectError") as info:
        run_actor_and_collect(
            token=DEFAULT_TOKEN, actor_id="a/b", run_input={}, api_url=dead_url, max_retries=1, **FAST
        )
    assert DEFAULT_TOKEN not in _full_text(info.value)


def test_missing_token_fails_before_any_request() -> None:
    with pytest.raises(ApifyScrapeError, match="no Apify token"):
        run_actor_and_collect(token="", actor_id="a/b", run_input={}, api_url="http://127.0.0.1:9")


def test_build_run_input_variants() -> None:
    assert build_run_input("#GymTok ", 10, download_videos=False) == {
        "hashtags": ["GymTok"],
        "resultsPerPage": 10,
        "shouldDownloadVideos": False,
        "shouldDownloadCovers": False,
        "shouldDownloadSubtitles": False,
        "shouldDownloadSlideshowImages": False,
    }
    by_profile = build_run_input("", 5, profiles=["@rival", "other"])
    assert by_profile["profiles"] == ["rival", "other"]
    assert "hashtags" not in by_profile
    assert by_profile["shouldDownloadVideos"] is True
    with pytest.raises(ValueError):
        build_run_input("#", 5)
    with pytest.raises(ValueError):
        build_run_input("fyp", 0)
