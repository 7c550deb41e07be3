"""A sequential test for a drop in an ad's daily CTR: Page's CUSUM with a quasi-binomial likelihood ratio.

Why Page's CUSUM (Page 1954, Biometrika 41:100-115) and not Bayesian online change-point detection (Adams & MacKay
2007, arXiv:0710.3742): fatigue is a one-sided drop from a known starting level, exactly the problem the CUSUM is
optimal for (Lorden 1971; Moustakides 1986: fastest worst-case detection for a given false-alarm rate); it has one
threshold whose false-alarm rate can be simulated and audited, and a one-number statistic a reader can follow day by
day. BOCPD needs a hazard rate and a conjugate model of over-dispersed counts, and its run-length posterior still
needs a threshold whose false-alarm rate must be simulated anyway.

The statistic, per delivery day ``t`` after the baseline (the ad's first ``baseline_days`` delivery days, pooled rate
``p0``; the design drop ``decline`` gives ``p1 = p0 (1 - decline)``)::

    l_t = [c_t log(p1 / p0) + (n_t - c_t) log((1 - p1) / (1 - p0))] / vif,   S_t = max(0, S_{t-1} + l_t)

Daily counts are over-dispersed (:mod:`optimizer_pipeline.lib.decisions.overdispersion`): dividing the binomial
log-likelihood ratio by the variance inflation factor is the quasi-likelihood ratio (McCullagh & Nelder 1989,
section 9.2), which keeps the increments' variance what the threshold assumes; ``vif=1`` is the plain binomial CUSUM
(the tests measure how often it false-alarms on VIF-2 counts).

Threshold: ``h`` is the (1 - ``false_alarm``) quantile of ``max S_t`` over the first ``horizon_days`` monitored days
of simulated stationary ads (:func:`calibrate_threshold`: the ad's own impressions, its baseline CTR as the truth,
beta-binomial days with the given VIF, the baseline re-estimated in every simulation so its noise is accounted
for). An alarm is ``S_t > h``. Tuning, measured on the sample account's model (VIF 2, 30 % drop from day 10): the
design drop 0.2 vs 0.3 changes the median delay by about one day; a 7-day baseline instead of 3 halves the delay
at 3,000 impressions a day (6 vs 12 days), because the threshold must cover a noisy baseline.

:func:`siegmund_arl` is Siegmund's approximate average run length of the normal CUSUM (Siegmund 1985, "Sequential
Analysis", Springer), the textbook reference the recursion is checked against.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from optimizer_pipeline.lib.actions.fatigue_rules import BASELINE_DAYS, baseline_mask

DEFAULT_DECLINE = 0.20  # the smallest drop the seed's rules act on (their "watch" line)
DEFAULT_FALSE_ALARM = 0.05  # probability that a stationary ad alarms within horizon_days
DEFAULT_HORIZON_DAYS = 30
DEFAULT_SIMULATIONS = 4000
SIEGMUND_CORRECTION = 1.166  # 2 * 0.583: the overshoot correction of Siegmund's approximation


class ChangePointInputError(ValueError):
    """Counts or settings the CUSUM cannot run on."""


@dataclass(frozen=True)
class Calibration:
    """A CUSUM threshold and the simulated false-alarm probability it gives, with its Monte-Carlo standard error."""

    threshold: float
    false_alarm: float  # share of simulated stationary ads alarming within horizon_days (<= the target)
    mc_se: float
    simulations: int


@dataclass(frozen=True)
class CusumResult:
    """One ad's CUSUM: statistic per day (0 on baseline and no-delivery days), threshold and first alarm."""

    statistic: np.ndarray
    threshold: float
    alarm_day: int  # index of the first day with S_t > threshold, -1 when none
    baseline_rate: float
    calibration: Calibration


def check_settings(
    decline: float, vif: float, false_alarm: float | None = None, simulations: int | None = None, horizon: int = 1
) -> None:
    """Raise :class:`ChangePointInputError` naming the first setting out of range."""
    if not 0 < decline < 1:
        raise ChangePointInputError(f"decline must be in (0, 1), got {decline!r}")
    if not (np.isfinite(vif) and vif >= 1):
        raise ChangePointInputError(f"vif must be a finite number >= 1, got {vif!r}")
    if false_alarm is not None and not 0 < false_alarm < 1:
        raise ChangePointInputError(f"false_alarm must be in (0, 1), got {false_alarm!r}")
    if simulations is not None and simulations < 100:
        raise ChangePointInputError(f"simulations must be >= 100, got {simulations!r}")
    if horizon < 1:
        raise ChangePointInputError(f"horizon_days must be >= 1, got {horizon!r}")


