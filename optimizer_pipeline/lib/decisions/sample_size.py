"""Fixed-horizon planning of an A/B test: power, sample size per arm and minimum detectable effect (MDE).

Why: a test that is too small cannot find the lift it is meant to find, and "no significant difference" from it means
nothing. Before launch, solve for the one unknown among sample size, effect and power given the other two, for the
three metric families ads produce. Everything is computed by statsmodels; this module only maps an ad-test plan
(control baseline, absolute or relative lift, control size and allocation ratio) onto it and solves by Brent's method.

* **Proportions** (CTR, CVR per click), ``method="pooled"`` (default): the two-sample z-test with the pooled variance
  under H0 and the unpooled variance under H1, ``statsmodels.stats.proportion.power_proportions_2indep``. Solved for
  n it is the formula ad-testing tools (Evan Miller, Optimizely's classic calculator) and R ``power.prop.test`` use,
  ``n = (z_{1-α/2} sqrt(2 p̄ q̄) + z_{1-β} sqrt(p1 q1 + p2 q2))² / (p1 - p2)²`` per arm (Fleiss, Levin & Paik,
  *Statistical Methods for Rates and Proportions*, 3rd ed., 2003, §4.2, without continuity correction); the far
  tail of a two-sided test is included, which changes n by < 1e-4 relative. ``method="cohen_h"``: the normal test on
  the arcsine effect size h = 2 asin √p1 − 2 asin √p2 (Cohen 1988, ch. 6), ``statsmodels.stats.power.NormalIndPower``.
* **Means** (revenue per user, order value): Student's two-sample t-test on d = effect / sd with a common sd,
  ``statsmodels.stats.power.TTestIndPower`` (noncentral t; Cohen 1988, ch. 2).
* **Poisson rates** (conversions per impression or per unit of exposure): the test of the log rate ratio,
  ``statsmodels.stats.rates.power_poisson_ratio_2indep`` (Zhu & Lakkis 2014, Stat Med 33:376; Zhu 2017), with the
  null variance at the constrained estimate (``method_var="score"``, matching the score test of
  :mod:`two_sample_tests`) and a quasi-Poisson ``dispersion`` for over-dispersed counts (1 = Poisson).

Conventions: the control arm has ``n_control`` units (people, clicks, or exposure units for Poisson) and the treatment
arm ``ratio * n_control``; ``effect`` is treatment minus control on the metric's scale and ``relative_effect`` is
``effect / baseline``. ``alternative`` is "two-sided", "larger" (treatment > control) or "smaller". Sample sizes are
returned unrounded: round each arm up to plan. When solving for the effect, the MDE is searched upward unless the
alternative is "smaller" or ``direction="decrease"`` (for lower-is-better metrics under a two-sided test).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import optimize
from statsmodels.stats.power import NormalIndPower, TTestIndPower
from statsmodels.stats.proportion import power_proportions_2indep, proportion_effectsize
from statsmodels.stats.rates import power_poisson_ratio_2indep

Alternative = Literal["two-sided", "larger", "smaller"]
Direction = Literal["increase", "decrease"]
ALTERNATIVES = ("two-sided", "larger", "smaller")
PROPORTION_METHODS = ("pooled", "cohen_h")

#: Search range for a sample size (per control arm) and the relative width kept away from a metric's bounds.
_N_MAX = 1e13
_EDGE = 1e-9


class PowerInputError(ValueError):
    """A planning question that is not well posed (bad baseline, two unknowns, power below alpha, ...)."""


@dataclass(frozen=True)
class PowerPlan:
    """A solved plan: all of sample size, effect and power filled in. Sizes are unrounded (round each arm up)."""

    metric: str
    method: str
    baseline: float
    effect: float
    relative_effect: float
    n_control: float
    n_treatment: float
    power: float
    alpha: float
    alternative: str

    @property
    def n_total(self) -> int:
        """Units needed over both arms, each arm rounded up."""
        return math.ceil(self.n_control - 1e-9) + math.ceil(self.n_treatment - 1e-9)


def plan_proportions(
    baseline: float,
    *,
    effect: float | None = None,
    relative_effect: float | None = None,
    n_control: float | None = None,
    power: float | None = None,
    ratio: float = 1.0,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    method: Literal["pooled", "cohen_h"] = "pooled",
    direction: Direction | None = None,
) -> PowerPlan:
    """Solve for the missing one of effect / ``n_control`` / power for two proportions (control rate ``baseline``)."""
    if not 0.0 < baseline < 1.0:
        raise PowerInputError(f"baseline proportion must lie in (0, 1), got {baseline}")
    if method not in PROPORTION_METHODS:
        raise PowerInputError(f"method must be one of {PROPORTION_METHODS}, got {method!r}")

    def power_of(eff: float, n_c: float) -> float:
        treated = baseline + eff
        if method == "cohen_h":
            h = float(proportion_effectsize(treated, baseline))
            return float(NormalIndPower().power(h, ratio * n_c, alpha, ratio=1.0 / ratio, alternative=alternative))
        res = power_proportions_2indep(
            eff, baseline, ratio * n_c, ratio=1.0 / ratio, alpha=alpha, alternative=alternative, return_results=False
        )
        return float(res)

    bounds = (-baseline * (1.0 - _EDGE), (1.0 - baseline) * (1.0 - _EDGE))
    return _plan("proportion", method, baseline, power_of, bounds, effect, relative_effect, n_control, power, ratio,
                 alpha, alternative, direction, n_min=0.0)  # fmt: skip


def plan_means(
    baseline: float,
    sd: float,
    *,
    effect: float | None = None,
    relative_effect: float | None = None,
    n_control: float | None = None,
    power: float | None = None,
    ratio: float = 1.0,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    direction: Direction | None = None,
) -> PowerPlan:
    """Same for two means with common standard deviation ``sd`` (control mean ``baseline``; t-test, >= 2 per arm)."""
    if not math.isfinite(baseline):
        raise PowerInputError(f"baseline mean must be finite, got {baseline}")
    if not (math.isfinite(sd) and sd > 0):
        raise PowerInputError(f"sd must be positive and finite, got {sd}")

    def power_of(eff: float, n_c: float) -> float:
        def tail(alt: str, level: float) -> float:  # scipy's noncentral t returns NaN deep in a negligible tail
            return float(
                np.nan_to_num(TTestIndPower().power(eff / sd, ratio * n_c, level, ratio=1.0 / ratio, alternative=alt))
            )

        if alternative == "two-sided":  # the sum statsmodels computes, with each tail guarded separately
            return tail("larger", alpha / 2) + tail("smaller", alpha / 2)
        return tail(alternative, alpha)

    bounds = (-1e6 * sd, 1e6 * sd)
    return _plan("mean", "t-test", baseline, power_of, bounds, effect, relative_effect, n_control, power, ratio,
                 alpha, alternative, direction, n_min=2.0 / min(1.0, ratio))  # fmt: skip


def plan_poisson(
    baseline: float,
    *,
    effect: float | None = None,
    relative_effect: float | None = None,
    n_control: float | None = None,
    power: float | None = None,
    ratio: float = 1.0,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    dispersion: float = 1.0,
    direction: Direction | None = None,
) -> PowerPlan:
    """Same for two Poisson rates: ``baseline`` events per unit of exposure, ``n_control`` = control exposure."""
    if not (math.isfinite(baseline) and baseline > 0):
        raise PowerInputError(f"baseline rate must be positive and finite, got {baseline}")
    if not (math.isfinite(dispersion) and dispersion > 0):
        raise PowerInputError(f"dispersion must be positive and finite, got {dispersion}")

    def power_of(eff: float, n_c: float) -> float:
        res = power_poisson_ratio_2indep(
            baseline + eff, baseline, ratio * n_c, nobs_ratio=1.0 / ratio, exposure=1.0, value=1.0, alpha=alpha,
            dispersion=dispersion, alternative=alternative, method_var="score", return_results=False,
        )  # fmt: skip
        return float(res)

    bounds = (-baseline * (1.0 - _EDGE), baseline * 1e6)
    return _plan("poisson", "log-ratio score", baseline, power_of, bounds, effect, relative_effect, n_control, power,
                 ratio, alpha, alternative, direction, n_min=0.0)  # fmt: skip


def _plan(
    metric: str,
    method: str,
    baseline: float,
    power_of: Callable[[float, float], float],
    bounds: tuple[float, float],
    effect: float | None,
    relative_effect: float | None,
    n_control: float | None,
    power: float | None,
    ratio: float,
    alpha: float,
    alternative: str,
    direction: Direction | None,
    n_min: float,
) -> PowerPlan:
    """Validate, then fill the one unknown by Brent's method on the monotone power curve."""
    if alternative not in ALTERNATIVES:
        raise PowerInputError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    if not 0.0 < alpha < 1.0:
        raise PowerInputError(f"alpha must lie in (0, 1), got {alpha}")
    if not (math.isfinite(ratio) and ratio > 0):
        raise PowerInputError(f"ratio (n_treatment / n_control) must be positive and finite, got {ratio}")
    if effect is not None and relative_effect is not None:
        raise PowerInputError("give effect or relative_effect, not both")
    if relative_effect is not None:
        if baseline == 0:
            raise PowerInputError("relative_effect needs a nonzero baseline")
        effect = relative_effect * baseline
    unknowns = [name for name, v in (("effect", effect), ("n_control", n_control), ("power", power)) if v is None]
    if len(unknowns) != 1:
        raise PowerInputError(f"exactly one of effect, n_control, power must be left out; missing: {unknowns}")
    if effect is not None and not (bounds[0] <= effect <= bounds[1] and effect != 0 and math.isfinite(effect)):
        raise PowerInputError(f"effect {effect} must be nonzero and keep the metric in range {bounds}")
    if n_control is not None and not (math.isfinite(n_control) and n_control >= n_min and n_control > 0):
        raise PowerInputError(f"n_control must be finite and >= {max(n_min, 0.0):g} (and > 0), got {n_control}")
    floor = alpha if alternative != "two-sided" else alpha / 2
    if power is not None and not floor < power < 1.0:
        raise PowerInputError(f"power must lie in ({floor:g}, 1) for alpha {alpha} ({alternative}), got {power}")

    if power is None:
        power = power_of(effect, n_control)
    elif n_control is None:
        n_control = _solve_n(lambda n: power_of(effect, n) - power, max(n_min, 1e-9))
    else:
        sign = _effect_sign(alternative, direction)
        effect = _solve_effect(lambda e: power_of(e, n_control) - power, bounds[1] if sign > 0 else bounds[0])
        if effect is None:
            raise PowerInputError(f"no {metric} effect within range reaches power {power} with n_control={n_control}")
    rel = effect / baseline if baseline != 0 else math.nan
    return PowerPlan(metric, method, float(baseline), float(effect), float(rel), float(n_control),
                     float(ratio * n_control), float(power), float(alpha), alternative)  # fmt: skip


