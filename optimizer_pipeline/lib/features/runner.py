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

The cache records live in :mod:`.feature_cache`, the extraction of one video and the process pool in
:mod:`.extraction_pool`; this module is the batch: jobs, resume, quarantine, progress and the failure threshold.
"""

from __future__ import annotations

import hashlib
import json
import logging
import pickle
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from optimizer_pipeline.lib.core.atomic_files import atomic_write_text
from optimizer_pipeline.lib.core.hashing import file_sha256, is_sha256_hex
from optimizer_pipeline.lib.core.progress import Progress
from optimizer_pipeline.lib.features.extraction_pool import (
    ExtractionTask,
    Extractor,
    failure_reason,
    pool_outcomes,
    serial_outcomes,
)
from optimizer_pipeline.lib.features.feature_cache import feature_cache_path, read_cached_features

log = logging.getLogger(__name__)

_VERSION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


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
        self.meter = Progress(todo, "features", unit="videos to extract")  # throttled, for the demo's terminal
        self.emit(f"features {self.done}/{self.total}: {self.cached} from cache, {todo} to extract")

    def tick(self) -> None:
        self.done += 1
        self.worked += 1
        self.meter.advance()
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
        atomic_write_text(_quarantine_path(self.cache_dir, job.video_id), json.dumps(record, indent=1))
        if len(self.failures) > self.max_failure_share * len(self.videos):
            raise FeatureBatchError(self.failures, len(self.videos), self.max_failure_share)

    def succeed(self, index: int, features: dict[str, Any]) -> None:
        job = self.videos[index]
        try:
            labels = dict(self.labeler(job, features)) if self.labeler is not None else {}
        except Exception as exc:  # same rule as the extractor: one video's failure is recorded, not raised
            self.fail(index, f"labeler failed: {failure_reason(exc)}", features.get("content_sha256"))
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
            self.fail(index, f"unreadable file: {failure_reason(exc)}")
            return None
        if size == 0:
            self.fail(index, "empty file (0 bytes)")
            return None
        try:
            sha = (job.sha256 or file_sha256(job.path)).lower()
        except OSError as exc:
            self.fail(index, f"unreadable file: {failure_reason(exc)}")
            return None
        if not is_sha256_hex(sha):
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
            raise TypeError(f"workers > 1 needs a picklable (module-level) extractor: {failure_reason(exc)}") from exc
    started = time.monotonic()
    cache_dir = Path(cache_dir)
    batch = _Batch(videos, cache_dir, feature_version, labeler, progress, max_failure_share)

    leaders: dict[str, ExtractionTask] = {}  # one extraction per distinct content hash
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
        features = read_cached_features(record_path, sha, feature_version)
        if features is not None:
            batch.progress.done += 1
            batch.progress.cached += 1
            batch.succeed(index, features)
            continue
        leaders[sha] = ExtractionTask(str(videos[index].path), sha, str(record_path), feature_version, extractor)
        followers[sha] = [index]

    tasks = list(leaders.values())
    batch.progress.start_work(len(tasks))
    outcomes = pool_outcomes(tasks, workers) if workers > 1 and len(tasks) > 1 else serial_outcomes(tasks)
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
