"""Over-dispersion: a variance inflation factor (VIF >= 1) applied to every test's variance, and shown.

Why: ad counts are not binomial. Audiences, placements and times of day change from hour to hour, so two identical ads
differ by more than binomial noise. On the Upworthy archive, identical arms (same headline and image in one test) give
a naive two-proportion p < 0.05 in about 12 % of pairs instead of 5 %. Multiplying the binomial variance by a VIF
(a quasi-binomial dispersion, McCullagh & Nelder 1989, section 4.5) restores the nominal rate.

Three estimators, from the best evidence to the weakest:

* :func:`aa_vif` -- the client's own A/A history: mean z^2 of identical-arm pairs (1 under binomial noise);
* :func:`empirical_null_vif` -- Efron's empirical null (Efron 2004, JASA 99:96-104, "Large-scale simultaneous
  hypothesis testing: the choice of a null hypothesis"; locfdr's truncated-normal MLE): many pairwise z-scores, of
  which an unknown share are real differences, have a central part that is mostly null; a normal fitted to that part
  by maximum likelihood gives the null's sigma_0 and VIF = sigma_0^2. This estimates over-dispersion from the *other*
  tests of a file without knowing which pairs are identical. Real differences that fall in the centre push sigma_0
  up a little, so the estimate errs on the conservative side.
* :func:`between_day_vif` -- the day-to-day Pearson dispersion of each ad's rate around its own pooled rate.

Every estimator returns a :class:`VifEstimate` whose ``value`` is floored at 1 (the raw figure is kept for display).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize, stats

#: Half-width of the central region in null standard deviations. 1.5 rather than 2: real differences a little
#: beyond the null leak into a wider centre and inflate sigma_0 (simulated 20 % non-nulls at 3 sigma_0: +4 % at 1.5,
#: +11 % at 2.0), at the price of a slightly noisier estimate.
DEFAULT_CENTRAL = 1.5


class OverdispersionInputError(ValueError):
    """Data that cannot give a variance inflation factor."""


@dataclass(frozen=True)
class VifEstimate:
    """A variance inflation factor and what it was estimated from (for display beside every test)."""

    value: float  # max(1, raw): multiply every binomial variance by this
    method: str  # "aa_pairs", "aa_pairs_robust", "empirical_null", "between_day"
    df: float  # units of evidence behind it (pairs, central z-scores, or pooled degrees of freedom)
    detail: str  # one plain sentence: the source, the raw figure and its uncertainty
    raw: float  # the estimate before the floor at 1


def _estimate(raw: float, method: str, df: float, detail: str) -> VifEstimate:
    return VifEstimate(value=max(1.0, float(raw)), method=method, df=float(df), detail=detail, raw=float(raw))


def pairwise_z(
    successes_a: np.ndarray, trials_a: np.ndarray, successes_b: np.ndarray, trials_b: np.ndarray
) -> np.ndarray:
    """Pooled two-proportion z (b minus a) per pair, as statsmodels' ``proportions_ztest``; NaN if the pool is 0/1."""
    sa, na, sb, nb = (np.asarray(v, dtype=float) for v in (successes_a, trials_a, successes_b, trials_b))
    if np.any(na <= 0) or np.any(nb <= 0):
        raise OverdispersionInputError("trials must be > 0 in both arms of every pair")
    if np.any(sa < 0) or np.any(sb < 0) or np.any(sa > na) or np.any(sb > nb):
        raise OverdispersionInputError("successes must lie between 0 and trials")
    pooled = (sa + sb) / (na + nb)
    se = np.sqrt(pooled * (1 - pooled) * (1 / na + 1 / nb))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(se > 0, (sb / nb - sa / na) / se, np.nan)


