"""Sample-ratio mismatch (SRM): is the traffic split what was planned? Checked before any other call on a test.

Why: a split that drifts from the plan (a budget cap, a paused ad, overlapping audiences, delivery limits) means the
arms no longer see comparable people, so every lift computed on them is biased. A mismatch therefore blocks every
other call on the test and the message says what to check.

Two p-values are computed on the cumulative counts per arm:

* the fixed-sample chi-square test against the planned shares (``scipy.stats.chisquare``), shown for reference only:
  repeated every 6 hours it is a peeking test and its false-alarm rate grows with every look;
* the anytime-valid p-value of the Dirichlet-multinomial mixture test of Lindon & Malek (2022), "Anytime-Valid
  Inference For Multinomial Count Data", NeurIPS (Optimizely's ``ssrm_test``; GrowthBook's sequential SRM). The Bayes
  factor of a Dirichlet(``concentration`` x planned shares) mixture against the planned multinomial is a nonnegative
  martingale under the plan, so by Ville's inequality ``p = min(1, 1 / BF)``, running-minimised over the looks, is
  valid at any number of looks. The multinomial coefficient cancels, so BF depends only on the current totals.

**The decision (``mismatch``) uses the sequential p-value only** (``p_sequential <= alpha``); the chi-square p-value is
shown beside it.

Units: the planned split is over what the platform randomises, which is people (users / accounts), not impressions.
Ad platforms report impressions per ad, and impressions per person (frequency) can differ between ads, so an
impression SRM can be a frequency difference rather than a broken split. Pass reach (unique people per arm) when the
platform gives it (``unit="reach"``); the impressions message says so.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats
from scipy.special import gammaln, xlogy

#: Shipped level: an SRM is a data-quality alarm, so it must almost never fire on a healthy test.
DEFAULT_ALPHA = 0.001
#: Dirichlet concentration (prior sample size) of the mixture, as in ``ssrm_test`` and GrowthBook. Large values centre
#: the alternative on small deviations from the plan, which is what real SRMs are (a share off by about one point).
DEFAULT_CONCENTRATION = 10_000.0

CHECKS = "check the ad sets' budgets, audience overlap, delivery limits, or a paused or late-starting ad"


class SrmInputError(ValueError):
    """Counts or planned weights that cannot describe a traffic split."""


@dataclass(frozen=True)
class SrmResult:
    """Outcome of one SRM look. ``mismatch`` is decided on ``p_sequential`` (anytime-valid), never on ``chi2_p``."""

    labels: tuple[str, ...]
    counts: tuple[int, ...]
    unit: str
    planned_shares: tuple[float, ...]
    observed_shares: tuple[float, ...]
    chi2_statistic: float
    chi2_p: float
    log_bayes_factor: float
    p_sequential: float
    alpha: float
    mismatch: bool
    worst_arm: str | None
    message: str


def _validate(counts: Sequence[float], planned_weights: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Integer counts >= 0 and planned shares > 0 summing to 1 (weights are normalised)."""
    x = np.asarray(counts, dtype=float)
    w = np.asarray(planned_weights, dtype=float)
    if x.ndim != 1 or w.ndim != 1:
        raise SrmInputError("counts and planned_weights must be one-dimensional (one entry per arm)")
    if len(x) < 2:
        raise SrmInputError(f"an SRM check needs at least 2 arms, got {len(x)}")
    if len(x) != len(w):
        raise SrmInputError(f"counts has {len(x)} arms but planned_weights has {len(w)}")
    if not np.all(np.isfinite(x)) or np.any(x < 0) or np.any(x != np.round(x)):
        raise SrmInputError(f"counts must be whole numbers >= 0, got {list(counts)}")
    if not np.all(np.isfinite(w)) or np.any(w <= 0):
        raise SrmInputError(f"planned_weights must be > 0 (drop arms planned at 0), got {list(planned_weights)}")
    return x, w / w.sum()


def _log_bf_rows(x: np.ndarray, p: np.ndarray, concentration: float) -> np.ndarray:
    """log BF per row of ``x`` (counts per arm in the last axis)."""
    if not np.isfinite(concentration) or concentration <= 0:
        raise SrmInputError(f"concentration must be > 0, got {concentration}")
    a = concentration * p
    n = x.sum(axis=-1)
    log_m1 = gammaln(concentration) - gammaln(concentration + n) + np.sum(gammaln(a + x) - gammaln(a), axis=-1)
    return log_m1 - np.sum(xlogy(x, p), axis=-1)


def log_bayes_factor(
    counts: Sequence[float], planned_weights: Sequence[float], concentration: float = DEFAULT_CONCENTRATION
) -> float:
    """log BF of the Dirichlet(``concentration`` x planned) mixture against the planned multinomial (Lindon & Malek).

    ``log BF = lgamma(A) - lgamma(A + n) + sum[lgamma(a_i + x_i) - lgamma(a_i)] - sum x_i log(p_i)``, ``a = A p``.
    """
    x, p = _validate(counts, planned_weights)
    return float(_log_bf_rows(x, p, concentration))


