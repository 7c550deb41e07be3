"""Identity stitching and last-touch attribution of orders to UTM page views (pure logic, DuckDB + scipy).

Input ``events`` is the ``accepted`` table of :func:`optimizer_pipeline.lib.conversions.parse_event_files` (pyarrow
Table or pandas DataFrame) - at least ``event``, ``anonymous_id``, ``user_id_hash``, ``timestamp``, ``utm_id``,
``order_id``, ``total``, ``currency``. Row order matters only for ties ("first" / "last" below = row order; the
accepted table is in (file order, line) order, i.e. order of receipt).

Identity stitching: nodes are ``"a:" + anonymousId`` and ``"u:" + user_id_hash``; every event carrying both links
them; a person is a connected component (so chains A - U1 - B link A and B). ``person_id`` is the smallest node id of
the component (deterministic, independent of row order); an id never linked is its own person.

Attribution rules (``window_days`` is configurable, typically 1, 7 (default) or 28):

* orders are ``event == "Order Completed"`` rows deduped by ``order_id`` (first row wins);
* a touch is a page view (``event == "Page Viewed"``) with a non-null ``utm_id``;
* an order goes to the most recent touch of the same person with ``touch.timestamp <= order.timestamp`` and
  ``order.timestamp - touch.timestamp <= window_days`` days: both edges are inclusive, so a touch at the same
  instant as the order is attributed and so is one exactly ``window_days`` before it; ``window_days`` + 1 us before
  is not, nor is a touch after the order. Touches of one person at the same instant: the last row wins;
* orders with no touch in the window are unattributed (``utm_id`` NULL) and counted in ``unattributed``.

``clicks``: per utm_id, ``clicks`` = distinct persons (stitched) with a page view carrying that utm_id,
``page_views`` = such page-view events. ``conversions``: per (utm_id, currency), attributed orders and revenue (sum
of ``total``; currencies are not mixed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa

ORDER_COLUMNS = ["order_id", "person_id", "timestamp", "total", "currency", "utm_id", "touch_timestamp", "lag_s"]
CLICK_COLUMNS = ["utm_id", "clicks", "page_views"]
CONVERSION_COLUMNS = ["utm_id", "currency", "orders", "revenue"]
US_PER_DAY = 86_400_000_000


@dataclass
class AttributionResult:
    orders: pd.DataFrame  # ORDER_COLUMNS, one row per distinct order_id, in order of receipt
    clicks: pd.DataFrame  # CLICK_COLUMNS, sorted by utm_id
    conversions: pd.DataFrame  # CONVERSION_COLUMNS, sorted by utm_id, currency
    unattributed: int
    window_days: int


def _to_arrow(events: Any) -> pa.Table:
    if isinstance(events, pa.Table):
        return events
    if isinstance(events, pd.DataFrame):
        return pa.Table.from_pandas(events, preserve_index=False)
    raise TypeError(f"events must be a pyarrow Table or pandas DataFrame, got {type(events).__name__}")


def _col(tbl: pa.Table, name: str) -> np.ndarray:
    return tbl.column(name).to_numpy(zero_copy_only=False)


def _components(events: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Linked ids only: (anon_map(anonymous_id, person_id), user_map(user_id_hash, person_id))."""
    con = duckdb.connect()
    try:
        con.register("e", events.select(["anonymous_id", "user_id_hash"]))
        edges = con.sql(
            "SELECT DISTINCT anonymous_id, user_id_hash FROM e "
            "WHERE anonymous_id IS NOT NULL AND user_id_hash IS NOT NULL"
        ).to_arrow_table()
    finally:
        con.close()
    empty = pa.table({"k": pa.array([], pa.string()), "person_id": pa.array([], pa.string())})
    if edges.num_rows == 0:
        return empty, empty
    a = np.char.add("a:", _col(edges, "anonymous_id").astype(str)).astype(object)
    u = np.char.add("u:", _col(edges, "user_id_hash").astype(str)).astype(object)
    codes, labels = pd.factorize(np.concatenate([a, u]))
    n_edges = len(a)
    n_nodes = len(labels)
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    graph = coo_matrix((np.ones(n_edges, dtype=np.int8), (codes[:n_edges], codes[n_edges:])), shape=(n_nodes, n_nodes))
    _, comp = connected_components(graph, directed=False)
    # person label = smallest node id in the component
    order = np.lexsort((labels.astype(str), comp))
    comp_sorted = comp[order]
    first = np.ones(len(order), dtype=bool)
    first[1:] = comp_sorted[1:] != comp_sorted[:-1]
    comp_label = np.empty(comp.max() + 1, dtype=object)
    comp_label[comp_sorted[first]] = np.asarray(labels, dtype=object)[order[first]]
    person = comp_label[comp]
    lab = np.asarray(labels, dtype=object)
    is_a = np.array([s.startswith("a:") for s in lab], dtype=bool)
    anon_map = pa.table(
        {"k": pa.array([s[2:] for s in lab[is_a]], pa.string()), "person_id": pa.array(person[is_a], pa.string())}
    )
    user_map = pa.table(
        {"k": pa.array([s[2:] for s in lab[~is_a]], pa.string()), "person_id": pa.array(person[~is_a], pa.string())}
    )
    return anon_map, user_map