def _counts(clicks: np.ndarray | Sequence[float], impressions: np.ndarray | Sequence[float]) -> tuple:
    c, n = np.asarray(clicks, dtype=float), np.asarray(impressions, dtype=float)
    if c.shape != n.shape or c.ndim == 0:
        raise ChangePointInputError(f"clicks {c.shape} and impressions {n.shape} must be same-shape (..., days)")
    if not (np.all(np.isfinite(c)) and np.all(np.isfinite(n))) or np.any(c < 0) or np.any(c > n):
        raise ChangePointInputError("need finite counts with 0 <= clicks <= impressions")
    return c, n


def baseline_rate(
    clicks: np.ndarray, impressions: np.ndarray, baseline_days: int = BASELINE_DAYS
) -> tuple[np.ndarray, np.ndarray]:
    """(p0 per ad, monitored-day mask): pooled CTR of the first ``baseline_days`` delivery days (NaN if no clicks)."""
    c, n = _counts(clicks, impressions)
    base, monitored = baseline_mask(n, baseline_days)
    total = np.where(base, n, 0).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        p0 = np.where(base, c, 0).sum(axis=-1) / total
    return np.where((p0 > 0) & (p0 < 1), p0, np.nan), monitored


def cusum_increments(
    clicks: np.ndarray, impressions: np.ndarray, p0: np.ndarray | float, *, decline: float, vif: float
) -> np.ndarray:
    """Quasi-binomial log-likelihood ratio per day of rate ``p0 (1 - decline)`` against ``p0``, divided by ``vif``."""
    check_settings(decline, vif)
    c, n = _counts(clicks, impressions)
    p = np.asarray(p0, dtype=float)[..., None]
    q = p * (1 - decline)
    return (c * np.log(q / p) + (n - c) * np.log((1 - q) / (1 - p))) / vif


def cusum_path(increments: np.ndarray, active: np.ndarray | None = None) -> np.ndarray:
    """Page's recursion ``S_t = max(0, S_{t-1} + x_t)`` from ``S_0 = 0`` along the last axis; days where ``active``
    is False leave S unchanged (and NaN increments are skipped)."""
    x = np.asarray(increments, dtype=float)
    keep = np.isfinite(x) if active is None else np.asarray(active, dtype=bool) & np.isfinite(x)
    x = np.where(keep, x, 0.0)
    out = np.empty_like(x)
    s = np.zeros(x.shape[:-1])
    for t in range(x.shape[-1]):
        s = np.where(keep[..., t], np.maximum(0.0, s + x[..., t]), s)
        out[..., t] = s
    return out


def first_alarm(path: np.ndarray, threshold: float | np.ndarray) -> np.ndarray:
    """Index of the first day with ``S_t > threshold`` along the last axis, -1 when none."""
    hit = np.asarray(path) > np.asarray(threshold, dtype=float)[..., None]
    return np.where(hit.any(axis=-1), hit.argmax(axis=-1), -1)


def siegmund_arl(drift: float, threshold: float) -> float:
    """Siegmund's approximate average run length of ``S_t = max(0, S_{t-1} + z_t - k)``, z ~ N(mu, 1), alarm at
    ``S > threshold``: ``(exp(-2 D b) + 2 D b - 1) / (2 D^2)`` with ``D = mu - k`` (``drift``), ``b = threshold +
    1.166``; ``b^2`` when D = 0."""
    b = threshold + SIEGMUND_CORRECTION
    if abs(drift) < 1e-12:
        return b * b
    return float((np.exp(-2 * drift * b) + 2 * drift * b - 1) / (2 * drift * drift))


