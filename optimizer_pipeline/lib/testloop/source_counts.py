"""Clicks and conversions per traffic source (``utm_id``) and click day, mature or not, and per creative pattern.

Pure logic (pandas) between :func:`optimizer_pipeline.lib.testloop.attribution.attribute_orders` and the Beta-Binomial
posteriors. The grain is one row per ``(utm_id, day)`` (UTC days) so that old data can be discounted by age and the
days a pattern has been in test can be counted; summing the rows of a ``utm_id`` gives its totals exactly.

**Per-person dating (cohorts).** The Binomial trial is a person: a *click* is a person's first UTM page view with a
utm_id, and everything that person later does for that utm_id is dated by that click, so a click and its conversion
always sit on the same row, carry the same age and get the same decay weight. Hence ``converters <= clicks`` holds
on every row, whatever the order of events (a conversion dated by its own, later day would sit on a younger row:
with decay it counted more than its click, which inflated rates and could even raise ``conversions > clicks``).

* ``clicks``: people (stitched identities) whose *first* UTM page view with this utm_id fell on that day. Summed over
  days it equals ``AttributionResult.clicks`` (distinct people per utm_id).
* ``page_views``: UTM page views with this utm_id on that day (an event count, dated by the view itself).
* ``converters``: people clicked that day with at least one order attributed to this utm_id (at any later time); the
  Binomial "success" count, so ``converters <= clicks`` on every row. A repeat buyer adds to ``orders`` only.
* ``orders``, ``revenue``: orders attributed to this utm_id of the people clicked that day and the sum of their totals;
  ``currency`` is their currency (``None`` without orders). Orders in several currencies on one row give
  ``currency = "EUR,USD"`` and ``revenue = NaN`` (totals in different currencies are never added); the asset metadata
  carries revenue per currency.

**Maturity (exclusion, not a delay model).** A click is *mature* once its attribution window has closed by the data's
``as_of`` (default: the newest event timestamp of the inbox, never the wall clock, so a replay gives the same table):
``click time + window_days <= as_of``, decided per click from its exact timestamp. Only then is its outcome known:
every order last-touch attribution could give it within the window has been received (given events arrive in time
order). ``immature_clicks`` / ``immature_converters`` are the part of ``clicks`` / ``converters`` whose window is still
open; they are shown, but :func:`pattern_rows` keeps them out of the Beta counts: counting them biased new patterns
low (true 5 %: about 1.2 % after 3 days in test and 3.9 % after 14 with the sample generator's delays, because most of
their conversions had not happened yet). The price: a pattern is judged on its clicks older than the window only, so
for its first ``window_days`` its posterior is the prior. Not modelled: an order attributed to a click through a
*later* revisit of the same utm_id, more than ``window_days`` after the first click; it still lands on the click's
(mature) row when it arrives (rare; such a row can only gain conversions).
* ``as_of``: the maturity cut-off used (the same on every row), so downstream ages use the same instant.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from optimizer_pipeline.lib.testloop.attribution import AttributionResult, stitch_identities

DAILY_COLUMNS = [
    "utm_id",
    "day",
    "clicks",
    "page_views",
    "converters",
    "orders",
    "revenue",
    "currency",
    "immature_clicks",
    "immature_converters",
    "as_of",
]
_COUNTS = ["clicks", "page_views", "converters", "orders", "immature_clicks", "immature_converters"]
#: One row per (pattern_hash, utm_id, click day): ``clicks``/``conversions`` are mature (in the Beta counts),
#: ``immature_*`` the rest (a fixed interface of the posteriors).
PATTERN_ROW_COLUMNS = [
    "pattern_hash",
    "utm_id",
    "day",
    "age_days",
    "clicks",
    "conversions",
    "immature_clicks",
    "immature_conversions",
]
SUMMARY_COLUMNS = [
    "pattern_hash",
    "traffic_sources",
    "clicks_observed",
    "conversions_observed",
    "clicks_immature",
    "conversions_immature",
    "orders",
    "first_seen",
    "last_seen",
]
UNKNOWN_COLUMNS = ["utm_id", "clicks", "page_views", "converters", "orders", "first_seen", "last_seen"]


def _frame(events: Any) -> pd.DataFrame:
    if isinstance(events, pa.Table):
        return events.to_pandas()
    if isinstance(events, pd.DataFrame):
        return events
    raise TypeError(f"events must be a pandas DataFrame or pyarrow Table, got {type(events).__name__}")


def utc(ts: Any) -> pd.Timestamp:
    """A timestamp in UTC (naive values are taken as UTC)."""
    t = pd.Timestamp(ts)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def _day(ts: pd.Series) -> pd.Series:
    return pd.to_datetime(ts, utc=True).dt.floor("D")


def _persons(events: pd.DataFrame) -> pd.Series:
    """Person of every event, the same rule as attribution: the user id's component, else the anonymous id's."""
    mapping = stitch_identities(events).set_index("id")["person_id"]
    uid = events["user_id_hash"]
    ids = np.where(uid.notna(), "u:" + uid.astype(str), "a:" + events["anonymous_id"].astype(str))
    return pd.Series(ids, index=events.index).map(mapping)


def newest_event(events: Any) -> pd.Timestamp | None:
    """The data's "now": the newest event timestamp (UTC), ``None`` without events."""
    ts = pd.to_datetime(_frame(events)["timestamp"], utc=True)
    return None if ts.empty or ts.isna().all() else utc(ts.max())


