"""Timelines (per-bin series over a video) and their fixed-size summaries.

A timeline is a piecewise-constant series on ``TIMELINE_BIN_S`` bins (the last bin may be partial). Whatever the
video's length, it becomes the same columns: 6 statistics, ``TIMELINE_WINDOWS`` window means over the normalised
duration and 7 key moments (see :mod:`.dictionary`). Window and opening/closing means integrate the series over the
exact interval, so a 4 s video still fills all 10 windows.
"""

from __future__ import annotations

import numpy as np

from .dictionary import CLOSING_SHARE, OPENING_SHARE, TIMELINE_BIN_S, TIMELINE_WINDOWS


def n_bins(duration_s: float, bin_s: float = TIMELINE_BIN_S) -> int:
    return max(1, int(np.ceil(duration_s / bin_s - 1e-9)))


def bin_means(times_s: np.ndarray, values: np.ndarray, duration_s: float, bin_s: float = TIMELINE_BIN_S) -> np.ndarray:
    """Mean of ``values`` per bin (NaN values ignored); empty bins take the previous bin's value (first: next)."""
    nb = n_bins(duration_s, bin_s)
    times_s = np.asarray(times_s, dtype=np.float64)
    values = np.asarray(values, dtype=np.float64)
    ok = np.isfinite(values)
    idx = np.clip((times_s[ok] / bin_s).astype(np.int64), 0, nb - 1)
    sums = np.bincount(idx, weights=values[ok], minlength=nb)
    counts = np.bincount(idx, minlength=nb)
    return fill_gaps(np.where(counts > 0, sums / np.maximum(counts, 1), np.nan))


def fill_gaps(series: np.ndarray) -> np.ndarray:
    """Forward-fill NaN (leading NaN: back-fill); an all-NaN series becomes zeros."""
    s = np.asarray(series, dtype=np.float64).copy()
    ok = np.isfinite(s)
    if not ok.any():
        return np.zeros_like(s)
    idx = np.where(ok, np.arange(len(s)), 0)
    np.maximum.accumulate(idx, out=idx)
    first = int(np.argmax(ok))
    idx[:first] = first
    return s[idx]


def event_density(
    event_times_s: list[float] | np.ndarray,
    duration_s: float,
    half_window_s: float = 1.0,
    bin_s: float = TIMELINE_BIN_S,
) -> np.ndarray:
    """Events per second within ``±half_window_s`` of each bin's centre (the window clipped to the video)."""
    nb = n_bins(duration_s, bin_s)
    centres = (np.arange(nb) + 0.5) * bin_s
    centres = np.minimum(centres, duration_s)
    lo = np.maximum(centres - half_window_s, 0.0)
    hi = np.minimum(centres + half_window_s, max(duration_s, 1e-9))
    ev = np.sort(np.asarray(event_times_s, dtype=np.float64))
    counts = np.searchsorted(ev, hi, side="left") - np.searchsorted(ev, lo, side="left")
    return counts / np.maximum(hi - lo, 1e-9)


def _interval_mean(series: np.ndarray, duration_s: float, a: float, b: float, bin_s: float) -> float:
    """Exact mean of the piecewise-constant series over [a, b) (clipped to the video)."""
    edges_lo = np.arange(len(series)) * bin_s
    edges_hi = np.minimum(edges_lo + bin_s, duration_s)
    overlap = np.clip(np.minimum(edges_hi, b) - np.maximum(edges_lo, a), 0.0, None)
    total = overlap.sum()
    if total <= 0:  # a zero-width interval: the value at a
        return float(series[min(len(series) - 1, int(a / bin_s))])
    return float((series * overlap).sum() / total)


def timeline_features(
    name: str, series: np.ndarray, duration_s: float, bin_s: float = TIMELINE_BIN_S
) -> dict[str, float]:
    """The fixed columns ``tl_<name>_*`` of one timeline (order as in the feature dictionary)."""
    s = np.nan_to_num(np.asarray(series, dtype=np.float64), nan=0.0, posinf=0.0, neginf=0.0)
    if s.size == 0:
        s = np.zeros(1)
    duration_s = max(float(duration_s), 1e-9)
    pre = f"tl_{name}"
    out: dict[str, float] = {
        f"{pre}_mean": _interval_mean(s, duration_s, 0.0, duration_s, bin_s),
        f"{pre}_max": float(s.max()),
        f"{pre}_min": float(s.min()),
        f"{pre}_std": float(s.std()),
        f"{pre}_range": float(s.max() - s.min()),
        f"{pre}_length_s": duration_s,
    }
    for k in range(TIMELINE_WINDOWS):
        a, b = duration_s * k / TIMELINE_WINDOWS, duration_s * (k + 1) / TIMELINE_WINDOWS
        out[f"{pre}_w{k + 1:02d}"] = _interval_mean(s, duration_s, a, b, bin_s)
    peak, valley = int(np.argmax(s)), int(np.argmin(s))
    peak_t = min((peak + 0.5) * bin_s, duration_s)
    out.update(
        {
            f"{pre}_peak_time_s": peak_t,
            f"{pre}_peak_value": float(s[peak]),
            f"{pre}_valley_time_s": min((valley + 0.5) * bin_s, duration_s),
            f"{pre}_valley_value": float(s[valley]),
            f"{pre}_opening_mean": _interval_mean(s, duration_s, 0.0, OPENING_SHARE * duration_s, bin_s),
            f"{pre}_closing_mean": _interval_mean(s, duration_s, (1 - CLOSING_SHARE) * duration_s, duration_s, bin_s),
            f"{pre}_peak_time_ratio": peak_t / duration_s,
        }
    )
    return out
