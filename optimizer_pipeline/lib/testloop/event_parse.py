"""One parallel DuckDB pass over event files: parse, normalise and validate every line into Arrow.

DuckDB's ``read_json`` with a typed ``columns=`` projection and ``ignore_errors`` parses, normalises and validates
every line into Arrow (a malformed line comes back as an all-NULL row, so rows stay numbered like the file's non-blank
lines). Files are cut into contiguous groups of similar size; each group is read on its own cursor of a one-thread
DuckDB database, and the groups run on all cores at once (:func:`parse_groups`). Why not one parallel scan: line
numbers are row positions, and DuckDB's parallel JSON scan does not keep rows in line order on every release (1.5.6
and 2.0.0 scrambled them with 2 threads, measured; 2.0.1 kept them). A single thread reads a group in (file, line)
order by construction, and one group per core is as fast as the parallel scan. The price: one very large file is read
by one core.

The ``reason`` column names the first rule an event breaks (see :mod:`optimizer_pipeline.lib.testloop.conversions` for
what an event is). Pure logic, no Dagster.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import duckdb
import pyarrow as pa

#: Event types Segment / RudderStack send; any other ``type`` is rejected as unknown.
KNOWN_TYPES: tuple[str, ...] = ("page", "track", "identify", "screen", "group", "alias")

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

#: Columns of the parsed table that the accepted events keep (before pseudonymisation).
PARSED_COLUMNS: list[str] = [
    "message_id", "type", "event", "anonymous_id", "user_id", "email", "timestamp", "utm_id", "utm_source",
    "utm_medium", "utm_campaign", "utm_content", "order_id", "total", "currency",
]  # fmt: skip

_PARSE_SQL = """
SELECT file_idx, message_id,
    CASE WHEN is_page THEN 'page' ELSE type END AS type,
    CASE WHEN is_page THEN 'Page Viewed' ELSE event_raw END AS event,
    anonymous_id, user_id, email, timestamp, utm_id, utm_source, utm_medium, utm_campaign, utm_content,
    order_id, total, currency,
    coalesce(is_page OR is_order, false) OR (anonymous_id IS NOT NULL AND user_id IS NOT NULL) AS relevant,
    CASE
        WHEN message_id IS NULL THEN 'unreadable'
        WHEN type IS NULL THEN 'missing type'
        WHEN type NOT IN ($known_types)
            THEN 'unknown type: ' || left(type, 50)
        WHEN ts_raw IS NULL THEN 'missing timestamp'
        WHEN timestamp IS NULL THEN 'invalid timestamp'
        WHEN anonymous_id IS NULL AND user_id IS NULL THEN 'missing anonymousId and userId'
        WHEN type = 'track' AND coalesce(event_raw, '') = '' THEN 'track without event'
        WHEN is_order AND order_id IS NULL THEN 'Order Completed without order_id'
        WHEN is_order AND total_raw IS NOT NULL AND total IS NULL THEN 'Order Completed with non-numeric total'
    END AS reason
