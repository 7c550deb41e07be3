"""Extraction of one video, in this process or in a crash-tolerant process pool.

Every failure of one video (an extractor exception, a non-dict result, features that are not JSON) comes back as an
:class:`ExtractionOutcome`, never as an exception, so a broken file never sinks a batch. ``workers > 1`` uses a
``spawn`` process pool (safe under a threaded orchestrator); a worker killed by a native crash is survived: the
videos it may have been holding are retried one at a time, and the one that crashes alone is reported as failed.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optimizer_pipeline.lib.features.feature_cache import write_cached_features

log = logging.getLogger(__name__)

Extractor = Callable[[Path], dict]
MAX_REASON_CHARS = 400


def failure_reason(exc: BaseException) -> str:
    """An exception as one bounded line for failure records."""
    text = f"{type(exc).__name__}: {exc}".strip()
    return text if len(text) <= MAX_REASON_CHARS else text[: MAX_REASON_CHARS - 3] + "..."


@dataclass(frozen=True)
class ExtractionTask:
    """Picklable description of one extraction."""

    path: str
    sha256: str
    record_path: str
    feature_version: str
    extractor: Extractor


@dataclass(frozen=True)
class ExtractionOutcome:
    """Features, or why there are none; ``fatal`` stops the whole batch (a version mismatch is a setup error)."""

    features: dict[str, Any] | None = None
    error: str | None = None
    fatal: bool = False


def extract_one(task: ExtractionTask) -> ExtractionOutcome:
    """Extract, validate and checkpoint one video; every failure is returned, never raised."""
    try:
        features = task.extractor(Path(task.path))
    except Exception as exc:  # a broken video must not stop the batch, whatever the extractor raises
        return ExtractionOutcome(error=failure_reason(exc))
    if not isinstance(features, dict):
        return ExtractionOutcome(error=f"extractor returned {type(features).__name__}, expected dict")
    version = features.get("feature_version")
    if version is not None and str(version) != task.feature_version:
        message = f"extractor reports feature_version {version!r} but the batch caches under {task.feature_version!r}"
        return ExtractionOutcome(error=message, fatal=True)
    try:
        stored = write_cached_features(Path(task.record_path), task.sha256, task.feature_version, features)
    except (TypeError, ValueError) as exc:
        return ExtractionOutcome(error=f"features are not JSON-serializable: {failure_reason(exc)}")
    return ExtractionOutcome(features=stored)


def serial_outcomes(tasks: Sequence[ExtractionTask]) -> Iterator[tuple[ExtractionTask, ExtractionOutcome]]:
    for task in tasks:
        yield task, extract_one(task)


#: One pool per worker count, kept for the life of the process. A spawned worker pays for its imports (OpenCV, PyAV,
#: librosa and numba's cache) before its first video, about as long as extracting a short clip; a process that runs
#: many partitions (the in-process demo: 20 bucket runs) pays it once instead of once per partition. A run in its
#: own process (Dagster's default) sees no difference.
_POOLS: dict[int, ProcessPoolExecutor] = {}
_POOLS_LOCK = threading.Lock()


def _pool(workers: int, *, replace: ProcessPoolExecutor | None = None) -> ProcessPoolExecutor:
    """The process's pool of ``workers`` spawn workers; ``replace`` retires a broken one first."""
    with _POOLS_LOCK:
        current = _POOLS.get(workers)
        if current is not None and current is replace:
            del _POOLS[workers]
            current.shutdown(wait=True, cancel_futures=True)
            current = None
        if current is None:
            current = _POOLS[workers] = ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context("spawn")
            )
        return current


def close_pools() -> None:
    """Stop every pool of this process. Spawned workers keep the environment they started with, so code that changes
    what a worker should see (a test's environment variables) needs fresh ones."""
    with _POOLS_LOCK:
        pools = list(_POOLS.values())
        _POOLS.clear()
    for pool in pools:
        pool.shutdown(wait=True, cancel_futures=True)


def pool_outcomes(tasks: Sequence[ExtractionTask], workers: int) -> Iterator[tuple[ExtractionTask, ExtractionOutcome]]:
    """Outcomes from a process pool; tasks in flight when a worker dies are retried alone to find the culprit."""
    queue, suspects = deque(tasks), deque[ExtractionTask]()
    pool = _pool(workers)
    inflight: dict[Future[ExtractionOutcome], ExtractionTask] = {}
    try:
        while queue or suspects or inflight:
            if suspects:
                if not inflight:
                    task = suspects.popleft()
                    inflight[pool.submit(extract_one, task)] = task
            else:
                while queue and len(inflight) < workers:
                    task = queue.popleft()
                    inflight[pool.submit(extract_one, task)] = task
            done, _ = wait(inflight, return_when=FIRST_COMPLETED)
            broken: list[ExtractionTask] = []
            for future in done:
                task = inflight.pop(future)
                try:
                    outcome = future.result()
                except BrokenProcessPool:
                    broken.append(task)
                    continue
                except Exception as exc:  # e.g. the result could not be sent back
                    outcome = ExtractionOutcome(error=f"worker failed: {failure_reason(exc)}")
                yield task, outcome
            if not broken:
                continue
            broken.extend(inflight.values())
            inflight.clear()
            pool = _pool(workers, replace=pool)
            if len(broken) == 1:
                yield broken[0], ExtractionOutcome(error="worker process crashed while extracting this video")
            else:
                log.warning("a feature worker crashed; retrying %d videos one at a time", len(broken))
                suspects.extend(broken)
    finally:
        for future in inflight:  # a batch given up early (an error, a closed generator) leaves no work queued
            future.cancel()
