"""Ad alerts: the drop test against scipy's Fisher exact test, each rule on constructed cases, the false-alert rate
of stationary ads (simulation, Monte-Carlo tolerance), the power on a planted 40 % drop, dedupe, and the Slack and
Markdown renderings."""

from __future__ import annotations

import json
import math
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest
from markdown_it import MarkdownIt
from scipy import stats

from optimizer_pipeline.lib.decisions.alerts import (
    ALERT_COLUMNS,
    DROP_ALPHA,
    SLACK_MAX_BLOCKS,
    VIRAL_ALPHA,
    AlertInputError,
    alert_id,
    alerts_markdown,
    detect_alerts,
    drop_p_value,
    new_alerts,
    slack_payload,
)
from optimizer_pipeline.lib.registry.decisions_settings import DecisionSettings

D0 = date(2026, 11, 1)
SETTINGS = DecisionSettings()


def panel(
    rng: np.random.Generator,
    n_ads: int,
    n_days: int,
    impressions: int,
    ctr: float | np.ndarray,
    cvr: float = 0.05,
    drop: float = 0.0,
) -> pd.DataFrame:
    """Binomial daily counts (no over-dispersion) for ``n_ads`` ads; ``drop`` lowers every ad's CTR on the last day."""
    p = np.broadcast_to(np.asarray(ctr, dtype=float).reshape(-1, 1), (n_ads, n_days)).copy()
    p[:, -1] *= 1 - drop
    imp = np.full((n_ads, n_days), impressions)
    clicks = rng.binomial(imp, p)
    conversions = rng.binomial(clicks, cvr)
    return pd.DataFrame(
        {
            "ad_id": np.repeat([f"ad-{i:04d}" for i in range(n_ads)], n_days),
            "ad_name": np.repeat([f"Ad {i}" for i in range(n_ads)], n_days),
            "date": np.tile([D0 + timedelta(days=d) for d in range(n_days)], n_ads),
            "impressions": imp.ravel(),
            "clicks": clicks.ravel(),
            "conversions": conversions.ravel(),
        }
    )


def rows(*specs: tuple[str, int, int, int, int]) -> pd.DataFrame:
    """(ad_id, day offset, impressions, clicks, conversions) → ad_performance-like rows."""
    return pd.DataFrame(
        [
            {"ad_id": a, "date": D0 + timedelta(days=d), "impressions": i, "clicks": c, "conversions": v}
            for a, d, i, c, v in specs
        ]
    )


def steady(ad: str, days: int, impressions: int, clicks: int, conversions: int = 0) -> list[tuple]:
    return [(ad, d, impressions, clicks, conversions) for d in range(days)]


def test_drop_p_value_is_scipys_one_sided_fisher_exact_test():
    tables = [(12, 1000, 150, 7000), (0, 50, 3, 400), (275, 20000, 2805, 140000), (30, 30, 200, 200), (5, 9, 1, 7)]
    ours = drop_p_value(*(np.array(col) for col in zip(*tables, strict=True)))
    for (k, n, bk, bn), p in zip(tables, ours, strict=True):
        ref = stats.fisher_exact([[k, n - k], [bk, bn - bk]], alternative="less").pvalue
        assert p == pytest.approx(ref, rel=1e-9, abs=1e-300)


def test_planted_drop_fires_with_the_numbers_and_a_clean_ad_does_not():
    data = rows(
        *steady("drop", 7, 20000, 400),
        ("drop", 7, 20000, 240, 0),  # CTR 2 % → 1.2 %: a 40 % drop
        *steady("flat", 8, 20000, 400),
        *steady("crash", 7, 20000, 400),
        ("crash", 7, 20000, 150, 0),  # a 62.5 % drop: critical
    )
    alerts = detect_alerts(data, D0 + timedelta(days=7), SETTINGS, client="acme")
    assert list(alerts.columns) == list(ALERT_COLUMNS)
    drops = alerts[alerts["kind"] == "performance_drop"].set_index("ad_id")
    assert set(drops.index) == {"drop", "crash"}
    d = drops.loc["drop"]
    assert (d["metric"], d["value"], d["baseline"], d["change"]) == ("ctr", 0.012, 0.02, pytest.approx(-0.4))
    assert (d["severity"], drops.loc["crash", "severity"]) == ("warning", "critical")
    assert "1.20%" in d["reason"] and "2.00%" in d["reason"] and "40% below" in d["reason"] and "Fisher" in d["reason"]
    assert d["date"] == D0 + timedelta(days=7)
    assert alerts["severity"].iloc[0] == "critical"  # most severe first


def test_a_large_relative_drop_on_little_volume_is_noise():
    data = rows(*steady("small", 7, 300, 6), ("small", 7, 300, 3, 0))  # 2 % → 1 %, but 3 clicks vs 6 expected
    assert detect_alerts(data, D0 + timedelta(days=7), SETTINGS).empty