def sequential_p_values(
    looks: Sequence[Sequence[float]] | np.ndarray,
    planned_weights: Sequence[float],
    concentration: float = DEFAULT_CONCENTRATION,
) -> np.ndarray:
    """Anytime-valid p-value after each look; ``looks`` holds the *cumulative* counts per arm at each look (rows)."""
    rows = np.asarray(looks, dtype=float)
    if rows.ndim != 2 or len(rows) == 0:
        raise SrmInputError("looks must be a non-empty 2-D array: one row of cumulative counts per look")
    _validate(rows[0], planned_weights)
    if not np.all(np.isfinite(rows)) or np.any(rows != np.round(rows)):
        raise SrmInputError("looks must hold whole-number counts")
    if np.any(np.diff(rows, axis=0) < 0):
        raise SrmInputError("looks must be cumulative counts (never decreasing from one look to the next)")
    p = np.asarray(planned_weights, dtype=float)
    inv_bf = np.minimum(1.0, np.exp(-_log_bf_rows(rows, p / p.sum(), concentration)))
    return np.minimum.accumulate(inv_bf)


def _fmt_p(p: float) -> str:
    """p for a reader: 2 significant digits, scientific below 1e-4, and "< 1e-16" where floating point stops."""
    if p < 1e-16:
        return "< 1e-16"
    return f"{p:.2g}" if p >= 1e-4 else f"{p:.1e}"


def _eq(p: float) -> str:
    text = _fmt_p(p)
    return text if text.startswith("<") else f"= {text}"


def _message(
    labels: Sequence[str],
    obs: np.ndarray,
    planned: np.ndarray,
    worst: int,
    unit: str,
    p_seq: float,
    chi2_p: float,
    alpha: float,
    mismatch: bool,
) -> str:
    """Plain-English verdict that names the arm furthest from its planned share and what to check."""
    arm = f"{labels[worst]} got {100 * obs[worst]:.1f} % of {unit}, planned {100 * planned[worst]:.3g} %"
    ps = f"sequential p {_eq(p_seq)}, fixed chi-square p {_eq(chi2_p)} shown for reference"
    if not mismatch:
        return f"Traffic split matches the plan ({ps}; alarm at sequential p <= {alpha:g}). Largest gap: {arm}."
    text = f"Sample-ratio mismatch: {arm} ({ps}). Results for this test are blocked until the split is explained: "
    text += f"{CHECKS}."
    if unit == "impressions":
        text += (
            " Impressions are not people: if one ad is shown more often per person, its impression share moves "
            "without the split being broken, so compare reach (unique people) per ad if the platform reports it."
        )
    return text


def srm_check(
    counts: Sequence[float],
    planned_weights: Sequence[float],
    alpha: float = DEFAULT_ALPHA,
    *,
    labels: Sequence[str] | None = None,
    unit: str = "impressions",
    concentration: float = DEFAULT_CONCENTRATION,
    previous_p_sequential: float | None = None,
) -> SrmResult:
    """SRM look on cumulative ``counts`` per arm against ``planned_weights`` (any positive scale).

    ``previous_p_sequential`` is the ``p_sequential`` stored at the previous look of the same test: the running
    minimum keeps the p-value anytime-valid across the 6-hourly looks (leave ``None`` on the first look).
    """
    x, planned = _validate(counts, planned_weights)
    if not 0 < alpha < 1:
        raise SrmInputError(f"alpha must be in (0, 1), got {alpha}")
    if previous_p_sequential is not None and not 0 <= previous_p_sequential <= 1:
        raise SrmInputError(f"previous_p_sequential must be in [0, 1], got {previous_p_sequential}")
    names = tuple(labels) if labels is not None else tuple(f"variant {chr(65 + i)}" for i in range(len(x)))
    if len(names) != len(x):
        raise SrmInputError(f"labels has {len(names)} names for {len(x)} arms")
    n = x.sum()
    if n == 0:
        obs = np.zeros_like(planned)
        chi2_stat, chi2_p, log_bf, worst = 0.0, 1.0, 0.0, None
    else:
        obs = x / n
        chi2_stat, chi2_p = (float(v) for v in stats.chisquare(x, planned * n))
        log_bf = log_bayes_factor(x, planned, concentration)
        # furthest from plan in standard errors; on a tie (two arms) name the under-served arm
        resid = np.round(np.abs(x - n * planned) / np.sqrt(n * planned), 9)
        worst = int(np.lexsort((obs / planned, -resid))[0])
    p_seq = min(1.0, float(np.exp(-log_bf)))
    if previous_p_sequential is not None:
        p_seq = min(p_seq, previous_p_sequential)
    mismatch = bool(p_seq <= alpha)
    if worst is None:
        message = f"No {unit} yet: the traffic split cannot be checked."
    else:
        message = _message(names, obs, planned, worst, unit, p_seq, chi2_p, alpha, mismatch)
    return SrmResult(
        labels=names,
        counts=tuple(int(v) for v in x),
        unit=unit,
        planned_shares=tuple(float(v) for v in planned),
        observed_shares=tuple(float(v) for v in obs),
        chi2_statistic=chi2_stat,
        chi2_p=chi2_p,
        log_bayes_factor=log_bf,
        p_sequential=p_seq,
        alpha=alpha,
        mismatch=mismatch,
        worst_arm=None if worst is None else names[worst],
        message=message,
    )
