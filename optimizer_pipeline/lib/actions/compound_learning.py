"""Compound learning: what the promotions are worth, one by one and together, with winners' lifts shrunk for the
winner's curse.

Why: a variant is promoted *because* its estimated lift crossed a boundary, so promoted lifts are biased upward
(the winner's curse), and a product of biased lifts over many promotions overstates the programme's gain badly
(Lee & Shen 2018, "Winner's curse: bias estimation for total effects of features in online controlled
experiments", KDD). Method: normal-normal empirical Bayes on the log lift ``y_i = log(1 + lift_i)`` with standard
error ``s_i``. The prior ``theta ~ N(mu, tau^2)`` is estimated per primary metric from *every* experiment in the
trail (promoted or not: stopped, still running, reversed) by DerSimonian & Laird (1986, "Meta-analysis in clinical
trials", Controlled Clinical Trials 7:177-188) through ``statsmodels.stats.meta_analysis.combine_effects``, with
``tau >= tau_floor`` so one quiet season never shrinks every lift to the mean. Each winner's posterior is
``mu + B_i (y_i - mu)``, ``B_i = tau^2 / (tau^2 + s_i^2)``, sd ``sqrt(B_i) s_i``. Given the prior, the posterior
mean is not biased by selecting on ``y`` (Dawid 1994, "Selection paradoxes of Bayesian inference"; Efron 2011,
"Tweedie's formula and selection bias", JASA 106:1602-1614); this holds only if the prior is fitted on all tests,
which is why the losers are in it. Chosen over the conditional MLE given selection (Zhong & Prentice 2008,
Biostatistics 9:621-634) because that needs the exact probability of the sequential, Holm-adjusted selection event
at the look it happened and is unstable just past the boundary, where most promotions sit; the simulation test
measures what the shrinkage removes.

``s_i`` comes from the deciding row: ``|y_i / z_i|`` (``z = log_ratio / se`` in
:mod:`optimizer_pipeline.lib.decisions.relative_lift`), else the repeated interval's width on the log scale over
``2 * boundary``. Cumulative lift over the standing variant promotions of one metric, in decision order:
``prod(1 + lift) - 1`` (each winner becomes the champion the next test tries to beat); the shrunk version sums the
posterior means and variances of the log lifts (independent experiments given the prior). Control wins and reversed
promotions do not compound (nothing changed, or the change was undone).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike
from scipy import stats
from statsmodels.stats.meta_analysis import combine_effects

from optimizer_pipeline.lib.actions.promotion_history import promotion_history

__all__ = [
    "CUMULATIVE_COLUMNS", "PROMOTION_COLUMNS", "CompoundLearning", "CompoundLearningError", "LiftPrior",
    "compound_learning", "compound_paragraph", "fit_lift_prior", "log_lift_se", "shrink_log_lifts",
]  # fmt: skip

#: Default floor of the prior sd of true log lifts (1 %: ad creative tests rarely differ less than that).
TAU_FLOOR = 0.01
# fmt: off
PROMOTION_COLUMNS: list[str] = [
    "experiment_id", "primary_metric", "winner", "decided_at", "lift", "lift_low", "lift_high", "log_lift",
    "se_log_lift", "shrinkage", "lift_shrunk", "lift_shrunk_low", "lift_shrunk_high", "cumulative_lift",
    "cumulative_lift_shrunk", "cumulative_shrunk_low", "cumulative_shrunk_high",
]
CUMULATIVE_COLUMNS: list[str] = [
    "primary_metric", "promotions", "cumulative_lift", "cumulative_lift_shrunk", "cumulative_shrunk_low",
    "cumulative_shrunk_high", "prior_mean_lift", "prior_tau", "experiments_in_prior",
]
# fmt: on


class CompoundLearningError(ValueError):
    """Lifts, standard errors or settings that cannot be shrunk or compounded."""


@dataclass(frozen=True)
class LiftPrior:
    """``theta ~ N(mean, tau2)`` on the log-lift scale, fitted on ``k`` experiments by ``method``."""

    mean: float
    tau2: float
    k: int
    method: str


@dataclass(frozen=True)
class CompoundLearning:
    """``promotions``: one row per standing variant promotion (:data:`PROMOTION_COLUMNS`); ``cumulative``: one row
    per primary metric (:data:`CUMULATIVE_COLUMNS`); ``priors``: the fitted prior of each metric."""

    promotions: pd.DataFrame
    cumulative: pd.DataFrame
    priors: dict[str, LiftPrior]


def log_lift_se(
    lift: ArrayLike, z: ArrayLike, lift_low: ArrayLike, lift_high: ArrayLike, boundary: ArrayLike
) -> np.ndarray:
    """Standard error of ``log(1 + lift)``: ``|log(1 + lift) / z|``, else interval width / (2 boundary); NaN if
    neither is available."""
    y = np.log1p(np.asarray(lift, dtype=float))
    z = np.asarray(z, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        from_z = np.abs(y / z)
        width = np.log1p(np.asarray(lift_high, dtype=float)) - np.log1p(np.asarray(lift_low, dtype=float))
        from_ci = width / (2.0 * np.asarray(boundary, dtype=float))
    se = np.where(np.isfinite(from_z) & (from_z > 0), from_z, from_ci)
    return np.where(np.isfinite(se) & (se > 0), se, np.nan)


def fit_lift_prior(log_lift: ArrayLike, se: ArrayLike, *, tau_floor: float = TAU_FLOOR) -> LiftPrior:
    """DerSimonian-Laird random-effects prior of true log lifts (``tau >= tau_floor``); with one experiment the prior
    is centred on 0 with ``tau^2 = max(floor^2, y^2 - s^2)``."""
    y, s = np.asarray(log_lift, dtype=float), np.asarray(se, dtype=float)
    if y.shape != s.shape or y.ndim != 1:
        raise CompoundLearningError("log_lift and se must be 1-d arrays of the same length")
    if not (math.isfinite(tau_floor) and tau_floor > 0):
        raise CompoundLearningError(f"tau_floor must be a positive number, got {tau_floor!r}")
    if len(y) == 0:
        raise CompoundLearningError("no experiment to fit the lift prior on")
    if not (np.all(np.isfinite(y)) and np.all(np.isfinite(s)) and np.all(s > 0)):
        raise CompoundLearningError("log lifts must be finite and standard errors finite and > 0")
    if len(y) == 1:
        return LiftPrior(0.0, max(tau_floor**2, float(y[0] ** 2 - s[0] ** 2)), 1, "single experiment, mean 0")
    res = combine_effects(y, s**2, method_re="dl")
    return LiftPrior(float(res.mean_effect_re), max(tau_floor**2, float(res.tau2)), len(y), "DerSimonian-Laird")


def shrink_log_lifts(log_lift: ArrayLike, se: ArrayLike, prior: LiftPrior) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Posterior mean, posterior sd and shrinkage factor ``B = tau^2 / (tau^2 + s^2)`` of each log lift."""
    y, s = np.asarray(log_lift, dtype=float), np.asarray(se, dtype=float)
    if y.shape != s.shape:
        raise CompoundLearningError("log_lift and se must have the same shape")
    if np.any(~(s > 0)):
        raise CompoundLearningError("standard errors must be > 0")
    b = prior.tau2 / (prior.tau2 + s**2)
    return prior.mean + b * (y - prior.mean), np.sqrt(b) * s, b