def daily_source_counts(
    events: Any, attribution: AttributionResult, *, as_of: Any = None, window_days: int | None = None
) -> pd.DataFrame:
    """One row per ``(utm_id, click day)``, columns :data:`DAILY_COLUMNS`, sorted (module docstring).

    ``as_of`` (default :func:`newest_event`) must not precede any event: to replay an earlier state, cut the events
    first. ``window_days`` defaults to the attribution's own window, so maturity and attribution agree."""
    ev = _frame(events)
    newest = newest_event(ev)
    cut = newest if as_of is None else utc(as_of)
    if newest is not None and cut < newest:
        raise ValueError(f"as_of {cut} precedes the newest event {newest}: cut the events at as_of first")
    window = pd.Timedelta(days=attribution.window_days if window_days is None else window_days)
    views = ev[(ev["event"] == "Page Viewed") & ev["utm_id"].notna()]
    if views.empty:
        return empty_daily()
    # identities are stitched over every event (identify calls and orders link ids), then views picked
    views = views.assign(person=_persons(ev).loc[views.index], day=_day(views["timestamp"]))
    page_views = views.groupby(["utm_id", "day"]).size().rename("page_views")
    persons = views[views["person"].notna()]  # a view without any id is no one's click (as in attribution)
    first_view = persons.sort_values("timestamp", kind="stable").drop_duplicates(["utm_id", "person"])
    first_view = first_view.assign(immature=pd.to_datetime(first_view["timestamp"], utc=True) + window > cut)[
        ["utm_id", "person", "day", "immature"]
    ]
    clicks = first_view.groupby(["utm_id", "day"]).agg(clicks=("person", "size"), immature_clicks=("immature", "sum"))

    orders = attribution.orders[attribution.orders["utm_id"].notna()]
    orders = orders.merge(
        first_view.rename(columns={"person": "person_id"}), on=["utm_id", "person_id"], how="left", validate="m:1"
    )
    if orders["day"].isna().any():  # attribution's touch is a UTM view of the same person: never happens
        bad = orders.loc[orders["day"].isna(), "order_id"].head(3).tolist()
        raise ValueError(f"attributed orders {bad} have no UTM click of their person (stitching mismatch)")
    first_order = orders.drop_duplicates(["utm_id", "person_id"])
    converters = first_order.groupby(["utm_id", "day"]).agg(
        converters=("person_id", "size"), immature_converters=("immature", "sum")
    )
    grouped = orders.groupby(["utm_id", "day"])
    n_orders = grouped.size().rename("orders")
    found = orders.loc[orders["currency"].notna(), ["utm_id", "day", "currency"]].astype({"currency": str})
    found = found.drop_duplicates().sort_values("currency", kind="stable")
    currency = found.groupby(["utm_id", "day"])["currency"].agg(",".join).rename("currency")  # e.g. "EUR,USD"
    revenue = grouped["total"].sum(min_count=1).rename("revenue")

    out = pd.concat([clicks, page_views, converters, n_orders, revenue, currency], axis=1).reset_index()
    for c in _COUNTS:
        out[c] = out[c].fillna(0).astype("int64")
    out["revenue"] = out["revenue"].astype(float)
    out.loc[out["currency"].fillna("").str.contains(","), "revenue"] = np.nan
    out["currency"] = out["currency"].astype(object).where(out["currency"].notna(), None)
    out["as_of"] = pd.Series(cut, index=out.index)
    out["as_of"] = pd.to_datetime(out["as_of"], utc=True)
    return out.sort_values(["utm_id", "day"], kind="stable").reset_index(drop=True)[DAILY_COLUMNS]


