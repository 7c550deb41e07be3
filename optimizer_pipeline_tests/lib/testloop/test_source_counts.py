"""Per-source daily counts on a hand-made inbox whose every number is worked out in the comments (maturity and the
simulations behind it: test_maturity.py)."""

import json

import numpy as np
import pandas as pd
import pytest

from optimizer_pipeline.lib.testloop.attribution import attribute_orders
from optimizer_pipeline.lib.testloop.conversions import parse_event_files
from optimizer_pipeline.lib.testloop.source_counts import (
    DAILY_COLUMNS,
    PATTERN_ROW_COLUMNS,
    daily_as_of,
    daily_source_counts,
    pattern_rows,
    pattern_summary,
    source_patterns,
    split_known,
)

SALT = b"k" * 32
P1 = "hook:question|emo:trust|pace:fast|pain:no_time|cta:buy_now"
P2 = "hook:pov|emo:trust|pace:fast|pain:no_time|cta:buy_now"
P3 = "hook:story|emo:trust|pace:fast|pain:no_time|cta:buy_now"
TRAFFIC = pd.DataFrame({"utm_id": ["U1", "U2", "U3"], "pattern_hash": [P1, P2, P3]})
_n = iter(range(1000))


def view(anon, utm, ts):
    e = {"messageId": f"m{next(_n)}", "type": "page", "anonymousId": anon, "timestamp": ts}
    if utm:
        e["context"] = {"campaign": {"id": utm, "source": "inf"}}
    return e


def buy(oid, ts, total, currency="EUR", anon=None, user=None):
    e = {"messageId": f"m{next(_n)}", "type": "track", "event": "Order Completed", "timestamp": ts}
    e |= {"anonymousId": anon} if anon else {}
    e |= {"userId": user} if user else {}
    e["properties"] = {"order_id": oid, "total": total, "currency": currency}
    return e


EVENTS = [
    view("a1", "U1", "2026-03-01T10:00:00Z"),
    view("a1", "U1", "2026-03-01T10:05:00Z"),  # reload: a page view, not a click
    {"messageId": "id1", "type": "identify", "anonymousId": "a1", "userId": "X", "timestamp": "2026-03-01T11:00:00Z"},
    buy("o1", "2026-03-02T10:00:00Z", 20.0, user="X"),  # other device: stitched to a1 -> U1
    buy("o2", "2026-03-02T15:00:00Z", 30.0, "USD", user="X"),  # repeat buyer, another currency
    view("a2", "U1", "2026-03-01T12:00:00Z"),
    view("a2", "U1", "2026-03-02T12:00:00Z"),  # second visit: a page view on day 2, the click stays on day 1
    view("a3", "U2", "2026-03-02T09:00:00Z"),
    buy("o3", "2026-03-12T09:00:00Z", 10.0, anon="a3"),  # 10 days later: outside the 7-day window
    view("a4", "U1", "2026-03-02T08:00:00Z"),
    view("a4", "U2", "2026-03-03T08:00:00Z"),
    buy("o4", "2026-03-04T08:00:00Z", 40.0, anon="a4"),  # last touch U2
    view("a5", "U9", "2026-03-03T10:00:00Z"),  # a utm_id that is no traffic source
    buy("o5", "2026-03-03T11:00:00Z", 5.0, anon="a5"),
    view("a6", None, "2026-03-03T10:00:00Z"),  # organic
    buy("o6", "2026-03-03T10:30:00Z", 7.0, anon="a6"),
]


@pytest.fixture(scope="module")
def counted(tmp_path_factory):
    path = tmp_path_factory.mktemp("inbox") / "e.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in EVENTS))
    events = parse_event_files([path], salt=SALT).accepted.to_pandas()
    result = attribute_orders(events, window_days=7)
    return events, result, daily_source_counts(events, result)


def d(day: int) -> pd.Timestamp:
    return pd.Timestamp(f"2026-03-{day:02d}", tz="UTC")


