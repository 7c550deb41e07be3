"""``maturity_bias``: relative bias of a new pattern's posterior mean at 3, 7 and 14 days in test (issue 12, item 1).

Truth in: one client, every pattern converting at :data:`RATE` (5 %), the sample generator's click-to-order delay
(uniform from 10 minutes to 0.9 x the 7-day attribution window), three traffic sources per pattern. Four patterns
have been in test for 28 days (they pin the client's empirical-Bayes prior, as established patterns do in the
asset); three new patterns started 3, 7 and 14 days before "now". Events are cut at "now", as in a live inbox.

Each replicate runs the asset's own chain (``attribute_orders`` -> ``daily_source_counts`` -> ``split_known`` /
``pattern_rows`` / ``pattern_summary`` -> ``build_posteriors``, as of the newest event) and records each new pattern's
posterior mean. The figure is the largest (by absolute value, sign kept) of ``mean over replicates / RATE - 1`` over
the three horizons. Since every pattern has the same rate, the prior is centred on the truth: what is left is the
counting's bias. ``before`` runs the same replicates with the old counting (every click and conversion seen so far
in the Beta counts, maturity ignored; without decay its counts equal the old code's).

Under exclusion (the chosen method) a pattern has no mature click before ``window_days`` in test, so at 3 and 7 days
its posterior is the prior; ``detail`` reports the mature share of clicks per horizon and, as a reference, the old
counting's expected observed share ``(1/h) * integral_0^h F(a) da`` with ``F`` the delay's CDF (scipy), which the
simulated old ratio must match (``observed_ratio_old`` / ``_expected``). ``mature_ratio_bias`` is the Beta counts'
own bias (pooled mature conversions / mature clicks, no prior); ``prior_mean_bias`` that of the fitted prior, which is
all a pattern without mature clicks shows: with identical patterns the empirical-Bayes strength sits at its upper
bound (200) and the fitted Beta's mode, not its mean, lands on the pooled rate, a few per cent high.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import integrate, stats

from optimizer_pipeline.lib.sample.delayed_conversions import lag_bounds_s, simulate_accepted_events
from optimizer_pipeline.lib.testloop.attribution import attribute_orders
from optimizer_pipeline.lib.testloop.posterior_report import build_posteriors
from optimizer_pipeline.lib.testloop.source_counts import (
    daily_as_of,
    daily_source_counts,
    pattern_rows,
    pattern_summary,
    split_known,
)

KEY = "maturity_bias"
RATE = 0.05
WINDOW_DAYS = 7
HORIZONS = (3, 7, 14)
ESTABLISHED_DAYS = 28
N_ESTABLISHED = 4
SOURCES_PER_PATTERN = 3
CLICKS_PER_SOURCE_DAY = 50.0
NOW = pd.Timestamp("2026-03-01T12:00:00Z")
TARGET = 0.10
_HOOKS = ("question", "pov", "tutorial", "story")
_EMOTIONS = ("curiosity", "trust")


def _pattern(i: int) -> str:
    return f"hook:{_HOOKS[i % 4]}|emo:{_EMOTIONS[i // 4 % 2]}|pace:fast|pain:no_time|cta:buy_now"


def scenario() -> tuple[pd.DataFrame, dict[int, str]]:
    """(sources: utm_id, pattern_hash, start, clicks_per_day; horizon -> pattern of the new patterns)."""
    days = [ESTABLISHED_DAYS] * N_ESTABLISHED + list(HORIZONS)
    rows = [
        {
            "utm_id": f"s{i}-{j}",
            "pattern_hash": _pattern(i),
            "start": NOW - pd.Timedelta(days=d),
            "clicks_per_day": CLICKS_PER_SOURCE_DAY,
        }
        for i, d in enumerate(days)
        for j in range(SOURCES_PER_PATTERN)
    ]
    return pd.DataFrame(rows), {h: _pattern(N_ESTABLISHED + k) for k, h in enumerate(HORIZONS)}


def replicate(seed: int, sources: pd.DataFrame) -> dict[str, pd.Series]:
    """Posterior means per pattern with the current and the old counting, and the observed counts, for one seed."""
    events = simulate_accepted_events(
        sources, rates=dict.fromkeys(sources["utm_id"], RATE), now=NOW, seed=seed, window_days=WINDOW_DAYS
    )
    daily = daily_source_counts(events, attribute_orders(events, window_days=WINDOW_DAYS))
    traffic = sources[["utm_id", "pattern_hash"]]
    known, _ = split_known(daily, traffic)
    as_of = daily_as_of(daily)
    rows = pattern_rows(known, traffic, as_of)
    summary = pattern_summary(known, traffic)
    old_rows = rows.assign(
        clicks=rows["clicks"] + rows["immature_clicks"], conversions=rows["conversions"] + rows["immature_conversions"]
    )
    kw = {"decay": None, "seed": seed, "as_of": as_of, "loo_min_clicks": 100, "p_best_draws": 500}
    report = build_posteriors(rows, summary, **kw)
    new = report.table.set_index("pattern_hash")
    old = build_posteriors(old_rows, summary, **kw).table.set_index("pattern_hash")
    s = summary.set_index("pattern_hash")
    return {
        "new": new["mean"],
        "old": old["mean"],
        "clicks": s["clicks_observed"],
        "conversions": s["conversions_observed"],
        "immature": s["clicks_immature"],
        "immature_conversions": s["conversions_immature"],
        "prior_mean": pd.Series({"*": report.prior.mean}),
    }


def old_observed_share(days: float, window_days: int = WINDOW_DAYS) -> float:
    """Expected share of eventual conversions already seen for clicks uniform over ``days`` (scipy reference)."""
    lo, hi = (x / 86_400.0 for x in lag_bounds_s(window_days))
    cdf = stats.uniform(loc=lo, scale=hi - lo).cdf
    return float(integrate.quad(cdf, 0.0, days, points=[lo, hi])[0] / days)


def _worst(biases: dict[int, float]) -> float:
    return float(max(biases.values(), key=abs))


def measure(quick: bool = False) -> dict:
    """The figure, its target and the old counting's figure (module docstring); fixed seeds."""
    sources, new_patterns = scenario()
    reps = [replicate(seed, sources) for seed in range(12 if quick else 60)]
    after, before, detail = {}, {}, {}
    for h, p in new_patterns.items():
        new = np.array([r["new"][p] for r in reps])
        old = np.array([r["old"][p] for r in reps])
        clicks = sum(int(r["clicks"][p]) for r in reps)
        immature = sum(int(r["immature"][p]) for r in reps)
        mature_conv = sum(int(r["conversions"][p] - r["immature_conversions"][p]) for r in reps)
        after[h] = float(new.mean() / RATE - 1)
        before[h] = float(old.mean() / RATE - 1)
        detail[f"{h}d"] = {
            "bias": round(after[h], 4),
            "bias_before": round(before[h], 4),
            "mc_se": round(float(new.std(ddof=1) / np.sqrt(len(new)) / RATE), 4),
            "mature_click_share": round(1 - immature / clicks, 4),
            "mature_ratio_bias": round(mature_conv / (clicks - immature) / RATE - 1, 4) if clicks > immature else None,
            "observed_ratio_old": round(sum(int(r["conversions"][p]) for r in reps) / clicks / RATE, 4),
            "observed_ratio_old_expected": round(old_observed_share(h), 4),
        }
    value = _worst(after)
    prior_bias = float(np.mean([r["prior_mean"]["*"] for r in reps]) / RATE - 1)
    return {
        "key": KEY,
        "value": value,
        "target": f"within +-{TARGET:.2f}",
        "passed": abs(value) <= TARGET,
        "before": _worst(before),
        "detail": {
            "true_rate": RATE,
            "window_days": WINDOW_DAYS,
            "replicates": len(reps),
            "method": "exclusion: only clicks whose attribution window closed by as_of are counted",
            "prior_mean_bias": round(prior_bias, 4),
            **detail,
        },
    }
