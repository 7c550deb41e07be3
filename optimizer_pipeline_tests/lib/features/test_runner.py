"""Feature batch runner: resume after an interrupt or a hard kill, quarantine, failure threshold, versions, workers.

The extractor here is a tiny module-level function (picklable, so the process pool can run it) that reads the
file, logs each call to a counter file named by an environment variable (inherited by pool workers), and fails
like a decoder would on zero-length files and on files that start with ``BAD``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from optimizer_pipeline.lib.features import extraction_pool
from optimizer_pipeline.lib.features.feature_cache import feature_cache_path
from optimizer_pipeline.lib.features.labels import rule_based_labels
from optimizer_pipeline.lib.features.runner import (
    FeatureBatchError,
    FeatureVersionMismatch,
    VideoJob,
    run_feature_batch,
)

COUNTER_ENV = "FEATURE_RUNNER_TEST_COUNTER"
VERSION = "test-v1"
REPO_ROOT = Path(__file__).resolve().parents[3]


class FakeVideoDecodeError(Exception):
    """Stands in for ``optimizer_pipeline.lib.features.errors.VideoDecodeError``."""


def tiny_extractor(path: Path, version: str = VERSION) -> dict:
    """Size + hash 'features'; raises on empty or ``BAD`` files; ``CRASH`` files kill the process outright."""
    data = Path(path).read_bytes()
    counter = os.environ.get(COUNTER_ENV)
    if counter:
        with open(counter, "a", encoding="utf-8") as fh:
            fh.write(f"{Path(path).name}\n")
    if data.startswith(b"CRASH"):
        os._exit(3)  # what a segfaulting decoder looks like to the pool
    if not data:
        raise FakeVideoDecodeError("no frames")
    if data.startswith(b"BAD"):
        raise FakeVideoDecodeError("moov atom not found")
    return {
        "size_bytes": len(data),
        "first_byte": data[0],
        "content_sha256": hashlib.sha256(data).hexdigest(),
        "feature_version": version,
    }


def wrong_version_extractor(path: Path) -> dict:
    """Reports a version other than the batch's."""
    return {**tiny_extractor(path), "feature_version": "other"}


@pytest.fixture
def counter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "calls.txt"
    path.touch()
    monkeypatch.setenv(COUNTER_ENV, str(path))
    extraction_pool.close_pools()  # workers spawned by an earlier test never saw the counter
    return path


def calls(counter: Path) -> list[str]:
    return counter.read_text(encoding="utf-8").split()


def make_videos(root: Path, contents: dict[str, bytes | None]) -> list[VideoJob]:
    """One job per entry; ``None`` means the file does not exist."""
    root.mkdir(parents=True, exist_ok=True)
    jobs = []
    for video_id, data in contents.items():
        path = root / f"{video_id}.mp4"
        if data is not None:
            path.write_bytes(data)
        jobs.append(VideoJob(video_id, path, caption=f"POV: video {video_id}", hashtags=["fyp"]))
    return jobs


def good(n: int, prefix: str = "v") -> dict[str, bytes]:
    return {f"{prefix}{i:02d}": f"video-bytes-{prefix}-{i}".encode() * (i + 1) for i in range(n)}


def run(jobs: list[VideoJob], cache: Path, **kwargs) -> object:
    kwargs.setdefault("extractor", tiny_extractor)
    kwargs.setdefault("feature_version", VERSION)
    return run_feature_batch(jobs, cache_dir=cache, **kwargs)


def test_interrupted_run_resumes_without_redoing_finished_videos(tmp_path: Path, counter: Path) -> None:
    jobs = make_videos(tmp_path / "videos", good(10))
    cache = tmp_path / "cache"
    done: list[str] = []

    def interrupt_after_4(message: str) -> None:
        if "videos/s" in message:
            done.append(message)
            if len(done) == 4:
                raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(jobs, cache, progress=interrupt_after_4)
    assert len(calls(counter)) == 4

    messages: list[str] = []
    result = run(jobs, cache, progress=messages.append)

    assert len(calls(counter)) == 10  # exactly N - k = 6 more extractions
    assert sorted(calls(counter)) == sorted(f"{j.video_id}.mp4" for j in jobs)
    assert (result.computed, result.cached, result.quarantined) == (6, 4, [])
    assert [row["video_id"] for row in result.rows] == [j.video_id for j in jobs]
    assert messages[0] == "features 4/10: 4 from cache, 6 to extract"
    assert messages[-1].startswith("features 10/10 (4 cached, 0 failed), ") and "videos/s, ETA 0m00s" in messages[-1]


