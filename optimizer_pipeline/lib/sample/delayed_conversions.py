"""Seeded accepted-event tables with delayed conversions, cut at a given "now": the oracle of the maturity and decay
simulations (issue 12, items 1 and 2).

:func:`simulate_accepted_events` draws, per traffic source, clicks (new visitors, each one page view with the
utm_id) at uniform times between the source's ``start`` and ``end`` (default ``now``); each visitor converts with
the planted rate, and the order follows the click after the sample generator's delay
(:mod:`optimizer_pipeline.lib.sample.events`: uniform between :data:`LAG_MIN_S` seconds and :data:`LAG_MAX_SHARE` of
the attribution window). Only what has happened by ``now`` is in the table, as in a live inbox: a click near ``now``
whose order lies in the future shows no conversion yet. The frame has the columns attribution and the daily counts
read from the parser's accepted table and is built with numpy (tens of thousands of events in milliseconds), so
simulations can replicate many times; the JSON generator is for end-to-end tests of parsing.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

#: The sample generator's click-to-order delay: uniform(LAG_MIN_S, LAG_MAX_SHARE * window).
LAG_MIN_S = 600.0
LAG_MAX_SHARE = 0.9
EVENT_COLUMNS = ["event", "anonymous_id", "user_id_hash", "timestamp", "utm_id", "order_id", "total", "currency"]


def lag_bounds_s(window_days: int) -> tuple[float, float]:
    """(low, high) of the uniform click-to-order delay in seconds for an attribution window of ``window_days``."""
    return LAG_MIN_S, LAG_MAX_SHARE * window_days * 86_400.0


def _utc(ts: object) -> pd.Timestamp:
    t = pd.Timestamp(ts)
    return t.tz_localize("UTC") if t.tzinfo is None else t.tz_convert("UTC")


def simulate_accepted_events(
    sources: pd.DataFrame,
    *,
    rates: Mapping[str, float],
    now: pd.Timestamp,
    seed: int,
    window_days: int = 7,
) -> pd.DataFrame:
    """Events (columns :data:`EVENT_COLUMNS`, sorted by time) of every source up to ``now`` (module docstring).

    ``sources``: ``utm_id``, ``start`` (first instant of its test, UTC), optional ``end`` (its last instant; default
    and at most ``now``: a test that ended earlier still receives orders until ``now``), ``clicks_per_day`` (expected;
    the count is Poisson over the source's days in test). ``rates``: planted conversion rate per utm_id. Visitors are
    ``v<seed>-<n>`` (anonymous ids only), orders ``o<seed>-<n>``; one order per converter, total 50 EUR."""
    rng = np.random.default_rng([seed, 12])
    now = _utc(now)
    lo, hi = lag_bounds_s(window_days)
    utm, t_click, converts, lag = [], [], [], []
    for src in sources.itertuples(index=False):
        start = _utc(src.start)
        last = getattr(src, "end", None)
        end = now if last is None or pd.isna(last) else min(now, _utc(last))
        span_s = (end - start).total_seconds()
        if span_s <= 0:
            continue
        n = int(rng.poisson(float(src.clicks_per_day) * span_s / 86_400.0))
        utm.append(np.full(n, str(src.utm_id), dtype=object))
        t_click.append(start.value / 1e9 + rng.uniform(0.0, span_s, n))
        converts.append(rng.random(n) < float(rates[str(src.utm_id)]))
        lag.append(rng.uniform(lo, hi, n))
    if not utm:
        return pd.DataFrame({c: pd.Series(dtype=object) for c in EVENT_COLUMNS})
    utm_a, t_a, conv_a, lag_a = (np.concatenate(x) for x in (utm, t_click, converts, lag))
    visitor = np.array([f"v{seed}-{i}" for i in range(len(utm_a))], dtype=object)
    t_order = t_a + lag_a
    bought = conv_a & (t_order <= now.value / 1e9)
    n_orders = int(bought.sum())
    views = pd.DataFrame(
        {"event": "Page Viewed", "anonymous_id": visitor, "timestamp": t_a, "utm_id": utm_a, "order_id": None}
    )
    orders = pd.DataFrame(
        {
            "event": "Order Completed",
            "anonymous_id": visitor[bought],
            "timestamp": t_order[bought],
            "utm_id": None,
            "order_id": [f"o{seed}-{i}" for i in range(n_orders)],
        }
    )
    out = pd.concat([views, orders], ignore_index=True)
    out["user_id_hash"] = None
    out["total"] = np.where(out["event"] == "Order Completed", 50.0, np.nan)
    out["currency"] = np.where(out["event"] == "Order Completed", "EUR", None)
    out["timestamp"] = pd.to_datetime((out["timestamp"] * 1e6).round().astype("int64"), unit="us", utc=True)
    out = out.sort_values("timestamp", kind="stable").reset_index(drop=True)
    return out[EVENT_COLUMNS]
