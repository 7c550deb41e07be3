"""Creative fatigue per ad: the seed's fixed rules and a calibrated CUSUM, combined into status, advice and a weight.

Why both: the CUSUM (:mod:`optimizer_pipeline.lib.actions.change_point`) says *whether* the CTR has dropped with a
false-alarm rate that is simulated and configurable; the fixed rules (:mod:`optimizer_pipeline.lib.actions.
fatigue_rules`) say *how* the ad looks in the words media buyers use (frequency, CTR and CPM against its first days),
and catch saturation the CTR test cannot see (frequency, CPM). Their false-alarm rates differ a lot at low volume
(the tests measure both), so every signal is named in the evidence.

Precedence, on the evaluation day (``as_of``, default each ad's last day):

1. **fatigued** when any strong signal holds: the CUSUM has alarmed (sticky: a detected drop stays detected), CTR
   decline >= 40 %, CPM rise >= 50 %, or frequency >= 8; else **watch** when any weak signal holds: CTR decline
   >= 20 %, CPM rise >= 30 %, frequency >= 3, or the CUSUM statistic above half its threshold; else **fresh**.
2. Recommendation: **pause now** when frequency >= 12, or the CUSUM has alarmed *and* the CTR is >= 40 % down (a
   confirmed, large drop); **refresh creative** for any other fatigued ad; **monitor** otherwise.
3. Decay weight: 1 unless fatigued; then :func:`~optimizer_pipeline.lib.actions.fatigue_rules.decay_weight` of the
   calendar days from the onset to the evaluation day, both included (onset: the earliest first day at the
   fatigued level among the strong signals active on the evaluation day), in (0, 1].

An ad with fewer than ``baseline_days + 1`` delivery days (or no baseline clicks) gets only the frequency rule and says
"not enough evidence" for the CTR and CPM rules and the CUSUM.

Frequency is the ``frequency`` column on the evaluation day. The seed's tiers are meant for the audience's cumulative
frequency; a daily row's frequency (that day's impressions / reach) understates it and daily reach cannot be summed,
so pass a lifetime frequency when the source has one. Cost: one threshold simulation per ad (``simulations`` x
(baseline + horizon) beta-binomial days, about 30 ms at the defaults).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from optimizer_pipeline.lib.actions import fatigue_rules as rules
from optimizer_pipeline.lib.actions.change_point import (
    DEFAULT_DECLINE,
    DEFAULT_FALSE_ALARM,
    DEFAULT_HORIZON_DAYS,
    DEFAULT_SIMULATIONS,
    ChangePointInputError,
    baseline_rate,
    check_settings,
    detect_decline,
)

STATUSES: tuple[str, ...] = ("fresh", "watch", "fatigued")
PAUSE_NOW, REFRESH_CREATIVE, MONITOR = "pause now", "refresh creative", "monitor"
REQUIRED_COLUMNS: tuple[str, ...] = ("ad_id", "date", "impressions", "clicks", "spend")
OUTPUT_COLUMNS: tuple[str, ...] = (
    "ad_id", "as_of", "status", "recommendation", "decay_weight", "evidence", "onset_date", "days_fatigued",
    "delivery_days", "baseline_ctr", "recent_ctr", "ctr_decline", "cpm_rise", "frequency", "cusum_statistic",
    "cusum_threshold", "cusum_alarm_date", "cusum_false_alarm", "vif",
)  # fmt: skip


class FatigueInputError(ValueError):
    """An ``ad_performance`` frame or settings fatigue cannot be assessed from."""


@dataclass(frozen=True)
class FatigueConfig:
    """Settings; defaults are the seed's rules and a 5 % false-alarm probability per 30 monitored days."""

    baseline_days: int = rules.BASELINE_DAYS
    window_days: int = rules.WINDOW_DAYS
    decline: float = DEFAULT_DECLINE  # the CUSUM's design drop
    false_alarm: float = DEFAULT_FALSE_ALARM
    horizon_days: int = DEFAULT_HORIZON_DAYS
    simulations: int = DEFAULT_SIMULATIONS
    half_life_days: float = rules.HALF_LIFE_DAYS
    min_weight: float = rules.MIN_WEIGHT
    seed: int = 0