def simulate_stationary_clicks(
    impressions: np.ndarray, rate: np.ndarray | float, vif: float, rng: np.random.Generator
) -> np.ndarray:
    """Beta-binomial daily clicks with mean ``rate`` and variance ``vif`` x binomial (intra-day correlation
    ``rho = (vif - 1) / (n - 1)``, so every day has the same VIF whatever its volume)."""
    n = np.asarray(impressions, dtype=float)
    p = np.broadcast_to(np.asarray(rate, dtype=float)[..., None], n.shape)
    if vif <= 1:
        return rng.binomial(n.astype(np.int64), p).astype(float)
    rho = np.clip((vif - 1) / np.maximum(n - 1, 1), 1e-12, 0.999)
    k = 1 / rho - 1
    day_rate = rng.beta(p * k, (1 - p) * k)
    return rng.binomial(n.astype(np.int64), day_rate).astype(float)


def _future_impressions(impressions: np.ndarray, days: int) -> np.ndarray:
    delivered = impressions[impressions > 0]
    return np.resize(delivered, days)  # the ad's own delivery days, repeated in order


def calibrate_threshold(
    impressions: np.ndarray | Sequence[float],
    rate: float,
    *,
    vif: float,
    decline: float = DEFAULT_DECLINE,
    false_alarm: float = DEFAULT_FALSE_ALARM,
    baseline_days: int = BASELINE_DAYS,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    simulations: int = DEFAULT_SIMULATIONS,
    seed: int = 0,
) -> Calibration:
    """Threshold ``h`` with P(alarm within ``horizon_days`` monitored days | stationary CTR ``rate``) <= false_alarm,
    simulated on the ad's own delivery days (repeated to cover baseline + horizon); the baseline is re-estimated in
    every simulated ad."""
    check_settings(decline, vif, false_alarm, simulations, horizon_days)
    n_obs = np.asarray(impressions, dtype=float)
    if not 0 < rate < 1 or not np.any(n_obs > 0):
        raise ChangePointInputError("calibration needs a rate in (0, 1) and at least one day with impressions")
    n = np.broadcast_to(
        _future_impressions(n_obs, baseline_days + horizon_days), (simulations, baseline_days + horizon_days)
    )
    rng = np.random.default_rng(np.random.SeedSequence([seed, 20_070_710]))
    c = simulate_stationary_clicks(n, np.full(simulations, rate), vif, rng)
    p0, monitored = baseline_rate(c, n, baseline_days)
    p0 = np.where(np.isfinite(p0), p0, rate)
    peak = cusum_path(cusum_increments(c, n, p0, decline=decline, vif=vif), monitored).max(axis=-1)
    h = float(np.quantile(peak, 1 - false_alarm, method="higher"))
    fa = float(np.mean(peak > h))
    return Calibration(h, fa, float(np.sqrt(max(fa * (1 - fa), 1e-12) / simulations)), simulations)


def detect_decline(
    clicks: np.ndarray | Sequence[float],
    impressions: np.ndarray | Sequence[float],
    *,
    vif: float,
    decline: float = DEFAULT_DECLINE,
    false_alarm: float = DEFAULT_FALSE_ALARM,
    baseline_days: int = BASELINE_DAYS,
    horizon_days: int = DEFAULT_HORIZON_DAYS,
    simulations: int = DEFAULT_SIMULATIONS,
    seed: int = 0,
    calibration: Calibration | None = None,
) -> CusumResult:
    """One ad's daily CUSUM (1-d ``clicks``, ``impressions`` in date order), calibrated on the ad itself unless a
    ``calibration`` is given. Needs ``baseline_days`` delivery days with at least one click."""
    c, n = _counts(clicks, impressions)
    if c.ndim != 1:
        raise ChangePointInputError("detect_decline takes one ad: 1-d clicks and impressions")
    p0, monitored = baseline_rate(c, n, baseline_days)
    if not np.isfinite(p0):
        raise ChangePointInputError(f"need {baseline_days} delivery days with some clicks for a baseline CTR")
    if calibration is None:
        calibration = calibrate_threshold(
            n, float(p0), vif=vif, decline=decline, false_alarm=false_alarm, baseline_days=baseline_days,
            horizon_days=horizon_days, simulations=simulations, seed=seed,
        )  # fmt: skip
    path = cusum_path(cusum_increments(c, n, p0, decline=decline, vif=vif), monitored)
    alarm = int(first_alarm(path, calibration.threshold))
    return CusumResult(path, calibration.threshold, alarm, float(p0), calibration)
