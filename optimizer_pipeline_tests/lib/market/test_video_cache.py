"""VideoCache against a scripted stdlib HTTP server on 127.0.0.1: caching, dedup, retries, limits, cleanup."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from optimizer_pipeline.lib.market.video_cache import VideoCache

VIDEO = b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 20  # ~5 KB
DAY = 86400


@dataclass(frozen=True)
class Reply:
    """One scripted answer; ``chunked`` sends the body with Transfer-Encoding: chunked (no Content-Length)."""

    status: int = 200
    body: bytes = VIDEO
    content_type: str = "video/mp4"
    delay_s: float = 0.0
    chunked: bool = False


class VideoServer:
    """Serves scripted replies per path; the last reply of a script repeats. Counts hits per path."""

    def __init__(self) -> None:
        self.scripts: dict[str, list[Reply]] = {}
        self.hits: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._httpd.handle_error = lambda *args: None  # clients that timed out close early: not an error here

    def script(self, path: str, *replies: Reply) -> str:
        self.scripts[path] = list(replies)
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}{path}"

    def _next(self, path: str) -> Reply | None:
        with self._lock:
            self.hits[path] += 1
            script = self.scripts.get(path)
            if not script:
                return None
            return script.pop(0) if len(script) > 1 else script[0]

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                reply = server._next(self.path.split("?")[0]) or Reply(404, b"not found", "text/plain")
                time.sleep(reply.delay_s)
                self.send_response(reply.status)
                self.send_header("Content-Type", reply.content_type)
                if reply.chunked:
                    self.send_header("Transfer-Encoding", "chunked")
                    self.end_headers()
                    for start in range(0, len(reply.body), 1024):
                        chunk = reply.body[start : start + 1024]
                        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                    self.wfile.write(b"0\r\n\r\n")
                else:
                    self.send_header("Content-Length", str(len(reply.body)))
                    self.end_headers()
                    self.wfile.write(reply.body)

        return Handler

    def __enter__(self) -> VideoServer:
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def server() -> Iterator[VideoServer]:
    with VideoServer() as srv:
        yield srv


@pytest.fixture
def cache(tmp_path: Path) -> VideoCache:
    return VideoCache(tmp_path / "cache")


def _objects(cache: VideoCache) -> list[Path]:
    return sorted(cache.objects_dir.glob("*/*.mp4"))


def _leftovers(cache: VideoCache) -> list[Path]:
    return list(cache.tmp_dir.iterdir())


def test_download_is_content_addressed_and_indexed(server: VideoServer, cache: VideoCache) -> None:
    url = server.script("/v/1.mp4", Reply())
    result = cache.fetch("111", url)

    sha = hashlib.sha256(VIDEO).hexdigest()
    assert (result.status, result.sha256, result.size_bytes, result.attempts, result.error) == (
        "downloaded", sha, len(VIDEO), 1, None,
    )  # fmt: skip
    assert result.path == str(cache.root / "objects" / sha[:2] / f"{sha}.mp4")
    assert Path(result.path).read_bytes() == VIDEO
    entry = json.loads((cache.root / "index" / "111.json").read_text())
    assert (entry["sha256"], entry["size_bytes"]) == (sha, len(VIDEO))
    assert _leftovers(cache) == []


def test_second_fetch_is_cached_without_a_request(server: VideoServer, cache: VideoCache) -> None:
    url = server.script("/v/1.mp4", Reply())
    first = cache.fetch("111", url)
    os.utime(first.path, (time.time() - 3 * DAY, time.time() - 3 * DAY))

    second = cache.fetch("111", url)

    assert second.status == "cached"
    assert (second.path, second.sha256, second.size_bytes) == (first.path, first.sha256, first.size_bytes)
    assert server.hits["/v/1.mp4"] == 1
    assert time.time() - os.stat(second.path).st_mtime < 60  # touched, so retention restarts


def test_cache_hit_needs_the_object_not_just_the_index(server: VideoServer, cache: VideoCache) -> None:
    url = server.script("/v/1.mp4", Reply())
    Path(cache.fetch("111", url).path).unlink()
    assert cache.fetch("111", url).status == "downloaded"
    assert server.hits["/v/1.mp4"] == 2


def test_identical_bytes_share_one_object(server: VideoServer, cache: VideoCache) -> None:
    a = cache.fetch("aaa", server.script("/v/a.mp4", Reply()))
    b = cache.fetch("bbb", server.script("/v/b.mp4", Reply()))
    assert a.status == b.status == "downloaded"
    assert a.path == b.path
    assert len(_objects(cache)) == 1
    assert {p.name for p in cache.index_dir.iterdir()} == {"aaa.json", "bbb.json"}
    assert _leftovers(cache) == []


@pytest.mark.parametrize("status", [429, 503])
def test_transient_status_is_retried(server: VideoServer, cache: VideoCache, status: int) -> None:
    url = server.script("/v/1.mp4", Reply(status, b"busy", "text/plain"), Reply())
    result = cache.fetch("111", url, backoff_s=0.01)
    assert (result.status, result.attempts) == ("downloaded", 2)
    assert server.hits["/v/1.mp4"] == 2


def test_persistent_5xx_fails_after_all_attempts(server: VideoServer, cache: VideoCache) -> None:
    url = server.script("/v/1.mp4", Reply(502, b"bad gateway", "text/plain"))
    result = cache.fetch("111", url, retries=3, backoff_s=0.01)
    assert (result.status, result.error, result.attempts) == ("failed", "HTTP 502 after 3 attempts", 3)
    assert server.hits["/v/1.mp4"] == 3


def test_timeout_fails_after_retries(server: VideoServer, cache: VideoCache) -> None:
    url = server.script("/v/slow.mp4", Reply(delay_s=1.0))
    result = cache.fetch("111", url, timeout_s=0.2, retries=3, backoff_s=0.01)
    assert (result.status, result.error, result.attempts) == ("failed", "timed out after 3 attempts", 3)
    assert server.hits["/v/slow.mp4"] == 3
    assert _objects(cache) == [] and _leftovers(cache) == []


def test_html_is_not_a_video(server: VideoServer, cache: VideoCache) -> None:
    url = server.script("/v/1.mp4", Reply(body=b"<html>login</html>", content_type="text/html; charset=utf-8"))
    result = cache.fetch("111", url)
    assert (result.status, result.error, result.attempts) == ("failed", "content-type text/html is not a video", 1)
    assert _objects(cache) == []


@pytest.mark.parametrize("content_type", ["application/octet-stream", "binary/octet-stream", "video/webm"])
def test_binary_content_types_are_accepted(server: VideoServer, cache: VideoCache, content_type: str) -> None:
    result = cache.fetch("111", server.script("/v/1", Reply(content_type=content_type)))
    assert result.status == "downloaded"


def test_declared_size_over_limit_fails_up_front(server: VideoServer, cache: VideoCache) -> None:
    url = server.script("/v/big.mp4", Reply(body=b"x" * 5000))
    result = cache.fetch("111", url, max_bytes=4096)
    assert (result.status, result.attempts) == ("failed", 1)
    assert result.error == "size 4.9 KB exceeds limit 4 KB"  # from Content-Length, not from counting
    assert _objects(cache) == [] and _leftovers(cache) == []


def test_chunked_body_over_limit_fails_without_partial_file(server: VideoServer, cache: VideoCache) -> None:
    url = server.script("/v/big.mp4", Reply(body=b"x" * 10_000, chunked=True))
    result = cache.fetch("111", url, max_bytes=4096)
    assert (result.status, result.error) == ("failed", "size more than 4 KB exceeds limit 4 KB")
    assert _objects(cache) == [] and _leftovers(cache) == []
    assert not (cache.index_dir / "111.json").exists()


def test_chunked_body_within_limit_downloads(server: VideoServer, cache: VideoCache) -> None:
    result = cache.fetch("111", server.script("/v/1.mp4", Reply(chunked=True)))
    assert (result.status, result.size_bytes) == ("downloaded", len(VIDEO))


def test_empty_body_fails(server: VideoServer, cache: VideoCache) -> None:
    result = cache.fetch("111", server.script("/v/empty.mp4", Reply(body=b"")))
    assert (result.status, result.error) == ("failed", "empty body")
    assert _leftovers(cache) == []


def test_404_is_not_retried(server: VideoServer, cache: VideoCache) -> None:
    url = server.script("/v/gone.mp4", Reply(404, b"nope", "text/plain"))
    result = cache.fetch("111", url, retries=3, backoff_s=0.01)
    assert (result.status, result.error, result.attempts) == ("failed", "HTTP 404", 1)
    assert server.hits["/v/gone.mp4"] == 1


def test_secrets_in_url_and_headers_stay_out_of_results_and_index(server: VideoServer, cache: VideoCache) -> None:
    secret = "apify_api_SECRETsecret"
    url = server.script("/v/1.mp4", Reply(404, b"nope", "text/plain"), Reply()) + f"?token={secret}"
    failed = cache.fetch("111", url, headers={"Authorization": f"Bearer {secret}"})
    ok = cache.fetch("111", url, headers={"Authorization": f"Bearer {secret}"})
    assert secret not in repr(failed) and secret not in repr(ok)
    assert ok.status == "downloaded"
    assert secret not in (cache.index_dir / "111.json").read_text()


def test_connection_refused_is_retried_then_fails(cache: VideoCache) -> None:
    with VideoServer() as srv:
        dead = srv.script("/v/1.mp4", Reply())
    result = cache.fetch("111", dead, retries=2, backoff_s=0.01)
    assert (result.status, result.attempts) == ("failed", 2)
    assert result.error.startswith("connection error") and result.error.endswith("after 2 attempts")


def test_local_path_is_used_in_place(tmp_path: Path, cache: VideoCache) -> None:
    local = tmp_path / "sample.mp4"
    local.write_bytes(VIDEO)
    result = cache.fetch("111", "http://127.0.0.1:9/never-called.mp4", local_path=str(local))
    assert (result.status, result.path, result.size_bytes) == ("local", str(local), len(VIDEO))
    assert result.sha256 == hashlib.sha256(VIDEO).hexdigest()
    assert _objects(cache) == []


def test_missing_local_file_fails(tmp_path: Path, cache: VideoCache) -> None:
    result = cache.fetch("111", None, local_path=str(tmp_path / "missing.mp4"))
    assert result.status == "failed"
    assert "missing.mp4 not found" in result.error


def test_file_url_is_copied_into_the_cache(tmp_path: Path, cache: VideoCache) -> None:
    local = tmp_path / "sample.mp4"
    local.write_bytes(VIDEO)
    result = cache.fetch("111", local.as_uri())
    assert result.status == "downloaded"
    assert Path(result.path).parent.parent == cache.objects_dir
    assert Path(result.path).read_bytes() == VIDEO
    assert cache.fetch("111", local.as_uri()).status == "cached"


def test_no_url_and_bad_ids_fail_cleanly(cache: VideoCache) -> None:
    assert cache.fetch("111", None).error == "no url and no local_path given"
    assert cache.fetch("../etc/passwd", "http://127.0.0.1:9/x").status == "failed"
    assert cache.fetch("111", "ftp://example.invalid/x.mp4").error == "unsupported url scheme 'ftp'"


def test_concurrent_fetches_of_different_videos(server: VideoServer, cache: VideoCache) -> None:
    urls = {f"id{i}": server.script(f"/v/{i}.mp4", Reply(body=VIDEO + bytes([i]))) for i in range(12)}
    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(lambda kv: cache.fetch(kv[0], kv[1]), urls.items()))
    assert {r.status for r in results} == {"downloaded"}
    assert len(_objects(cache)) == 12
    assert _leftovers(cache) == []


def test_cleanup_removes_stale_objects_and_dangling_index(server: VideoServer, cache: VideoCache) -> None:
    old = cache.fetch("old", server.script("/v/old.mp4", Reply(body=b"old video bytes")))
    fresh = cache.fetch("new", server.script("/v/new.mp4", Reply(body=b"fresh video bytes")))
    now = time.time()
    os.utime(old.path, (now - 10 * DAY, now - 10 * DAY))
    os.utime(fresh.path, (now - 2 * DAY, now - 2 * DAY))
    stray = cache.tmp_dir / "x.part"
    stray.write_bytes(b"partial")
    os.utime(stray, (now - 2 * 3600, now - 2 * 3600))
    in_flight = cache.tmp_dir / "y.part"
    in_flight.write_bytes(b"partial")

    report = cache.cleanup(retention_days=7, now=now)

    assert (report.removed_objects, report.removed_bytes, report.removed_index, report.kept) == (
        1, len(b"old video bytes"), 1, 1,
    )  # fmt: skip
    assert not Path(old.path).exists() and Path(fresh.path).exists()
    assert not (cache.index_dir / "old.json").exists() and (cache.index_dir / "new.json").exists()
    assert not stray.exists() and in_flight.exists()
    assert cache.fetch("new", None).status == "cached"
    assert cache.fetch("old", server.script("/v/old.mp4", Reply(body=b"old video bytes"))).status == "downloaded"