def stitch_identities(events: Any) -> pd.DataFrame:
    """Mapping of every id in ``events`` to its person: DataFrame(id, person_id), ids as ``"a:<anonymousId>"`` and
    ``"u:<user_id_hash>"``, sorted by id."""
    tbl = _to_arrow(events)
    anon_map, user_map = _components(tbl)
    con = duckdb.connect()
    try:
        con.register("e", tbl.select(["anonymous_id", "user_id_hash"]))
        con.register("am", anon_map)
        con.register("um", user_map)
        return (
            con.sql(
                """
            SELECT id, person_id FROM (
                SELECT DISTINCT 'a:' || e.anonymous_id AS id,
                    coalesce(am.person_id, 'a:' || e.anonymous_id) AS person_id
                FROM e LEFT JOIN am ON am.k = e.anonymous_id WHERE e.anonymous_id IS NOT NULL
                UNION
                SELECT DISTINCT 'u:' || e.user_id_hash, coalesce(um.person_id, 'u:' || e.user_id_hash)
                FROM e LEFT JOIN um ON um.k = e.user_id_hash WHERE e.user_id_hash IS NOT NULL
            ) ORDER BY id
            """
            )
            .to_arrow_table()
            .to_pandas()
        )
    finally:
        con.close()


_ATTR_SQL = """
CREATE TEMP TABLE ev AS
SELECT e._row, e.event, e.timestamp, e.utm_id, e.order_id, e.total, e.currency,
    coalesce(um.person_id, am.person_id, 'u:' || e.user_id_hash, 'a:' || e.anonymous_id) AS person_id
FROM e
LEFT JOIN um ON um.k = e.user_id_hash
LEFT JOIN am ON am.k = e.anonymous_id
WHERE (e.event = 'Page Viewed' AND e.utm_id IS NOT NULL) OR e.event = 'Order Completed';

CREATE TEMP TABLE touches AS
SELECT person_id, timestamp AS ts, arg_max(utm_id, _row) AS utm_id
FROM ev WHERE event = 'Page Viewed'
GROUP BY person_id, timestamp;

CREATE TEMP TABLE orders AS
SELECT _row, order_id, person_id, timestamp, total, currency FROM ev
WHERE event = 'Order Completed' AND order_id IS NOT NULL
QUALIFY row_number() OVER (PARTITION BY order_id ORDER BY _row) = 1;

CREATE TEMP TABLE attributed AS
SELECT _row, order_id, person_id, timestamp, total, currency,
    CASE WHEN ok THEN utm_id END AS utm_id,
    CASE WHEN ok THEN ts END AS touch_timestamp,
    CASE WHEN ok THEN (epoch_us(timestamp) - epoch_us(ts)) / 1e6 END AS lag_s
FROM (
    SELECT o.*, t.ts, t.utm_id,
        coalesce(t.ts IS NOT NULL AND epoch_us(o.timestamp) - epoch_us(t.ts) <= $window_us, false) AS ok
    FROM orders o ASOF LEFT JOIN touches t ON o.person_id = t.person_id AND o.timestamp >= t.ts
);
"""


def attribute_orders(events: Any, *, window_days: int = 7) -> AttributionResult:
    """Stitch identities and attribute each order to its last UTM touch within ``window_days`` (module docstring)."""
    if int(window_days) != window_days or window_days < 1:
        raise ValueError("window_days must be a positive integer (typically 1, 7 or 28)")
    tbl = _to_arrow(events)
    tbl = tbl.append_column("_row", pa.array(np.arange(tbl.num_rows, dtype=np.int64)))
    anon_map, user_map = _components(tbl)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.register("e", tbl)
        con.register("am", anon_map)
        con.register("um", user_map)
        sql = _ATTR_SQL.replace("$window_us", str(int(window_days) * US_PER_DAY))
        con.execute(sql)
        orders = (
            con.sql(f"SELECT {', '.join(ORDER_COLUMNS)} FROM attributed ORDER BY _row").to_arrow_table().to_pandas()
        )
        clicks = (
            con.sql(
                "SELECT utm_id, count(DISTINCT person_id) AS clicks, count(*) AS page_views FROM ev "
                "WHERE event = 'Page Viewed' AND utm_id IS NOT NULL GROUP BY utm_id ORDER BY utm_id"
            )
            .to_arrow_table()
            .to_pandas()
        )
        conversions = (
            con.sql(
                "SELECT utm_id, currency, count(*) AS orders, fsum(total) AS revenue FROM attributed "
                "WHERE utm_id IS NOT NULL GROUP BY utm_id, currency ORDER BY utm_id, currency NULLS FIRST"
            )
            .to_arrow_table()
            .to_pandas()
        )
        (unattributed,) = con.execute("SELECT count(*) FROM attributed WHERE utm_id IS NULL").fetchone()
    finally:
        con.close()
    for df, cols in ((clicks, ["clicks", "page_views"]), (conversions, ["orders"])):
        for c in cols:
            df[c] = df[c].astype("int64")
    return AttributionResult(
        orders=orders,
        clicks=clicks,
        conversions=conversions,
        unattributed=int(unattributed),
        window_days=int(window_days),
    )
