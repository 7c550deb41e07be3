"""Fixed-horizon two-sample tests with confidence intervals, for the three metric families an ad test reports.

Why: once a test has reached its planned size (see :mod:`sample_size`), one look decides it: how big is the
difference, how sure are we, and what is the relative lift. Ad platforms give aggregates (counts, or mean, sd and n
per arm), so every test also runs from summary statistics. Each returns one :class:`TwoSampleResult`; the contrast is
always treatment versus control, and the lift is ``treatment / control - 1``. All tests are two-sided.

* **Proportions**: the pooled two-sample z-test (the score test at difference 0, identical to Pearson's chi-square
  without continuity correction), ``statsmodels.stats.proportion.test_proportions_2indep(method="score",
  correction=False)``; CI for the difference by Newcombe's hybrid score method (Newcombe 1998, Stat Med 17:873,
  method 10), ``confint_proportions_2indep(method="newcomb")``; CI for the ratio (hence the lift) by inverting the
  score test on the ratio (Miettinen & Nurminen 1985, Stat Med 4:213). The score CI for the *difference* is not used:
  statsmodels 0.15's root bracketing fails on 1-2 % of ordinary inputs.
* **Means**: Welch's unequal-variance t-test and its CI for the difference (Welch 1947), ``scipy.stats.ttest_ind(
  equal_var=False)``; from aggregates, ``scipy.stats.ttest_ind_from_stats`` with the Welch-Satterthwaite degrees of
  freedom for the CI. Only the point lift is given: a CI for a ratio of means needs the delta method, which
  :mod:`relative_lift` provides (``lift_interval(log_lift(ArmEstimate(mean, sd**2 / n, n), ...), z)``).
* **Poisson counts** (events per unit of exposure): the score test on the rate ratio and the CI that inverts it
  (Gu, Ng, Tang & Schucany 2008, Biom J 50:283), ``statsmodels.stats.rates.test_poisson_2indep`` /
  ``confint_poisson_2indep(method="score")``. When an arm has fewer than :data:`EXACT_BELOW` events the asymptotics
  fail (statsmodels' score CI collapses to a point at 0 events), so the exact conditional binomial test and
  Clopper-Pearson interval are used instead (Przyborowski & Wilenski 1940, Biometrika 31:313; R's
  ``poisson.test``). Counts are assumed Poisson: over-dispersed ad counts need the over-dispersion module's
  calibration on top.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats
from statsmodels.stats.proportion import confint_proportions_2indep, proportion_confint, test_proportions_2indep
from statsmodels.stats.rates import confint_poisson_2indep, test_poisson_2indep

#: Below this many events in either arm, the Poisson comparison switches from the score to the exact conditional test.
EXACT_BELOW = 5


class TwoSampleInputError(ValueError):
    """Counts, sizes or summaries that cannot describe two arms (negative counts, successes > n, n < 2, ...)."""


@dataclass(frozen=True)
class TwoSampleResult:
    """One two-sided comparison, treatment versus control.

    ``estimate`` is the tested contrast (``compare`` = "difference": treatment − control; "ratio": treatment /
    control) with its ``1 - alpha`` interval ``[ci_low, ci_high]``. ``control`` / ``treatment`` are the arms' rates or
    means; ``lift`` = treatment / control − 1 with its interval (NaN where not computed here). ``n_*`` are units per
    arm (exposure for Poisson).
    """

    method: str
    compare: str
    estimate: float
    ci_low: float
    ci_high: float
    statistic: float
    p_value: float
    control: float
    treatment: float
    n_control: float
    n_treatment: float
    lift: float
    lift_ci_low: float
    lift_ci_high: float
    alpha: float


@np.errstate(divide="ignore", invalid="ignore")  # statsmodels divides by a zero count; the edge cases are handled
def compare_proportions(
    control_successes: int, control_n: int, treatment_successes: int, treatment_n: int, *, alpha: float = 0.05
) -> TwoSampleResult:
    """Pooled z-test and Newcombe CI for the difference of two proportions; score CI for the lift."""
    _check_alpha(alpha)
    for name, k, n in (("control", control_successes, control_n), ("treatment", treatment_successes, treatment_n)):
        if not (_is_count(k) and _is_count(n) and n > 0 and k <= n):
            raise TwoSampleInputError(f"{name}: need integers 0 <= successes <= n and n > 0, got {k} of {n}")
    args = (int(treatment_successes), int(treatment_n), int(control_successes), int(control_n))
    test = test_proportions_2indep(*args, method="score", compare="diff", correction=False)
    statistic, p_value = float(test.statistic), float(test.pvalue)
    if not math.isfinite(statistic):  # both arms all-0 or all-1: no variation, no evidence of a difference
        statistic, p_value = 0.0, 1.0
    low, high = confint_proportions_2indep(*args, method="newcomb", compare="diff", alpha=alpha)
    p_t, p_c = args[0] / args[1], args[2] / args[3]
    lift, lift_low, lift_high = math.nan, math.nan, math.nan
    if args[0] + args[2] > 0:  # with no successes at all the ratio is 0/0
        lift = p_t / p_c - 1.0 if args[2] > 0 else math.inf
        r_low, r_high = confint_proportions_2indep(
            *args, method="score", compare="ratio", alpha=alpha, correction=False
        )
        lift_low, lift_high = _ratio_bound(r_low) - 1.0, _ratio_bound(r_high) - 1.0
    return TwoSampleResult("pooled z-test; Newcombe CI; score CI for the ratio", "difference", p_t - p_c, float(low),
                           float(high), statistic, p_value, p_c, p_t, float(control_n), float(treatment_n), lift,
                           lift_low, lift_high, alpha)  # fmt: skip


def compare_means(control: Sequence[float], treatment: Sequence[float], *, alpha: float = 0.05) -> TwoSampleResult:
    """Welch t-test and CI for the difference of two means from per-unit values (NaN rejected)."""
    _check_alpha(alpha)
    c, t = np.asarray(control, dtype=float), np.asarray(treatment, dtype=float)
    for name, arr in (("control", c), ("treatment", t)):
        if arr.ndim != 1 or arr.size < 2 or not np.isfinite(arr).all():
            raise TwoSampleInputError(f"{name}: need a 1-D array of at least 2 finite values, got shape {arr.shape}")
    if np.ptp(c) == 0 and np.ptp(t) == 0:
        raise TwoSampleInputError("both arms have zero variance: the t statistic is undefined")
    res = stats.ttest_ind(t, c, equal_var=False)
    low, high = res.confidence_interval(confidence_level=1.0 - alpha)
    m_c, m_t = float(c.mean()), float(t.mean())
    return TwoSampleResult("Welch t-test", "difference", m_t - m_c, float(low), float(high), float(res.statistic),
                           float(res.pvalue), m_c, m_t, float(c.size), float(t.size), _lift(m_t, m_c), math.nan,
                           math.nan, alpha)  # fmt: skip


def compare_means_from_stats(
    control_mean: float,
    control_sd: float,
    control_n: int,
    treatment_mean: float,
    treatment_sd: float,
    treatment_n: int,
    *,
    alpha: float = 0.05,
) -> TwoSampleResult:
    """Welch t-test and CI from per-arm mean, sample standard deviation (ddof=1) and n, as ad platforms report."""
    _check_alpha(alpha)
    for name, m, s, n in (("control", control_mean, control_sd, control_n),
                          ("treatment", treatment_mean, treatment_sd, treatment_n)):  # fmt: skip
        if not (math.isfinite(m) and math.isfinite(s) and s >= 0 and _is_count(n) and n >= 2):
            raise TwoSampleInputError(f"{name}: need finite mean, sd >= 0 and integer n >= 2, got {m}, {s}, {n}")
    v_c, v_t = control_sd**2 / control_n, treatment_sd**2 / treatment_n
    if v_c + v_t == 0:
        raise TwoSampleInputError("both arms have zero variance: the t statistic is undefined")
    res = stats.ttest_ind_from_stats(treatment_mean, treatment_sd, treatment_n, control_mean, control_sd, control_n,
                                     equal_var=False)  # fmt: skip
    # Welch-Satterthwaite degrees of freedom, as scipy uses for the test above.
    df = (v_c + v_t) ** 2 / (v_c**2 / (control_n - 1) + v_t**2 / (treatment_n - 1))
    diff = float(treatment_mean - control_mean)
    half = float(stats.t.ppf(1.0 - alpha / 2, df)) * math.sqrt(v_c + v_t)
    return TwoSampleResult("Welch t-test (from summary statistics)", "difference", diff, diff - half, diff + half,
                           float(res.statistic), float(res.pvalue), float(control_mean), float(treatment_mean),
                           float(control_n), float(treatment_n), _lift(float(treatment_mean), float(control_mean)),
                           math.nan, math.nan, alpha)  # fmt: skip


@np.errstate(divide="ignore", invalid="ignore")  # statsmodels divides by a zero count; the edge cases are handled
def compare_poisson(
    control_events: int,
    control_exposure: float,
    treatment_events: int,
    treatment_exposure: float,
    *,
    alpha: float = 0.05,
    exact_below: int = EXACT_BELOW,
) -> TwoSampleResult:
    """Score test and CI for the ratio of two Poisson rates; exact conditional when an arm has < ``exact_below``."""
    _check_alpha(alpha)
    for name, k, e in (("control", control_events, control_exposure),
                       ("treatment", treatment_events, treatment_exposure)):  # fmt: skip
        if not (_is_count(k) and math.isfinite(e) and e > 0):
            raise TwoSampleInputError(f"{name}: need integer events >= 0 and finite exposure > 0, got {k}, {e}")
    k_t, k_c = int(treatment_events), int(control_events)
    r_t, r_c = k_t / treatment_exposure, k_c / control_exposure
    ratio = r_t / r_c if k_c > 0 else (math.nan if k_t == 0 else math.inf)
    args = (k_t, float(treatment_exposure), k_c, float(control_exposure))
    if min(k_t, k_c) >= exact_below:
        method = "score test on the rate ratio; score CI"
        test = test_poisson_2indep(*args, method="score", compare="ratio")
        statistic, p_value = float(test.statistic), float(test.pvalue)
        low, high = (float(b) for b in confint_poisson_2indep(*args, method="score", compare="ratio", alpha=alpha))
    else:
        method = "exact conditional binomial test; Clopper-Pearson CI"
        statistic = math.nan  # the exact test has no z statistic
        p_value = float(test_poisson_2indep(*args, method="exact-cond").pvalue) if k_t + k_c > 0 else 1.0
        low, high = _exact_ratio_ci(k_t, k_c, treatment_exposure / control_exposure, alpha)
    return TwoSampleResult(method, "ratio", ratio, low, high, statistic, p_value, r_c, r_t, float(control_exposure),
                           float(treatment_exposure), ratio - 1.0, low - 1.0, high - 1.0, alpha)  # fmt: skip


def _exact_ratio_ci(k_t: int, k_c: int, exposure_ratio: float, alpha: float) -> tuple[float, float]:
    """Clopper-Pearson CI for the treatment share of events given the total, mapped to the rate ratio."""
    if k_t + k_c == 0:
        return 0.0, math.inf
    lo, hi = proportion_confint(k_t, k_t + k_c, alpha=alpha, method="beta")
    to_ratio = lambda share: share / (1.0 - share) / exposure_ratio if share < 1.0 else math.inf  # noqa: E731
    return float(to_ratio(lo)), float(to_ratio(hi))


def _ratio_bound(value: complex | float) -> float:
    """statsmodels' score CI for a ratio can come back as a complex root or a rounding-negative 0 at the edges."""
    real = complex(value).real if abs(complex(value).imag) < 1e-6 else math.nan
    return max(real, 0.0) if not math.isnan(real) else math.nan


def _lift(treatment: float, control: float) -> float:
    return treatment / control - 1.0 if control != 0 else math.nan


def _is_count(x: object) -> bool:
    """A non-negative whole number (an integral float from a DataFrame column counts; a bool does not)."""
    if isinstance(x, bool):
        return False
    if isinstance(x, float | np.floating):
        return math.isfinite(x) and float(x).is_integer() and x >= 0
    return isinstance(x, int | np.integer) and int(x) >= 0


def _check_alpha(alpha: float) -> None:
    if not 0.0 < alpha < 1.0:
        raise TwoSampleInputError(f"alpha must lie in (0, 1), got {alpha}")