def _solve_n(gap: Callable[[float], float], n_lo: float) -> float:
    """Smallest control size whose power reaches the target; root in log n."""
    if gap(n_lo) >= 0:
        return n_lo
    if gap(_N_MAX) < 0:
        raise PowerInputError(
            f"the effect is too small (or in the wrong direction) to reach that power below n={_N_MAX:g}"
        )
    return float(math.exp(optimize.brentq(lambda x: gap(math.exp(x)), math.log(n_lo), math.log(_N_MAX), rtol=1e-12)))


def _solve_effect(gap: Callable[[float], float], edge: float) -> float | None:
    """Smallest effect (in size, towards ``edge``) whose power reaches the target, or None if none does.

    Power need not be monotone up to the edge (a Poisson rate near 0 has a huge variance), so the first crossing is
    bracketed on a geometric grid before Brent's method refines it.
    """
    grid = edge * np.geomspace(1e-10, 1.0, 241)
    reached = np.flatnonzero([gap(float(e)) >= 0 for e in grid])
    if reached.size == 0:
        return None
    i = int(reached[0])
    lo = float(grid[i - 1]) if i else edge * 1e-14
    return float(optimize.brentq(gap, lo, float(grid[i]), xtol=abs(edge) * 1e-15, rtol=1e-12))


def _effect_sign(alternative: str, direction: Direction | None) -> int:
    if direction not in (None, "increase", "decrease"):
        raise PowerInputError(f"direction must be 'increase' or 'decrease', got {direction!r}")
    if (alternative, direction) in (("larger", "decrease"), ("smaller", "increase")):
        raise PowerInputError(f"direction {direction!r} contradicts alternative {alternative!r}")
    if direction is None:
        return -1 if alternative == "smaller" else 1
    return -1 if direction == "decrease" else 1
