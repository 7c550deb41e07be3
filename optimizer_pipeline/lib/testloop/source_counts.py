"""Clicks and conversions per traffic source (``utm_id``) and day, and per creative pattern.

Pure logic (pandas) between :func:`optimizer_pipeline.lib.testloop.attribution.attribute_orders` and the Beta-Binomial
posteriors. The grain is one row per ``(utm_id, day)`` (UTC days) so that old data can be discounted by age and the
days a pattern has been in test can be counted; summing the rows of a ``utm_id`` gives its totals exactly:

* ``clicks``: people (stitched identities) whose *first* UTM page view with this utm_id fell on that day. Summed over
  days it equals ``AttributionResult.clicks`` (distinct people per utm_id).
* ``page_views``: UTM page views with this utm_id on that day.
* ``converters``: people whose *first* order attributed to this utm_id fell on that day; this is the Binomial
  "success" count (a person converts or not), so ``converters <= clicks`` always holds per utm_id. A repeat buyer adds
  to ``orders``, not to ``converters``.
* ``orders``, ``revenue``: attributed orders and the sum of their totals that day; ``currency`` is their currency
  (``None`` without orders). Orders in several currencies on one row give ``currency = "EUR,USD"`` and
  ``revenue = NaN`` (totals in different currencies are never added); the asset metadata carries revenue per
  currency.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa

from optimizer_pipeline.lib.testloop.attribution import AttributionResult, stitch_identities

DAILY_COLUMNS = ["utm_id", "day", "clicks", "page_views", "converters", "orders", "revenue", "currency"]
PATTERN_ROW_COLUMNS = ["pattern_hash", "day", "age_days", "clicks", "conversions"]
SUMMARY_COLUMNS = [
    "pattern_hash",
    "traffic_sources",
    "clicks_observed",
    "conversions_observed",
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


def _currency(values: pd.Series) -> str | None:
    found = sorted({str(v) for v in values.dropna()})
    return ",".join(found) if found else None


def daily_source_counts(events: Any, attribution: AttributionResult) -> pd.DataFrame:
    """One row per ``(utm_id, day)``, columns :data:`DAILY_COLUMNS`, sorted (module docstring)."""
    ev = _frame(events)
    views = ev[(ev["event"] == "Page Viewed") & ev["utm_id"].notna()]
    if views.empty:
        views = views.assign(person=pd.Series(dtype=object), day=pd.Series(dtype="datetime64[ns, UTC]"))
    else:  # identities are stitched over every event (identify calls and orders link ids), then views picked
        views = views.assign(person=_persons(ev).loc[views.index], day=_day(views["timestamp"]))
    first_view = views.sort_values("timestamp", kind="stable").drop_duplicates(["utm_id", "person"])
    clicks = first_view.groupby(["utm_id", "day"]).size().rename("clicks")
    page_views = views.groupby(["utm_id", "day"]).size().rename("page_views")

    orders = attribution.orders[attribution.orders["utm_id"].notna()].copy()
    orders["day"] = _day(orders["timestamp"])
    first_order = orders.sort_values("timestamp", kind="stable").drop_duplicates(["utm_id", "person_id"])
    converters = first_order.groupby(["utm_id", "day"]).size().rename("converters")
    grouped = orders.groupby(["utm_id", "day"])
    n_orders = grouped.size().rename("orders")
    currency = grouped["currency"].agg(_currency).rename("currency")
    revenue = grouped["total"].sum(min_count=1).rename("revenue")

    out = pd.concat([clicks, page_views, converters, n_orders, revenue, currency], axis=1)
    if out.empty:
        return empty_daily()
    out = out.reset_index()
    for c in ("clicks", "page_views", "converters", "orders"):
        out[c] = out[c].fillna(0).astype("int64")
    out["revenue"] = out["revenue"].astype(float)
    out.loc[out["currency"].fillna("").str.contains(","), "revenue"] = np.nan
    out["currency"] = out["currency"].astype(object).where(out["currency"].notna(), None)
    return out.sort_values(["utm_id", "day"], kind="stable").reset_index(drop=True)[DAILY_COLUMNS]


def empty_daily() -> pd.DataFrame:
    """A daily table with no rows and the right dtypes."""
    return pd.DataFrame(
        {
            "utm_id": pd.Series(dtype=object),
            "day": pd.Series(dtype="datetime64[ns, UTC]"),
            **{c: pd.Series(dtype="int64") for c in ("clicks", "page_views", "converters", "orders")},
            "revenue": pd.Series(dtype=float),
            "currency": pd.Series(dtype=object),
        }
    )[DAILY_COLUMNS]


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
    (:data:`UNKNOWN_COLUMNS`) lists them with the clicks and conversions they carry.
    """
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


def pattern_rows(known: pd.DataFrame, traffic_sources: pd.DataFrame, as_of: pd.Timestamp | None) -> pd.DataFrame:
    """Per ``(pattern_hash, day)`` clicks and conversions (= converters) with ``age_days`` = whole days before
    ``as_of``'s day (0 without ``as_of``); every pattern of ``traffic_sources`` without data gets one zero row
    (``day`` NaT, age 0), so it is still in the table and its posterior is the prior."""
    rows = known.groupby(["pattern_hash", "day"], as_index=False)[["clicks", "converters"]].sum()
    rows = rows.rename(columns={"converters": "conversions"})
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
            "day": pd.Series(pd.NaT, index=range(len(missing)), dtype="datetime64[ns, UTC]"),
            "age_days": 0.0,
            "clicks": 0,
            "conversions": 0,
        }
    )
    parts = [df for df in (rows, zeros) if len(df)]  # concat of an empty frame would reset the dtypes
    out = pd.concat(parts, ignore_index=True) if parts else zeros
    out["day"] = pd.to_datetime(out["day"], utc=True)
    out["age_days"] = out["age_days"].astype(float)
    for c in ("clicks", "conversions"):
        out[c] = out[c].astype("int64")
    return out.sort_values(["pattern_hash", "day"], kind="stable").reset_index(drop=True)[PATTERN_ROW_COLUMNS]


def pattern_summary(known: pd.DataFrame, traffic_sources: pd.DataFrame) -> pd.DataFrame:
    """Per pattern: traffic sources, undiscounted clicks / conversions, orders, first and last day with a click;
    columns :data:`SUMMARY_COLUMNS` (revenue stays per traffic source, where its currency is known)."""
    mapping = source_patterns(traffic_sources)
    n_sources = mapping.reset_index().groupby("pattern_hash")["utm_id"].nunique().rename("traffic_sources")
    clicked = known[known["clicks"] > 0]
    agg = known.groupby("pattern_hash").agg(
        clicks_observed=("clicks", "sum"),
        conversions_observed=("converters", "sum"),
        orders=("orders", "sum"),
    )
    seen = clicked.groupby("pattern_hash")["day"].agg(first_seen="min", last_seen="max")
    out = pd.concat([n_sources, agg, seen], axis=1).rename_axis("pattern_hash").reset_index()
    for c in ("traffic_sources", "clicks_observed", "conversions_observed", "orders"):
        out[c] = out[c].fillna(0).astype("int64")
    for c in ("first_seen", "last_seen"):
        out[c] = pd.to_datetime(out[c], utc=True)
    return out.sort_values("pattern_hash").reset_index(drop=True)[SUMMARY_COLUMNS]