def empty_daily() -> pd.DataFrame:
    """A daily table with no rows and the right dtypes."""
    return pd.DataFrame(
        {
            "utm_id": pd.Series(dtype=object),
            "day": pd.Series(dtype="datetime64[ns, UTC]"),
            **{c: pd.Series(dtype="int64") for c in _COUNTS},
            "revenue": pd.Series(dtype=float),
            "currency": pd.Series(dtype=object),
            "as_of": pd.Series(dtype="datetime64[ns, UTC]"),
        }
    )[DAILY_COLUMNS]


def daily_as_of(daily: pd.DataFrame) -> pd.Timestamp | None:
    """The maturity cut-off a daily table was computed at (``None`` for an empty table)."""
    _require_maturity(daily)
    ts = pd.to_datetime(daily["as_of"], utc=True).dropna()
    return utc(ts.max()) if len(ts) else None


def _require_maturity(daily: pd.DataFrame) -> None:
    missing = sorted({"immature_clicks", "immature_converters", "as_of"} - set(daily.columns))
    if missing:
        raise ValueError(f"daily counts lack {missing}: rematerialise attributed_conversions (maturity split)")


def source_patterns(traffic_sources: pd.DataFrame) -> pd.Series:
    """``utm_id -> pattern_hash`` of the traffic sources; a utm_id with two different patterns is an error."""
    pairs = traffic_sources[["utm_id", "pattern_hash"]].dropna().drop_duplicates()
    clash = pairs[pairs["utm_id"].duplicated(keep=False)]
    if len(clash):
        raise ValueError(f"traffic_sources maps utm_id(s) {sorted(clash['utm_id'].unique())[:5]} to several patterns")
    return pairs.set_index("utm_id")["pattern_hash"]


