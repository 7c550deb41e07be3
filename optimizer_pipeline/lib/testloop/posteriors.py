"""Beta-Binomial posteriors per creative pattern: mean, credible interval and P(best).

Pure logic (numpy/scipy/pandas, no Dagster). A pattern is identified by its canonical hash
(:mod:`optimizer_pipeline.lib.testloop.pattern_hash`). Given the prior ``Beta(alpha0, beta0)``
(:mod:`optimizer_pipeline.lib.testloop.prior`) and a pattern's ``clicks`` and ``conversions``, the posterior is
``Beta(alpha0 + conversions / deff, beta0 + (clicks - conversions) / deff)``: ``deff`` is the pattern's design
effect over its traffic sources (``utm_id``), ``1 + (sum n_s^2 / N - 1) * rho`` for the client's intra-class
correlation ``rho`` (:mod:`optimizer_pipeline.lib.testloop.source_clustering`; ``rho = 0`` gives ``deff = 1``, the
independent-clicks posterior). The posterior then targets the pattern's rate across influencers, and its variance is
that of the cluster model. :func:`posterior_table` gives mean, equal-tailed 95 % credible interval and P(best) per
pattern, optionally with old data discounted (``decay`` per day of age, applied per row before the sources are
totalled). Predictions for patterns never tested live in :mod:`optimizer_pipeline.lib.testloop.backoff`.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from optimizer_pipeline.lib.testloop.prior import BetaPrior
from optimizer_pipeline.lib.testloop.source_clustering import design_effects, source_totals

#: Stable output columns of :func:`posterior_table`.
POSTERIOR_COLUMNS: tuple[str, ...] = (
    "pattern_hash",
    "alpha",
    "beta",
    "mean",
    "ci_low",
    "ci_high",
    "clicks",
    "conversions",
    "p_best",
    "design_effect",
    "effective_clicks",
    "effective_conversions",
)
#: Monte Carlo draws for P(best): the standard error is at most 0.5 / sqrt(draws), so 40,000 draws give +-0.005
#: at ~95 % confidence (1.96 * 0.5 / 200 = 0.0049).
DEFAULT_P_BEST_DRAWS = 40_000
CREDIBLE_LEVEL = 0.95


def credible_interval(alpha: np.ndarray | float, beta: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
    """Equal-tailed :data:`CREDIBLE_LEVEL` interval of ``Beta(alpha, beta)`` (element-wise for arrays)."""
    tail = (1 - CREDIBLE_LEVEL) / 2
    return stats.beta.ppf(tail, alpha, beta), stats.beta.ppf(1 - tail, alpha, beta)


def _row_weights(df: pd.DataFrame, decay: float | None) -> np.ndarray | None:
    """``decay ** age_days`` per row so old data count less (validated); ``None`` without decay."""
    if decay is None:
        return None
    if not 0 < decay <= 1:
        raise ValueError("decay must be in (0, 1] (weight multiplier per day of age)")
    if "age_days" not in df.columns:
        raise ValueError("decay needs an 'age_days' column (age of each row's data in days)")
    age = df["age_days"].astype(float).to_numpy()
    if np.any(age < 0) or np.any(~np.isfinite(age)):
        raise ValueError("age_days must be finite and >= 0")
    return decay**age


def p_best_monte_carlo(
    alpha: np.ndarray, beta: np.ndarray, *, draws: int = DEFAULT_P_BEST_DRAWS, seed: int | None = 0
) -> np.ndarray:
    """Share of ``draws`` joint posterior draws in which each arm has the highest rate (seeded, chunked)."""
    alpha, beta = np.asarray(alpha, dtype=float), np.asarray(beta, dtype=float)
    k = len(alpha)
    if k == 0:
        return np.zeros(0)
    if k == 1:
        return np.ones(1)
    rng = np.random.default_rng(seed)
    wins = np.zeros(k, dtype=np.int64)
    chunk = max(1, min(draws, 2_000_000 // k))
    done = 0
    while done < draws:
        m = min(chunk, draws - done)
        winners = rng.beta(alpha, beta, size=(m, k)).argmax(axis=1)
        wins += np.bincount(winners, minlength=k)
        done += m
    return wins / draws


def posterior_table(
    df: pd.DataFrame,
    *,
    prior: BetaPrior,
    decay: float | None = None,
    rho: float = 0.0,
    p_best_draws: int = DEFAULT_P_BEST_DRAWS,
    seed: int | None = 0,
) -> pd.DataFrame:
    """One row per pattern, columns :data:`POSTERIOR_COLUMNS`, sorted by pattern_hash.

    ``df`` has ``pattern_hash, clicks, conversions`` and optionally ``utm_id`` (traffic source) and ``age_days``;
    it may hold several rows per pattern (e.g. one per source and day). With ``decay`` (weight multiplier per day,
    in (0, 1]) each row is first weighted by ``decay ** age_days`` (``age_days`` required), so ``clicks`` /
    ``conversions`` in the output are the effective, discounted counts. The rows are then totalled per source and the
    pattern's design effect computed for ``rho`` (``source_clustering.design_effects``; a missing or ``None`` utm_id
    is one source); ``effective_clicks = clicks / design_effect``, likewise
    ``effective_conversions``. ``alpha = prior.alpha + effective_conversions``, ``beta = prior.beta +
    effective_clicks - effective_conversions``; the interval is the equal-tailed 95 % credible interval; ``p_best`` is
    the Monte Carlo probability (``p_best_draws`` seeded draws) that the pattern has the highest rate of all rows.
    """
    missing = {"pattern_hash", "clicks", "conversions"} - set(df.columns)
    if missing:
        raise ValueError(f"missing columns {sorted(missing)}")
    counts = design_effects(source_totals(df, _row_weights(df, decay)), rho)
    n, k = counts["clicks"].to_numpy(), counts["conversions"].to_numpy()
    if np.any(k < 0) or np.any(k > n + 1e-9):
        raise ValueError("need 0 <= conversions <= clicks per pattern")
    n_eff, k_eff = counts["effective_clicks"].to_numpy(), counts["effective_conversions"].to_numpy()
    alpha = prior.alpha + k_eff
    beta = prior.beta + np.maximum(n_eff - k_eff, 0.0)
    ci_low, ci_high = credible_interval(alpha, beta)
    out = pd.DataFrame(
        {
            "pattern_hash": counts["pattern_hash"].astype(str),
            "alpha": alpha,
            "beta": beta,
            "mean": alpha / (alpha + beta),
            "ci_low": ci_low,
            "ci_high": ci_high,
            "clicks": n,
            "conversions": k,
            "p_best": p_best_monte_carlo(alpha, beta, draws=p_best_draws, seed=seed),
            "design_effect": counts["design_effect"].to_numpy(),
            "effective_clicks": n_eff,
            "effective_conversions": k_eff,
        }
    )
    return out.loc[:, list(POSTERIOR_COLUMNS)].reset_index(drop=True)
