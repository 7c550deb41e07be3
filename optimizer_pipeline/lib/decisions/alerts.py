"""Alerts on a client's daily ad metrics (``ad_performance``, one row per ad and day): what a media buyer should look
at today, each with a severity, a reason in plain words and the numbers behind it.

Three rules, evaluated per ad and reporting day:

* ``performance_drop``: the day's CTR (clicks / impressions) or CVR (conversions / clicks) is more than
  ``alert_drop_threshold`` (25 %) below the ad's own trailing 7 days (pooled counts, at least 3 days with delivery),
  **and** a one-sided Fisher exact test says the drop is not noise at α = 0.01 per ad-day, split Bonferroni-wise
  over the two metrics (0.005 each). The test is the volume rule: a 25 % drop on 40 impressions is noise, on 40,000
  it is not, and the false-alert rate of a stationary ad stays at or under 1 % per ad-day whatever its volume
  (Fisher 1935; the one-sided p-value is the hypergeometric tail, as ``scipy.stats.fisher_exact`` computes it).
  Severity: ``critical`` when the drop is 50 % or more, ``warning`` otherwise.
* ``low_engagement``: CTR below ``alert_min_engagement`` (1 %) on a day with at least ``alert_min_impressions``
  impressions. Severity: ``critical`` below half the threshold, ``warning`` otherwise.
* ``viral_outlier``: an ad whose log CTR is far above the client's other ads that day, by the modified z-score
  z = (x − median) / (1.4826 · MAD) ≥ 3.5 (Iglewicz & Hoaglin 1993, "How to Detect and Handle Outliers"),
  among ads with at least ``alert_min_impressions`` impressions and a click (at least 5 such ads; none when the MAD
  is 0), **and** an exact one-sided binomial test of its clicks against the median CTR at α = 0.001: with 5-8 ads
  the MAD is itself noisy, and the z-rule alone flagged 0.7-1.9 % of identical ads per day in simulation. Good news,
  so severity ``info``.

``alert_id`` hashes client, ad, kind, metric and day: the same condition on the same day always has the same id, so
:func:`new_alerts` keeps an alert from being sent twice. :func:`slack_payload` builds a Slack incoming-webhook message
(``text`` fallback + Block Kit ``blocks``); :func:`alerts_markdown` the default Markdown log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import date, timedelta
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats

from optimizer_pipeline.lib.core import markdown
from optimizer_pipeline.lib.registry.decisions_settings import DecisionSettings

ALERT_COLUMNS: tuple[str, ...] = (
    "alert_id",
    "ad_id",
    "date",
    "kind",
    "metric",
    "value",
    "baseline",
    "change",
    "severity",
    "reason",
)
KINDS: tuple[str, ...] = ("performance_drop", "low_engagement", "viral_outlier")
SEVERITIES: tuple[str, ...] = ("critical", "warning", "info")  # most urgent first
#: Metrics watched for drops: rates of counts, so an exact test can tell a drop from noise.
DROP_METRICS: dict[str, tuple[str, str]] = {"ctr": ("clicks", "impressions"), "cvr": ("conversions", "clicks")}
BASELINE_DAYS = 7
MIN_BASELINE_DAYS = 3
DROP_ALPHA = 0.01  # per ad-day, shared by the DROP_METRICS (Bonferroni)
CRITICAL_DROP = 0.5
VIRAL_Z = 3.5
VIRAL_ALPHA = 0.001  # the outlier must also be more clicks than the median CTR explains
MIN_ADS_FOR_OUTLIERS = 5
#: Slack limits (Block Kit reference): 50 blocks per message, 3000 characters per section, 150 per header.
SLACK_MAX_BLOCKS = 50
SLACK_SECTION_CHARS = 3000
SLACK_HEADER_CHARS = 150
_REQUIRED = ("ad_id", "date", "impressions", "clicks", "conversions")
_EMOJI = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "info": ":large_blue_circle:"}


class AlertInputError(ValueError):
    """Ad metrics that alerts cannot be computed from (missing columns, repeated ad-days, negative counts)."""


def alert_id(client: str, ad_id: str, kind: str, metric: str, day: date) -> str:
    """The dedupe key of one condition on one day: 16 hex digits of a sha256."""
    text = "\x1f".join((client, str(ad_id), kind, metric, day.isoformat()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def drop_p_value(count: ArrayLike, trials: ArrayLike, base_count: ArrayLike, base_trials: ArrayLike) -> np.ndarray:
    """One-sided Fisher exact p-value that the day's rate (``count / trials``) is below the baseline's: the
    hypergeometric probability of ``count`` or fewer successes given both margins, vectorised (equal to
    ``scipy.stats.fisher_exact([[count, trials - count], [base_count, base_trials - base_count]], "less")``)."""
    k, n, bk, bn = (np.asarray(x, dtype=float) for x in (count, trials, base_count, base_trials))
    return np.asarray(stats.hypergeom.cdf(k, n + bn, k + bk, n), dtype=float)


def detect_alerts(
    ad_rows: pd.DataFrame, as_of: date, settings: DecisionSettings, *, client: str = "", days: int = 1
) -> pd.DataFrame:
    """Alerts for the ``days`` reporting days ending at ``as_of`` (earlier rows are the baselines), columns
    :data:`ALERT_COLUMNS`, most severe first. ``ad_name`` is used in reasons when present."""
    if days < 1:
        raise AlertInputError(f"days must be >= 1, got {days}")
    rows = _prepare(ad_rows)
    end = pd.Timestamp(as_of).date()
    found: list[dict[str, Any]] = []
    for offset in range(days - 1, -1, -1):
        day = end - timedelta(days=offset)
        today = rows[rows["date"] == day]
        if today.empty:
            continue
        window = rows[(rows["date"] >= day - timedelta(days=BASELINE_DAYS)) & (rows["date"] < day)]
        found += _drops(today, window, day, settings)
        found += _low_engagement(today, day, settings)
        found += _viral(today, day, settings)
    out = pd.DataFrame(found, columns=[c for c in ALERT_COLUMNS if c != "alert_id"])
    out.insert(0, "alert_id", [alert_id(client, r.ad_id, r.kind, r.metric, r.date) for r in out.itertuples()])
    return _ordered(out)


def new_alerts(alerts: pd.DataFrame, already_sent_ids: Iterable[str]) -> pd.DataFrame:
    """The alerts not sent before (and each condition once): what a notifier may send now."""
    sent = set(already_sent_ids)
    return alerts[~alerts["alert_id"].isin(sent)].drop_duplicates("alert_id").reset_index(drop=True)


def slack_payload(alerts: pd.DataFrame, *, title: str = "Ad alerts") -> dict[str, Any]:
    """A Slack incoming-webhook message: ``text`` (the notification fallback) and ``blocks`` (a header and one
    section per alert, most severe first, within Slack's 50-block limit)."""
    alerts = _ordered(alerts)
    counts = alerts["severity"].value_counts()
    tally = ", ".join(f"{counts[s]} {s}" for s in SEVERITIES if s in counts)
    text = f"{title}: {len(alerts)} alert{'s' if len(alerts) != 1 else ''}" + (f" ({tally})" if tally else "")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": _cut(text, SLACK_HEADER_CHARS)}}
    ]
    room = SLACK_MAX_BLOCKS - 1 - (1 if len(alerts) > SLACK_MAX_BLOCKS - 1 else 0)
    for a in alerts.head(room).itertuples():
        head = f"{_EMOJI[a.severity]} *{a.severity}* · {a.kind.replace('_', ' ')} · {a.metric} · `{a.ad_id}` · {a.date}"
        body = f"{_slack_escape(head)}\n{_slack_escape(str(a.reason))}"
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": _cut(body, SLACK_SECTION_CHARS)}})
    if len(alerts) > room:
        more = f"… and {len(alerts) - room} more alerts in the alert log."
        blocks.append({"type": "context", "elements": [{"type": "mrkdwn", "text": more}]})
    return {"text": _slack_escape(text), "blocks": blocks}


