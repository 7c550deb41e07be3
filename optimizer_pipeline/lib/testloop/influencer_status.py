"""The outreach status of one influencer × creative assignment, and the append-only log that changes it.

Lifecycle: ``potential → contacted → agreed → posted``; ``rejected`` is reachable from every state that is not final;
``posted`` and ``rejected`` are final. The influencer CSV's ``status`` column gives the starting status; every later
change is one JSON line appended to ``<home>/testloop/<client>/status_log.jsonl`` (by the ``influencer-status``
command), which ``traffic_sources`` replays in order. A log is never edited in place, so the history stays auditable;
an entry that is not a valid transition when replayed is reported, not applied.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from optimizer_pipeline.lib.core.hashing import file_sha256

POTENTIAL, CONTACTED, AGREED, POSTED, REJECTED = "potential", "contacted", "agreed", "posted", "rejected"
STATUSES: tuple[str, ...] = (POTENTIAL, CONTACTED, AGREED, POSTED, REJECTED)
FINAL: frozenset[str] = frozenset({POSTED, REJECTED})
_NEXT: Mapping[str, str] = {POTENTIAL: CONTACTED, CONTACTED: AGREED, AGREED: POSTED}
LOG_NAME = "status_log.jsonl"

Pair = tuple[str, str]  # (handle, creative_id)


class StatusError(ValueError):
    """An unknown status or a transition the lifecycle does not allow."""


def normalize_status(value: str) -> str:
    """``" Posted "`` → ``"posted"``; raises :class:`StatusError` for anything that is not a status."""
    status = value.strip().lower() if isinstance(value, str) else value
    if status not in STATUSES:
        raise StatusError(f"unknown status {value!r}; expected one of {list(STATUSES)}")
    return status


def transition_problem(current: str, new: str) -> str | None:
    """Why ``current → new`` is not allowed, or None when it is."""
    if current in FINAL:
        return f"{current} is final; it cannot become {new}"
    if new == REJECTED or _NEXT.get(current) == new:
        return None
    allowed = [s for s in (_NEXT.get(current), REJECTED) if s]
    return f"{current} → {new} is not allowed (from {current}: {' or '.join(allowed)})"


def allowed_next(current: str) -> tuple[str, ...]:
    """The statuses ``current`` may move to (empty for a final status)."""
    if current in FINAL:
        return ()
    return (_NEXT[current], REJECTED)


def status_log_path(home: str | Path, client: str) -> Path:
    return Path(home) / "testloop" / client / LOG_NAME


def log_fingerprint(path: Path) -> str | None:
    """SHA-256 of the log's bytes (None when there is no log): what a watcher compares to know the log changed.

    Content, not mtime: a touched but unchanged log is not a change, and the same content always gives the same
    fingerprint, so a run key built from it never repeats a run."""
    try:
        return file_sha256(path)
    except FileNotFoundError:
        return None


@dataclass(frozen=True)
class StatusEntry:
    """One logged transition; ``at`` is an ISO-8601 UTC time, ``handle`` lower-case without ``@``."""

    at: str
    handle: str
    creative_id: str
    status: str
    note: str = ""
    line: int = 0  # 1-based line in the log (0 before it is written)


def new_entry(handle: str, creative_id: str, status: str, note: str = "", at: datetime | None = None) -> StatusEntry:
    """A validated entry for now (or ``at``), ready to append."""
    when = (at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)
    return StatusEntry(
        at=when.isoformat().replace("+00:00", "Z"),
        handle=handle.strip().lstrip("@").lower(),
        creative_id=creative_id.strip(),
        status=normalize_status(status),
        note=note.strip(),
    )


def append_entry(path: Path, entry: StatusEntry) -> None:
    """Append one JSON line under an exclusive lock and fsync it: concurrent writers never interleave lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    record = {k: v for k, v in asdict(entry).items() if k != "line"}
    data = (json.dumps(record, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)  # closing releases the lock


def read_log(path: Path) -> tuple[list[StatusEntry], list[dict[str, Any]]]:
    """(entries in file order, problems) of a status log; a missing log is empty. Problems carry line and reason."""
    if not path.exists():
        return [], []
    entries: list[StatusEntry] = []
    problems: list[dict[str, Any]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entries.append(_parse_line(line, number))
        except (ValueError, TypeError, KeyError) as exc:
            problems.append(_problem(number, None, None, None, f"unreadable log line: {exc}"))
    return entries, problems


def _parse_line(line: str, number: int) -> StatusEntry:
    doc = json.loads(line)
    if not isinstance(doc, dict):
        raise ValueError("not a JSON object")
    missing = [k for k in ("at", "handle", "creative_id", "status") if not isinstance(doc.get(k), str) or not doc[k]]
    if missing:
        raise ValueError(f"missing field(s) {missing}")
    datetime.fromisoformat(doc["at"].replace("Z", "+00:00"))
    return StatusEntry(
        at=doc["at"],
        handle=doc["handle"].strip().lstrip("@").lower(),
        creative_id=doc["creative_id"].strip(),
        status=normalize_status(doc["status"]),
        note=str(doc.get("note") or ""),
        line=number,
    )


def _problem(line: int, handle: str | None, creative: str | None, status: str | None, reason: str) -> dict[str, Any]:
    return {"line": line, "handle": handle, "creative_id": creative, "status": status, "reason": reason}


@dataclass(frozen=True)
class Replay:
    """Statuses after replaying a log over the starting statuses."""

    status: dict[Pair, str]
    changed_at: dict[Pair, str]  # time of the last applied entry per pair
    applied: int
    problems: list[dict[str, Any]]  # entries not applied: line, handle, creative_id, status, reason


def replay(start: Mapping[Pair, str], entries: Iterable[StatusEntry]) -> Replay:
    """Apply the entries in order; an entry for an unknown pair or an invalid transition is reported and skipped."""
    status = dict(start)
    changed_at: dict[Pair, str] = {}
    problems: list[dict[str, Any]] = []
    applied = 0
    for e in entries:
        pair = (e.handle, e.creative_id)
        if pair not in status:
            reason = f"@{e.handle} × {e.creative_id} is not an assignment of this client"
            problems.append(_problem(e.line, e.handle, e.creative_id, e.status, reason))
            continue
        why = transition_problem(status[pair], e.status)
        if why:
            problems.append(_problem(e.line, e.handle, e.creative_id, e.status, why))
            continue
        status[pair] = e.status
        changed_at[pair] = e.at
        applied += 1
    return Replay(status=status, changed_at=changed_at, applied=applied, problems=problems)
