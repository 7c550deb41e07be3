"""Benchmark of conversion-event ingestion + attribution (optimizer_pipeline.lib.testloop.conversions / .attribution).

    python benchmarks/events.py [--events N] [--json] [--quick] [--repeat R] [--small S]

Generates N synthetic Segment/RudderStack events (page views over ~200 UTM traffic sources, ~10 % duplicate
deliveries, orders from ~3 % of visitors, identify calls and multi-device users for stitching, a few malformed lines,
mixed timestamp formats, UTM in ``properties`` or ``context.campaign``), writes them as NDJSON files (100k lines
each) into a temp dir, then times end to end - parse + validate + dedupe + HMAC + stitch + last-touch attribution
(7-day window) - for

* ``duckdb``: ``parse_event_files`` + ``attribute_orders`` (this repo), and
* ``pandas``: a plain implementation of the same steps (``json.loads`` per line, pandas validation, ``duplicated``,
  ``hmac`` over distinct ids, union-find, ``merge_asof``, ``groupby``),

at S (default 100k) events and at N (default 1,000,000). Every measurement runs in a fresh subprocess, so peak RSS
(``VmHWM``, includes the interpreter and imports) is per measurement; time is the best of ``--repeat`` (default 2,
1 with --quick). Both implementations must give identical results (orders with person, utm_id, touch time, lag;
clicks; conversions; unattributed; accepted / rejected / duplicate counts) - asserted.

Bars: duckdb at N <= 3 s (scaled by N / 1M when N != 1M), faster than pandas, peak RSS <= 2 GB, linear growth:
(time(N) / time(S)) / (N / S) <= 1.25.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import json
import os
import pickle
import random
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd

SALT = bytes(range(32))
WINDOW_DAYS = 7
LINES_PER_FILE = 100_000
T0_MS = 1_704_067_200_000  # 2024-01-01T00:00:00Z
DAY_MS = 86_400_000
N_SOURCES = 200


# ---------------------------------------------------------------------------------------------------------------------
# Synthetic data


def _ts(ms: int, fmt: int) -> str | int:
    if fmt == 0:
        return ms
    dt = pd.Timestamp(ms, unit="ms", tz="UTC")
    if fmt == 1:
        return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
    if fmt == 2:
        return (
            dt.strftime("%Y-%m-%dT%H:%M:%SZ")
            if ms % 1000 == 0
            else dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"
        )
    local = dt.tz_convert("Europe/Berlin")
    return local.isoformat(timespec="milliseconds")


def generate(n_events: int, folder: Path, seed: int = 7) -> dict:
    """Write ~n_events NDJSON lines into ``folder``; returns counts."""
    rng = random.Random(seed)
    sources = [f"inf{i:03d}-cr{rng.randint(1, 5)}" for i in range(N_SOURCES)]
    weights = np.array([1.0 / (i + 1) ** 0.8 for i in range(N_SOURCES)])
    cum = np.cumsum(weights / weights.sum())
    unique_target = int(n_events / 1.1)
    events: list[dict] = []
    ctx = {
        "library": {"name": "analytics.js", "version": "5.2.0"},
        "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148",
        "locale": "de-DE",
    }
    v = 0
    user_seq = 0
    last_user_anon: list[tuple[str, str]] = []
    while len(events) < unique_target:
        v += 1
        anon = f"anon-{v:08d}-{rng.getrandbits(32):08x}"
        t = T0_MS + rng.randrange(60 * DAY_MS)
        src = sources[int(np.searchsorted(cum, rng.random()))]
        user = None
        if last_user_anon and rng.random() < 0.02:  # second device of a known user
            user = rng.choice(last_user_anon)[0]
        for _k in range(rng.choice((1, 1, 2, 3, 4))):
            t += int(rng.expovariate(1 / (1.5 * DAY_MS)))
            s = src if rng.random() < 0.85 else sources[rng.randrange(N_SOURCES)]
            fmt = rng.randrange(4)
            ev = {
                "messageId": f"m-{len(events):09d}-{rng.getrandbits(24):06x}",
                "type": "page",
                "name": "Product",
                "anonymousId": anon,
                "timestamp": _ts(t, fmt),
                "properties": {"path": "/p/123", "url": f"https://shop.example/p/123?utm_id={s}", "title": "Product"},
                "context": dict(ctx, page={"path": "/p/123", "referrer": "https://instagram.com/"}),
            }
            if rng.random() < 0.1:
                pass  # organic page view, no UTM
            elif rng.random() < 0.5:
                ev["properties"]["utm_id"] = s
                ev["properties"]["utm_source"] = "instagram"
            else:
                ev["context"]["campaign"] = {"id": s, "source": "tiktok", "medium": "influencer", "name": s[:6]}
            if user:
                ev["userId"] = user
            events.append(ev)
        if rng.random() < 0.03:  # order
            if user is None:
                user_seq += 1
                user = f"user-{user_seq:07d}"
                last_user_anon.append((user, anon))
                events.append(
                    {
                        "messageId": f"m-{len(events):09d}-id",
                        "type": "identify",
                        "anonymousId": anon,
                        "userId": user,
                        "timestamp": _ts(t + 1000, 1),
                        "traits": {"email": f"{user}@Example.com"},
                    }
                )
            t += int(rng.expovariate(1 / (3 * DAY_MS)))
            order = {
                "messageId": f"m-{len(events):09d}-oc",
                "type": "track",
                "event": "Order Completed",
                "userId": user,
                "timestamp": _ts(t, rng.randrange(4)),
                "properties": {
                    "order_id": f"o-{len(events):09d}",
                    "total": round(rng.uniform(10, 200), 2),
                    "currency": rng.choice(("EUR", "EUR", "USD")),
                },
                "context": dict(ctx, traits={"email": f"{user}@example.com"}),
            }
            if rng.random() < 0.8:
                order["anonymousId"] = anon
            events.append(order)
            if rng.random() < 0.02:  # client retry: same order, new messageId
                events.append(dict(order, messageId=order["messageId"] + "-retry"))
    lines = [json.dumps(e, separators=(",", ":")) for e in events]
    n_dup = n_events - len(lines)
    dup_idx = [rng.randrange(len(lines)) for _ in range(max(n_dup - n_events // 2000, 0))]
    lines.extend(lines[i] for i in dup_idx)
    lines.extend("{not json" if i % 2 else '{"type":"page","anonymousId":"x"}' for i in range(n_events // 2000))
    rng.shuffle(lines)
    folder.mkdir(parents=True, exist_ok=True)
    for f, start in enumerate(range(0, len(lines), LINES_PER_FILE)):
        (folder / f"events-{f:04d}.jsonl").write_text("\n".join(lines[start : start + LINES_PER_FILE]) + "\n")
    return {"lines": len(lines), "bytes": sum(p.stat().st_size for p in folder.iterdir())}


# ---------------------------------------------------------------------------------------------------------------------
# Plain pandas implementation of the same steps


def _hmac(v: str) -> str:
    return hmac.new(SALT, v.encode(), hashlib.sha256).hexdigest()


def pandas_pipeline(files: list[Path], window_days: int = WINDOW_DAYS) -> dict:
    rows = []
    rejected = 0
    for fi, path in enumerate(sorted(files, key=lambda p: p.name)):
        for ln, line in enumerate(path.read_text().split("\n"), 1):
            if not line.strip():
                continue
            try:
                e = json.loads(line)
            except ValueError:
                rejected += 1
                continue
            if not isinstance(e, dict):
                rejected += 1
                continue
            p = e.get("properties") or {}
            c = e.get("context") or {}
            camp = c.get("campaign") or {}
            rows.append(
                (
                    fi,
                    ln,
                    e.get("messageId"),
                    e.get("type"),
                    e.get("event"),
                    e.get("anonymousId"),
                    e.get("userId"),
                    e.get("timestamp"),
                    p.get("utm_id") or camp.get("id"),
                    p.get("order_id"),
                    p.get("total", p.get("revenue")),
                    p.get("currency"),
                    (e.get("traits") or {}).get("email") or (c.get("traits") or {}).get("email"),
                )
            )
    cols = ["fi", "line", "message_id", "type", "event", "anonymous_id", "user_id", "ts", "utm_id", "order_id", "total",
            "currency", "email"]  # fmt: skip
    df = pd.DataFrame(rows, columns=cols)
    ts = df["ts"]
    is_num = ts.map(lambda x: isinstance(x, int | float))
    num = pd.to_numeric(ts.where(is_num), errors="coerce")
    t_num = pd.to_datetime(num, unit="ms", utc=True)
    t_str = pd.to_datetime(ts.where(~is_num), format="ISO8601", utc=True, errors="coerce")
    df["timestamp"] = t_num.where(is_num, t_str).astype("datetime64[us, UTC]")
    df["total"] = pd.to_numeric(df["total"], errors="coerce")
    is_order = (df["type"] == "track") & (df["event"] == "Order Completed")
    is_page = (df["type"] == "page") | ((df["type"] == "track") & (df["event"] == "Page Viewed"))
    valid = (
        df["message_id"].notna()
        & df["type"].isin(["page", "track", "identify", "screen", "group", "alias"])
        & df["timestamp"].notna()
        & (df["anonymous_id"].notna() | df["user_id"].notna())
        & ~(is_order & df["order_id"].isna())
    )
    rejected += int((~valid).sum())
    df = df[valid].assign(is_page=is_page[valid], is_order=is_order[valid])
    n_valid = len(df)
    df = df[~df["message_id"].duplicated()]
    duplicates = n_valid - len(df)
    df = df[df["is_page"] | df["is_order"] | (df["anonymous_id"].notna() & df["user_id"].notna())]
    uids = df["user_id"].dropna().unique()
    df["user_id_hash"] = df["user_id"].map(dict(zip(uids, [_hmac(str(u)) for u in uids], strict=True)))
    emails = df["email"].dropna().str.strip().str.lower().unique()
    df["email_hash"] = (
        df["email"].str.strip().str.lower().map(dict(zip(emails, [_hmac(e) for e in emails], strict=True)))
    )
    df = df.drop(columns=["user_id", "email"])

    # stitching: union-find over distinct (anon, user) edges
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    edges = df.loc[df["anonymous_id"].notna() & df["user_id_hash"].notna(), ["anonymous_id", "user_id_hash"]]
    for a, u in edges.drop_duplicates().itertuples(index=False):
        ra, ru = find("a:" + a), find("u:" + u)
        if ra != ru:
            parent[max(ra, ru)] = min(ra, ru)  # root = smallest id
    akey = "a:" + df["anonymous_id"]
    ukey = "u:" + df["user_id_hash"]
    roots = {k: find(k) for k in list(parent)}
    df["person_id"] = ukey.map(roots).fillna(akey.map(roots)).fillna(ukey).fillna(akey)

    pages = df[df["is_page"] & df["utm_id"].notna()]
    clicks = (
        pages.groupby("utm_id")
        .agg(clicks=("person_id", "nunique"), page_views=("person_id", "size"))
        .reset_index()
        .sort_values("utm_id", ignore_index=True)
    )
    touches = pages[["person_id", "timestamp", "utm_id"]].drop_duplicates(["person_id", "timestamp"], keep="last")
    touches = touches.rename(columns={"timestamp": "touch_timestamp"}).sort_values("touch_timestamp")
    orders = df[df["is_order"]].drop_duplicates("order_id")
    orders = orders[["order_id", "person_id", "timestamp", "total", "currency"]].reset_index(drop=True)
    orders["_pos"] = np.arange(len(orders))
    m = pd.merge_asof(
        orders.sort_values("timestamp"),
        touches,
        left_on="timestamp",
        right_on="touch_timestamp",
        by="person_id",
        direction="backward",
        allow_exact_matches=True,
    ).sort_values("_pos", ignore_index=True)
    lag = m["timestamp"] - m["touch_timestamp"]
    ok = lag.notna() & (lag <= pd.Timedelta(days=window_days))
    m["utm_id"] = m["utm_id"].where(ok)
    m["touch_timestamp"] = m["touch_timestamp"].where(ok)
    m["lag_s"] = (lag.dt.total_seconds()).where(ok)
    att = m[m["utm_id"].notna()]
    conversions = (
        att.groupby(["utm_id", "currency"], dropna=False)
        .agg(orders=("order_id", "size"), revenue=("total", "sum"))
        .reset_index()
        .sort_values(["utm_id", "currency"], ignore_index=True)
    )
    return {
        "orders": m.drop(columns=["_pos"]),
        "clicks": clicks,
        "conversions": conversions,
        "unattributed": int((~ok).sum()),
        "accepted": len(df),
        "rejected": rejected,
        "duplicates": duplicates,
    }


def duckdb_pipeline(files: list[Path], window_days: int = WINDOW_DAYS) -> dict:
    from optimizer_pipeline.lib.testloop.attribution import attribute_orders
    from optimizer_pipeline.lib.testloop.conversions import parse_event_files

    batch = parse_event_files(files, salt=SALT)
    res = attribute_orders(batch.accepted, window_days=window_days)
    return {
        "orders": res.orders,
        "clicks": res.clicks,
        "conversions": res.conversions,
        "unattributed": res.unattributed,
        "accepted": batch.accepted.num_rows,
        "rejected": len(batch.rejected),
        "duplicates": batch.duplicates,
    }


def compare(a: dict, b: dict) -> None:
    for k in ("unattributed", "accepted", "rejected", "duplicates"):
        assert a[k] == b[k], (k, a[k], b[k])
    oa = a["orders"].sort_values("order_id", ignore_index=True)
    ob = b["orders"].sort_values("order_id", ignore_index=True)
    for c in ("order_id", "person_id", "utm_id", "currency"):
        assert (
            oa[c].astype(object).where(oa[c].notna(), None).tolist()
            == ob[c].astype(object).where(ob[c].notna(), None).tolist()
        ), c
    for c in ("timestamp", "touch_timestamp"):
        assert (
            oa[c].astype("datetime64[us, UTC]").fillna(pd.Timestamp(0, tz="UTC"))
            == ob[c].astype("datetime64[us, UTC]").fillna(pd.Timestamp(0, tz="UTC"))
        ).all(), c
    np.testing.assert_allclose(oa["lag_s"].to_numpy(float), ob["lag_s"].to_numpy(float), rtol=0, atol=1e-6)
    np.testing.assert_allclose(oa["total"].to_numpy(float), ob["total"].to_numpy(float))
    ca, cb = a["clicks"], b["clicks"]
    assert ca["utm_id"].tolist() == cb["utm_id"].tolist()
    assert ca["clicks"].tolist() == cb["clicks"].tolist() and ca["page_views"].tolist() == cb["page_views"].tolist()
    va, vb = a["conversions"], b["conversions"]
    assert va["utm_id"].tolist() == vb["utm_id"].tolist() and va["currency"].tolist() == vb["currency"].tolist()
    assert va["orders"].tolist() == vb["orders"].tolist()
    np.testing.assert_allclose(va["revenue"].to_numpy(float), vb["revenue"].to_numpy(float), rtol=1e-9)


# ---------------------------------------------------------------------------------------------------------------------
# Driver: each measurement in a fresh subprocess


def peak_rss_mb() -> float:
    """Peak RSS of this process: VmHWM (reset at exec). ``ru_maxrss`` is not used: Linux carries it over from the
    parent across fork + exec, so every worker would report the generator's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker(impl: str, folder: Path, out: Path) -> None:
    files = sorted(folder.glob("*.jsonl"))
    fn = duckdb_pipeline if impl == "duckdb" else pandas_pipeline
    if impl == "duckdb":  # import cost outside the timing, like the pandas import
        import optimizer_pipeline.lib.testloop.attribution
        import optimizer_pipeline.lib.testloop.conversions  # noqa: F401
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    res = fn(files)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    rss_mb = peak_rss_mb()
    with out.open("wb") as fh:
        pickle.dump({"wall": wall, "cpu": cpu, "rss_mb": rss_mb, "result": res}, fh)