def _ad_arrays(rows: pd.DataFrame) -> dict[str, np.ndarray]:
    def col(name: str) -> np.ndarray:
        if name not in rows:
            return np.full(len(rows), np.nan)
        return pd.to_numeric(rows[name], errors="coerce").astype("Float64").to_numpy(dtype=float, na_value=np.nan)

    out = {name: col(name) for name in ("impressions", "clicks", "spend", "frequency")}
    for name in ("impressions", "clicks", "spend"):
        out[name] = np.nan_to_num(out[name], nan=0.0)
    if np.any(out["clicks"] > out["impressions"]) or any(
        np.any(out[k] < 0) for k in ("impressions", "clicks", "spend")
    ):
        raise FatigueInputError(f"ad '{rows['ad_id'].iloc[0]}': need 0 <= clicks <= impressions and spend >= 0")
    return out


def _day(dates: np.ndarray, i: int) -> Any:
    return dates[i] if i >= 0 else None


def assess_ad(rows: pd.DataFrame, *, vif: float, config: FatigueConfig = FatigueConfig()) -> dict[str, Any]:
    """One ad's fatigue (``rows``: its ``ad_performance`` rows, one per date) as a dict of :data:`OUTPUT_COLUMNS`."""
    rows = rows.sort_values("date", kind="stable")
    dates = rows["date"].to_numpy()
    a = _ad_arrays(rows)
    levels = rules.rule_levels(a["clicks"], a["impressions"], a["spend"], a["frequency"],
                               baseline_days=config.baseline_days, window_days=config.window_days)  # fmt: skip
    last = len(rows) - 1
    decline, rise = float(levels["ctr_decline_value"][last]), float(levels["cpm_rise_value"][last])
    freq = float(a["frequency"][last])
    delivery = int(np.sum(a["impressions"] > 0))
    strong: dict[str, int] = {}  # signal -> its onset (first day of the current level)
    weak: list[str] = []
    evidence = rules.rule_evidence(decline, rise, freq)
    for name in ("ctr_decline", "cpm_rise", "frequency"):
        level = levels[name][last]
        if level >= rules.FATIGUED:
            strong[name] = int(rules.first_day_at(levels[name], rules.FATIGUED))
        elif level >= rules.WATCH:
            weak.append(name)
    cusum_stat = cusum_h = cusum_fa = np.nan
    cusum_alarm = -1
    p0, _ = baseline_rate(a["clicks"], a["impressions"], config.baseline_days)
    cusum = None
    if delivery > config.baseline_days and np.isfinite(p0):
        cusum = detect_decline(
            a["clicks"], a["impressions"], vif=vif, decline=config.decline, false_alarm=config.false_alarm,
            baseline_days=config.baseline_days, horizon_days=config.horizon_days, simulations=config.simulations,
            seed=config.seed,
        )  # fmt: skip
    if cusum is None:
        evidence.append(f"not enough evidence for the CTR test: {delivery} delivery day(s), the baseline needs "
                        f"{config.baseline_days} with clicks and the test at least one more")  # fmt: skip
    else:
        cusum_stat, cusum_h, cusum_fa = float(cusum.statistic[last]), cusum.threshold, cusum.calibration.false_alarm
        cusum_alarm = cusum.alarm_day
        if cusum_alarm >= 0:
            strong["cusum"] = cusum_alarm
            at_alarm = float(cusum.statistic[cusum_alarm])
            evidence.append(f"CTR drop detected on {dates[cusum_alarm]} (CUSUM {at_alarm:.1f} > {cusum_h:.1f}; "
                            f"false-alarm rate {config.false_alarm:.0%} per {config.horizon_days} days, "
                            f"VIF {vif:.2f})")  # fmt: skip
        elif cusum_stat > cusum_h / 2:
            weak.append("cusum")
            evidence.append(f"CTR drop building up (CUSUM {cusum_stat:.1f} of threshold {cusum_h:.1f})")
    status = "fatigued" if strong else "watch" if weak else "fresh"
    onset = min(strong.values()) if strong else -1
    days_fatigued = (pd.Timestamp(dates[last]) - pd.Timestamp(dates[onset])).days + 1 if strong else 0
    weight = float(rules.decay_weight(days_fatigued, half_life_days=config.half_life_days,
                                      min_weight=config.min_weight))  # fmt: skip
    pause = (levels["frequency"][last] >= rules.SEVERE) or ("cusum" in strong and "ctr_decline" in strong)
    recommendation = PAUSE_NOW if pause else REFRESH_CREATIVE if strong else MONITOR
    if not evidence:
        evidence.append("no fatigue signal")
    base, _ = rules.baseline_mask(a["impressions"], config.baseline_days)
    n0 = float(a["impressions"][base].sum())
    window = slice(max(0, last - config.window_days + 1), last + 1)
    n_recent = float(a["impressions"][window].sum())
    return {
        "ad_id": rows["ad_id"].iloc[0], "as_of": dates[last], "status": status, "recommendation": recommendation,
        "decay_weight": weight, "evidence": "; ".join(evidence), "onset_date": _day(dates, onset),
        "days_fatigued": days_fatigued, "delivery_days": delivery,
        "baseline_ctr": float(a["clicks"][base].sum() / n0) if n0 > 0 else np.nan,
        "recent_ctr": float(a["clicks"][window].sum() / n_recent) if n_recent > 0 else np.nan,
        "ctr_decline": decline, "cpm_rise": rise, "frequency": freq, "cusum_statistic": cusum_stat,
        "cusum_threshold": cusum_h, "cusum_alarm_date": _day(dates, cusum_alarm), "cusum_false_alarm": cusum_fa,
        "vif": float(vif),
    }  # fmt: skip


