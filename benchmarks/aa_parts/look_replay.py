"""One comparison replayed look by look: the shipped sequential decision and the naive z-test at every look.

Why: the benchmark must judge the very test the decision engine runs, so the sequential side calls
``variant_comparison.compare_variants`` at each look with the state of the previous look (the engine's loop, without
its data frames). The naive side is the pooled two-proportion z-test read at fixed alpha at every look, what a
dashboard that "checks significance" every 6 hours does. Real final counts are split into chronological looks by
hypergeometric thinning: the impressions of an arm arrive in equal shares, and each share's clicks are drawn without
replacement from the clicks still left, so the last look equals the real totals.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from optimizer_pipeline.lib.decisions.overdispersion import pairwise_z
from optimizer_pipeline.lib.decisions.variant_comparison import (
    ArmTotals,
    SequentialState,
    comparable,
    compare_variants,
)


@dataclass(frozen=True)
class Crossing:
    """First look (0-based) at which a comparison rejected, and the sign of its z then; ``look`` None: never."""

    look: int | None
    sign: int  # +1: variant better, -1: control better, 0: no rejection


def thin_looks(impressions: np.ndarray, clicks: np.ndarray, looks: int, rng: np.random.Generator) -> tuple:
    """Cumulative (impressions, clicks) per look, shape (arms, looks), from each arm's final totals.

    Look k brings ``floor(N (k + 1) / looks) - floor(N k / looks)`` impressions; its clicks are
    ``Generator.hypergeometric(clicks left, non-clicks left, that share)``, drawn for all arms at once.
    """
    n = np.asarray(impressions, dtype=np.int64)
    c = np.asarray(clicks, dtype=np.int64)
    edges = (n[:, None] * np.arange(looks + 1)[None, :]) // looks
    share = np.diff(edges, axis=1)
    good, bad = c.copy(), n - c
    drawn = np.zeros_like(share)
    for k in range(looks):
        got = rng.hypergeometric(good, bad, share[:, k])
        drawn[:, k] = got
        good -= got
        bad -= share[:, k] - got
    return np.cumsum(share, axis=1), np.cumsum(drawn, axis=1)


def sequential_crossing(
    control: tuple[np.ndarray, np.ndarray],
    variant: tuple[np.ndarray, np.ndarray],
    *,
    metric: str,
    vif: float,
    alpha: float,
    planned_looks: int,
) -> Crossing:
    """``compare_variants`` at every look of cumulative ``(successes, trials)`` arrays, state carried between looks.

    Look k is at spend time ``(k + 1) / planned_looks``. A look where an arm has no success yet is skipped (the
    engine reports insufficient data and does not store a look); its alpha rolls to the next judged look.
    """
    (sc, nc), (sv, nv) = control, variant
    state: SequentialState | None = None
    for k in range(len(nc)):
        ctrl = ArmTotals("control", float(sc[k]), float(nc[k]), float(nc[k]))
        var = ArmTotals("variant", float(sv[k]), float(nv[k]), float(nv[k]))
        if not (comparable(ctrl, metric) and comparable(var, metric)):
            continue
        look = compare_variants(
            ctrl, [var], metric, vif=vif, alpha=alpha, spend_time=(k + 1) / planned_looks, state=state
        )
        state = look.state
        result = look.variants[0]
        if result.rejected:
            return Crossing(k, 1 if result.z > 0 else -1)
    return Crossing(None, 0)


def naive_crossings(
    sc: np.ndarray, nc: np.ndarray, sv: np.ndarray, nv: np.ndarray, alpha: float
) -> tuple[np.ndarray, np.ndarray]:
    """Pooled z-test (``pairwise_z``) at fixed ``alpha`` at every look; arrays (comparisons, looks) in.

    Returns the first look with ``|z| >= z_{1 - alpha/2}`` per row (-1: never) and the sign of z there.
    """
    ok = (nc > 0) & (nv > 0)
    z = np.full(np.shape(nc), np.nan)
    z[ok] = pairwise_z(sc[ok], nc[ok], sv[ok], nv[ok])
    return first_crossing(z, np.full(z.shape[1], float(stats.norm.isf(alpha / 2))))


def first_crossing(z: np.ndarray, bounds: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """First column where ``|z| >= bounds`` (NaN never crosses) per row, -1 if none; and the sign of z there."""
    hit = np.nan_to_num(np.abs(z), nan=-1.0) >= bounds[None, :]
    any_hit = hit.any(axis=1)
    idx = np.where(any_hit, hit.argmax(axis=1), -1)
    sign = np.where(any_hit, np.sign(z[np.arange(len(z)), np.maximum(idx, 0)]), 0).astype(int)
    return idx, sign
