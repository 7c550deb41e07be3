"""Bayesian read-out shown beside the frequentist call: chance to win, expected loss (risk) and P(best).

Why: a marketer asks "how likely is B better, and what do I lose if I ship it and it is not?". GrowthBook answers
with chance to win and risk (its ``gbstats`` engine); we report the same two numbers so users can compare, while the
decision itself stays with the anytime-valid frequentist test (these posteriors are not corrected for peeking).

* Proportions (CTR, conversion rate): Beta posteriors, prior Beta(1, 1) unless given. ``P(variant > control)`` and
  the expected losses are one-dimensional integrals over the variant's density (``scipy.integrate.quad``) with the
  control's CDF (``scipy.special.betainc``) in closed form: ``E[(x - C)+] = x I_x(a, b) - m I_x(a + 1, b)`` for
  ``C ~ Beta(a, b)`` with mean m.
* Continuous and ratio metrics (revenue per click, ROAS): normal approximation from each arm's mean and variance of
  the mean, exactly as ``gbstats`` 0.8 ``EffectBayesianABTest`` with its default flat prior (absolute difference, or
  relative with the delta-method variance). Risk of the normal: ``E[(-D)+] = s phi(mu / s) - mu Phi(-mu / s)``.
* Two or more arms: P(arm is best) and each arm's expected loss against the best, by Monte Carlo from the posteriors
  with a seeded ``numpy.random.Generator``.

A variance inflation factor (:mod:`optimizer_pipeline.lib.decisions.overdispersion`) divides the Beta's effective
counts and multiplies the normal variances, so over-dispersed counts do not give over-confident posteriors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import integrate, special, stats

#: Monte Carlo draws for P(best): standard error at most 0.5 / sqrt(draws) = 0.0016.
DEFAULT_DRAWS = 100_000


class ComparisonInputError(ValueError):
    """Counts, means or variances that cannot define a posterior."""


@dataclass(frozen=True)
class Comparison:
    """Variant against control. Losses are in the metric's units, or shares of control when ``relative``."""

    chance_to_win: float  # P(variant better than control); "better" is lower when lower_is_better
    expected_loss: float  # risk of shipping the variant: E[max(control - variant, 0)] (sign flipped if lower is better)
    expected_loss_control: float  # risk of keeping control: E[max(variant - control, 0)]
    difference: float  # posterior mean of variant - control, or of variant / control - 1 when relative
    relative: bool
    method: str  # "beta" or "normal"


def _check_vif(vif: float) -> None:
    if not np.isfinite(vif) or vif < 1:
        raise ComparisonInputError(f"vif must be >= 1, got {vif}")


def beta_posterior(
    successes: float, trials: float, prior: tuple[float, float] = (1.0, 1.0), vif: float = 1.0
) -> tuple[float, float]:
    """``Beta(a0 + s / vif, b0 + (n - s) / vif)``: the conjugate posterior on effective (VIF-deflated) counts."""
    _check_vif(vif)
    if not (np.isfinite(successes) and np.isfinite(trials)) or trials < 0 or not 0 <= successes <= trials:
        raise ComparisonInputError(f"need 0 <= successes <= trials, got {successes} of {trials}")
    if prior[0] <= 0 or prior[1] <= 0:
        raise ComparisonInputError(f"prior parameters must be > 0, got {prior}")
    return prior[0] + successes / vif, prior[1] + (trials - successes) / vif


def _pdf(x: float, a: float, b: float) -> float:
    """Beta density via ``scipy.special`` (the integrands run hundreds of times; ``stats.beta`` costs ~25 us a call)."""
    return float(np.exp(special.xlogy(a - 1, x) + special.xlog1py(b - 1, -x) - special.betaln(a, b)))


def _support(*params: tuple[float, float]) -> tuple[float, float]:
    """Interval outside which every Beta has mass < 1e-12 (keeps quad on the peaks of large-count posteriors)."""
    lo = min(float(stats.beta.ppf(1e-12, a, b)) for a, b in params)
    hi = max(float(stats.beta.isf(1e-12, a, b)) for a, b in params)
    return lo, hi


def _quad(func: Callable[[float], float], lo: float, hi: float, peaks: list[float]) -> float:
    pts = [p for p in peaks if lo < p < hi]
    return float(integrate.quad(func, lo, hi, points=pts or None, limit=200, epsabs=1e-13, epsrel=1e-10)[0])


def prob_beta_greater(variant: tuple[float, float], control: tuple[float, float]) -> float:
    """P(V > C) for independent ``V ~ Beta(*variant)``, ``C ~ Beta(*control)``: integral of f_V(x) F_C(x)."""
    lo, hi = _support(variant, control)
    peaks = [stats.beta.mean(*variant), stats.beta.mean(*control)]
    return _quad(lambda x: _pdf(x, *variant) * special.betainc(*control, x), lo, hi, peaks)


def _beta_losses(variant: tuple[float, float], control: tuple[float, float], relative: bool) -> tuple[float, float]:
    """(E[(C - V)+], E[(V - C)+]), absolute or divided by C (``E[(C - V)+ / C]``)."""
    lo, hi = _support(variant, control)
    (av, bv), (ac, bc) = variant, control
    mv, mc = av / (av + bv), ac / (ac + bc)
    peaks = [mv, mc]
    if not relative:
        # E[(V - C)+] = int f_V(x) [x I_x(ac, bc) - mc I_x(ac + 1, bc)] dx
        up = _quad(
            lambda x: _pdf(x, av, bv) * (x * special.betainc(ac, bc, x) - mc * special.betainc(ac + 1, bc, x)),
            lo,
            hi,
            peaks,
        )
        return up - (mv - mc), up
    # E[(C - V)+ / C] = int f_C(y) [y I_y(av, bv) - mv I_y(av + 1, bv)] / y dy ; E[(V - C)+ / C] = that + E[V / C] - 1
    down = _quad(
        lambda y: _pdf(y, ac, bc) * (special.betainc(av, bv, y) - mv * special.betainc(av + 1, bv, y) / y),
        lo,
        hi,
        peaks,
    )
    ratio_mean = mv * (ac + bc - 1) / (ac - 1) if ac > 1 else np.inf  # E[1 / C] = (a + b - 1) / (a - 1)
    return down, down + ratio_mean - 1