def alerts_markdown(alerts: pd.DataFrame, *, title: str = "Ad alerts") -> str:
    """The default alert log: a heading and one escaped table row per alert, most severe first."""
    if alerts.empty:
        return f"## {markdown.escape(title)}\n\nNo alerts."
    cols = ["date", "severity", "kind", "ad_id", "metric", "value", "baseline", "change", "reason", "alert_id"]
    return f"## {markdown.escape(title)}\n\n" + markdown.table(_ordered(alerts)[cols], max_rows=None)


def _prepare(ad_rows: pd.DataFrame) -> pd.DataFrame:
    missing = [c for c in _REQUIRED if c not in ad_rows.columns]
    if missing:
        raise AlertInputError(f"ad metrics: missing column(s) {missing}; alerts need {list(_REQUIRED)}")
    cols = [*_REQUIRED, *(["ad_name"] if "ad_name" in ad_rows.columns else [])]
    rows = ad_rows[cols].copy()
    rows["ad_id"] = rows["ad_id"].astype(str)
    rows["date"] = pd.to_datetime(rows["date"]).dt.date
    if "ad_name" not in rows.columns:
        rows["ad_name"] = None
    for c in ("impressions", "clicks", "conversions"):
        rows[c] = pd.to_numeric(rows[c], errors="coerce")
        if (rows[c] < 0).any():
            raise AlertInputError(f"ad metrics: column '{c}' has negative counts")
    dupes = rows.duplicated(["ad_id", "date"])
    if dupes.any():
        first = rows[dupes].iloc[0]
        raise AlertInputError(f"ad metrics: ad '{first['ad_id']}' has more than one row for {first['date']}")
    return rows