FROM (
    SELECT *,
        CASE WHEN contains(ts_raw, ':') THEN try_cast(ts_raw AS TIMESTAMPTZ)  -- ISO text (never a number)
             WHEN try_cast(ts_raw AS DOUBLE) IS NULL THEN try_cast(ts_raw AS TIMESTAMPTZ)
             WHEN abs(try_cast(ts_raw AS DOUBLE)) >= 1e11
                 THEN try(make_timestamptz(CAST(round(try_cast(ts_raw AS DOUBLE) * 1000) AS BIGINT)))
             ELSE try(make_timestamptz(CAST(round(try_cast(ts_raw AS DOUBLE) * 1000000) AS BIGINT))) END AS timestamp,
        try_cast(total_raw AS DOUBLE) AS total,
        type = 'page' OR (type = 'track' AND event_raw = 'Page Viewed') AS is_page,
        type = 'track' AND event_raw = 'Order Completed' AS is_order
    FROM (
        SELECT CAST(file_index AS INTEGER) + $first AS file_idx, nullif(j.messageId, '') AS message_id,
            lower(j.type) AS type, j.event AS event_raw, nullif(j.anonymousId, '') AS anonymous_id,
            nullif(j.userId, '') AS user_id, j.timestamp AS ts_raw,
            coalesce(nullif(j.properties.utm_id, ''), nullif(j.context.campaign.id, '')) AS utm_id,
            coalesce(j.context.campaign.source, j.properties.utm_source) AS utm_source,
            coalesce(j.context.campaign.medium, j.properties.utm_medium) AS utm_medium,
            coalesce(j.context.campaign.name, j.properties.utm_campaign) AS utm_campaign,
            coalesce(j.context.campaign.content, j.properties.utm_content) AS utm_content,
            nullif(j.properties.order_id, '') AS order_id,
            coalesce(j.properties.total, j.properties.revenue) AS total_raw, j.properties.currency AS currency,
            nullif(trim(lower(coalesce(j.traits.email, j.context.traits.email))), '') AS email
        FROM read_json($scan, format = 'newline_delimited', columns = $columns, ignore_errors = true,
                       maximum_object_size = 16777216) AS j
    )
)
""".replace("$known_types", ", ".join(f"'{t}'" for t in KNOWN_TYPES))  # one list of types, in Python and in SQL

GROUP_MIN_BYTES = 4 * 1024 * 1024  # smaller groups cost more in per-query overhead than they gain in balance


def _file_groups(scan: list[Path], workers: int) -> list[tuple[int, int]]:
    """Contiguous ``[start, stop)`` ranges of ``scan`` of similar byte size: about eight per worker (so one slow group
    does not leave a core idle), none smaller than :data:`GROUP_MIN_BYTES` unless the files are."""
    sizes = [p.stat().st_size for p in scan]
    target = max(GROUP_MIN_BYTES, sum(sizes) / max(1, 8 * workers))
    groups, start, acc = [], 0, 0
    for i, size in enumerate(sizes):
        acc += size
        if acc >= target:
            groups.append((start, i + 1))
            start, acc = i + 1, 0
    if start < len(scan):
        groups.append((start, len(scan)))
    return groups


def _parse_group(db: duckdb.DuckDBPyConnection, scan: list[Path], first: int) -> pa.Table:
    """:data:`_PARSE_SQL` over ``scan`` on a cursor of the single-threaded database ``db``: the query runs on the
    calling thread only, so rows come back in (file, line) order by construction (module docstring, step 1);
    ``file_idx`` counts from ``first``."""
    cur = db.cursor()
    try:
        params = {"scan": [str(p) for p in scan], "columns": _COLUMNS, "first": first}
        return arrow_table(cur.sql(_PARSE_SQL, params=params))
    finally:
        cur.close()


def parse_groups(scan: list[Path], workers: int) -> pa.Table:
    """Every line of ``scan`` parsed, in (file, line) order: groups of files on ``workers`` Python threads, each
    with its own cursor of one database limited to one DuckDB thread (DuckDB releases the GIL; cursors share the
    buffer manager, which measured as fast as one parallel scan, while separate databases were 20 % slower);
    results concatenated in group order without copying."""
    groups = _file_groups(scan, workers)
    db = duckdb.connect(config={"threads": 1})
    try:
        db.execute("SET TimeZone = 'UTC'")
        db.execute("SET preserve_insertion_order = true")
        db.execute("SET enable_progress_bar = false")
        with ThreadPoolExecutor(max_workers=max(1, min(workers, len(groups)))) as pool:
            parts = list(pool.map(lambda g: _parse_group(db, scan[g[0] : g[1]], g[0]), groups))
    finally:
        db.close()
    return pa.concat_tables(parts)


def arrow_table(result: duckdb.DuckDBPyRelation) -> pa.Table:
    """A DuckDB result as an Arrow table, across DuckDB versions."""
    if hasattr(result, "to_arrow_table"):
        return result.to_arrow_table()
    return result.fetch_arrow_table()  # pragma: no cover  (duckdb < 1.4)