def test_drop_needs_three_baseline_days_and_watches_cvr_too():
    short = rows(*[("new", d, 20000, 400, 0) for d in (5, 6)], ("new", 7, 20000, 220, 0))  # 2 % → 1.1 %
    assert detect_alerts(short, D0 + timedelta(days=7), SETTINGS).empty
    three = pd.concat([short, rows(("new", 4, 20000, 400, 0))])
    assert detect_alerts(three, D0 + timedelta(days=7), SETTINGS)["kind"].tolist() == ["performance_drop"]
    cvr = rows(*steady("cvr", 7, 20000, 1000, 50), ("cvr", 7, 20000, 1000, 20))  # CVR 5 % → 2 %
    alerts = detect_alerts(cvr, D0 + timedelta(days=7), SETTINGS)
    assert alerts[["kind", "metric", "severity"]].values.tolist() == [["performance_drop", "cvr", "critical"]]


def test_low_engagement_needs_the_minimum_impressions():
    data = rows(
        ("low", 0, 5000, 40, 0),  # 0.8 %: warning
        ("lower", 0, 5000, 20, 0),  # 0.4 %: below half the floor, critical
        ("tiny", 0, 500, 2, 0),  # 0.4 % but only 500 impressions
        ("fine", 0, 5000, 75, 0),
    )
    alerts = detect_alerts(data, D0, SETTINGS).set_index("ad_id")
    assert set(alerts.index) == {"low", "lower"} and set(alerts["kind"]) == {"low_engagement"}
    assert (alerts.loc["low", "severity"], alerts.loc["lower", "severity"]) == ("warning", "critical")
    assert (alerts.loc["low", "value"], alerts.loc["low", "baseline"]) == (0.008, 0.01)
    assert alerts.loc["low", "change"] == pytest.approx(-0.2)
    assert "40 clicks / 5,000 impressions" in alerts.loc["low", "reason"]


def test_viral_outlier_among_the_days_ads():
    ctrs = [0.014, 0.015, 0.016, 0.015, 0.017, 0.013, 0.015, 0.06]
    data = rows(*[(f"ad-{i}", 0, 10000, round(10000 * c), 0) for i, c in enumerate(ctrs)])
    alerts = detect_alerts(data, D0, SETTINGS)
    assert alerts[["ad_id", "kind", "severity"]].values.tolist() == [["ad-7", "viral_outlier", "info"]]
    a = alerts.iloc[0]
    assert a["baseline"] == pytest.approx(0.015) and a["value"] == pytest.approx(0.06)
    x = np.log(np.array(ctrs))
    z = (x[-1] - np.median(x)) / (1.4826 * np.median(np.abs(x - np.median(x))))  # Iglewicz-Hoaglin, by hand
    assert f"robust z on log CTR = {z:.1f}" in a["reason"]
    assert detect_alerts(data.head(4), D0, SETTINGS).empty  # fewer than 5 ads: no outlier test


def test_alert_ids_are_stable_and_new_alerts_never_repeats():
    data = rows(*steady("drop", 8, 20000, 400), ("drop", 8, 20000, 200, 0), ("drop", 9, 20000, 200, 0))
    day9 = detect_alerts(data, D0 + timedelta(days=9), SETTINGS, client="acme", days=2)
    assert len(day9) == 2 and day9["alert_id"].is_unique
    again = detect_alerts(data, D0 + timedelta(days=8), SETTINGS, client="acme")
    assert again["alert_id"].iloc[0] in set(day9["alert_id"])  # same condition, same day, same id
    assert new_alerts(day9, again["alert_id"]).shape[0] == 1  # only the new day's alert is sent
    assert new_alerts(pd.concat([day9, day9]), []).shape[0] == 2  # each condition once
    assert new_alerts(day9, day9["alert_id"]).empty
    assert alert_id("acme", "drop", "performance_drop", "ctr", D0) != alert_id("other", "drop", "performance_drop",
                                                                                 "ctr", D0)  # fmt: skip
    assert alert_id("acme", "drop", "performance_drop", "ctr", D0) != alert_id("acme", "drop", "performance_drop",
                                                                                "cvr", D0)  # fmt: skip


@pytest.mark.parametrize(("impressions", "ctr"), [(300, 0.02), (2000, 0.015), (20000, 0.02)])
@pytest.mark.parametrize("threshold", [0.25, 1e-9])
def test_false_drop_alerts_of_stationary_ads_stay_under_alpha(impressions, ctr, threshold):
    """1,000 stationary ads, 7 evaluated days each (a 7-day baseline before every one): per ad-day, a drop alert on
    CTR or CVR is raised at most DROP_ALPHA = 1 % of the time, even when the 25 % threshold is switched off
    (threshold ~0), so the exact test alone holds the rate. Measured (seed 7): 0.27 %, 0.16 % and 0.40 % at the 25 %
    threshold for 2,000, 300 and 20,000 impressions a day, 0.86 % at 20,000 with the threshold off."""
    rng = np.random.default_rng(7)
    data = panel(rng, 1000, 14, impressions, ctr)
    alerts = detect_alerts(data, D0 + timedelta(days=13), DecisionSettings(alert_drop_threshold=threshold), days=7)
    drops = alerts[alerts["kind"] == "performance_drop"]
    n = 1000 * 7
    rate = drops.groupby(["ad_id", "date"]).ngroups / n
    assert rate <= DROP_ALPHA + 3 * math.sqrt(DROP_ALPHA * (1 - DROP_ALPHA) / n), rate


