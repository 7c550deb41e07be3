"""Conversion-event ingestion: Segment / RudderStack ``page`` and ``track`` events from ``inbox/<client>/`` files.

Pure logic, no Dagster. The heavy path runs in DuckDB (its C++ JSON parser over an Arrow string column that is a
zero-copy view of the file bytes); Python only splits lines (numpy), handles the rare webhook batch file and computes
HMACs over the *distinct* user ids / e-mails.

Idempotent re-ingestion
-----------------------
The asset recomputes a client partition from ALL files every time: ``parse_event_files(read_inbox_files(folder),
salt=...)``. Files are processed in ``(path.name, str(path))`` order whatever order they are passed in, and the first
occurrence of a ``messageId`` by (file order, line) is kept; later ones count as ``duplicates``. The same files + salt
therefore always give byte-identical output. ``seen_message_ids`` (a set, a pyarrow Table/Array/ChunkedArray with a
``message_id`` column, a pandas Series/DataFrame or a DuckDB relation) is only for incremental callers: events whose
messageId is in it count as duplicates too.

Accounting: ``read = accepted + rejected + duplicates + ignored``. Blank lines are not events and are not counted.
``ignored`` counts well-formed, first-seen events that carry nothing the attribution needs (screen / group / alias
calls, track events other than "Order Completed" / "Page Viewed", identify calls) *unless* they carry both an
``anonymousId`` and a ``userId`` (they link identities, so they are accepted). With page/track-only inboxes
``ignored`` is 0 and ``read = accepted + rejected + duplicates``.

What an event is
----------------
* page view: ``type == "page"`` (any ``name``), or ``type == "track"`` with ``event == "Page Viewed"``; the ``event``
  column is normalised to ``"Page Viewed"`` for both.
* order: ``type == "track"`` and ``event == "Order Completed"`` with ``properties.order_id`` and ``properties.total``
  (or ``properties.revenue``) numeric or a numeric string; a missing total is allowed (NULL).
* ``timestamp``: ISO-8601 with ``Z`` / ``+hh:mm`` / ``+hhmm`` / no offset (= UTC), with or without fractional
  seconds (truncated to microseconds), or a unix number / numeric string: >= 1e11 is milliseconds, smaller is seconds.
* UTM: ``properties.utm_id`` else ``context.campaign.id`` (Segment's name for utm_id); source / medium / campaign /
  content from ``context.campaign.{source,medium,name,content}`` else
  ``properties.utm_{source,medium,campaign,content}``.
* Webhook batch files (``.json`` whose whole content is ``{"batch": [...]}``, a JSON array, or one JSON object): the
  ``line`` of an event is its 1-based position in the batch. A ``.json`` file that is not one JSON document is read
  as NDJSON.

Malformed (-> ``rejected`` with file, line, reason, raw line truncated to 2 KB): not JSON, not an object, missing
messageId, missing / unknown type, missing / invalid timestamp, neither anonymousId nor userId, track without event,
Order Completed without order_id or with a non-numeric total.

Pseudonymisation
----------------
``userId`` and e-mails (``traits.email``, ``context.traits.email``; trimmed + lower-cased first) are replaced by
HMAC-SHA256(key=salt, msg=utf-8 value) hex, computed in Python over the distinct values only (far fewer than events),
then joined back in DuckDB. The salt is a per-client secret (>= 32 random bytes enforced). ``anonymousId`` is a
random device id set by the SDK and is kept as is (needed for stitching, not personal by itself).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

INBOX_SUFFIXES = (".jsonl", ".ndjson", ".json")
RAW_MAX_BYTES = 2048
MIN_SALT_BYTES = 32
KNOWN_TYPES = ("page", "track", "identify", "screen", "group", "alias")

ACCEPTED_COLUMNS = [
    "message_id",
    "type",
    "event",
    "anonymous_id",
    "user_id_hash",
    "email_hash",
    "timestamp",
    "utm_id",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_content",
    "order_id",
    "total",
    "currency",
    "source_file",
    "line",
]
REJECTED_COLUMNS = ["file", "line", "reason", "raw"]

# Typed projection read by DuckDB's C++ NDJSON reader (one parse per line; numbers arrive as their text).
_V = "VARCHAR"
_COLUMNS = {
    "messageId": _V,
    "type": _V,
    "event": _V,
    "anonymousId": _V,
    "userId": _V,
    "timestamp": _V,
    "properties": "STRUCT(utm_id VARCHAR, utm_source VARCHAR, utm_medium VARCHAR, utm_campaign VARCHAR, "
    "utm_content VARCHAR, order_id VARCHAR, total VARCHAR, revenue VARCHAR, currency VARCHAR)",
    "context": "STRUCT(campaign STRUCT(id VARCHAR, source VARCHAR, medium VARCHAR, name VARCHAR, content VARCHAR), "
    "traits STRUCT(email VARCHAR))",
    "traits": "STRUCT(email VARCHAR)",
}


@dataclass
class EventBatch:
    """Result of :func:`parse_event_files`.

    accepted: pyarrow Table, columns :data:`ACCEPTED_COLUMNS`, in (file order, line) order; ``timestamp`` is
    ``timestamp[us, tz=UTC]``, ``total`` float64, ``line`` int32 (1-based). rejected: pandas DataFrame
    (file, line, reason, raw). ``read = accepted + rejected + duplicates + ignored`` (row counts).
    """

    accepted: pa.Table
    rejected: pd.DataFrame
    duplicates: int
    ignored: int
    read: int

    @property
    def n_accepted(self) -> int:
        return self.accepted.num_rows


def read_inbox_files(folder: str | Path) -> list[Path]:
    """Event files directly in ``folder``, sorted by name: ``*.jsonl``, ``*.ndjson``, ``*.json``.

    Hidden files (``.*``) and in-flight uploads (``*.tmp``, ``*.part``, ``*.partial``, ``*.crdownload``, ``~`` suffix;
    their suffix is never one of ours anyway) are skipped. A missing folder gives ``[]``.
    """
    folder = Path(folder)
    if not folder.is_dir():
        return []
    out = []
    for p in folder.iterdir():
        name = p.name
        if name.startswith(".") or name.endswith("~") or not p.is_file():
            continue
        if p.suffix.lower() in INBOX_SUFFIXES:
            out.append(p)
    return sorted(out, key=lambda p: (p.name, str(p)))


def hmac_hex(salt: bytes, value: str) -> str:
    """HMAC-SHA256(key=salt, msg=value utf-8) as lowercase hex."""
    return hmac.new(salt, value.encode("utf-8"), hashlib.sha256).hexdigest()


def normalize_email(email: str) -> str:
    return email.strip().lower()


# ---------------------------------------------------------------------------------------------------------------------
# Reading files

BATCH_MAX_BYTES = 256 * 1024 * 1024  # a .json file larger than this is read as NDJSON without trying one-doc parse


def _batch_events(path: Path) -> list | None:
    """Events of a ``.json`` file holding one JSON document (``{"batch": [...]}``, an array or one event); None if the
    file is not one JSON document (then it is NDJSON)."""
    if path.stat().st_size > BATCH_MAX_BYTES:
        return None
    try:
        doc = json.loads(path.read_bytes())
    except (ValueError, UnicodeDecodeError):
        return None
    if isinstance(doc, dict) and isinstance(doc.get("batch"), list):
        return doc["batch"]
    if isinstance(doc, list):
        return doc
    return [doc]


def _scan_paths(paths: list[Path], tmp: Path) -> list[Path]:
    """Path DuckDB reads for each input: the file itself, or an NDJSON rewrite of a webhook batch file."""
    out = []
    for i, path in enumerate(paths):
        events = _batch_events(path) if path.suffix.lower() == ".json" else None
        if events is None:
            out.append(path.resolve())
            continue
        scan = tmp / f"batch-{i:06d}.ndjson"
        with scan.open("w", encoding="utf-8") as fh:
            for e in events:
                fh.write(json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n")
        out.append(scan)
    return out


class _NonBlankLines:
    """Random access to the non-blank lines of an NDJSON file (DuckDB's read_json numbering), via numpy newline
    offsets - no per-line Python objects, so looking up a few rejected lines in a 100k-line file is cheap."""

    def __init__(self, path: Path):
        self.data = path.read_bytes()
        buf = np.frombuffer(self.data, dtype=np.uint8)
        nl = np.flatnonzero(buf == 10)
        self.starts = np.concatenate(([0], nl + 1))
        self.ends = np.concatenate((nl, [len(self.data)]))
        short = np.flatnonzero(self.ends - self.starts <= 64)
        blank = [i for i in short.tolist() if not self.data[self.starts[i] : self.ends[i]].strip()]
        if blank:
            keep = np.ones(len(self.starts), dtype=bool)
            keep[blank] = False
            self.starts, self.ends = self.starts[keep], self.ends[keep]

    def __len__(self) -> int:
        return len(self.starts)

    def __getitem__(self, i: int) -> bytes:
        return self.data[self.starts[i] : self.ends[i]]


def _reason_for_unreadable(raw: str) -> str:
    try:
        obj = json.loads(raw)
    except ValueError:
        return "invalid JSON"
    if not isinstance(obj, dict):
        return "not a JSON object"
    if obj.get("messageId") in (None, ""):
        return "missing messageId"
    return "invalid JSON"  # pragma: no cover  (parsed by Python but not by DuckDB)


def _seen_table(seen: Any) -> pa.Table | None:
    if seen is None:
        return None
    if isinstance(seen, set | frozenset | list | tuple):
        return pa.table({"message_id": pa.array(sorted(str(s) for s in seen), pa.string())})
    if isinstance(seen, pa.Table):
        col = seen.column("message_id") if "message_id" in seen.column_names else seen.column(0)
        return pa.table({"message_id": col.cast(pa.string())})
    if isinstance(seen, pa.Array | pa.ChunkedArray):
        return pa.table({"message_id": seen.cast(pa.string())})
    if isinstance(seen, pd.DataFrame):
        s = seen["message_id"] if "message_id" in seen.columns else seen.iloc[:, 0]
        return pa.table({"message_id": pa.array(s.astype(str).tolist(), pa.string())})
    if isinstance(seen, pd.Series):
        return pa.table({"message_id": pa.array(seen.astype(str).tolist(), pa.string())})
    if isinstance(seen, duckdb.DuckDBPyRelation):
        return _seen_table(_arrow(seen))
    raise TypeError(f"unsupported seen_message_ids type: {type(seen).__name__}")


# ---------------------------------------------------------------------------------------------------------------------

_PARSE_SQL = """
WITH j AS (
    SELECT * FROM read_json($scan, format = 'newline_delimited', columns = $columns, ignore_errors = true,
                            filename = true, maximum_object_size = 16777216) WITH ORDINALITY
), q AS (
    SELECT f.file_idx, ordinality AS seq, nullif(j.messageId, '') AS message_id, lower(j.type) AS type,
        j.event AS event_raw, nullif(j.anonymousId, '') AS anonymous_id, nullif(j.userId, '') AS user_id,
        j.timestamp AS ts_raw,
        coalesce(nullif(j.properties.utm_id, ''), nullif(j.context.campaign.id, '')) AS utm_id,
        coalesce(j.context.campaign.source, j.properties.utm_source) AS utm_source,
        coalesce(j.context.campaign.medium, j.properties.utm_medium) AS utm_medium,
        coalesce(j.context.campaign.name, j.properties.utm_campaign) AS utm_campaign,
        coalesce(j.context.campaign.content, j.properties.utm_content) AS utm_content,
        nullif(j.properties.order_id, '') AS order_id,
        coalesce(j.properties.total, j.properties.revenue) AS total_raw, j.properties.currency AS currency,
        nullif(trim(lower(coalesce(j.traits.email, j.context.traits.email))), '') AS email
    FROM j JOIN files f ON f.scan = j.filename
), r AS (
    SELECT *,
        CASE WHEN try_cast(ts_raw AS DOUBLE) IS NOT NULL THEN
                CASE WHEN abs(try_cast(ts_raw AS DOUBLE)) >= 1e11
                     THEN try(make_timestamptz(CAST(round(try_cast(ts_raw AS DOUBLE) * 1000) AS BIGINT)))
                     ELSE try(make_timestamptz(CAST(round(try_cast(ts_raw AS DOUBLE) * 1000000) AS BIGINT))) END
             ELSE try_cast(ts_raw AS TIMESTAMPTZ) END AS timestamp,
        try_cast(total_raw AS DOUBLE) AS total,
        type = 'page' OR (type = 'track' AND event_raw = 'Page Viewed') AS is_page,
        type = 'track' AND event_raw = 'Order Completed' AS is_order
    FROM q
)
SELECT *,
    CASE
        WHEN message_id IS NULL THEN 'unreadable'
        WHEN type IS NULL THEN 'missing type'
        WHEN type NOT IN ('page', 'track', 'identify', 'screen', 'group', 'alias')
            THEN 'unknown type: ' || left(type, 50)
        WHEN ts_raw IS NULL THEN 'missing timestamp'
        WHEN timestamp IS NULL THEN 'invalid timestamp'
        WHEN anonymous_id IS NULL AND user_id IS NULL THEN 'missing anonymousId and userId'
        WHEN type = 'track' AND coalesce(event_raw, '') = '' THEN 'track without event'
        WHEN is_order AND order_id IS NULL THEN 'Order Completed without order_id'
        WHEN is_order AND total_raw IS NOT NULL AND total IS NULL THEN 'Order Completed with non-numeric total'
    END AS reason
FROM r
"""

_FIRST_SQL = """
SELECT min(seq) AS seq FROM ev WHERE reason IS NULL {seen_filter} GROUP BY message_id
"""

_OUT_SQL = """
SELECT k.message_id,
    CASE WHEN k.is_page THEN 'page' ELSE k.type END AS type,
    CASE WHEN k.is_page THEN 'Page Viewed' ELSE k.event_raw END AS event,
    k.anonymous_id, uh.h AS user_id_hash, eh.h AS email_hash,
    k.timestamp, k.utm_id, k.utm_source, k.utm_medium, k.utm_campaign, k.utm_content,
    k.order_id, k.total, k.currency, fn.name AS source_file, CAST(k.seq - fs.start + 1 AS INTEGER) AS line
FROM ev k
JOIN first_seq USING (seq)
JOIN files fn ON fn.file_idx = k.file_idx
JOIN file_start fs ON fs.file_idx = k.file_idx
LEFT JOIN uid_hash uh ON uh.v = k.user_id
LEFT JOIN email_hash eh ON eh.v = k.email
WHERE k.is_page OR k.is_order OR (k.anonymous_id IS NOT NULL AND k.user_id IS NOT NULL)
ORDER BY k.seq
"""


def _hash_table(values: list[str], salt: bytes) -> pa.Table:
    return pa.table(
        {"v": pa.array(values, pa.string()), "h": pa.array([hmac_hex(salt, v) for v in values], pa.string())}
    )


def parse_event_files(
    files: list[Path] | list[str],
    *,
    salt: bytes,
    seen_message_ids: Any = None,
    threads: int | None = None,
) -> EventBatch:
    """Parse, validate, dedupe and pseudonymise conversion events from ``files`` (see the module docstring).

    ``line`` (accepted and rejected) is the 1-based number of the event among the non-blank lines of its file - the
    physical line number, as NDJSON writers emit no blank lines - or its 1-based position in a webhook batch.
    """
    if not isinstance(salt, bytes | bytearray) or len(salt) < MIN_SALT_BYTES:
        raise ValueError(f"salt must be >= {MIN_SALT_BYTES} random bytes (per-client secret)")
    salt = bytes(salt)
    paths = sorted((Path(f) for f in files), key=lambda p: (p.name, str(p)))
    if not paths:
        return EventBatch(empty_accepted(), pd.DataFrame(columns=REJECTED_COLUMNS), 0, 0, 0)
    with tempfile.TemporaryDirectory(prefix="conversions-") as tmp:
        scan = _scan_paths(paths, Path(tmp))
        names = pa.table(
            {
                "file_idx": pa.array(range(len(paths)), pa.int32()),
                "name": pa.array([p.name for p in paths], pa.string()),
                "scan": pa.array([str(p) for p in scan], pa.string()),
            }
        )
        con = duckdb.connect()
        try:
            con.execute("SET TimeZone = 'UTC'")
            if threads:
                con.execute(f"SET threads = {int(threads)}")
            con.register("files", names)
            ev = _arrow(con.sql(_PARSE_SQL, params={"scan": [str(p) for p in scan], "columns": _COLUMNS}))
            con.register("ev", ev)
            file_start = _arrow(con.sql("SELECT file_idx, min(seq) AS start FROM ev GROUP BY file_idx"))
            con.register("file_start", file_start)
            seen = _seen_table(seen_message_ids)
            seen_filter = ""
            if seen is not None and seen.num_rows:
                con.register("seen_ids", seen)
                seen_filter = "AND message_id NOT IN (SELECT message_id FROM seen_ids WHERE message_id IS NOT NULL)"
            first_seq = _arrow(con.sql(_FIRST_SQL.format(seen_filter=seen_filter)))
            con.register("first_seq", first_seq)
            n_kept = first_seq.num_rows

            read, n_valid = con.execute("SELECT count(*), count(*) FILTER (WHERE reason IS NULL) FROM ev").fetchone()
            rej_rows = con.execute(
                "SELECT e.file_idx, CAST(e.seq - fs.start + 1 AS BIGINT) AS line, e.reason FROM ev e "
                "JOIN file_start fs USING (file_idx) WHERE e.reason IS NOT NULL ORDER BY e.seq"
            ).fetchall()
            # raw lines of rejects are read back by numpy in a thread while DuckDB builds the output (both drop the GIL)
            pool = ThreadPoolExecutor(max_workers=1)
            rejected_future = pool.submit(_rejected_frame, rej_rows, paths, scan)

            q = "SELECT DISTINCT {c} FROM ev WHERE reason IS NULL AND {c} IS NOT NULL"
            uids = [r[0] for r in con.execute(q.format(c="user_id")).fetchall()]
            emails = [r[0] for r in con.execute(q.format(c="email")).fetchall()]
            con.register("uid_hash", _hash_table(uids, salt))
            con.register("email_hash", _hash_table(emails, salt))
            accepted = _arrow(con.sql(_OUT_SQL))
            rejected = rejected_future.result()
            pool.shutdown()
        finally:
            con.close()
    accepted = _conform(accepted)
    duplicates = int(n_valid - n_kept)
    ignored = int(n_kept - accepted.num_rows)
    return EventBatch(accepted=accepted, rejected=rejected, duplicates=duplicates, ignored=ignored, read=int(read))


def _rejected_frame(rows: list[tuple], paths: list[Path], scan: list[Path]) -> pd.DataFrame:
    """Rejected rows with the raw line (read back in Python only for the files that have rejects)."""
    out = []
    cache: dict[int, _NonBlankLines] = {}
    for file_idx, line, reason in rows:
        if file_idx not in cache:
            cache[file_idx] = _NonBlankLines(scan[file_idx])
        lines = cache[file_idx]
        raw = lines[line - 1].rstrip(b"\r").decode("utf-8", errors="replace") if 0 < line <= len(lines) else ""
        if reason == "unreadable":
            reason = _reason_for_unreadable(raw)
        out.append((paths[file_idx].name, int(line), reason, _truncate(raw)))
    df = pd.DataFrame(out, columns=REJECTED_COLUMNS)
    df["line"] = df["line"].astype("int64")
    return df


def _truncate(s: str | None) -> str:
    if s is None:
        return ""
    b = s.encode("utf-8")
    if len(b) <= RAW_MAX_BYTES:
        return s
    return b[:RAW_MAX_BYTES].decode("utf-8", errors="ignore")


def _arrow(result: duckdb.DuckDBPyRelation) -> pa.Table:
    if hasattr(result, "to_arrow_table"):
        return result.to_arrow_table()
    return result.fetch_arrow_table()  # pragma: no cover  (duckdb < 1.4)


_SCHEMA = pa.schema(
    [
        ("message_id", pa.string()),
        ("type", pa.string()),
        ("event", pa.string()),
        ("anonymous_id", pa.string()),
        ("user_id_hash", pa.string()),
        ("email_hash", pa.string()),
        ("timestamp", pa.timestamp("us", tz="UTC")),
        ("utm_id", pa.string()),
        ("utm_source", pa.string()),
        ("utm_medium", pa.string()),
        ("utm_campaign", pa.string()),
        ("utm_content", pa.string()),
        ("order_id", pa.string()),
        ("total", pa.float64()),
        ("currency", pa.string()),
        ("source_file", pa.string()),
        ("line", pa.int32()),
    ]
)


def _conform(tbl: pa.Table) -> pa.Table:
    cols = []
    for field in _SCHEMA:
        col = tbl.column(field.name)
        if col.type != field.type:
            col = col.cast(field.type)
        cols.append(col)
    return pa.Table.from_arrays(cols, schema=_SCHEMA).combine_chunks()


def empty_accepted() -> pa.Table:
    return _SCHEMA.empty_table()