def _drops(today: pd.DataFrame, window: pd.DataFrame, day: date, settings: DecisionSettings) -> list[dict[str, Any]]:
    alpha = DROP_ALPHA / len(DROP_METRICS)
    out: list[dict[str, Any]] = []
    for metric, (num, den) in DROP_METRICS.items():
        ok = window.dropna(subset=[num, den])
        base = ok[ok[den] > 0].groupby("ad_id").agg(b_num=(num, "sum"), b_den=(den, "sum"), b_days=(den, "size"))
        d = today.dropna(subset=[num, den]).join(base, on="ad_id", how="inner")
        d = d[(d["b_days"] >= MIN_BASELINE_DAYS) & (d["b_num"] > 0) & (d[den] > 0)]
        if d.empty:
            continue
        rate, b_rate = d[num] / d[den], d["b_num"] / d["b_den"]
        change = rate / b_rate - 1
        p = drop_p_value(d[num], d[den], d["b_num"], d["b_den"])
        hit = ((change < -settings.alert_drop_threshold) & (p < alpha)).to_numpy()
        for r, v, b, c, pv in zip(d[hit].itertuples(), rate[hit], b_rate[hit], change[hit], p[hit], strict=True):
            reason = (
                f"{metric.upper()} of {_ad(r)} fell to {v:.2%} on {day}, {-c:.0%} below its trailing "
                f"{BASELINE_DAYS}-day {b:.2%} ({getattr(r, num):,.0f} {num} / {getattr(r, den):,.0f} {den} vs "
                f"{r.b_num:,.0f} / {r.b_den:,.0f} over {r.b_days} days); one-sided Fisher exact p = {pv:.2g} "
                f"< {alpha:g}, so not noise."
            )
            severity = "critical" if c <= -CRITICAL_DROP else "warning"
            out.append(_row(r.ad_id, day, "performance_drop", metric, v, b, c, severity, reason))
    return out


def _low_engagement(today: pd.DataFrame, day: date, settings: DecisionSettings) -> list[dict[str, Any]]:
    floor = settings.alert_min_engagement
    d = today[today["impressions"] >= settings.alert_min_impressions].dropna(subset=["clicks"])
    ctr = d["clicks"] / d["impressions"]
    hit = ctr < floor
    out: list[dict[str, Any]] = []
    for r, v in zip(d[hit].itertuples(), ctr[hit], strict=True):
        reason = (
            f"CTR of {_ad(r)} was {v:.2%} on {day} ({r.clicks:,.0f} clicks / {r.impressions:,.0f} impressions), "
            f"below the {floor:.2%} engagement floor."
        )
        severity = "critical" if v < floor / 2 else "warning"
        out.append(_row(r.ad_id, day, "low_engagement", "ctr", v, floor, v / floor - 1, severity, reason))
    return out


def _viral(today: pd.DataFrame, day: date, settings: DecisionSettings) -> list[dict[str, Any]]:
    d = today[(today["impressions"] >= settings.alert_min_impressions) & (today["clicks"] > 0)]
    if len(d) < MIN_ADS_FOR_OUTLIERS:
        return []
    x = np.log(d["clicks"] / d["impressions"])
    median = float(np.median(x))
    mad = float(stats.median_abs_deviation(x, scale="normal"))  # 1.4826 · MAD
    if mad == 0:
        return []
    z = (x - median) / mad
    typical = float(np.exp(median))
    p = stats.binom.sf(d["clicks"] - 1, d["impressions"], typical)  # one-sided exact: P(X >= clicks | typical CTR)
    hit = ((z >= VIRAL_Z) & (p < VIRAL_ALPHA)).to_numpy()
    out: list[dict[str, Any]] = []
    for r, zi, pi in zip(d[hit].itertuples(), z[hit], p[hit], strict=True):
        v = r.clicks / r.impressions
        reason = (
            f"CTR of {_ad(r)} was {v:.2%} on {day}, {v / typical:.1f}× the median {typical:.2%} of the client's "
            f"{len(d)} ads with {settings.alert_min_impressions:,} or more impressions that day (robust z on log CTR "
            f"= {zi:.1f} ≥ {VIRAL_Z}; one-sided binomial p = {pi:.2g} < {VIRAL_ALPHA:g} against the median): "
            "a possible viral ad."
        )
        out.append(_row(r.ad_id, day, "viral_outlier", "ctr", v, typical, v / typical - 1, "info", reason))
    return out


def _row(ad: str, day: date, kind: str, metric: str, value: float, base: float, change: float, severity: str,
         reason: str) -> dict[str, Any]:  # fmt: skip
    return {
        "ad_id": ad,
        "date": day,
        "kind": kind,
        "metric": metric,
        "value": float(value),
        "baseline": float(base),
        "change": float(change),
        "severity": severity,
        "reason": reason,
    }


def _ad(r: Any) -> str:
    name = getattr(r, "ad_name", None)
    return f"ad '{name}' ({r.ad_id})" if isinstance(name, str) and name.strip() else f"ad {r.ad_id}"


def _ordered(alerts: pd.DataFrame) -> pd.DataFrame:
    if alerts.empty:
        return alerts.reset_index(drop=True)
    rank = alerts["severity"].map({s: i for i, s in enumerate(SEVERITIES)})
    order = alerts.assign(_rank=rank).sort_values(["_rank", "date", "kind", "ad_id", "metric"], kind="stable")
    return order.drop(columns="_rank").reset_index(drop=True)


def _slack_escape(text: str) -> str:
    """Slack's three control characters, escaped as its message-formatting guide asks."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
