"""Seeded Segment / RudderStack conversion events with planted conversion rates: the test loop's test oracle.

:func:`generate_events` turns a ``traffic_sources`` table (``utm_id``, ``pattern_hash``) into event files for a
client's inbox and a ``truth`` dict that says exactly what a correct pipeline must find:

* every source gets ``visitors_per_source`` visitors, each a new ``anonymousId`` whose first event is a page view of
  the landing page with the source's UTM parameters in ``context.campaign`` (Segment's spot for them), at a uniform
  time in ``[start, start + days)``; some reload the landing page (more page views, not more clicks) and some browse
  on (page views without UTM);
* a visitor *converts* with the planted rate of its source's pattern: ``Order Completed`` (``order_id``, ``total``,
  ``currency``) within ``window_days`` of the landing view; half of the converters identify first (``identify`` with
  ``userId`` and ``traits.email``) and half of those order from another device (``userId`` only), so attribution
  needs identity stitching; some buy twice (orders, not conversions); converters view a product first (a
  ``Product Viewed`` track call, which the parser ignores);
* a few non-converters order only after the window (unattributed), and a few organic visitors order with no UTM
  visit at all (unattributed);
* the sender's quirks: timestamps as ISO-8601 with ``Z``, with ``+00:00`` and as epoch milliseconds; one file per UTC
  day (``events-YYYYMMDD.jsonl``) except the last day, a RudderStack webhook batch (``{"batch": [...]}``); some
  events re-sent in the next file (duplicate ``messageId``); a few malformed lines, one holding an e-mail in clear.

``truth`` records the planted rates and every count: per source and pattern ``clicks`` (visitors), ``converters``,
``orders``, ``page_views``; orders attributed / outside the window / organic; and the parser's accounting
(``read = accepted + rejected + duplicates + ignored``, rejected reasons).
"""

from __future__ import annotations

import json
import random
from collections import Counter, defaultdict
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optimizer_pipeline.lib.core.atomic_files import atomic_write_bytes

LANDING = "https://shop.example.com/"
CURRENCY = "EUR"
RELOAD_SHARE = 0.3
BROWSE_SHARE = 0.4
IDENTIFY_SHARE = 0.5
OTHER_DEVICE_SHARE = 0.5
REPEAT_SHARE = 0.1
OUTSIDE_WINDOW_SHARE = 0.01  # of non-converters
ORGANIC_SHARE = 0.01  # organic buyers per visitor
DUPLICATE_SHARE = 0.005  # events re-sent in the next file


def default_rates(patterns: list[str], seed: int) -> dict[str, float]:
    """Planted rates: Beta(3, 50) draws (mean 5.7 %, spread like real landing pages), clipped to [0.5 %, 25 %]."""
    rng = np.random.default_rng([seed, 1])
    return {p: float(np.clip(rng.beta(3.0, 50.0), 0.005, 0.25)) for p in sorted(patterns)}


class _Ids:
    """Seeded UUID-shaped ids (``uuid4`` would make the batch irreproducible)."""

    def __init__(self, rng: random.Random):
        self.rng = rng

    def __call__(self) -> str:
        h = f"{self.rng.getrandbits(128):032x}"
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:]}"


def _ts(t: datetime, style: int) -> str | int:
    if style == 0:
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"
    if style == 1:
        return t.strftime("%Y-%m-%dT%H:%M:%S+00:00")
    return int(t.timestamp() * 1000)