def test_daily_counts_known_answer(counted):
    _, result, daily = counted
    assert list(daily.columns) == DAILY_COLUMNS
    got = {(r.utm_id, r.day.day): (r.clicks, r.page_views, r.converters, r.orders) for r in daily.itertuples()}
    # a person's orders are dated by their click (cohort), not by the order's own day
    assert got == {
        ("U1", 1): (2, 3, 1, 2),  # a1, a2; a1 twice; X (= a1, clicked day 1) converts with o1 and o2 on day 2
        ("U1", 2): (1, 2, 0, 0),  # a4 new; a2's second visit
        ("U2", 2): (1, 1, 0, 0),  # a3
        ("U2", 3): (1, 1, 1, 1),  # a4, whose o4 (day 4) goes to its U2 click of day 3
        ("U9", 3): (1, 1, 1, 1),  # a5 / o5
    }
    u1d1 = daily[(daily.utm_id == "U1") & (daily.day == d(1))].iloc[0]
    assert u1d1.currency == "EUR,USD" and np.isnan(u1d1.revenue)  # EUR and USD are never added
    u2d3 = daily[(daily.utm_id == "U2") & (daily.day == d(3))].iloc[0]
    assert (u2d3.currency, u2d3.revenue) == ("EUR", 40.0)
    # as of the newest event (o3, 03-12 09:00) every click is older than the 7-day window: all mature
    assert daily_as_of(daily) == pd.Timestamp("2026-03-12T09:00:00Z")
    assert (daily["immature_clicks"] == 0).all() and (daily["immature_converters"] == 0).all()
    assert (daily["converters"] <= daily["clicks"]).all()  # on every row, not only per utm_id
    # summed over days the clicks are attribution's distinct people, and conversions never exceed clicks
    totals = daily.groupby("utm_id")[["clicks", "converters"]].sum()
    assert totals["clicks"].to_dict() == result.clicks.set_index("utm_id")["clicks"].to_dict()
    assert (totals["converters"] <= totals["clicks"]).all()
    assert result.unattributed == 2  # o3 (outside the window) and o6 (organic)


def test_unknown_sources_are_kept_and_patterns_get_rows(counted):
    events, _, daily = counted
    known, unknown = split_known(daily, TRAFFIC)
    assert unknown[["utm_id", "clicks", "converters", "orders"]].values.tolist() == [["U9", 1, 1, 1]]
    assert set(known["pattern_hash"]) == {P1, P2}
    as_of = daily_as_of(daily)  # 2026-03-12 09:00 (o3), the newest event
    assert as_of == events["timestamp"].max()
    rows = pattern_rows(known, TRAFFIC, as_of)
    assert list(rows.columns) == PATTERN_ROW_COLUMNS
    got = [
        (r.pattern_hash, r.utm_id, None if pd.isna(r.day) else r.day.day, r.age_days, r.clicks, r.conversions)
        for r in rows.itertuples()
    ]
    assert got == [
        (P2, "U2", 2, 10.0, 1, 0),
        (P2, "U2", 3, 9.0, 1, 1),  # o4 sits with a4's click: same age, same decay weight
        (P1, "U1", 1, 11.0, 2, 1),
        (P1, "U1", 2, 10.0, 1, 0),
        (P3, None, None, 0.0, 0, 0),  # a traffic source never clicked: still a pattern
    ]
    assert (rows["immature_clicks"] == 0).all() and (rows["immature_conversions"] == 0).all()
    summary = pattern_summary(known, TRAFFIC).set_index("pattern_hash")
    cols = ["traffic_sources", "clicks_observed", "conversions_observed", "clicks_immature", "conversions_immature"]
    assert summary.loc[P1, [*cols, "orders"]].tolist() == [1, 3, 1, 0, 0, 2]
    assert (summary.loc[P1, "first_seen"], summary.loc[P1, "last_seen"]) == (d(1), d(2))
    assert (summary.loc[P2, "first_seen"], summary.loc[P2, "last_seen"]) == (d(2), d(3))
    assert summary.loc[P3, "clicks_observed"] == 0 and pd.isna(summary.loc[P3, "first_seen"])


def test_no_events_gives_empty_typed_tables():
    events = parse_event_files([], salt=SALT).accepted.to_pandas()
    daily = daily_source_counts(events, attribute_orders(events))
    assert daily.empty and list(daily.columns) == DAILY_COLUMNS
    known, unknown = split_known(daily, TRAFFIC)
    rows = pattern_rows(known, TRAFFIC, None)
    assert rows["pattern_hash"].tolist() == [P2, P1, P3] and (rows["clicks"] == 0).all()
    assert unknown.empty


def test_a_utm_id_with_two_patterns_is_an_error():
    bad = pd.DataFrame({"utm_id": ["U1", "U1"], "pattern_hash": [P1, P2]})
    with pytest.raises(ValueError, match="U1"):
        source_patterns(bad)