def _check_config(config: FatigueConfig) -> None:
    """Every setting, checked once up front (a bad one must not read as "not enough evidence" later)."""
    try:
        rules.baseline_mask(np.ones(1), config.baseline_days)
        rules.ctr_decline_path(np.ones(1), np.ones(1), window_days=config.window_days)
        rules.decay_weight(1.0, half_life_days=config.half_life_days, min_weight=config.min_weight)
        check_settings(config.decline, 1.0, config.false_alarm, config.simulations, config.horizon_days)
    except (rules.FatigueRuleInputError, ChangePointInputError) as err:
        raise FatigueInputError(f"bad FatigueConfig: {err}") from err


def fatigue_signals(
    ad_performance: pd.DataFrame, *, vif: float, config: FatigueConfig = FatigueConfig(), as_of: Any = None
) -> pd.DataFrame:
    """One row per ad (:data:`OUTPUT_COLUMNS`), from ``ad_performance`` rows on or before ``as_of`` (default: all).

    ``vif``: the client's CTR variance inflation factor (``overdispersion.history_vif(...).value``)."""
    missing = [c for c in REQUIRED_COLUMNS if c not in ad_performance.columns]
    if missing:
        raise FatigueInputError(f"ad_performance is missing column(s) {missing}")
    if not (np.isfinite(vif) and vif >= 1):
        raise FatigueInputError(f"vif must be a finite number >= 1, got {vif!r}")
    _check_config(config)
    frame = ad_performance if as_of is None else ad_performance[ad_performance["date"] <= as_of]
    if frame.duplicated(["ad_id", "date"]).any():
        raise FatigueInputError("ad_performance has more than one row for some (ad_id, date)")
    out = [assess_ad(g, vif=vif, config=config) for _, g in frame.groupby("ad_id", sort=True)]
    return pd.DataFrame(out, columns=list(OUTPUT_COLUMNS))
