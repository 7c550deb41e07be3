"""Predicted conversion rate of a pattern never tested: back off to the best-supported coarser pattern.

* :func:`predict_rate` (:func:`predict_rates` for many patterns): exact match, else back off to the best-supported
  coarser pattern (its posterior becomes the prior of the finer one, capped at ``pseudo_count``), else the prior; the
  interval of a back-off prediction is predictive (a new pattern's spread plus the centre's uncertainty). Counts may
  be effective counts (clicks / design effect over traffic sources), as ``build_posteriors`` passes them.
* :func:`leave_one_pattern_out` measures that predictor's MAE and interval hit rate.

Pure logic (numpy/pandas, no Dagster); partial hashes are parsed by :mod:`optimizer_pipeline.lib.testloop.pattern_hash`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import NamedTuple

import numpy as np
import pandas as pd

from optimizer_pipeline.lib.testloop.pattern_hash import ATTRIBUTES, parse_pattern, pattern_hash
from optimizer_pipeline.lib.testloop.posteriors import credible_interval
from optimizer_pipeline.lib.testloop.prior import BetaPrior


class Prediction(NamedTuple):
    """A predicted rate with its interval and where it came from (the report shows ``method``)."""

    mean: float
    ci_low: float
    ci_high: float
    method: str  # "exact" | "partial:<parent hash>" | "prior"
    n: float  # clicks behind the prediction (own clicks, the parent's clicks, or 0 for the prior)


def _interval(a: float, b: float) -> tuple[float, float]:
    """The posterior module's credible interval, as plain floats for a :class:`Prediction`."""
    low, high = credible_interval(a, b)
    return float(low), float(high)


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


def predict_rates(
    patterns: Collection[str], observed: pd.DataFrame, prior: BetaPrior, *, pseudo_count: float | None = None
) -> list[Prediction]:
    """:func:`predict_rate` for many patterns at once (the observed counts are indexed once, not once per pattern)."""
    pc = prior.strength if pseudo_count is None else float(pseudo_count)
    if pc <= 0:
        raise ValueError("pseudo_count must be > 0")
    obs = _Observed(observed)
    return [_predict(p, obs, prior, pc, None) for p in patterns]


class LooResult(NamedTuple):
    """Leave-one-pattern-out accuracy of :func:`predict_rate`."""

    mae: float
    hit_rate: float


def leave_one_pattern_out(
    observed: pd.DataFrame,
    prior: BetaPrior,
    *,
    pseudo_count: float | None = None,
    min_clicks: float = 1,
    held_out: Collection[str] | None = None,
) -> LooResult:
    """MAE and hit rate of :func:`predict_rate` when each pattern (with >= ``min_clicks`` clicks) is held out.

    ``held_out`` (pattern hashes), when given, replaces the ``min_clicks`` rule (patterns without clicks are still
    skipped): e.g. choose by observed clicks while ``observed`` holds effective counts (clicks / design effect).

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
        if obs.clicks[i] <= 0 or (obs.clicks[i] < min_clicks if held_out is None else h not in held_out):
            continue
        rate = obs.conv[i] / obs.clicks[i]
        pred = _predict(h, obs, prior, pc, exclude=i)
        errors.append(abs(pred.mean - rate))
        hits.append(pred.ci_low <= rate <= pred.ci_high)
    if not errors:
        return LooResult(float("nan"), float("nan"))
    return LooResult(float(np.mean(errors)), float(np.mean(hits)))