def _estimates(decisions: pd.DataFrame, history: pd.DataFrame) -> pd.DataFrame:
    """One (log lift, se) per experiment for the prior: the deciding look of its latest promotion, else its latest
    look with a usable estimate."""
    cols = ["lift", "z", "lift_low", "lift_high", "boundary"]
    missing = [c for c in ("experiment_id", "look_at", "primary_metric", *cols) if c not in decisions.columns]
    if missing:
        raise CompoundLearningError(f"the decisions trail lacks columns {missing}")
    trail = decisions.assign(look_at=pd.to_datetime(decisions["look_at"], utc=True, format="ISO8601"))
    trail = trail.assign(**{c: pd.to_numeric(trail[c], errors="coerce") for c in cols})
    trail["se"] = log_lift_se(trail["lift"], trail["z"], trail["lift_low"], trail["lift_high"], trail["boundary"])
    trail["log_lift"] = np.log1p(trail["lift"].to_numpy(dtype=float))
    usable = trail[np.isfinite(trail["log_lift"]) & np.isfinite(trail["se"])]
    latest = usable.sort_values("look_at", kind="stable").drop_duplicates("experiment_id", keep="last")
    picks = latest.set_index("experiment_id")[["primary_metric", "log_lift", "se"]]
    if len(history):
        last_promo = history.sort_values("decided_at", kind="stable").drop_duplicates("experiment_id", keep="last")
        y = np.log1p(last_promo["lift"].to_numpy(dtype=float))
        s = log_lift_se(last_promo["lift"], last_promo["z"], last_promo["lift_low"], last_promo["lift_high"],
                        last_promo["boundary"])  # fmt: skip
        ok = np.isfinite(y) & np.isfinite(s)
        promo = pd.DataFrame(
            {"primary_metric": last_promo["primary_metric"].to_numpy(), "log_lift": y, "se": s},
            index=last_promo["experiment_id"].to_numpy(),
        )[ok]
        picks = pd.concat([picks.drop(index=promo.index, errors="ignore"), promo])
    return picks