class _Writer:
    """Collects events with their times; renders timestamps in a seeded mix of the formats senders use."""

    def __init__(self, rng: random.Random, ids: _Ids):
        self.rng, self.ids = rng, ids
        self.events: list[tuple[datetime, dict]] = []

    def add(self, t: datetime, event: dict[str, Any]) -> None:
        u = self.rng.random()
        style = 0 if u < 0.7 else (1 if u < 0.8 else 2)
        t = t.replace(microsecond=(t.microsecond // 1000) * 1000)  # ms precision, as senders emit
        if style != 0:
            t = t.replace(microsecond=0)
        self.events.append((t, {"messageId": self.ids(), "timestamp": _ts(t, style), **event}))


def _page(anon: str, url: str, campaign: Mapping[str, str] | None, user: str | None = None) -> dict:
    context: dict[str, Any] = {"page": {"url": url}, "library": {"name": "analytics.js", "version": "4.1.0"}}
    if campaign:
        context["campaign"] = dict(campaign)
    e: dict[str, Any] = {"type": "page", "name": "Landing" if campaign else "Browse", "anonymousId": anon}
    if user:
        e["userId"] = user
    e.update(properties={"url": url}, context=context)
    return e


def _campaign(src: Mapping[str, Any]) -> dict[str, str]:
    return {
        "id": str(src["utm_id"]),
        "source": str(src.get("influencer") or "influencer"),
        "medium": "influencer",
        "name": str(src.get("client") or "test"),
        "content": str(src.get("creative_id") or src["pattern_hash"]),
    }


def generate_events(
    traffic_sources: pd.DataFrame,
    *,
    seed: int,
    visitors_per_source: int,
    rates: Mapping[str, float] | None = None,
    start: datetime,
    days: int,
    window_days: int = 7,
) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """(file name → lines, truth); see the module docstring. Only posted links get visitors (a ``status`` column,
    when present, must say ``posted``): a link still in outreach or rejected has not been seen by anyone."""
    if days < 1 or visitors_per_source < 1:
        raise ValueError("days and visitors_per_source must be >= 1")
    start = start.replace(tzinfo=UTC) if start.tzinfo is None else start.astimezone(UTC)
    rng = random.Random(seed)  # per-event draws: the stdlib generator is ~10x cheaper per call than numpy's
    ids = _Ids(rng)
    w = _Writer(rng, ids)
    srcs = traffic_sources
    if "status" in srcs.columns:
        srcs = srcs[srcs["status"] == "posted"]
    srcs = srcs.drop_duplicates("utm_id").sort_values("utm_id").to_dict("records")
    patterns = sorted({s["pattern_hash"] for s in srcs})
    planted = dict(default_rates(patterns, seed) if rates is None else rates)
    missing = [p for p in patterns if p not in planted]
    if missing:
        raise ValueError(f"no planted rate for pattern(s) {missing[:3]}")
    window = timedelta(days=window_days)
    per_source: dict[str, Counter] = {}
    orders = Counter()
    n_orders = 0

    def order(t: datetime, anon: str | None, user: str | None) -> None:
        nonlocal n_orders
        n_orders += 1
        total = round(float(rng.uniform(15, 120)), 2)
        e: dict[str, Any] = {"type": "track", "event": "Order Completed"}
        if anon:
            e["anonymousId"] = anon
        if user:
            e["userId"] = user
        e["properties"] = {"order_id": f"ord-{seed}-{n_orders:06d}", "total": total, "currency": CURRENCY}
        w.add(t, e)

    for src in srcs:
        c = per_source.setdefault(str(src["utm_id"]), Counter())
        rate = float(planted[src["pattern_hash"]])
        campaign = _campaign(src)
        url = f"{LANDING}?utm_source={campaign['source']}&utm_medium=influencer&utm_id={campaign['id']}"
        for _ in range(visitors_per_source):
            anon = ids()
            t0 = start + timedelta(seconds=float(rng.uniform(0, days * 86400)))
            w.add(t0, _page(anon, url, campaign))
            c["clicks"] += 1
            c["page_views"] += 1
            if rng.random() < RELOAD_SHARE:
                w.add(t0 + timedelta(minutes=float(rng.uniform(1, 30))), _page(anon, url, campaign))
                c["page_views"] += 1
            if rng.random() < BROWSE_SHARE:
                w.add(t0 + timedelta(minutes=float(rng.uniform(1, 40))), _page(anon, LANDING + "shop", None))
            if rng.random() < rate:
                lag = timedelta(seconds=float(rng.uniform(600, 0.9 * window.total_seconds())))
                user, order_anon = None, anon
                w.add(t0 + lag / 4, {"type": "track", "event": "Product Viewed", "anonymousId": anon})
                orders["ignored"] += 1
                if rng.random() < IDENTIFY_SHARE:
                    user = f"cust-{ids()[:13]}"
                    traits = {"email": f"{user}@mail.example.com"}
                    w.add(t0 + lag / 2, {"type": "identify", "anonymousId": anon, "userId": user, "traits": traits})
                    if rng.random() < OTHER_DEVICE_SHARE:
                        order_anon = None
                order(t0 + lag, order_anon, user)
                c["converters"] += 1
                c["orders"] += 1
                if rng.random() < REPEAT_SHARE:
                    second = t0 + lag + (window - lag) * float(rng.uniform(0.1, 0.9))
                    order(second, order_anon, user)
                    c["orders"] += 1
            elif rng.random() < OUTSIDE_WINDOW_SHARE:
                order(t0 + window + timedelta(days=float(rng.uniform(0.5, 3))), anon, None)
                orders["outside_window"] += 1
    n_visitors = sum(c["clicks"] for c in per_source.values())
    for _ in range(sum(rng.random() < ORGANIC_SHARE for _ in range(n_visitors))):
        anon = ids()
        t = start + timedelta(seconds=float(rng.uniform(0, days * 86400)))
        w.add(t, _page(anon, LANDING + "shop", None))
        order(t + timedelta(minutes=float(rng.uniform(2, 90))), anon, None)
        orders["organic"] += 1

    files, dup_count = _files(w.events, rng)
    bad = _malformed_lines(seed)
    first = sorted(files)[0]  # an events-*.jsonl file (the batch file, if any, sorts after it)
    files[first] = files[first][:3] + [line for line, _ in bad] + files[first][3:]
    reasons = Counter(reason for _, reason in bad)
    n_events = len(w.events)
    truth = {
        "seed": seed,
        "start": start.isoformat(),
        "days": days,
        "window_days": window_days,
        "visitors_per_source": visitors_per_source,
        "rates": {p: planted[p] for p in patterns},
        "sources": {
            u: {k: int(c[k]) for k in ("clicks", "page_views", "converters", "orders")} for u, c in per_source.items()
        },
        "patterns": _pattern_truth(srcs, per_source, planted),
        "orders": {
            "attributed": int(sum(c["orders"] for c in per_source.values())),
            "outside_window": int(orders["outside_window"]),
            "organic": int(orders["organic"]),
            "unattributed": int(orders["outside_window"] + orders["organic"]),
        },
        "events": {
            "read": n_events + dup_count + len(bad),
            "accepted": n_events - int(orders["ignored"]),
            "rejected": len(bad),
            "duplicates": dup_count,
            "ignored": int(orders["ignored"]),
        },
        "rejected_reasons": dict(sorted(reasons.items())),
        "files": {name: _events_in(name, lines) for name, lines in sorted(files.items())},
    }
    return files, truth


def _pattern_truth(srcs: list[dict], per_source: dict[str, Counter], planted: Mapping[str, float]) -> dict:
    out: dict[str, dict[str, Any]] = defaultdict(lambda: {"traffic_sources": 0, "clicks": 0, "converters": 0})
    for s in srcs:
        p = out[s["pattern_hash"]]
        c = per_source[str(s["utm_id"])]
        p["traffic_sources"] += 1
        p["clicks"] += int(c["clicks"])
        p["converters"] += int(c["converters"])
    return {k: {"rate": float(planted[k]), **v} for k, v in sorted(out.items())}


def _files(events: list[tuple[datetime, dict]], rng: random.Random) -> tuple[dict, int]:
    """One file per UTC day (the last as a webhook batch), plus duplicates re-sent in the next day's file."""
    by_day: dict[str, list[tuple[datetime, dict]]] = defaultdict(list)
    for t, e in sorted(events, key=lambda te: (te[0], te[1]["messageId"])):
        by_day[t.strftime("%Y%m%d")].append((t, e))
    days = sorted(by_day)
    lines = {d: [json.dumps(e, separators=(",", ":")) for _, e in by_day[d]] for d in days}
    dup_count = 0
    if len(days) > 1:
        for i, d in enumerate(days):
            picks = [j for j in range(len(lines[d])) if rng.random() < DUPLICATE_SHARE]
            n = len(picks)
            target = days[i + 1] if i + 1 < len(days) else days[i - 1]
            lines[target] = lines[target] + [lines[d][j] for j in picks]
            dup_count += n
    files: dict[str, list[str]] = {f"events-{d}.jsonl": lines[d] for d in days}
    if len(days) > 1:  # the last day arrives as a RudderStack webhook batch
        last = days[-1]
        del files[f"events-{last}.jsonl"]
        files[f"rudderstack-{last}.json"] = [json.dumps({"batch": [json.loads(x) for x in lines[last]]})]
    return files, dup_count


def _events_in(name: str, lines: list[str]) -> int:
    return len(json.loads(lines[0])["batch"]) if name.endswith(".json") else len(lines)


def _malformed_lines(seed: int) -> list[tuple[str, str]]:
    """(line, the parser's reason): what real inboxes contain now and then."""
    ts = "2026-01-05T10:00:00Z"
    raw = [
        ('{"messageId": "bad-1", "type": "page", "anonymousId": "x"', "invalid JSON"),
        (
            json.dumps(
                {"type": "identify", "userId": "leak-42", "traits": {"email": "Jane.Doe@Example.com"}, "timestamp": ts}
            ),
            "missing messageId",
        ),
        (json.dumps({"messageId": f"bad-3-{seed}", "type": "page", "anonymousId": "x"}), "missing timestamp"),
        (
            json.dumps({"messageId": f"bad-4-{seed}", "type": "track", "anonymousId": "x", "timestamp": ts}),
            "track without event",
        ),
        (
            json.dumps(
                {
                    "messageId": f"bad-5-{seed}",
                    "type": "track",
                    "event": "Order Completed",
                    "anonymousId": "x",
                    "timestamp": ts,
                    "properties": {"order_id": "bad", "total": "twelve", "currency": "EUR"},
                }
            ),
            "Order Completed with non-numeric total",
        ),
    ]
    return raw


def write_inbox_batch(folder: str | Path, files: Mapping[str, list[str]]) -> list[Path]:
    """Write each file atomically (a hidden temp name in the same folder, then rename); a file whose content is
    already there is left untouched, so writing the same batch twice starts no new run."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name, lines in sorted(files.items()):
        if "/" in name or name.startswith("."):
            raise ValueError(f"bad inbox file name {name!r}")
        path = folder / name
        data = ("\n".join(lines) + "\n").encode()
        if path.exists() and path.read_bytes() == data:
            out.append(path)
            continue
        atomic_write_bytes(path, data)
        out.append(path)
    return out


def write_truth(path: str | Path, truth: Mapping[str, Any]) -> Path:
    """The truth as JSON (never inside an inbox folder: a ``.json`` file there would be read as events)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(truth, indent=2, sort_keys=True))
    return path