def compare_proportions(
    control: tuple[float, float],
    variant: tuple[float, float],
    *,
    prior: tuple[float, float] = (1.0, 1.0),
    relative: bool = False,
    lower_is_better: bool = False,
    vif: float = 1.0,
) -> Comparison:
    """Chance to win and expected loss of ``variant`` against ``control``, each ``(successes, trials)``."""
    pc, pv = beta_posterior(*control, prior, vif), beta_posterior(*variant, prior, vif)
    p_greater = prob_beta_greater(pv, pc)
    loss_ship, loss_keep = _beta_losses(pv, pc, relative)
    mv, mc = stats.beta.mean(*pv), stats.beta.mean(*pc)
    diff = (mv * (pc[0] + pc[1] - 1) / (pc[0] - 1) - 1 if pc[0] > 1 else np.inf) if relative else mv - mc
    if lower_is_better:
        p_greater, loss_ship, loss_keep = 1 - p_greater, loss_keep, loss_ship
    return Comparison(float(p_greater), float(loss_ship), float(loss_keep), float(diff), relative, "beta")


def compare_normal(
    control: tuple[float, float],
    variant: tuple[float, float],
    *,
    relative: bool = False,
    lower_is_better: bool = False,
    vif: float = 1.0,
) -> Comparison:
    """Normal approximation for each arm's ``(mean, variance_of_mean)``, as gbstats with a flat prior.

    Relative: ``D = mean_v / mean_c - 1`` with delta-method variance ``var_v / m_c^2 + var_c m_v^2 / m_c^4``.
    """
    _check_vif(vif)
    (mc, vc), (mv, vv) = control, variant
    if not all(np.isfinite([mc, vc, mv, vv])) or vc < 0 or vv < 0 or vc + vv == 0:
        raise ComparisonInputError(
            f"need finite means and variances of the mean >= 0 (not both 0), got {control}, {variant}"
        )
    if relative and mc == 0:
        raise ComparisonInputError("a relative difference needs a control mean other than 0")
    if relative:
        mu, var = (mv - mc) / abs(mc), vv / mc**2 + vc * mv**2 / mc**4
    else:
        mu, var = mv - mc, vv + vc
    sd = float(np.sqrt(var * vif))
    sign = -1.0 if lower_is_better else 1.0
    m = sign * mu  # the "better" direction is positive
    ctw = float(stats.norm.sf(0, m, sd))
    loss_ship = float(sd * stats.norm.pdf(m / sd) - m * stats.norm.cdf(-m / sd))  # E[(-M)+]
    loss_keep = loss_ship + m  # E[M+] = E[M] + E[(-M)+]
    return Comparison(ctw, loss_ship, float(loss_keep), float(mu), relative, "normal")


def probability_best(
    labels: Sequence[str],
    *,
    successes: Sequence[float] | None = None,
    trials: Sequence[float] | None = None,
    means: Sequence[float] | None = None,
    variances_of_mean: Sequence[float] | None = None,
    prior: tuple[float, float] = (1.0, 1.0),
    lower_is_better: bool = False,
    vif: float = 1.0,
    draws: int = DEFAULT_DRAWS,
    seed: int = 0,
) -> pd.DataFrame:
    """P(arm is best) and expected loss against the best, per arm, by seeded Monte Carlo.

    Give ``successes`` and ``trials`` (Beta posteriors) or ``means`` and ``variances_of_mean`` (normal). The loss is
    ``E[max_j X_j - X_i]`` (``E[X_i - min_j X_j]`` when lower is better), in the metric's units.
    """
    _check_vif(vif)
    k = len(labels)
    rng = np.random.default_rng(seed)
    if successes is not None and trials is not None and means is None:
        if len(successes) != k or len(trials) != k:
            raise ComparisonInputError(f"{k} labels but {len(successes)} successes and {len(trials)} trials")
        post = np.array([beta_posterior(s, n, prior, vif) for s, n in zip(successes, trials, strict=True)])
        x = rng.beta(post[:, 0], post[:, 1], size=(draws, k))
    elif means is not None and variances_of_mean is not None and successes is None:
        mu, var = np.asarray(means, dtype=float), np.asarray(variances_of_mean, dtype=float)
        if len(mu) != k or len(var) != k or np.any(var < 0) or not np.all(np.isfinite(np.r_[mu, var])):
            raise ComparisonInputError("means and variances_of_mean need one finite value per label (variances >= 0)")
        x = rng.normal(mu, np.sqrt(var * vif), size=(draws, k))
    else:
        raise ComparisonInputError("give either successes and trials, or means and variances_of_mean")
    if k < 2:
        raise ComparisonInputError(f"P(best) needs at least 2 arms, got {k}")
    if lower_is_better:
        x = -x
    best = x.max(axis=1)
    p_best = np.bincount(x.argmax(axis=1), minlength=k) / draws
    loss = (best[:, None] - x).mean(axis=0)
    return pd.DataFrame({"arm": list(labels), "p_best": p_best, "expected_loss": loss})
