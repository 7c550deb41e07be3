"""Identity stitching and last-touch attribution of orders to UTM page views (pure logic, DuckDB + scipy).

Input ``events`` is the ``accepted`` table of :func:`optimizer_pipeline.lib.testloop.conversions.parse_event_files`
(pyarrow Table or pandas DataFrame) - at least ``event``, ``anonymous_id``, ``user_id_hash``, ``timestamp``, ``utm_id``,
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

Speed: the graph is built from the distinct (anonymousId, user_id_hash) pairs only (Arrow group-by, scipy connected
components); persons are resolved in DuckDB by joins against the small linked-id maps. The last-touch ASOF join
only sees the touches of people who ordered (selected by their ids before any per-row work); clicks are a two-level
aggregate (one row per (utm_id, person) first).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

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


def _components(events: pa.Table) -> tuple[pa.Table, pa.Table]:
    """Linked ids only: (anon_map(k = anonymous_id, person_id), user_map(k = user_id_hash, person_id)).

    Edges are the distinct (anonymousId, user_id_hash) pairs - few compared with events - so the graph work is small;
    the events table itself is only scanned by vectorised Arrow kernels."""
    a_col, u_col = events.column("anonymous_id"), events.column("user_id_hash")
    both = pc.and_(pc.is_valid(a_col), pc.is_valid(u_col))
    edges = pa.table({"a": a_col.filter(both), "u": u_col.filter(both)}).group_by(["a", "u"]).aggregate([])
    empty = pa.table({"k": pa.array([], pa.string()), "person_id": pa.array([], pa.string())})
    if edges.num_rows == 0:
        return empty, empty
    a = np.array(["a:" + x for x in edges.column("a").to_pylist()], dtype=object)
    u = np.array(["u:" + x for x in edges.column("u").to_pylist()], dtype=object)
    codes, labels = pd.factorize(np.concatenate([a, u]))
    n_edges = len(a)
    n_nodes = len(labels)
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


# Persons: ``pkey`` = the component label of a linked id, else "u:" + user_id_hash, else "a:" + anonymous_id (NULL when
# the row has neither id: such touches count no click and such orders stay unattributed).
_PERSON = "coalesce(um.person_id, am.person_id, 'u:' || e.user_id_hash, 'a:' || e.anonymous_id)"
_JOINS = "FROM e LEFT JOIN um ON um.k = e.user_id_hash LEFT JOIN am ON am.k = e.anonymous_id"

_ORDERS_SQL = f"""
WITH orders AS (
    SELECT e._row, e.order_id, {_PERSON} AS person_id, e.timestamp, e.total, e.currency
    {_JOINS}
    WHERE e.event = 'Order Completed' AND e.order_id IS NOT NULL
    QUALIFY row_number() OVER (PARTITION BY e.order_id ORDER BY e._row) = 1
), buyer_anon AS (  -- every device id / user id whose person bought: a touch of a buyer carries one of them
    SELECT substr(person_id, 3) AS k FROM orders WHERE person_id LIKE 'a:%'
    UNION SELECT k FROM am WHERE person_id IN (SELECT person_id FROM orders)
), buyer_user AS (
    SELECT substr(person_id, 3) AS k FROM orders WHERE person_id LIKE 'u:%'
    UNION SELECT k FROM um WHERE person_id IN (SELECT person_id FROM orders)
), touches AS (  -- only the buyers' touches; same instant: the last row wins
    SELECT {_PERSON} AS person_id, e.timestamp AS ts, arg_max(e.utm_id, e._row) AS utm_id
    {_JOINS}
    WHERE e.event = 'Page Viewed' AND e.utm_id IS NOT NULL
        AND (e.anonymous_id IN (SELECT k FROM buyer_anon) OR e.user_id_hash IN (SELECT k FROM buyer_user))
    GROUP BY ALL
)
SELECT _row, order_id, person_id, timestamp, total, currency,
    CASE WHEN ok THEN utm_id END AS utm_id,
    CASE WHEN ok THEN ts END AS touch_timestamp,
    CASE WHEN ok THEN (epoch_us(timestamp) - epoch_us(ts)) / 1e6 END AS lag_s
FROM (
    SELECT o.*, t.ts, t.utm_id,
        coalesce(t.ts IS NOT NULL AND epoch_us(o.timestamp) - epoch_us(t.ts) <= $window_us, false) AS ok
    FROM orders o ASOF LEFT JOIN touches t ON o.person_id = t.person_id AND o.timestamp >= t.ts
)
ORDER BY _row
"""

# clicks = distinct persons per utm_id (two-level aggregate: one row per (utm_id, person) first).
_CLICKS_SQL = f"""
SELECT utm_id, count(person_id) AS clicks, sum(n) AS page_views
FROM (
    SELECT e.utm_id, {_PERSON} AS person_id, count(*) AS n
    {_JOINS}
    WHERE e.event = 'Page Viewed' AND e.utm_id IS NOT NULL
    GROUP BY ALL
)
GROUP BY utm_id ORDER BY utm_id
"""

_INPUT_COLUMNS = ["event", "anonymous_id", "user_id_hash", "timestamp", "utm_id", "order_id", "total", "currency"]


def attribute_orders(events: Any, *, window_days: int = 7) -> AttributionResult:
    """Stitch identities and attribute each order to its last UTM touch within ``window_days`` (module docstring)."""
    if int(window_days) != window_days or window_days < 1:
        raise ValueError("window_days must be a positive integer (typically 1, 7 or 28)")
    tbl = _to_arrow(events).select(_INPUT_COLUMNS)
    tbl = tbl.append_column("_row", pa.array(np.arange(tbl.num_rows, dtype=np.int64)))
    anon_map, user_map = _components(tbl)
    con = duckdb.connect()
    try:
        con.execute("SET TimeZone = 'UTC'")
        con.execute("SET enable_progress_bar = false")
        con.register("e", tbl)
        con.register("am", anon_map)
        con.register("um", user_map)
        window_us = str(int(window_days) * US_PER_DAY)
        attributed = con.sql(_ORDERS_SQL.replace("$window_us", window_us)).to_arrow_table()
        clicks = con.sql(_CLICKS_SQL).to_arrow_table().to_pandas()
        con.register("attributed", attributed)
        conversions = (
            con.sql(
                "SELECT utm_id, currency, count(*) AS orders, fsum(total) AS revenue FROM attributed "
                "WHERE utm_id IS NOT NULL GROUP BY utm_id, currency ORDER BY utm_id, currency NULLS FIRST"
            )
            .to_arrow_table()
            .to_pandas()
        )
    finally:
        con.close()
    orders = attributed.select(ORDER_COLUMNS).to_pandas()
    unattributed = int(attributed.num_rows - pc.count(attributed.column("utm_id")).as_py())
    for df, cols in ((clicks, ["clicks", "page_views"]), (conversions, ["orders"])):
        for c in cols:
            df[c] = df[c].astype("int64")
    return AttributionResult(
        orders=orders,
        clicks=clicks,
        conversions=conversions,
        unattributed=unattributed,
        window_days=int(window_days),
    )
