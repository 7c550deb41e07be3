"""Beta-Binomial posteriors per creative pattern, an empirical-Bayes prior and a back-off predictor.

Pure logic (numpy/scipy/pandas, no Dagster). A pattern is identified by its canonical hash
``hook:question|emo:curiosity|pace:fast|pain:no_time|cta:urgency`` (same order and tags as
:func:`optimizer_pipeline.lib.features.labels.vocabulary.pattern_key`); a *partial* hash keeps only some attributes,
still in canonical order (``hook:question|pace:fast``), and names a coarser group of patterns.

Model: every pattern has a true conversion rate ``p ~ Beta(alpha0, beta0)``; given ``clicks`` (unique visitors) the
conversions are ``Binomial(clicks, p)``, so the posterior is
``Beta(alpha0 + conversions, beta0 + clicks - conversions)``.

* :func:`fit_prior` fits ``alpha0, beta0`` to the client's own history by maximising the Beta-Binomial marginal
  likelihood inside bounds (prior strength ``alpha0 + beta0`` and prior mean), with a documented fallback.
* :func:`posterior_table` gives mean, equal-tailed 95 % credible interval and P(best) per pattern, optionally with
  old data discounted (``decay`` per day of age).
* :func:`predict_rate` predicts a pattern that was never tested: exact match, else back off to the best-supported
  coarser pattern (its posterior becomes the prior of the finer one, capped at ``pseudo_count``), else the prior;
  the interval of a back-off prediction is predictive (a new pattern's spread plus the centre's uncertainty).
* :func:`leave_one_pattern_out` measures that predictor's MAE and interval hit rate.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from optimizer_pipeline.lib.features.labels.vocabulary import PATTERN_TAGS

#: Attribute tags of a pattern hash, in canonical order.
ATTRIBUTES: tuple[str, ...] = tuple(tag for _, tag in PATTERN_TAGS)
#: Long field names (as in the labels) accepted by :func:`pattern_hash` as aliases of the tags.
_FIELD_TO_TAG: dict[str, str] = {field: tag for field, tag in PATTERN_TAGS}
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
)
#: Monte Carlo draws for P(best): the standard error is at most 0.5 / sqrt(draws), so 40,000 draws give +-0.005
#: at ~95 % confidence (1.96 * 0.5 / 200 = 0.0049).
DEFAULT_P_BEST_DRAWS = 40_000
CREDIBLE_LEVEL = 0.95


# --------------------------------------------------------------------------------------------------------------------
# pattern hashes


def parse_pattern(pattern: str) -> dict[str, str]:
    """``"hook:question|emo:curiosity"`` -> ``{"hook": "question", "emo": "curiosity"}`` (full or partial hash).

    The empty string is the root pattern (no attribute). Raises ``ValueError`` for unknown tags, duplicates, a part
    without ``:`` or tags out of canonical order (two spellings of one pattern must never count as two patterns).
    """
    if not pattern:
        return {}
    attrs: dict[str, str] = {}
    for part in pattern.split("|"):
        tag, sep, value = part.partition(":")
        if not sep or not value:
            raise ValueError(f"bad pattern part {part!r} in {pattern!r} (expected tag:value)")
        if tag not in ATTRIBUTES:
            raise ValueError(f"unknown attribute {tag!r} in {pattern!r}; expected one of {list(ATTRIBUTES)}")
        if tag in attrs:
            raise ValueError(f"attribute {tag!r} repeated in {pattern!r}")
        attrs[tag] = value
    if pattern_hash(attrs) != pattern:
        raise ValueError(f"pattern {pattern!r} is not canonical; expected {pattern_hash(attrs)!r}")
    return attrs


def pattern_hash(attrs: Mapping[str, str]) -> str:
    """Canonical hash of ``attrs`` (keys are tags ``hook/emo/pace/pain/cta`` or field names ``hook_type``...).

    Attributes keep canonical order (hook, emo, pace, pain, cta) whatever the dict order; missing attributes are left
    out, which gives the partial hash of a coarser pattern. Values must not contain ``|`` or ``:``.
    """
    values: dict[str, str] = {}
    for key, value in attrs.items():
        tag = _FIELD_TO_TAG.get(key, key)
        if tag not in ATTRIBUTES:
            raise ValueError(f"unknown attribute {key!r}; expected one of {list(ATTRIBUTES)}")
        if tag in values:
            raise ValueError(f"attribute {tag!r} given twice")
        value = str(value)
        if not value or "|" in value or ":" in value:
            raise ValueError(f"bad value {value!r} for {tag!r}")
        values[tag] = value
    return "|".join(f"{tag}:{values[tag]}" for tag in ATTRIBUTES if tag in values)


# --------------------------------------------------------------------------------------------------------------------
# prior


@dataclass(frozen=True)
class PriorBounds:
    """Allowed range of the fitted prior: strength ``alpha + beta`` and mean ``alpha / (alpha + beta)``."""

    strength: tuple[float, float] = (2.0, 200.0)
    mean: tuple[float, float] = (0.001, 0.5)


@dataclass(frozen=True)
class BetaPrior:
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


# --------------------------------------------------------------------------------------------------------------------
# posterior table


def _decayed_counts(df: pd.DataFrame, decay: float | None) -> pd.DataFrame:
    out = df[["pattern_hash", "clicks", "conversions"]].copy()
    out["clicks"] = out["clicks"].astype(float)
    out["conversions"] = out["conversions"].astype(float)
    if decay is not None:
        if not 0 < decay <= 1:
            raise ValueError("decay must be in (0, 1] (weight multiplier per day of age)")
        if "age_days" not in df.columns:
            raise ValueError("decay needs an 'age_days' column (age of each row's data in days)")
        age = df["age_days"].astype(float).to_numpy()
        if np.any(age < 0) or np.any(~np.isfinite(age)):
            raise ValueError("age_days must be finite and >= 0")
        weight = decay**age
        out["clicks"] *= weight
        out["conversions"] *= weight
    return out.groupby("pattern_hash", sort=True, as_index=False)[["clicks", "conversions"]].sum()


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
    p_best_draws: int = DEFAULT_P_BEST_DRAWS,
    seed: int | None = 0,
) -> pd.DataFrame:
    """One row per pattern: ``pattern_hash, alpha, beta, mean, ci_low, ci_high, clicks, conversions, p_best``.

    ``df`` has ``pattern_hash, clicks, conversions`` and may hold several rows per pattern (e.g. one per day); they
    are summed. With ``decay`` (weight multiplier per day, in (0, 1]) each row is weighted by ``decay ** age_days``
    (``age_days`` column required), so ``clicks``/``conversions`` in the output are the effective, discounted counts.
    ``alpha = prior.alpha + conversions``, ``beta = prior.beta + clicks - conversions``; the interval is the
    equal-tailed 95 % credible interval; ``p_best`` is the Monte Carlo probability (``p_best_draws`` seeded draws)
    that the pattern has the highest rate of all rows. Rows are sorted by pattern_hash.
    """
    missing = {"pattern_hash", "clicks", "conversions"} - set(df.columns)
    if missing:
        raise ValueError(f"missing columns {sorted(missing)}")
    counts = _decayed_counts(df, decay)
    n, k = counts["clicks"].to_numpy(), counts["conversions"].to_numpy()
    if np.any(k < 0) or np.any(k > n + 1e-9):
        raise ValueError("need 0 <= conversions <= clicks per pattern")
    alpha = prior.alpha + k
    beta = prior.beta + np.maximum(n - k, 0.0)
    tail = (1 - CREDIBLE_LEVEL) / 2
    out = pd.DataFrame(
        {
            "pattern_hash": counts["pattern_hash"].astype(str),
            "alpha": alpha,
            "beta": beta,
            "mean": alpha / (alpha + beta),
            "ci_low": stats.beta.ppf(tail, alpha, beta),
            "ci_high": stats.beta.ppf(1 - tail, alpha, beta),
            "clicks": n,
            "conversions": k,
            "p_best": p_best_monte_carlo(alpha, beta, draws=p_best_draws, seed=seed),
        }
    )
    return out.loc[:, list(POSTERIOR_COLUMNS)].reset_index(drop=True)


# --------------------------------------------------------------------------------------------------------------------
# back-off predictor


class Prediction(NamedTuple):
    mean: float
    ci_low: float
    ci_high: float
    method: str  # "exact" | "partial:<parent hash>" | "prior"
    n: float  # clicks behind the prediction (own clicks, the parent's clicks, or 0 for the prior)


def _interval(a: float, b: float) -> tuple[float, float]:
    tail = (1 - CREDIBLE_LEVEL) / 2
    return float(stats.beta.ppf(tail, a, b)), float(stats.beta.ppf(1 - tail, a, b))


class _Observed:
    """Observed counts split into attribute columns, for fast sums over partial patterns."""

    def __init__(self, observed: pd.DataFrame):
        counts = observed.groupby("pattern_hash", sort=True)[["clicks", "conversions"]].sum()
        self.hashes = counts.index.astype(str).to_numpy()
        self.clicks = counts["clicks"].to_numpy(dtype=float)
        self.conv = counts["conversions"].to_numpy(dtype=float)
        parsed = [parse_pattern(h) for h in self.hashes]
        self.attr = {t: np.array([p.get(t) for p in parsed], dtype=object) for t in ATTRIBUTES}
        self.index = {h: i for i, h in enumerate(self.hashes)}

    def _mask(self, attrs: Mapping[str, str], exclude: int | None) -> np.ndarray:
        mask = np.ones(len(self.hashes), dtype=bool)
        for tag, value in attrs.items():
            mask &= self.attr[tag] == value
        if exclude is not None:
            mask[exclude] = False
        return mask

    def totals(self, attrs: Mapping[str, str], exclude: int | None = None) -> tuple[float, float]:
        mask = self._mask(attrs, exclude)
        return float(self.clicks[mask].sum()), float(self.conv[mask].sum())

    def patterns_with_clicks(self, attrs: Mapping[str, str], exclude: int | None = None) -> int:
        """How many observed patterns (with clicks) a partial pattern covers: the units its mean is averaged over."""
        return int(np.count_nonzero(self._mask(attrs, exclude) & (self.clicks > 0)))


def _predict(pattern: str, obs: _Observed, prior: BetaPrior, pseudo_count: float, exclude: int | None) -> Prediction:
    attrs = parse_pattern(pattern)
    i = obs.index.get(pattern)
    if i is not None and i != exclude and obs.clicks[i] > 0:
        a, b = prior.alpha + obs.conv[i], prior.beta + obs.clicks[i] - obs.conv[i]
        return Prediction(a / (a + b), *_interval(a, b), "exact", float(obs.clicks[i]))

    # Back-off chain, finest first: from the full attribute set drop one attribute at a time, keeping the subset
    # with the most clicks (ties: canonical order); stop at the root. Only subsets with clicks count as parents.
    chain: list[tuple[dict[str, str], float, float]] = []
    current = dict(attrs)
    while len(current) > 1:
        best: tuple[float, float, dict[str, str]] | None = None
        for drop in current:
            sub = {t: v for t, v in current.items() if t != drop}
            c, v = obs.totals(sub, exclude)
            if best is None or c > best[0]:
                best = (c, v, sub)
        current = best[2]
        if best[0] > 0:
            chain.append((current, best[0], best[1]))
    if not chain:
        m = prior.mean
        a, b = _predictive(m, pseudo_count, int(np.count_nonzero(obs.clicks > 0)) - (exclude is not None), 0.0)
        return Prediction(m, *_interval(a, b), "prior", 0.0)

    # Coarsest to finest: the parent's posterior, rescaled to at most `pseudo_count` pseudo-observations, is the
    # prior of the next finer pattern; the finest parent's rescaled mean is the prediction's centre.
    a, b = prior.alpha, prior.beta
    for _, c, v in reversed(chain):
        pa, pb = a + v, b + c - v
        strength = min(pseudo_count, pa + pb)
        m = pa / (pa + pb)
        a, b = m * strength, (1 - m) * strength
    parent, c, _ = chain[0]
    m = a / (a + b)
    a, b = _predictive(m, pseudo_count, obs.patterns_with_clicks(parent, exclude), c)
    return Prediction(m, *_interval(a, b), f"partial:{pattern_hash(parent)}", c)


def _predictive(mean: float, pseudo_count: float, units: int, clicks: float) -> tuple[float, float]:
    """Beta(a, b) with the given mean and the variance of a NEW pattern's rate around an estimated centre.

    A new pattern varies around its group's centre by the between-pattern spread ``var_between = m (1 - m) /
    (pseudo_count + 1)`` (the variance of ``Beta(m * pseudo_count, (1 - m) * pseudo_count)``), and the centre itself
    is only known from ``units`` patterns (plus binomial noise over ``clicks``): ``var = var_between * (1 + 1 / units)
    + m (1 - m) / clicks``. Why: patterns, not clicks, are the units rates vary over. A parent backed by one sibling
    with 5,000 clicks still says little about the next sibling; without the second term the 95 % intervals covered
    only 75-81 % of held-out rates in simulation (12 patterns, rates drawn from the prior), with it about 95 %.
    """
    m = min(max(mean, 1e-9), 1 - 1e-9)
    var_between = m * (1 - m) / (pseudo_count + 1)
    var = var_between * (1 + 1 / max(units, 1)) + (m * (1 - m) / clicks if clicks > 0 else 0.0)
    strength = max(m * (1 - m) / var - 1, 1e-3)
    return m * strength, (1 - m) * strength


def predict_rate(
    pattern: str, observed: pd.DataFrame, prior: BetaPrior, *, pseudo_count: float | None = None
) -> Prediction:
    """Predicted rate of ``pattern`` from ``observed`` (``pattern_hash, clicks, conversions``; extra columns ignored).

    * ``exact``: the pattern has clicks: its posterior under ``prior``.
    * ``partial:<parent>``: back off by dropping attributes (greedily keeping the best-supported coarser pattern) until
      a coarser pattern has data. Shrinkage runs from coarse to fine: each level's posterior, rescaled to the same mean
      with strength ``min(pseudo_count, alpha + beta)``, is the prior of the next finer level. The prediction's mean
      is that rescaled mean of the finest parent; its interval is a predictive one (:func:`_predictive`): the spread
      of ``pseudo_count`` pseudo-observations (a sibling varies around its parent at least as much as patterns vary
      around the client mean, which empirical Bayes measured as ``alpha0 + beta0``), widened by how uncertain the
      parent's centre is, given how many patterns it averages.
    * ``prior``: nothing matches: the prior's mean, with the same predictive interval over all observed patterns.
    """
    pc = prior.strength if pseudo_count is None else float(pseudo_count)
    if pc <= 0:
        raise ValueError("pseudo_count must be > 0")
    return _predict(pattern, _Observed(observed), prior, pc, None)


class LooResult(NamedTuple):
    mae: float
    hit_rate: float


def leave_one_pattern_out(
    observed: pd.DataFrame, prior: BetaPrior, *, pseudo_count: float | None = None, min_clicks: float = 1
) -> LooResult:
    """MAE and hit rate of :func:`predict_rate` when each pattern (with >= ``min_clicks`` clicks) is held out.

    For every such pattern the predictor sees all *other* patterns (the prior stays as given: refitting it per fold
    changes it negligibly when there are many patterns). MAE = mean |predicted mean - held-out observed rate
    (conversions / clicks)|. Hit = the held-out observed rate lies inside the predicted 95 % interval (bounds
    included); hit_rate = share of hits. The observed rate is itself noisy, so for small patterns the hit rate
    measures interval calibration plus sampling noise. Returns ``(nan, nan)`` when no pattern qualifies.
    """
    pc = prior.strength if pseudo_count is None else float(pseudo_count)
    obs = _Observed(observed)
    errors, hits = [], []
    for i, h in enumerate(obs.hashes):
        if obs.clicks[i] < max(min_clicks, 1e-12):
            continue
        rate = obs.conv[i] / obs.clicks[i]
        pred = _predict(h, obs, prior, pc, exclude=i)
        errors.append(abs(pred.mean - rate))
        hits.append(pred.ci_low <= rate <= pred.ci_high)
    if not errors:
        return LooResult(float("nan"), float("nan"))
    return LooResult(float(np.mean(errors)), float(np.mean(hits)))
