"""The empirical-Bayes Beta prior of a client's conversion rates, fitted to its own pattern history.

Model: every pattern has a true conversion rate ``p ~ Beta(alpha0, beta0)``; given ``clicks`` (unique visitors) the
conversions are ``Binomial(clicks, p)``. :func:`fit_prior` fits ``alpha0, beta0`` by maximising the Beta-Binomial
marginal likelihood inside bounds (prior strength ``alpha0 + beta0`` and prior mean), with a documented fallback when
the between-pattern spread cannot be estimated. Pure logic (numpy/scipy/pandas, no Dagster).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, special


@dataclass(frozen=True)
class PriorBounds:
    """Allowed range of the fitted prior: strength ``alpha + beta`` and mean ``alpha / (alpha + beta)``."""

    strength: tuple[float, float] = (2.0, 200.0)
    mean: tuple[float, float] = (0.001, 0.5)


@dataclass(frozen=True)
class BetaPrior:
    """``Beta(alpha, beta)`` prior of a pattern's rate; ``method``/``note`` say how it was obtained, for the report."""

    alpha: float
    beta: float
    method: str  # "empirical_bayes" | "fallback"
    note: str = ""

    @property
    def mean(self) -> float:
        return self.alpha / (self.alpha + self.beta)

    @property
    def strength(self) -> float:
        return self.alpha + self.beta


def _betabinom_loglik(n: np.ndarray, k: np.ndarray, a: float, b: float) -> float:
    # Binomial coefficients do not depend on (a, b) and are dropped.
    return float(np.sum(special.betaln(a + k, b + n - k)) - len(n) * special.betaln(a, b))


def fit_prior(
    clicks: Iterable[float],
    conversions: Iterable[float],
    *,
    bounds: PriorBounds | tuple[tuple[float, float], tuple[float, float]] = PriorBounds(),
) -> BetaPrior:
    """Empirical-Bayes Beta prior from per-pattern history (one entry per pattern).

    Maximises the Beta-Binomial marginal likelihood over (mean, log strength) inside ``bounds`` (L-BFGS-B, started
    from the clipped method-of-moments estimate and from the box centre; the best optimum wins). ``bounds`` is a
    :class:`PriorBounds` or ``((strength_lo, strength_hi), (mean_lo, mean_hi))``.

    Fallback (``method="fallback"``, reason in ``note``) when fewer than 2 patterns have clicks, or there are no
    conversions at all: the between-pattern spread cannot be estimated, so the prior mean is the pooled rate
    (conversions / clicks, clipped to the mean bounds; the lower mean bound with no data) and the strength is the
    lower strength bound, i.e. the weakest allowed prior, so the data dominate as soon as there is some.
    """
    if not isinstance(bounds, PriorBounds):
        bounds = PriorBounds(strength=tuple(bounds[0]), mean=tuple(bounds[1]))
    (s_lo, s_hi), (m_lo, m_hi) = bounds.strength, bounds.mean
    if not (0 < s_lo <= s_hi and 0 < m_lo <= m_hi < 1):
        raise ValueError(f"invalid bounds {bounds}")
    n = np.asarray(list(clicks) if not isinstance(clicks, np.ndarray | pd.Series) else clicks, dtype=float)
    k = np.asarray(
        list(conversions) if not isinstance(conversions, np.ndarray | pd.Series) else conversions, dtype=float
    )
    if n.shape != k.shape:
        raise ValueError("clicks and conversions differ in length")
    if np.any(~np.isfinite(n)) or np.any(~np.isfinite(k)) or np.any(k < 0) or np.any(k > n):
        raise ValueError("need finite 0 <= conversions <= clicks")
    keep = n > 0
    n, k = n[keep], k[keep]

    def make(mean: float, strength: float, method: str, note: str) -> BetaPrior:
        mean = min(max(mean, m_lo), m_hi)
        strength = min(max(strength, s_lo), s_hi)
        return BetaPrior(mean * strength, (1 - mean) * strength, method, note)

    pooled = float(k.sum() / n.sum()) if n.sum() > 0 else 0.0
    if len(n) < 2:
        return make(pooled, s_lo, "fallback", f"{len(n)} pattern(s) with clicks: weakest prior at the pooled rate")
    if k.sum() == 0:
        return make(pooled, s_lo, "fallback", "no conversions at all: weakest prior at the lower mean bound")

    # Method of moments on the observed rates (start value only).
    rates = k / n
    mom_mean = pooled
    var = float(np.var(rates, ddof=1))
    binom_var = mom_mean * (1 - mom_mean) * float(np.mean(1 / n))
    excess = var - binom_var
    mom_strength = mom_mean * (1 - mom_mean) / excess - 1 if excess > 0 else s_hi

    lm_lo, lm_hi = special.logit(m_lo), special.logit(m_hi)
    ls_lo, ls_hi = math.log(s_lo), math.log(s_hi)

    def negll(x: np.ndarray) -> float:
        mean, strength = float(special.expit(x[0])), math.exp(x[1])
        return -_betabinom_loglik(n, k, mean * strength, (1 - mean) * strength)

    starts = [
        np.array(
            [
                np.clip(special.logit(min(max(mom_mean, 1e-9), 1 - 1e-9)), lm_lo, lm_hi),
                np.clip(math.log(max(mom_strength, 1e-9)), ls_lo, ls_hi),
            ]
        ),
        np.array([(lm_lo + lm_hi) / 2, (ls_lo + ls_hi) / 2]),
    ]
    best = None
    for x0 in starts:
        res = optimize.minimize(negll, x0, method="L-BFGS-B", bounds=[(lm_lo, lm_hi), (ls_lo, ls_hi)])
        if best is None or res.fun < best.fun:
            best = res
    mean, strength = float(special.expit(best.x[0])), math.exp(best.x[1])
    at_bound = []
    if math.isclose(strength, s_lo, rel_tol=1e-3) or math.isclose(strength, s_hi, rel_tol=1e-3):
        at_bound.append("strength")
    if math.isclose(mean, m_lo, rel_tol=1e-3) or math.isclose(mean, m_hi, rel_tol=1e-3):
        at_bound.append("mean")
    note = f"Beta-Binomial MLE on {len(n)} patterns"
    if at_bound:
        note += f"; {' and '.join(at_bound)} at its bound"
    return make(mean, strength, "empirical_bayes", note)
