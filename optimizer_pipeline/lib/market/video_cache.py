"""Content-addressed video download cache: each video is fetched once, identical bytes are stored once.

Layout under ``root``: ``objects/<sha[:2]>/<sha>.mp4`` (the bytes), ``index/<video_id>.json`` (video id ->
object) and ``tmp/`` (partial downloads). Every write goes to a temp file and is renamed into place, so
concurrent fetches of different videos and crashes never leave a half-written object or index entry.
Failures are returned, never raised, so one bad video never stops a batch.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

import httpx

from optimizer_pipeline.lib.core.atomic_files import atomic_output, atomic_write_bytes
from optimizer_pipeline.lib.core.hashing import file_sha256, is_sha256_hex

FetchStatus = Literal["local", "cached", "downloaded", "failed"]
CHUNK = 1 << 16
STRAY_TEMP_AGE_S = 3600
_VIDEO_ID_RE = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$")
_BINARY_TYPES = {"application/octet-stream", "binary/octet-stream"}


@dataclass(frozen=True)
class FetchResult:
    """Outcome of one fetch; ``error`` is a one-line reason when ``status == "failed"``."""

    video_id: str
    status: FetchStatus
    path: str | None
    sha256: str | None
    size_bytes: int | None
    error: str | None
    attempts: int


@dataclass(frozen=True)
class CleanupReport:
    """What :meth:`VideoCache.cleanup` removed and how many objects it kept."""

    removed_objects: int
    removed_bytes: int
    removed_index: int
    kept: int
    removed_temp: int = 0


class _Permanent(Exception):
    """A failure that another attempt cannot fix (4xx, wrong content type, too big, empty)."""


class _Retryable(Exception):
    """A failure worth another attempt (timeouts, connection errors, 429, 5xx)."""


class VideoCache:
    """Download cache keyed by video id, storing bytes by sha256."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.objects_dir = self.root / "objects"
        self.index_dir = self.root / "index"
        self.tmp_dir = self.root / "tmp"
        for directory in (self.objects_dir, self.index_dir, self.tmp_dir):
            directory.mkdir(parents=True, exist_ok=True)

    # -- public API -------------------------------------------------------------------------------------------

    def fetch(
        self,
        video_id: str,
        url: str | None,
        *,
        local_path: str | None = None,
        timeout_s: float = 30,
        max_bytes: int = 200 * 2**20,
        retries: int = 3,
        backoff_s: float = 0.5,
        headers: dict | None = None,
    ) -> FetchResult:
        """Local file, else cached object, else download. ``retries`` is the total number of HTTP attempts.

        ``timeout_s`` bounds each connect/read wait; ``backoff_s`` doubles after every failed attempt.
        """
        if not _VIDEO_ID_RE.match(str(video_id)):
            return _failed(str(video_id), "invalid video id (allowed: letters, digits, '.', '_', '-')", 0)
        if local_path:
            return self._use_local(video_id, Path(local_path))
        cached = self._lookup(video_id)
        if cached is not None:
            return cached
        if not url:
            return _failed(video_id, "no url and no local_path given", 0)
        scheme = urlsplit(url).scheme.lower()
        if scheme == "file":
            return self._copy_file_url(video_id, url, max_bytes)
        if scheme not in {"http", "https"}:
            return _failed(video_id, f"unsupported url scheme {scheme or '(none)'!r}", 0)
        return self._download(video_id, url, timeout_s, max_bytes, max(1, retries), backoff_s, headers or {})

    def cleanup(self, retention_days: float = 7, *, now: float | None = None) -> CleanupReport:
        """Drop objects unused for ``retention_days`` (mtime; fetch hits refresh it), dangling index, stale temps."""
        now = time.time() if now is None else now
        cutoff = now - retention_days * 86400
        removed_objects = removed_bytes = kept = 0
        for obj in self.objects_dir.glob("*/*.mp4"):
            try:
                stat = obj.stat()
                if stat.st_mtime < cutoff:
                    obj.unlink()
                    removed_objects += 1
                    removed_bytes += stat.st_size
                else:
                    kept += 1
            except FileNotFoundError:  # removed concurrently
                continue
        for shard in self.objects_dir.iterdir():
            if shard.is_dir() and not any(shard.iterdir()):
                shard.rmdir()
        removed_index = 0
        for entry in self.index_dir.glob("*.json"):
            if self._read_index(entry) is None:
                entry.unlink(missing_ok=True)
                removed_index += 1
        removed_temp = 0
        for tmp in self.tmp_dir.iterdir():
            try:
                if tmp.stat().st_mtime < now - STRAY_TEMP_AGE_S:
                    tmp.unlink()
                    removed_temp += 1
            except FileNotFoundError:
                continue
        return CleanupReport(removed_objects, removed_bytes, removed_index, kept, removed_temp)

    # -- sources ---------------------------------------------------------------------------------------------

    def _use_local(self, video_id: str, path: Path) -> FetchResult:
        """A file already on disk (e.g. a sample video): hash it in place, copy nothing."""
        if not path.is_file():
            return _failed(video_id, f"local file {path} not found", 0)
        try:
            size, digest = path.stat().st_size, file_sha256(path)
        except OSError as exc:
            return _failed(video_id, f"cannot read local file {path}: {exc.strerror or exc}", 0)
        return FetchResult(video_id, "local", str(path), digest, size, None, 0)

    def _lookup(self, video_id: str) -> FetchResult | None:
        """Cache hit when the index entry exists and its object is present with the recorded size."""
        entry = self._read_index(self.index_dir / f"{video_id}.json")
        if entry is None:
            return None
        obj = self._object_path(entry["sha256"])
        try:
            os.utime(obj)  # retention counts from last use
        except FileNotFoundError:  # removed by a concurrent cleanup
            return None
        return FetchResult(video_id, "cached", str(obj), entry["sha256"], entry["size_bytes"], None, 0)

    def _copy_file_url(self, video_id: str, url: str, max_bytes: int) -> FetchResult:
        """``file://`` URLs are copied into the cache like a download, with the same size checks."""
        source = Path(unquote(urlsplit(url).path))
        if not source.is_file():
            return _failed(video_id, f"local file {source} not found", 1)
        try:
            size = source.stat().st_size
            if size > max_bytes:
                raise _Permanent(_too_big(size, max_bytes))
            with source.open("rb") as fh:
                return self._store(video_id, iter(lambda: fh.read(CHUNK), b""), max_bytes, _redact(url), 1)
        except _Permanent as exc:
            return _failed(video_id, str(exc), 1)
        except OSError as exc:
            return _failed(video_id, f"cannot read local file {source}: {exc.strerror or exc}", 1)

    def _download(
        self,
        video_id: str,
        url: str,
        timeout_s: float,
        max_bytes: int,
        attempts: int,
        backoff_s: float,
        headers: dict,
    ) -> FetchResult:
        """Streamed GET with retries on timeouts, connection errors, 429 and 5xx."""
        reason = "not attempted"
        with httpx.Client(timeout=httpx.Timeout(timeout_s), follow_redirects=True) as client:
            for attempt in range(1, attempts + 1):
                try:
                    return self._attempt(client, video_id, url, headers, max_bytes, attempt)
                except _Permanent as exc:
                    return _failed(video_id, str(exc), attempt)
                except _Retryable as exc:
                    reason = str(exc)
                    if attempt < attempts:
                        time.sleep(backoff_s * 2 ** (attempt - 1))
                    continue
        return _failed(video_id, f"{reason} after {attempts} attempts", attempts)

    def _attempt(
        self, client: httpx.Client, video_id: str, url: str, headers: dict, max_bytes: int, attempt: int
    ) -> FetchResult:
        """One HTTP attempt, classified into success / :class:`_Retryable` / :class:`_Permanent`."""
        try:
            with client.stream("GET", url, headers=headers) as response:
                status = response.status_code
                if status == 429 or status >= 500:
                    raise _Retryable(f"HTTP {status}")
                if not 200 <= status < 300:
                    raise _Permanent(f"HTTP {status}")
                content_type = response.headers.get("content-type", "")
                media_type = content_type.split(";", 1)[0].strip().lower()
                if not (media_type.startswith("video/") or media_type in _BINARY_TYPES):
                    raise _Permanent(f"content-type {media_type or '(missing)'} is not a video")
                length = response.headers.get("content-length")
                if length and length.isdigit() and int(length) > max_bytes:
                    raise _Permanent(_too_big(int(length), max_bytes))
                return self._store(video_id, response.iter_bytes(CHUNK), max_bytes, _redact(url), attempt)
        except httpx.TimeoutException as exc:
            raise _Retryable("timed out") from exc
        except httpx.TransportError as exc:
            raise _Retryable(f"connection error ({type(exc).__name__})") from exc

    # -- storage ---------------------------------------------------------------------------------------------

    def _store(self, video_id: str, chunks: Iterator[bytes], max_bytes: int, source: str, attempts: int) -> FetchResult:
        """Stream chunks into a temp file in ``tmp/`` while hashing, rename it to its content address (or drop it
        when those bytes are already stored), then write the index entry.

        The object's name is its hash, known only once every byte is written, so the target is set at the end of the
        :func:`atomic_output` block; on any problem the temp file is removed. Errors while writing the chunks
        propagate (the caller classifies them); a failure to store the finished file is returned as a failure.
        """
        written = False
        try:
            with atomic_output(None, temp_dir=self.tmp_dir, prefix=f"{video_id}.", suffix=".part") as pending:
                hasher, size = hashlib.sha256(), 0
                with pending.path.open("wb") as out:
                    for chunk in chunks:
                        size += len(chunk)
                        if size > max_bytes:
                            raise _Permanent(_too_big(size, max_bytes, streamed=True))
                        hasher.update(chunk)
                        out.write(chunk)
                if size == 0:
                    raise _Permanent("empty body")
                written, digest = True, hasher.hexdigest()
                pending.target = obj = self._object_path(digest)
                if obj.exists():
                    pending.discard()
                    os.utime(obj)
            entry = {"video_id": video_id, "sha256": digest, "size_bytes": size, "source": source}
            entry["fetched_at"] = time.time()
            index = json.dumps(entry, sort_keys=True).encode()
            atomic_write_bytes(self.index_dir / f"{video_id}.json", index, temp_dir=self.tmp_dir)
        except OSError as exc:
            if not written:
                raise
            return _failed(video_id, f"cannot store video: {exc.strerror or exc}", attempts)
        return FetchResult(video_id, "downloaded", str(obj), digest, size, None, attempts)

    def _object_path(self, digest: str) -> Path:
        return self.objects_dir / digest[:2] / f"{digest}.mp4"

    def _read_index(self, entry_path: Path) -> dict | None:
        """Index entry whose object exists with the recorded size; ``None`` when missing, corrupt or dangling."""
        try:
            entry = json.loads(entry_path.read_text())
            digest, size = str(entry["sha256"]), int(entry["size_bytes"])
            if not is_sha256_hex(digest):
                return None
            return entry if self._object_path(digest).stat().st_size == size else None
        except (OSError, ValueError, KeyError, TypeError):
            return None


def _failed(video_id: str, reason: str, attempts: int) -> FetchResult:
    return FetchResult(video_id, "failed", None, None, None, reason, attempts)


def _too_big(size: int, limit: int, *, streamed: bool = False) -> str:
    size_text = f"more than {_human(limit)}" if streamed else _human(size)
    return f"size {size_text} exceeds limit {_human(limit)}"


def _human(n: int) -> str:
    """Readable size: ``300 MB``, ``1.5 KB``, ``512 B``."""
    for unit, scale in (("GB", 2**30), ("MB", 2**20), ("KB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f}".removesuffix(".0") + f" {unit}"
    return f"{n} B"


def _redact(url: str) -> str:
    """URL without query/fragment/credentials: signed media URLs can carry tokens, which must not be stored."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return f"{parts.scheme}://{host}{parts.path}"