def split_known(daily: pd.DataFrame, traffic_sources: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(daily rows with their ``pattern_hash``, per-utm totals of utm_ids that are not traffic sources).

    Unknown utm_ids (typos, links of another client, old campaigns) are never dropped silently: the second frame
    (:data:`UNKNOWN_COLUMNS`) lists them with the clicks and conversions they carry (mature or not).
    """
    _require_maturity(daily)
    mapping = source_patterns(traffic_sources)
    known = daily.assign(pattern_hash=daily["utm_id"].map(mapping))
    unknown = known[known["pattern_hash"].isna()]
    totals = (
        unknown.groupby("utm_id")
        .agg(
            clicks=("clicks", "sum"),
            page_views=("page_views", "sum"),
            converters=("converters", "sum"),
            orders=("orders", "sum"),
            first_seen=("day", "min"),
            last_seen=("day", "max"),
        )
        .reset_index()
    )
    return known[known["pattern_hash"].notna()].reset_index(drop=True), totals[UNKNOWN_COLUMNS]


def pattern_rows(known: pd.DataFrame, traffic_sources: pd.DataFrame, as_of: Any) -> pd.DataFrame:
    """One row per ``(pattern_hash, utm_id, click day)``, columns :data:`PATTERN_ROW_COLUMNS`.

    ``clicks`` / ``conversions`` are the *mature* clicks and their converters only (window closed by the daily
    table's ``as_of``; module docstring): the only counts that may enter a Beta posterior, with ``conversions <=
    clicks`` on every row. ``immature_clicks`` / ``immature_conversions`` are the rest, carried for display.
    ``age_days`` = whole days from the click day to ``as_of``'s UTC day (0 without ``as_of``); a click and its
    conversion share it, so decay discounts a person, never a click and its conversion differently. Every pattern
    of ``traffic_sources`` without data gets one zero row (``utm_id`` None, ``day`` NaT, age 0), so it is still in
    the table and its posterior is the prior."""
    _require_maturity(known)
    keys = ["pattern_hash", "utm_id", "day"]
    counts = ["clicks", "converters", "immature_clicks", "immature_converters"]
    g = known.groupby(keys, as_index=False)[counts].sum()
    g = g[(g[counts] != 0).any(axis=1)]
    rows = pd.DataFrame(
        {
            **{k: g[k] for k in keys},
            "clicks": g["clicks"] - g["immature_clicks"],
            "conversions": g["converters"] - g["immature_converters"],
            "immature_clicks": g["immature_clicks"],
            "immature_conversions": g["immature_converters"],
        }
    )
    rows["day"] = pd.to_datetime(rows["day"], utc=True)
    if as_of is not None:
        as_of_day = utc(as_of).floor("D")
        rows["age_days"] = ((as_of_day - rows["day"]) / pd.Timedelta(days=1)).clip(lower=0)
    else:
        rows["age_days"] = 0.0
    missing = sorted(set(source_patterns(traffic_sources)) - set(rows["pattern_hash"]))
    zeros = pd.DataFrame(
        {
            "pattern_hash": pd.Series(missing, dtype=object),
            "utm_id": pd.Series(None, index=range(len(missing)), dtype=object),
            "day": pd.Series(pd.NaT, index=range(len(missing)), dtype="datetime64[ns, UTC]"),
            "age_days": 0.0,
            **{c: 0 for c in ("clicks", "conversions", "immature_clicks", "immature_conversions")},
        }
    )
    parts = [df for df in (rows, zeros) if len(df)]  # concat of an empty frame would reset the dtypes
    out = pd.concat(parts, ignore_index=True) if parts else zeros
    out["utm_id"] = out["utm_id"].astype(object).where(out["utm_id"].notna(), None)
    out["day"] = pd.to_datetime(out["day"], utc=True)
    out["age_days"] = out["age_days"].astype(float)
    for c in ("clicks", "conversions", "immature_clicks", "immature_conversions"):
        out[c] = out[c].astype("int64")
    bad = (out["conversions"] < 0) | (out["conversions"] > out["clicks"]) | (out["immature_conversions"] < 0)
    if bad.any():  # cohort dating makes this impossible; a table from elsewhere could still break it
        raise ValueError(f"need 0 <= conversions <= clicks on every row: {out[bad].head(3).to_dict('records')}")
    out = out.sort_values(["pattern_hash", "utm_id", "day"], kind="stable", na_position="last")
    return out.reset_index(drop=True)[PATTERN_ROW_COLUMNS]


def pattern_summary(known: pd.DataFrame, traffic_sources: pd.DataFrame) -> pd.DataFrame:
    """Per pattern: traffic sources, every click / conversion observed (undiscounted, mature or not), the part of them
    whose window is still open (``clicks_immature``, ``conversions_immature``: not in the posterior), orders, first and
    last day with a click; columns :data:`SUMMARY_COLUMNS` (revenue stays per traffic source, where its currency is
    known)."""
    _require_maturity(known)
    mapping = source_patterns(traffic_sources)
    n_sources = mapping.reset_index().groupby("pattern_hash")["utm_id"].nunique().rename("traffic_sources")
    clicked = known[known["clicks"] > 0]
    agg = known.groupby("pattern_hash").agg(
        clicks_observed=("clicks", "sum"),
        conversions_observed=("converters", "sum"),
        clicks_immature=("immature_clicks", "sum"),
        conversions_immature=("immature_converters", "sum"),
        orders=("orders", "sum"),
    )
    seen = clicked.groupby("pattern_hash")["day"].agg(first_seen="min", last_seen="max")
    out = pd.concat([n_sources, agg, seen], axis=1).rename_axis("pattern_hash").reset_index()
    for c in SUMMARY_COLUMNS[2:7]:
        out[c] = out[c].fillna(0).astype("int64")
    out["traffic_sources"] = out["traffic_sources"].fillna(0).astype("int64")
    for c in ("first_seen", "last_seen"):
        out[c] = pd.to_datetime(out[c], utc=True)
    return out.sort_values("pattern_hash").reset_index(drop=True)[SUMMARY_COLUMNS]