def test_hard_killed_run_keeps_every_finished_video(tmp_path: Path, counter: Path) -> None:
    """SIGKILL mid-batch (no cleanup code runs at all): the restart extracts only what was not finished."""
    jobs = make_videos(tmp_path / "videos", good(8))
    cache = tmp_path / "cache"
    script = textwrap.dedent(
        f"""
        import os, signal
        from pathlib import Path
        from optimizer_pipeline.lib.features.runner import VideoJob, run_feature_batch
        from optimizer_pipeline_tests.lib.features.test_runner import tiny_extractor
        jobs = [VideoJob(p.stem, p) for p in sorted(Path({str(tmp_path / "videos")!r}).glob("*.mp4"))]
        ticks = []
        def progress(message):
            if "videos/s" in message:
                ticks.append(message)
                if len(ticks) == 3:
                    os.kill(os.getpid(), signal.SIGKILL)
        run_feature_batch(jobs, extractor=tiny_extractor, cache_dir=Path({str(cache)!r}),
                          feature_version={VERSION!r}, progress=progress)
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], cwd=REPO_ROOT, env=os.environ.copy(), check=False)
    assert proc.returncode == -9
    assert len(calls(counter)) == 3

    result = run(jobs, cache)
    assert (result.computed, result.cached) == (5, 3)
    assert len(calls(counter)) == 8
    assert not list(cache.rglob("*.tmp"))


def test_broken_files_are_quarantined_without_failing_the_batch(tmp_path: Path, counter: Path) -> None:
    contents = {**good(12), "corrupt": b"BAD header", "empty": b"", "gone": None}  # 3 of 15 = 20%: allowed
    jobs = make_videos(tmp_path / "videos", contents)
    cache = tmp_path / "cache"

    result = run(jobs, cache)

    assert [row["video_id"] for row in result.rows] == [f"v{i:02d}" for i in range(12)]
    reasons = {q["video_id"]: q["reason"] for q in result.quarantined}
    assert reasons == {
        "corrupt": "FakeVideoDecodeError: moov atom not found",
        "empty": "empty file (0 bytes)",
        "gone": f"missing file: {tmp_path / 'videos' / 'gone.mp4'}",
    }
    records = [json.loads(p.read_text()) for p in sorted((cache / "quarantine").glob("*.json"))]
    assert {r["video_id"]: r["reason"] for r in records} == reasons
    assert all(r["feature_version"] == VERSION and r["path"].endswith(".mp4") for r in records)
    assert "empty.mp4" not in calls(counter) and "gone.mp4" not in calls(counter)  # never handed to the extractor

    # quarantined videos are retried on the next run; a fixed file leaves quarantine
    (tmp_path / "videos" / "corrupt.mp4").write_bytes(b"repaired bytes")
    again = run(jobs, cache)
    assert (again.computed, again.cached, len(again.quarantined)) == (1, 12, 2)
    assert not any("corrupt" in p.name for p in (cache / "quarantine").glob("*.json"))


def test_more_than_the_allowed_share_of_failures_raises_listing_them(tmp_path: Path, counter: Path) -> None:
    jobs = make_videos(tmp_path / "videos", {**good(5), "bad1": b"BAD1", "bad2": b"BAD2"})  # 2 of 7 = 29%

    with pytest.raises(FeatureBatchError) as info:
        run(jobs, tmp_path / "cache")

    message = str(info.value)
    assert "2 of 7 videos failed" in message and "20%" in message
    assert "bad1: FakeVideoDecodeError: moov atom not found" in message
    assert "bad2: FakeVideoDecodeError: moov atom not found" in message
    assert [f["video_id"] for f in info.value.failures] == ["bad1", "bad2"]
    # the good videos finished before the failures are cached all the same
    assert len(list((tmp_path / "cache" / VERSION).rglob("*.json"))) == 5


def test_failure_threshold_stops_early_when_the_extractor_is_broken(tmp_path: Path, counter: Path) -> None:
    jobs = make_videos(tmp_path / "videos", {f"b{i}": b"BAD" + bytes([i]) for i in range(20)})
    with pytest.raises(FeatureBatchError) as info:
        run(jobs, tmp_path / "cache", max_failure_share=0.1)
    assert len(calls(counter)) == 3  # 3 > 0.1 * 20 is already certain; the other 17 are never tried
    assert len(info.value.failures) == 3


def test_cache_is_keyed_by_feature_version(tmp_path: Path, counter: Path) -> None:
    jobs = make_videos(tmp_path / "videos", good(4))
    cache = tmp_path / "cache"

    first = run(jobs, cache)
    v2 = run(jobs, cache, feature_version="test-v2", extractor=functools.partial(tiny_extractor, version="test-v2"))
    back = run(jobs, cache)

    assert (first.computed, v2.computed, back.computed) == (4, 4, 0)
    assert back.cached == 4 and len(calls(counter)) == 8
    sha = hashlib.sha256(jobs[0].path.read_bytes()).hexdigest()
    assert feature_cache_path(cache, "test-v2", sha) == cache / "test-v2" / sha[:2] / f"{sha}.json"
    assert json.loads(feature_cache_path(cache, "test-v2", sha).read_text())["features"]["feature_version"] == "test-v2"
    assert [r["feature_version"] for r in v2.rows] == ["test-v2"] * 4


def test_extractor_reporting_another_version_is_a_configuration_error(tmp_path: Path, counter: Path) -> None:
    jobs = make_videos(tmp_path / "videos", good(2))
    with pytest.raises(FeatureVersionMismatch, match="'other'"):
        run(jobs, tmp_path / "cache", extractor=wrong_version_extractor)
    assert not (tmp_path / "cache" / VERSION).exists()


def test_identical_content_is_extracted_once(tmp_path: Path, counter: Path) -> None:
    jobs = make_videos(tmp_path / "videos", {"a": b"same bytes", "b": b"same bytes", "c": b"other"})
    result = run(jobs, tmp_path / "cache")
    assert result.computed == 2 and len(calls(counter)) == 2
    assert [r["video_id"] for r in result.rows] == ["a", "b", "c"]
    assert result.rows[0]["content_sha256"] == result.rows[1]["content_sha256"]


def test_given_sha256_skips_hashing_and_hits_the_cache(tmp_path: Path, counter: Path) -> None:
    [job] = make_videos(tmp_path / "videos", {"a": b"some bytes"})
    sha = hashlib.sha256(b"some bytes").hexdigest()
    run([VideoJob("a", job.path, sha256=sha)], tmp_path / "cache")
    again = run([VideoJob("a", job.path, sha256=sha.upper())], tmp_path / "cache")
    assert again.cached == 1 and len(calls(counter)) == 1


def test_labels_are_joined_and_a_failing_labeler_quarantines_only_its_video(tmp_path: Path, counter: Path) -> None:
    jobs = make_videos(tmp_path / "videos", good(6))

    def labeler(job: VideoJob, features: dict) -> dict:
        if job.video_id == "v03":
            raise RuntimeError("labeling service down")
        assert features["size_bytes"] == job.path.stat().st_size
        return rule_based_labels(job.caption, list(job.hashtags))

    result = run(jobs, tmp_path / "cache", labeler=labeler)

    assert [r["video_id"] for r in result.rows] == ["v00", "v01", "v02", "v04", "v05"]
    assert all(r["hook_type"] == "pov" and r["label_source"] == "rules" and "size_bytes" in r for r in result.rows)
    assert result.quarantined[0]["reason"] == "labeler failed: RuntimeError: labeling service down"


def test_two_workers_give_the_same_rows(tmp_path: Path, counter: Path) -> None:
    contents = {**good(9), "corrupt": b"BAD!"}
    jobs = make_videos(tmp_path / "videos", contents)

    serial = run(jobs, tmp_path / "cache-serial")
    pooled = run(jobs, tmp_path / "cache-pool", workers=2)

    assert pooled.rows == serial.rows
    assert [q["reason"] for q in pooled.quarantined] == [q["reason"] for q in serial.quarantined]
    assert pooled.computed == 9 and len(calls(counter)) == 20
    rerun = run(jobs, tmp_path / "cache-pool", workers=2)
    assert (rerun.computed, rerun.cached, rerun.rows) == (0, 9, serial.rows)


def test_a_worker_crash_quarantines_only_the_video_that_caused_it(tmp_path: Path, counter: Path) -> None:
    jobs = make_videos(tmp_path / "videos", {**good(7), "crasher": b"CRASH!"})
    result = run(jobs, tmp_path / "cache", workers=2)
    assert len(result.rows) == 7
    assert [(q["video_id"], q["reason"]) for q in result.quarantined] == [
        ("crasher", "worker process crashed while extracting this video")
    ]


def test_batches_of_one_process_share_its_workers_and_a_crash_replaces_them(tmp_path: Path, counter: Path) -> None:
    """Workers pay for their imports once per process (the in-process demo runs 20 batches), not once per batch."""
    run(make_videos(tmp_path / "a", good(3)), tmp_path / "cache-a", workers=2)
    pool = extraction_pool._pool(2)
    run(make_videos(tmp_path / "b", {**good(3), "other": b"fine too"}), tmp_path / "cache-b", workers=2)
    assert extraction_pool._pool(2) is pool
    crashed = run(make_videos(tmp_path / "c", {**good(7), "crasher": b"CRASH!"}), tmp_path / "cache-c", workers=2)
    assert len(crashed.rows) == 7 and extraction_pool._pool(2) is not pool  # a broken pool is never reused
    after = run(make_videos(tmp_path / "d", good(2)), tmp_path / "cache-d", workers=2)
    assert len(after.rows) == 2 and not after.quarantined


def test_workers_need_a_picklable_extractor(tmp_path: Path) -> None:
    jobs = make_videos(tmp_path / "videos", good(2))
    with pytest.raises(TypeError, match="picklable"):
        run(jobs, tmp_path / "cache", workers=2, extractor=lambda path: {})