def test_a_planted_40_percent_drop_at_volume_is_caught():
    """500 ads at 20,000 impressions a day and CTR 1.5 % lose 40 % of their CTR on day 8: every one is flagged
    (measured 500/500). At 5,000 impressions a day the measured power is 83 %; at 2,000, 33 % (30 clicks a day
    are too few to tell a 40 % drop from noise at α = 0.005 most days)."""
    for impressions, floor in ((20000, 0.99), (5000, 0.75)):
        data = panel(np.random.default_rng(8), 500, 8, impressions, 0.015, drop=0.4)
        alerts = detect_alerts(data, D0 + timedelta(days=7), SETTINGS)
        caught = ((alerts["kind"] == "performance_drop") & (alerts["metric"] == "ctr")).sum() / 500
        assert caught >= floor, (impressions, caught)


def test_viral_false_alerts_stay_rare_with_few_ads():
    """5 identical ads a day for 300 days: the modified z-score alone flags ~1.9 % of them (the MAD of 5 values is
    noisy); with the binomial check at VIRAL_ALPHA the measured rate is 0 of 1,500 ad-days."""
    data = panel(np.random.default_rng(9), 5, 300, 5000, 0.015)
    alerts = detect_alerts(data, D0 + timedelta(days=299), SETTINGS, days=300)
    n = 5 * 300
    rate = (alerts["kind"] == "viral_outlier").sum() / n
    assert rate <= VIRAL_ALPHA + 3 * math.sqrt(VIRAL_ALPHA * (1 - VIRAL_ALPHA) / n), rate


def test_slack_payload_is_an_incoming_webhook_message():
    data = rows(*steady("drop", 7, 10000, 400), ("drop", 7, 10000, 150, 0), ("low", 7, 5000, 30, 0))
    data.loc[data["ad_id"] == "drop", "ad_name"] = "Hook <A> & B"
    payload = slack_payload(detect_alerts(data, D0 + timedelta(days=7), SETTINGS), title="GlowFuel ad alerts")
    json.dumps(payload)  # serialisable as the webhook's JSON body
    assert payload["text"] == "GlowFuel ad alerts: 2 alerts (1 critical, 1 warning)"
    assert [b["type"] for b in payload["blocks"]] == ["header", "section", "section"]
    first = payload["blocks"][1]["text"]
    assert first["type"] == "mrkdwn" and "*critical*" in first["text"]
    assert "Hook &lt;A&gt; &amp; B" in first["text"] and "<A>" not in first["text"]


def test_slack_payload_stays_within_the_block_limit():
    alerts = detect_alerts(rows(*[(f"ad-{i:02d}", 0, 5000, 10, 0) for i in range(80)]), D0, SETTINGS)
    assert len(alerts) == 80
    blocks = slack_payload(alerts)["blocks"]
    assert len(blocks) == SLACK_MAX_BLOCKS and blocks[-1]["type"] == "context"
    assert "32 more alerts" in blocks[-1]["elements"][0]["text"]
    assert slack_payload(alerts.head(0))["text"] == "Ad alerts: 0 alerts"


def test_markdown_log_escapes_every_cell():
    data = rows(("a|b", 0, 5000, 10, 0))
    data["ad_name"] = "Hook | *bold*"
    text = alerts_markdown(detect_alerts(data, D0, SETTINGS))
    html = MarkdownIt("commonmark").enable("table").render(text)
    assert html.count("<tr>") == 2 and "a|b" in html and "<strong>" not in html and "<em>" not in html
    assert alerts_markdown(detect_alerts(rows(("ok", 0, 5000, 100, 0)), D0, SETTINGS)).endswith("No alerts.")


@pytest.mark.parametrize(
    ("frame", "needle"),
    [
        (
            pd.DataFrame({"ad_id": ["a"], "date": [D0], "impressions": [1]}),
            "missing column(s) ['clicks', 'conversions']",
        ),
        (rows(("a", 0, 10, 1, 0), ("a", 0, 10, 2, 0)), "more than one row"),
        (rows(("a", 0, 10, -1, 0)), "negative"),
    ],
)
def test_bad_input_is_named(frame, needle):
    with pytest.raises(AlertInputError) as err:
        detect_alerts(frame, D0, SETTINGS)
    assert needle in str(err.value) and isinstance(err.value, ValueError)


def test_no_rows_no_alerts():
    alerts = detect_alerts(rows(("a", 0, 10, 1, 0)).head(0), D0, SETTINGS)
    assert alerts.empty and list(alerts.columns) == list(ALERT_COLUMNS)
    assert detect_alerts(rows(("a", 0, 5000, 10, 0)), D0 - timedelta(days=1), SETTINGS).empty  # nothing that day