def compound_learning(
    decisions: pd.DataFrame,
    variants: pd.DataFrame | None = None,
    *,
    tau_floor: float = TAU_FLOOR,
    level: float = 0.95,
) -> CompoundLearning:
    """Per standing variant promotion its naive and shrunk lift, and the running and total compound lift per metric
    (module docstring for the method). ``decisions``/``variants``: the ``experiment_decisions``/``_variants``
    trails."""
    if not 0 < level < 1:
        raise CompoundLearningError(f"level must be in (0, 1), got {level!r}")
    history = promotion_history(decisions, variants)
    estimates = _estimates(decisions, history) if len(decisions) else pd.DataFrame()
    keep = history["standing"].astype(bool) & ~history["winner_is_control"].fillna(False).astype(bool)
    promos = history[keep].copy()
    promos["log_lift"] = np.log1p(promos["lift"].to_numpy(dtype=float))
    promos["se_log_lift"] = log_lift_se(
        promos["lift"], promos["z"], promos["lift_low"], promos["lift_high"], promos["boundary"]
    )
    bad = promos[~(np.isfinite(promos["log_lift"]) & np.isfinite(promos["se_log_lift"]))]
    if len(bad):
        raise CompoundLearningError(f"promotions without a usable lift or standard error: {list(bad['experiment_id'])}")
    zq = float(stats.norm.ppf(0.5 + level / 2))
    priors: dict[str, LiftPrior] = {}
    out, totals = [], []
    for metric, group in promos.sort_values(["primary_metric", "decided_at"], kind="stable").groupby("primary_metric"):
        mine = estimates[estimates["primary_metric"] == metric]
        prior = fit_lift_prior(mine["log_lift"].to_numpy(), mine["se"].to_numpy(), tau_floor=tau_floor)
        priors[str(metric)] = prior
        g = group.copy()
        post, sd, b = shrink_log_lifts(g["log_lift"].to_numpy(), g["se_log_lift"].to_numpy(), prior)
        run_mean, run_sd = np.cumsum(post), np.sqrt(np.cumsum(sd**2))
        g["shrinkage"] = b
        g["lift_shrunk"] = np.expm1(post)
        g["lift_shrunk_low"], g["lift_shrunk_high"] = np.expm1(post - zq * sd), np.expm1(post + zq * sd)
        g["cumulative_lift"] = np.expm1(np.cumsum(g["log_lift"].to_numpy()))
        g["cumulative_lift_shrunk"] = np.expm1(run_mean)
        g["cumulative_shrunk_low"] = np.expm1(run_mean - zq * run_sd)
        g["cumulative_shrunk_high"] = np.expm1(run_mean + zq * run_sd)
        out.append(g[PROMOTION_COLUMNS])
        last = g.iloc[-1]
        totals.append(
            {
                "primary_metric": metric,
                "promotions": len(g),
                **{c: float(last[c]) for c in CUMULATIVE_COLUMNS[2:6]},
                "prior_mean_lift": math.expm1(prior.mean),
                "prior_tau": math.sqrt(prior.tau2),
                "experiments_in_prior": prior.k,
            }
        )
    promotions = pd.concat(out, ignore_index=True) if out else pd.DataFrame(columns=PROMOTION_COLUMNS)
    return CompoundLearning(promotions, pd.DataFrame(totals, columns=CUMULATIVE_COLUMNS), priors)


def _pct(x: float) -> str:
    return f"{x * 100:+.1f} %" if math.isfinite(x) else "n/a"


def compound_paragraph(result: CompoundLearning) -> str:
    """The report in words, one paragraph per primary metric: how many standing promotions compound, their naive
    total lift, the total after shrinking each for the winner's curse with its interval, and the prior it was shrunk
    to. Every number is a cell of ``result`` (formatted ``+12.3 %``)."""
    if not len(result.cumulative):
        return "No standing variant promotion yet: nothing has compounded."
    parts = []
    for r in result.cumulative.itertuples():
        mine = result.promotions[result.promotions["primary_metric"] == r.primary_metric]
        each = "; ".join(
            f"'{p.winner}' in '{p.experiment_id}' {_pct(p.lift)} measured, {_pct(p.lift_shrunk)} shrunk"
            for p in mine.itertuples()
        )
        parts.append(
            f"{r.primary_metric}: {r.promotions} standing promotion(s) ({each}). Taken at face value they compound "
            f"to {_pct(r.cumulative_lift)}; shrunk for the winner's curse to {_pct(r.cumulative_lift_shrunk)} "
            f"(interval {_pct(r.cumulative_shrunk_low)} to {_pct(r.cumulative_shrunk_high)}), against a prior "
            f"mean lift of {_pct(r.prior_mean_lift)} fitted on {r.experiments_in_prior} experiment(s)."
        )
    return "\n\n".join(parts)