def _require(df: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise OverdispersionInputError(f"missing columns {missing}; have {list(df.columns)}")


def aa_vif(pairs: pd.DataFrame, *, robust: bool = False) -> VifEstimate:
    """VIF from A/A pairs (columns ``successes_a, trials_a, successes_b, trials_b``): mean of z^2.

    Under binomial noise z ~ N(0, 1), so E[z^2] = 1 and mean z^2 estimates the variance ratio directly.
    ``robust=True`` uses median(z^2) / median(chi^2_1) instead, which one broken pair cannot move.
    """
    _require(pairs, ["successes_a", "trials_a", "successes_b", "trials_b"])
    z = pairwise_z(pairs["successes_a"], pairs["trials_a"], pairs["successes_b"], pairs["trials_b"])
    z = z[np.isfinite(z)]
    if len(z) < 2:
        raise OverdispersionInputError(f"need at least 2 A/A pairs with some successes, got {len(z)}")
    if robust:
        raw = float(np.median(z**2) / stats.chi2.median(1))
        return _estimate(raw, "aa_pairs_robust", len(z), f"median z^2 / 0.455 over {len(z)} A/A pairs = {raw:.2f}")
    raw = float(np.mean(z**2))
    lo, hi = (raw * len(z) / stats.chi2.ppf(q, len(z)) for q in (0.975, 0.025))
    return _estimate(raw, "aa_pairs", len(z), f"mean z^2 over {len(z)} A/A pairs = {raw:.2f} (95 % {lo:.2f}-{hi:.2f})")


def between_day_vif(
    daily: pd.DataFrame, *, ad: str = "ad_id", successes: str = "successes", trials: str = "trials"
) -> VifEstimate:
    """VIF from day-to-day variation: pooled Pearson chi^2 / df of each ad's daily rate around its own pooled rate.

    ``daily`` has one row per ad and day (e.g. columns ad_id, date, successes=clicks, trials=impressions).
    Assumes an ad's true rate is stable across days apart from noise; day-of-week effects, creative fatigue and
    audience drift also count as dispersion, which makes the estimate conservative (too large rather than too small).
    The inflation grows with the daily volume (1 + (n - 1) rho for a beta-binomial with intra-day correlation rho),
    so it fits tests whose daily volume per arm is comparable to the history's.
    """
    _require(daily, [ad, successes, trials])
    s, n = daily[successes].to_numpy(dtype=float), daily[trials].to_numpy(dtype=float)
    if np.any(~np.isfinite(s)) or np.any(~np.isfinite(n)) or np.any(n < 0) or np.any(s < 0) or np.any(s > n):
        raise OverdispersionInputError(f"need finite {successes} and {trials} with 0 <= {successes} <= {trials}")
    frame = pd.DataFrame({"ad": daily[ad].to_numpy(), "s": s, "n": n})
    frame = frame[frame["n"] > 0]
    totals = frame.groupby("ad")[["s", "n"]].transform("sum")
    rate = totals["s"] / totals["n"]
    usable = (rate > 0) & (rate < 1)
    frame, rate = frame[usable], rate[usable]
    expected = frame["n"] * rate
    pearson = (frame["s"] - expected) ** 2 / (expected * (1 - rate))
    days = frame.groupby("ad").size()
    df = int((days - 1).clip(lower=0).sum())
    if df < 1:
        raise OverdispersionInputError(
            "need at least one ad with 2 or more days of trials and a rate strictly in (0, 1)"
        )
    raw = float(pearson.sum() / df)
    lo, hi = (raw * df / stats.chi2.ppf(q, df) for q in (0.975, 0.025))
    return _estimate(
        raw,
        "between_day",
        df,
        f"day-to-day dispersion over {int((days > 1).sum())} ads, {len(frame)} ad-days: "
        f"Pearson chi^2/df = {raw:.2f} (95 % {lo:.2f}-{hi:.2f})",
    )


def _truncated_fit(
    z: np.ndarray, lo: float, hi: float, symmetric: bool, start: tuple[float, float]
) -> tuple[float, float]:
    """MLE of (delta, sigma) of a normal truncated to [lo, hi], from the z inside it (scipy.optimize).

    Log-likelihood: sum log phi((z - delta) / sigma) - m log sigma - m log(Phi(hi') - Phi(lo')), the
    ``scipy.stats.truncnorm`` density written through its sufficient statistics (m, sum z, sum z^2) for speed.
    """
    inside = z[(z > lo) & (z < hi)]
    m, s1, s2 = len(inside), float(inside.sum()), float(np.sum(inside**2))

    def nll(delta: float, log_sigma: float) -> float:
        sigma = float(np.exp(log_sigma))
        ss = s2 - 2 * delta * s1 + m * delta**2
        mass = stats.norm.cdf((hi - delta) / sigma) - stats.norm.cdf((lo - delta) / sigma)
        return m * log_sigma + ss / (2 * sigma**2) + m * float(np.log(mass))

    log_start = float(np.log(start[1]))
    if symmetric:
        fit = optimize.minimize_scalar(
            lambda ls: nll(0.0, ls), bounds=(log_start - 3, log_start + 3), method="bounded", options={"xatol": 1e-8}
        )
        return 0.0, float(np.exp(fit.x))
    fit2 = optimize.minimize(lambda p: nll(p[0], p[1]), np.array([start[0], log_start]), method="Nelder-Mead")
    return float(fit2.x[0]), float(np.exp(fit2.x[1]))


def empirical_null_vif(
    z_scores: np.ndarray, *, central: float = DEFAULT_CENTRAL, symmetric: bool = True, passes: int = 3
) -> VifEstimate:
    """Efron's empirical null: sigma_0 of the central z-scores by truncated-normal MLE; VIF = sigma_0^2.

    The central region is delta_0 +- ``central`` x sigma_0, re-centred ``passes`` times from a robust start (median
    and MAD); a fixed number of passes because points entering and leaving the region make a fixed-point iteration
    oscillate (by about 0.3 % of sigma_0, far below its sampling error). ``symmetric=True`` fixes delta_0 = 0, right
    for pairwise z whose sign depends only on the arm order. Needs many z-scores (hundreds), most of them null or far
    from null.
    """
    z = np.asarray(z_scores, dtype=float)
    z = z[np.isfinite(z)]
    if len(z) < 50:
        raise OverdispersionInputError(f"the empirical null needs at least 50 finite z-scores, got {len(z)}")
    if passes < 1:
        raise OverdispersionInputError(f"passes must be >= 1, got {passes}")
    if not 0.5 <= central <= 4:
        raise OverdispersionInputError(
            f"central must be between 0.5 and 4 (in null standard deviations), got {central}"
        )
    if symmetric:
        delta, sigma = 0.0, float(np.median(np.abs(z)) / stats.norm.ppf(0.75))
    else:
        delta, sigma = float(np.median(z)), float(stats.median_abs_deviation(z, scale="normal"))
    if not sigma > 0:
        raise OverdispersionInputError("z-scores have no spread")
    for _ in range(passes):
        lo, hi = delta - central * sigma, delta + central * sigma
        delta, sigma = _truncated_fit(z, lo, hi, symmetric, (delta, sigma))
    lo, hi = delta - central * sigma, delta + central * sigma
    n_in = int(np.sum((z > lo) & (z < hi)))
    mass = stats.norm.cdf(central) - stats.norm.cdf(-central)
    pi0 = min(1.0, n_in / (len(z) * mass))
    return _estimate(
        sigma**2,
        "empirical_null",
        n_in,
        f"empirical null from {len(z)} z-scores ({n_in} central): sigma_0 = {sigma:.3f}, delta_0 = {delta:.3f}, "
        f"null share about {pi0:.0%}, VIF = sigma_0^2 = {sigma**2:.2f}",
    )


#: VIF used until a client has enough daily history for :func:`between_day_vif` (fewer than
#: :data:`MIN_HISTORY_DF` pooled degrees of freedom): conservative, about what real ad and headline counts show
#: (Upworthy's identical arms: 1.7 by their own z^2, 2.3 by the empirical null; the sample ad account: 2).
FALLBACK_VIF = 2.0
MIN_HISTORY_DF = 10


def history_vif(ad_rows: pd.DataFrame, aa_pairs: pd.DataFrame | None = None) -> VifEstimate:
    """The client's own VIF for click-through: from its A/A tests when they give at least :data:`MIN_HISTORY_DF`
    daily pairs (:func:`aa_vif`: the direct measure, the same creative in both arms), else the between-day
    dispersion of its ad rows (``ad_id``, ``clicks``, ``impressions`` per day, :func:`between_day_vif`), else
    :data:`FALLBACK_VIF` while the history is too short to estimate it."""
    if aa_pairs is not None and len(aa_pairs):
        try:
            direct = aa_vif(aa_pairs)
        except OverdispersionInputError:
            direct = None
        if direct is not None and direct.df >= MIN_HISTORY_DF:
            return direct
    daily = pd.DataFrame(
        {
            "ad_id": ad_rows["ad_id"].to_numpy(),
            "successes": pd.to_numeric(ad_rows["clicks"]).to_numpy(dtype=float),
            "trials": pd.to_numeric(ad_rows["impressions"]).to_numpy(dtype=float),
        }
    )
    try:
        estimate = between_day_vif(daily)
    except OverdispersionInputError:
        estimate = None
    if estimate is None or estimate.df < MIN_HISTORY_DF:
        got = "no" if estimate is None else f"{estimate.df:.0f} degrees of freedom of"
        return _estimate(
            FALLBACK_VIF,
            "fallback",
            0 if estimate is None else estimate.df,
            f"{got} daily history (fewer than {MIN_HISTORY_DF}): the conservative default {FALLBACK_VIF:g} is used",
        )
    return estimate