def measure(impl: str, folder: Path, repeat: int) -> dict:
    best = None
    for _ in range(repeat):
        with tempfile.NamedTemporaryFile(suffix=".pkl", delete=False) as tf:
            out = Path(tf.name)
        subprocess.run([sys.executable, __file__, "--worker", impl, str(folder), str(out)], check=True)
        with out.open("rb") as fh:
            got = pickle.load(fh)
        out.unlink()
        if best is None or got["wall"] < best["wall"]:
            best = got
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--quick", action="store_true", help="N=200k unless --events given, one run each")
    ap.add_argument("--repeat", type=int, default=None)
    ap.add_argument("--small", type=int, default=100_000, help="the smaller size of the linearity check")
    ap.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        worker(args.worker[0], Path(args.worker[1]), Path(args.worker[2]))
        return 0
    n = args.events if (args.events != 1_000_000 or not args.quick) else 200_000
    repeat = args.repeat or (1 if args.quick else 2)
    sizes = [args.small, n] if n != args.small else [n]
    rows = []
    with tempfile.TemporaryDirectory(prefix="events-bench-") as tmp:
        for size in sizes:
            folder = Path(tmp) / f"n{size}"
            t0 = time.perf_counter()
            info = generate(size, folder)
            gen_s = time.perf_counter() - t0
            res = {impl: measure(impl, folder, repeat if impl == "duckdb" else 1) for impl in ("duckdb", "pandas")}
            compare(res["duckdb"]["result"], res["pandas"]["result"])
            for impl in ("duckdb", "pandas"):
                r = res[impl]
                rows.append(
                    {
                        "events": info["lines"],
                        "mb": round(info["bytes"] / 1e6, 1),
                        "impl": impl,
                        "wall_s": round(r["wall"], 3),
                        "cpu_s": round(r["cpu"], 3),
                        "events_per_s": round(info["lines"] / r["wall"]),
                        "peak_rss_mb": round(r["rss_mb"]),
                        "vs_pandas": round(res["pandas"]["wall"] / r["wall"], 2),
                        "generate_s": round(gen_s, 1),
                        "orders": len(r["result"]["orders"]),
                        "unattributed": r["result"]["unattributed"],
                    }
                )
    duck = {r["events"]: r for r in rows if r["impl"] == "duckdb"}
    small, big = min(duck), max(duck)
    linearity = (duck[big]["wall_s"] / duck[small]["wall_s"]) / (big / small) if big != small else 1.0
    bar_s = 3.0 * big / 1_000_000
    checks = {
        f"duckdb_{big}_le_{bar_s:.2f}s": duck[big]["wall_s"] <= bar_s,
        "faster_than_pandas": all(r["vs_pandas"] > 1 for r in duck.values()),
        "peak_rss_le_2gb": all(r["peak_rss_mb"] <= 2048 for r in duck.values()),
        "linear_le_1.25": linearity <= 1.25,
        "identical_results": True,
    }
    import duckdb
    import pyarrow

    versions = {"duckdb": duckdb.__version__, "pyarrow": pyarrow.__version__, "pandas": pd.__version__}
    summary = {
        "rows": rows,
        "linearity": round(linearity, 3),
        "checks": checks,
        "pass": all(checks.values()),
        "versions": versions,
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        hdr = ["events", "mb", "impl", "wall_s", "cpu_s", "events_per_s", "peak_rss_mb", "vs_pandas", "orders",
               "unattributed"]  # fmt: skip
        print(pd.DataFrame(rows)[hdr].to_string(index=False))
        print(
            f"linearity (time({big}) / time({small})) / {big / small:g} = {linearity:.3f}"
            f"  (os.cpu_count={os.cpu_count()}, load avg {os.getloadavg()[0]:.1f})"
        )
        print("versions: " + ", ".join(f"{k} {v}" for k, v in versions.items()))
        for k, v in checks.items():
            print(f"{'PASS' if v else 'FAIL'}  {k}")
    return 0 if summary["pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
