"""Run a feature extractor over a batch of videos: resumable, and a few broken files never sink the batch.

- **Checkpoint/resume.** Each video's features are written to ``cache_dir/<version>/<sha[:2]>/<sha>.json`` (temp
  file + rename) the moment that video finishes, by whichever process extracted it. A run that is killed and
  restarted re-extracts no finished video; a new ``feature_version`` is a new namespace, so everything is
  recomputed. Identical content under several video ids is extracted once.
- **Quarantine.** A missing path, a zero-length file, or any exception from the extractor (``VideoDecodeError``
  or anything else) marks that video as quarantined: it is listed in :attr:`BatchResult.quarantined` and a JSON
  record with the reason is written to ``cache_dir/quarantine/`` (the video itself is not copied). Quarantined
  videos are retried on the next run. Only when more than ``max_failure_share`` of the batch fails does the run
  raise :class:`FeatureBatchError` (as soon as that is certain, so a broken extractor fails fast).
- **Labels** come from the optional ``labeler(job, features)``, called in this process for every row on every
  run; caching labels is the labeler's business (``AnthropicLabeler`` caches by content hash, rules are free).
- **Workers.** ``workers > 1`` extracts in a process pool (``spawn``: safe under a threaded orchestrator); each
  worker pays the extractor's one-time imports/warm-up once. The extractor must be picklable (a module-level
  function). A worker killed by a native crash is survived: the videos it may have been holding are retried one
  at a time, and the one that crashes alone is quarantined.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import pickle
import re
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optimizer_pipeline.lib.core.hashing import file_sha256

log = logging.getLogger(__name__)

Extractor = Callable[[Path], dict]
MAX_REASON_CHARS = 400
_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class VideoJob:
    """One video to process; ``sha256`` (of the file's bytes) is computed when not given."""

    video_id: str
    path: Path
    sha256: str | None = None
    caption: str = ""
    hashtags: Sequence[str] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", Path(self.path))
        object.__setattr__(self, "hashtags", tuple(self.hashtags or ()))


@dataclass
class BatchResult:
    """Rows of the videos that worked (input order) and the quarantined ones.

    ``computed`` counts extractions that succeeded in this run, ``cached`` rows served from the feature cache.
    """

    rows: list[dict[str, Any]]
    quarantined: list[dict[str, Any]]
    computed: int
    cached: int
    elapsed_s: float


class FeatureBatchError(RuntimeError):
    """More than ``max_failure_share`` of the batch failed; ``failures`` lists video ids and reasons."""

    def __init__(self, failures: list[dict[str, Any]], total: int, max_failure_share: float) -> None:
        self.failures = failures
        self.total = total
        shown = "\n".join(f"  {f['video_id']}: {f['reason']}" for f in failures[:25])
        more = f"\n  ... and {len(failures) - 25} more" if len(failures) > 25 else ""
        super().__init__(
            f"{len(failures)} of {total} videos failed feature extraction, more than the "
            f"{max_failure_share:.0%} allowed (records in quarantine/):\n{shown}{more}"
        )


class FeatureVersionMismatch(ValueError):
    """The extractor reports a ``feature_version`` other than the one its results would be cached under."""


def feature_cache_path(cache_dir: Path, feature_version: str, sha256: str) -> Path:
    """Where one video's features are cached."""
    return Path(cache_dir) / feature_version / sha256[:2] / f"{sha256}.json"


def _json_default(value: Any) -> Any:
    """numpy scalars/arrays (what extractors tend to return) as plain JSON values."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON-serializable")


def _write_json_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _reason(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 3] + "..."


# -- extraction of one video (runs in this process or in a pool worker) -------------------------------------------


@dataclass(frozen=True)
class _Task:
    """Picklable description of one extraction."""

    path: str
    sha256: str
    record_path: str
    feature_version: str
    extractor: Extractor


@dataclass(frozen=True)
class _Outcome:
    features: dict[str, Any] | None = None
    error: str | None = None
    fatal: bool = False


def _extract(task: _Task) -> _Outcome:
    """Extract, validate and checkpoint one video; every failure is returned, never raised."""
    try:
        features = task.extractor(Path(task.path))
    except Exception as exc:  # a broken video must not stop the batch, whatever the extractor raises
        return _Outcome(error=_reason(exc))
    if not isinstance(features, dict):
        return _Outcome(error=f"extractor returned {type(features).__name__}, expected dict")
    version = features.get("feature_version")
    if version is not None and str(version) != task.feature_version:
        message = f"extractor reports feature_version {version!r} but the batch caches under {task.feature_version!r}"
        return _Outcome(error=message, fatal=True)
    try:
        record = {"sha256": task.sha256, "feature_version": task.feature_version, "features": features}
        text = json.dumps(record, default=_json_default, sort_keys=True)
    except (TypeError, ValueError) as exc:
        return _Outcome(error=f"features are not JSON-serializable: {_reason(exc)}")
    _write_json_atomic(Path(task.record_path), text)
    return _Outcome(features=json.loads(text)["features"])


def _serial_outcomes(tasks: Sequence[_Task]) -> Iterator[tuple[_Task, _Outcome]]:
    for task in tasks:
        yield task, _extract(task)


def _pool_outcomes(tasks: Sequence[_Task], workers: int) -> Iterator[tuple[_Task, _Outcome]]:
    """Outcomes from a process pool; tasks in flight when a worker dies are retried alone to find the culprit."""
    context = multiprocessing.get_context("spawn")
    queue, suspects = deque(tasks), deque[_Task]()
    pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
    inflight: dict[Future[_Outcome], _Task] = {}
    try:
        while queue or suspects or inflight:
            if suspects:
                if not inflight:
                    task = suspects.popleft()
                    inflight[pool.submit(_extract, task)] = task
            else:
                while queue and len(inflight) < workers:
                    task = queue.popleft()
                    inflight[pool.submit(_extract, task)] = task
            done, _ = wait(inflight, return_when=FIRST_COMPLETED)
            broken: list[_Task] = []
            for future in done:
                task = inflight.pop(future)
                try:
                    outcome = future.result()
                except BrokenProcessPool:
                    broken.append(task)
                    continue
                except Exception as exc:  # e.g. the result could not be sent back
                    outcome = _Outcome(error=f"worker failed: {_reason(exc)}")
                yield task, outcome
            if not broken:
                continue
            broken.extend(inflight.values())
            inflight.clear()
            pool.shutdown(wait=True, cancel_futures=True)
            pool = ProcessPoolExecutor(max_workers=workers, mp_context=context)
            if len(broken) == 1:
                yield broken[0], _Outcome(error="worker process crashed while extracting this video")
            else:
                log.warning("a feature worker crashed; retrying %d videos one at a time", len(broken))
                suspects.extend(broken)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


# -- the batch ----------------------------------------------------------------------------------------------------


class _Progress:
    """``k/N, rate videos/s, ETA`` lines; the rate counts only videos worked on in this run (not cache hits)."""

    def __init__(self, total: int, callback: Callable[[str], None] | None) -> None:
        self.total, self.callback = total, callback
        self.done = self.cached = self.failed = self.worked = 0
        self.started = time.monotonic()

    def emit(self, message: str) -> None:
        log.info(message)
        if self.callback is not None:
            self.callback(message)

    def start_work(self, todo: int) -> None:
        self.started = time.monotonic()
        self.emit(f"features {self.done}/{self.total}: {self.cached} from cache, {todo} to extract")

    def tick(self) -> None:
        self.done += 1
        self.worked += 1
        elapsed = max(time.monotonic() - self.started, 1e-9)
        rate = self.worked / elapsed
        eta = (self.total - self.done) / rate if rate > 0 else float("inf")
        self.emit(
            f"features {self.done}/{self.total} ({self.cached} cached, {self.failed} failed), "
            f"{rate:.2f} videos/s, ETA {_fmt_seconds(eta)}"
        )


def _fmt_seconds(seconds: float) -> str:
    if seconds == float("inf"):
        return "?"
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


def _quarantine_path(cache_dir: Path, video_id: str) -> Path:
    safe = re.sub(r"[^A-Za-z0-9._-]", "_", video_id)[:80]
    return cache_dir / "quarantine" / f"{safe}-{hashlib.sha256(video_id.encode()).hexdigest()[:8]}.json"


def _read_cached(path: Path, sha256: str, feature_version: str) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    ok = record.get("sha256") == sha256 and record.get("feature_version") == feature_version
    return record["features"] if ok and isinstance(record.get("features"), dict) else None


class _Batch:
    """State of one run: rows, failures, progress, and the threshold check."""

    def __init__(
        self,
        videos: Sequence[VideoJob],
        cache_dir: Path,
        feature_version: str,
        labeler: Callable[[VideoJob, dict], dict] | None,
        progress: Callable[[str], None] | None,
        max_failure_share: float,
    ) -> None:
        self.videos, self.cache_dir, self.feature_version = videos, cache_dir, feature_version
        self.labeler, self.max_failure_share = labeler, max_failure_share
        self.rows: dict[int, dict[str, Any]] = {}
        self.failures: list[dict[str, Any]] = []
        self.progress = _Progress(len(videos), progress)

    def fail(self, index: int, reason: str, sha256: str | None = None) -> None:
        job = self.videos[index]
        record = {
            "video_id": job.video_id,
            "path": str(job.path),
            "sha256": sha256,
            "feature_version": self.feature_version,
            "reason": reason,
            "quarantined_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        self.failures.append(record)
        self.progress.failed += 1
        log.warning("quarantined %s: %s", job.video_id, reason)
        _write_json_atomic(_quarantine_path(self.cache_dir, job.video_id), json.dumps(record, indent=1))
        if len(self.failures) > self.max_failure_share * len(self.videos):
            raise FeatureBatchError(self.failures, len(self.videos), self.max_failure_share)

    def succeed(self, index: int, features: dict[str, Any]) -> None:
        job = self.videos[index]
        try:
            labels = dict(self.labeler(job, features)) if self.labeler is not None else {}
        except Exception as exc:  # same rule as the extractor: one video's failure is recorded, not raised
            self.fail(index, f"labeler failed: {_reason(exc)}", features.get("content_sha256"))
            return
        self.rows[index] = {"video_id": job.video_id, **features, **labels}
        _quarantine_path(self.cache_dir, job.video_id).unlink(missing_ok=True)

    def resolve(self, index: int) -> tuple[str, Path] | None:
        """(sha256, cache path) of a readable, non-empty video; records a failure and returns None otherwise."""
        job = self.videos[index]
        try:
            size = job.path.stat().st_size
        except FileNotFoundError:
            self.fail(index, f"missing file: {job.path}")
            return None
        except OSError as exc:
            self.fail(index, f"unreadable file: {_reason(exc)}")
            return None
        if size == 0:
            self.fail(index, "empty file (0 bytes)")
            return None
        try:
            sha = (job.sha256 or file_sha256(job.path)).lower()
        except OSError as exc:
            self.fail(index, f"unreadable file: {_reason(exc)}")
            return None
        if not _SHA_RE.match(sha):
            self.fail(index, f"invalid sha256 {job.sha256!r}")
            return None
        return sha, feature_cache_path(self.cache_dir, self.feature_version, sha)


def run_feature_batch(
    videos: Sequence[VideoJob],
    *,
    extractor: Extractor,
    cache_dir: Path,
    feature_version: str,
    labeler: Callable[[VideoJob, dict], dict] | None = None,
    progress: Callable[[str], None] | None = None,
    max_failure_share: float = 0.2,
    workers: int = 1,
) -> BatchResult:
    """Features (+ labels) for every video, from cache where possible; see the module docstring for the rules."""
    if not _VERSION_RE.match(feature_version or ""):
        raise ValueError(f"feature_version must be a short [A-Za-z0-9._-] name, got {feature_version!r}")
    if workers < 1:
        raise ValueError("workers must be >= 1")
    if workers > 1:
        try:
            pickle.dumps(extractor)
        except Exception as exc:
            raise TypeError(f"workers > 1 needs a picklable (module-level) extractor: {_reason(exc)}") from exc
    started = time.monotonic()
    cache_dir = Path(cache_dir)
    batch = _Batch(videos, cache_dir, feature_version, labeler, progress, max_failure_share)

    leaders: dict[str, _Task] = {}  # one extraction per distinct content hash
    followers: dict[str, list[int]] = {}
    for index in range(len(videos)):
        resolved = batch.resolve(index)
        if resolved is None:
            batch.progress.done += 1
            continue
        sha, record_path = resolved
        if sha in followers:
            followers[sha].append(index)
            continue
        features = _read_cached(record_path, sha, feature_version)
        if features is not None:
            batch.progress.done += 1
            batch.progress.cached += 1
            batch.succeed(index, features)
            continue
        leaders[sha] = _Task(str(videos[index].path), sha, str(record_path), feature_version, extractor)
        followers[sha] = [index]

    tasks = list(leaders.values())
    batch.progress.start_work(len(tasks))
    outcomes = _pool_outcomes(tasks, workers) if workers > 1 and len(tasks) > 1 else _serial_outcomes(tasks)
    computed = 0
    try:
        for task, outcome in outcomes:
            if outcome.fatal:
                raise FeatureVersionMismatch(outcome.error)
            computed += 1 if outcome.error is None else 0
            for index in followers[task.sha256]:
                if outcome.error is None:
                    batch.succeed(index, outcome.features)
                else:
                    batch.fail(index, outcome.error, task.sha256)
                batch.progress.tick()
    finally:
        outcomes.close()  # stops the pool when a failure threshold or Ctrl-C ends the loop early

    return BatchResult(
        rows=[batch.rows[i] for i in sorted(batch.rows)],
        quarantined=batch.failures,
        computed=computed,
        cached=batch.progress.cached,
        elapsed_s=round(time.monotonic() - started, 3),
    )
