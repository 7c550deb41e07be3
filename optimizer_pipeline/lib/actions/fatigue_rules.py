"""The seed's fixed creative-fatigue rules: frequency tiers, CTR decline and CPM rise against the ad's own start.

Why: these are the rules of thumb media buyers use (frequency 3 / 5 / 8 / 12; CTR down 20 % / 40 % from the ad's
early level; CPM up 30 % / 50 %). They are kept as readable evidence beside the sequential test of
:mod:`optimizer_pipeline.lib.actions.change_point`, which controls its false-alarm rate; these do not (a 3-day CTR
that is 20 % below a 7-day baseline is common noise on over-dispersed counts: the tests measure how common).

Definitions (every array function takes ``(..., days)`` arrays, one ad per row, days in order):

* *baseline*: the ad's first ``baseline_days`` days **with delivery** (impressions > 0), pooled: baseline CTR =
  sum clicks / sum impressions, baseline CPM = 1000 sum spend / sum impressions over those days. Default
  :data:`BASELINE_DAYS` = 7: a full week, so weekday effects cancel, and a baseline precise enough that its own noise
  does not dominate (a 3-day baseline doubled the CUSUM's delay at 3,000 impressions a day, measured). Rules are
  evaluated only on later delivery days.
* *recent*: the pooled rate of the last ``window_days`` (default 3) reporting days (rows) up to each day.
* CTR decline = 1 - recent CTR / baseline CTR; CPM rise = recent CPM / baseline CPM - 1.
* frequency tier = how many of :data:`FREQUENCY_TIERS` the day's frequency has reached (0 ... 4).
* Levels: 0 fresh, 1 watch, 2 fatigued, 3 severe (only frequency >= 12 is severe).
* Decay weight (the seed's "exponential decay factor"): ``max(min_weight, 2 ** (-days_fatigued / half_life))`` where
  ``days_fatigued`` counts the days from the fatigue onset to the evaluation day, both included (so a pattern is
  already discounted on its first fatigued day), half-life :data:`HALF_LIFE_DAYS` = 7, floor :data:`MIN_WEIGHT` =
  0.1 (discounted, never deleted). Exponential forgetting as in discounted Thompson sampling (Raj & Kalyani 2017,
  "Taming non-stationary bandits: a Bayesian approach", arXiv:1707.09727).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

FREQUENCY_TIERS: tuple[float, ...] = (3.0, 5.0, 8.0, 12.0)
#: Frequency tier (0 ... 4) -> level: 3 and 5 watch, 8 fatigued, 12 severe.
FREQUENCY_TIER_LEVELS: tuple[int, ...] = (0, 1, 1, 2, 3)
CTR_DECLINE_LEVELS: tuple[float, float] = (0.20, 0.40)  # watch, fatigued
CPM_RISE_LEVELS: tuple[float, float] = (0.30, 0.50)  # watch, fatigued
BASELINE_DAYS = 7
WINDOW_DAYS = 3
HALF_LIFE_DAYS = 7.0
MIN_WEIGHT = 0.1
FRESH, WATCH, FATIGUED, SEVERE = 0, 1, 2, 3
LEVEL_NAMES: tuple[str, ...] = ("fresh", "watch", "fatigued", "severe")


class FatigueRuleInputError(ValueError):
    """Arrays or settings the fixed fatigue rules cannot be evaluated on."""


def _as_days(name: str, values: np.ndarray | Sequence[float]) -> np.ndarray:
    arr = np.asarray(values, dtype=float)
    if arr.ndim == 0 or arr.shape[-1] == 0:
        raise FatigueRuleInputError(f"{name} needs at least one day (arrays shaped (..., days))")
    if np.any(arr[np.isfinite(arr)] < 0):
        raise FatigueRuleInputError(f"{name} must be >= 0")
    return arr


def _check_days(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise FatigueRuleInputError(f"{name} must be an integer >= 1, got {value!r}")


def baseline_mask(impressions: np.ndarray, baseline_days: int = BASELINE_DAYS) -> tuple[np.ndarray, np.ndarray]:
    """(baseline, monitored) boolean masks: the first ``baseline_days`` delivery days, and every later delivery day."""
    _check_days("baseline_days", baseline_days)
    n = _as_days("impressions", impressions)
    delivered = n > 0
    rank = np.cumsum(delivered, axis=-1)
    return delivered & (rank <= baseline_days), delivered & (rank > baseline_days)


def _pooled_baseline(num: np.ndarray, den: np.ndarray, base: np.ndarray, scale: float) -> np.ndarray:
    total = np.where(base, den, 0.0).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(total > 0, scale * np.where(base, num, 0.0).sum(axis=-1) / total, np.nan)


def _rolling_ratio(num: np.ndarray, den: np.ndarray, window: int, scale: float) -> np.ndarray:
    def rolled(x: np.ndarray) -> np.ndarray:
        c = np.cumsum(np.nan_to_num(x), axis=-1)
        shifted = np.concatenate([np.zeros_like(c[..., :window]), c[..., :-window]], axis=-1)[..., : c.shape[-1]]
        return c - shifted

    top, bottom = rolled(num), rolled(den)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(bottom > 0, scale * top / bottom, np.nan)


def ctr_decline_path(
    clicks: np.ndarray, impressions: np.ndarray, *, baseline_days: int = BASELINE_DAYS, window_days: int = WINDOW_DAYS
) -> np.ndarray:
    """Per day: 1 - recent CTR / baseline CTR on monitored days, NaN elsewhere (or when the baseline has no clicks)."""
    _check_days("window_days", window_days)
    c, n = _as_days("clicks", clicks), _as_days("impressions", impressions)
    if c.shape != n.shape or np.any(c > n):
        raise FatigueRuleInputError("clicks and impressions must have the same shape and clicks <= impressions")
    base, monitored = baseline_mask(n, baseline_days)
    p0 = _pooled_baseline(c, n, base, 1.0)
    recent = _rolling_ratio(c, n, window_days, 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        decline = 1.0 - recent / p0[..., None]
    return np.where(monitored & (p0[..., None] > 0), decline, np.nan)


def cpm_rise_path(
    spend: np.ndarray, impressions: np.ndarray, *, baseline_days: int = BASELINE_DAYS, window_days: int = WINDOW_DAYS
) -> np.ndarray:
    """Per day: recent CPM / baseline CPM - 1 on monitored days, NaN elsewhere (or when the baseline cost nothing)."""
    _check_days("window_days", window_days)
    s, n = _as_days("spend", spend), _as_days("impressions", impressions)
    if s.shape != n.shape:
        raise FatigueRuleInputError("spend and impressions must have the same shape")
    base, monitored = baseline_mask(n, baseline_days)
    cpm0 = _pooled_baseline(s, n, base, 1000.0)
    recent = _rolling_ratio(s, n, window_days, 1000.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        rise = recent / cpm0[..., None] - 1.0
    return np.where(monitored & (cpm0[..., None] > 0), rise, np.nan)


def frequency_tier(frequency: np.ndarray) -> np.ndarray:
    """How many of :data:`FREQUENCY_TIERS` each frequency has reached (0 ... 4); NaN frequency -> 0."""
    f = _as_days("frequency", frequency)
    return np.searchsorted(np.asarray(FREQUENCY_TIERS), np.nan_to_num(f, nan=0.0), side="right")


def threshold_levels(values: np.ndarray, cuts: tuple[float, float]) -> np.ndarray:
    """0 below ``cuts[0]``, 1 (watch) from it, 2 (fatigued) from ``cuts[1]``; NaN -> 0."""
    v = np.nan_to_num(np.asarray(values, dtype=float), nan=-np.inf)
    return (v >= cuts[0]).astype(int) + (v >= cuts[1]).astype(int)


def rule_levels(
    clicks: np.ndarray,
    impressions: np.ndarray,
    spend: np.ndarray,
    frequency: np.ndarray,
    *,
    baseline_days: int = BASELINE_DAYS,
    window_days: int = WINDOW_DAYS,
) -> dict[str, np.ndarray]:
    """Per rule (``ctr_decline``, ``cpm_rise``, ``frequency``) and day: its level (0 fresh ... 3 severe), plus the
    values (``ctr_decline_value``, ``cpm_rise_value``, ``frequency_tier``) they come from."""
    decline = ctr_decline_path(clicks, impressions, baseline_days=baseline_days, window_days=window_days)
    rise = cpm_rise_path(spend, impressions, baseline_days=baseline_days, window_days=window_days)
    tier = frequency_tier(frequency)
    return {
        "ctr_decline": threshold_levels(decline, CTR_DECLINE_LEVELS),
        "cpm_rise": threshold_levels(rise, CPM_RISE_LEVELS),
        "frequency": np.asarray(FREQUENCY_TIER_LEVELS)[tier],
        "ctr_decline_value": decline,
        "cpm_rise_value": rise,
        "frequency_tier": tier,
    }


def first_day_at(levels: np.ndarray, level: int) -> np.ndarray:
    """Index of the first day whose level is >= ``level`` along the last axis, -1 when none."""
    hit = np.asarray(levels) >= level
    return np.where(hit.any(axis=-1), hit.argmax(axis=-1), -1)


def decay_weight(
    days_fatigued: np.ndarray | float, *, half_life_days: float = HALF_LIFE_DAYS, min_weight: float = MIN_WEIGHT
) -> np.ndarray:
    """``max(min_weight, 2 ** (-days_fatigued / half_life_days))``; 1 where ``days_fatigued`` <= 0 (not fatigued)."""
    if not (np.isfinite(half_life_days) and half_life_days > 0):
        raise FatigueRuleInputError(f"half_life_days must be a number > 0, got {half_life_days!r}")
    if not 0 < min_weight <= 1:
        raise FatigueRuleInputError(f"min_weight must be in (0, 1], got {min_weight!r}")
    d = np.asarray(days_fatigued, dtype=float)
    if np.any(np.isnan(d)):
        raise FatigueRuleInputError("days_fatigued must not be NaN")
    return np.where(d > 0, np.maximum(min_weight, np.exp2(-np.maximum(d, 0) / half_life_days)), 1.0)


def rule_evidence(ctr_decline: float, cpm_rise: float, frequency: float) -> list[str]:
    """One plain sentence per rule that is at watch level or above, on the evaluation day's values."""
    out = []
    tier = int(frequency_tier(np.array([frequency]))[0])
    if tier:
        out.append(f"frequency {frequency:.1f} has reached the {FREQUENCY_TIERS[tier - 1]:g} tier "
                   f"({LEVEL_NAMES[FREQUENCY_TIER_LEVELS[tier]]})")  # fmt: skip
    if np.isfinite(ctr_decline) and ctr_decline >= CTR_DECLINE_LEVELS[0]:
        cut = CTR_DECLINE_LEVELS[1] if ctr_decline >= CTR_DECLINE_LEVELS[1] else CTR_DECLINE_LEVELS[0]
        out.append(f"CTR is {ctr_decline:.0%} below the ad's first days (rule: >= {cut:.0%})")
    if np.isfinite(cpm_rise) and cpm_rise >= CPM_RISE_LEVELS[0]:
        cut = CPM_RISE_LEVELS[1] if cpm_rise >= CPM_RISE_LEVELS[1] else CPM_RISE_LEVELS[0]
        out.append(f"CPM is {cpm_rise:.0%} above the ad's first days (rule: >= {cut:.0%})")
    return out
