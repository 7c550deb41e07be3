"""Thompson sampling over pattern posteriors: a fast decision loop and reproducible test recommendations.

* :class:`ThompsonSampler` keeps ``alpha``/``beta`` as float arrays; :meth:`ThompsonSampler.decide` is exact
  Thompson sampling (argmax of one independent posterior draw per arm). With many arms it inverts one uniform per
  arm through a table of posterior quantiles and computes the exact draw only for the few arms that can still win
  (about 30-45 us for 1,000 arms here, against about 75-100 us for a ``Generator.beta`` draw of every arm); blocks
  of consecutive decisions amortise the numpy call overhead and are discarded on update.
* :func:`recommend` ranks patterns by their Thompson win share (share of ``draws`` joint posterior draws each wins),
  keeps every pattern still inside the ignorance zone, explains each pick, and splits the next test budget by win
  share with a floor for ignorance-zone patterns. The seed is recorded (``result.attrs["seed"]`` and a ``seed``
  column), so the same call reproduces the same recommendation exactly.

Fatigue discount (``weights`` / ``decay_weight``, :mod:`optimizer_pipeline.lib.testloop.fatigue_weights`): a weight
``w`` in (0, 1] per arm reads "this pattern is expected to deliver ``w`` times the rate its history shows" (its ads
are fatigued). Each decision is then the argmax of ``w_i * X_i`` over one posterior draw ``X_i`` per arm: exact
Thompson sampling for the value ``w * rate``, so win shares stay probabilities of being best (of the discounted
values) and the lost share goes to the arms most likely to beat the discounted one, not pro rata to everyone.
Why not discount the posterior counts instead (a power prior, ``alpha0 + w * k``): that widens the posterior but
keeps its mean, and a wider posterior *gains* Thompson share whenever the arm is not the favourite, the opposite of a
fatigue discount. A discounted pattern is never removed: every weight is > 0, and :func:`recommend` keeps every
pattern it would have kept without the discount. ``w = 1`` everywhere gives the undiscounted draws bit for bit.

Posterior reshaping (``sharpness`` kappa >= 1, :func:`reshape_posterior`): each decision draws arm ``i`` from
``Beta(kappa * alpha_i, kappa * beta_i)`` instead of its posterior, the same mean with about ``1 / kappa`` of the
variance, so the allocation commits to the leader earlier (Chapelle & Li 2011). It is the policy
``benchmarks/bandit.py`` measures on the Upworthy tests (:class:`~optimizer_pipeline.lib.testloop.batch_thompson.
BatchThompson`, kappa cross-fitted to 8 or 16 there), through the same function. Reshaping is an allocation policy,
not a belief: P(best) stays the plain posterior probability, and :func:`recommend` uses kappa only for ``win_share``
/ ``budget_share`` (its labels still read the unreshaped shares). ``kappa = 1`` gives today's draws bit for bit.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import betaincinv

#: Win share at or above which a pattern is called a high-confidence winner.
WINNER_SHARE = 0.9
#: Win share at or above which a pattern is called promising (below: long shot).
PROMISING_SHARE = 0.05
#: Default budget floor for each ignorance-zone pattern.
DEFAULT_FLOOR = 0.05
#: Default posterior reshaping: 1 = plain Thompson sampling.
DEFAULT_SHARPNESS = 1.0


#: From this many arms on, :meth:`ThompsonSampler.decide` decides by exact inversion over a quantile table.
TABLE_MIN_ARMS = 64
#: Decisions made with plain Beta draws after a full invalidation before the quantile table is (re)built.
TABLE_REBUILD_AFTER = 512
_LEVELS = 48  # table cells: 4 per halving of 1 - U, 12 halvings (U up to 1 - 2**-12); the last cell reaches 1.0
_ONE_KEY = 1023 << 2  # (bits of 1.0) >> 50: biased exponent and the two leading mantissa bits


def _cell_lower_u() -> np.ndarray:
    """Lower end (in U) of each table cell. A cell is a value of (bits of 1 - U) >> 50, i.e. the binary exponent and
    the two leading mantissa bits of 1 - U: quarter-octave steps that get finer towards U = 1, read with one shift."""
    key = _ONE_KEY - np.arange(_LEVELS + 1)
    exponent, quarter = (key >> 2) - 1023, key & 3
    y_high = np.ldexp(1.0 + (quarter + 1) / 4.0, exponent)  # cell c holds 1 - U in [y_low, y_high)
    u_low = np.maximum(1.0 - y_high, 0.0)
    u_low[0] = 0.0  # cell 0 is U = 0 exactly
    return u_low


_U_LEVELS = _cell_lower_u()


def check_weights(weights: Any, arms: int) -> np.ndarray:
    """Per-arm discount weights as a float array, each in (0, 1] (a discount never removes an arm)."""
    w = np.array(weights, dtype=np.float64)
    if w.shape != (arms,):
        raise ValueError(f"weights must have one entry per arm ({arms}), got shape {w.shape}")
    bad = ~(np.isfinite(w) & (w > 0) & (w <= 1))
    if bad.any():
        raise ValueError(f"weights must be in (0, 1]; arm {int(np.flatnonzero(bad)[0])} has {w[bad][0]:g}")
    return w


def reshape_posterior(alpha: Any, beta: Any, sharpness: float) -> tuple[Any, Any]:
    """Posterior reshaping (Chapelle & Li 2011, "An Empirical Evaluation of Thompson Sampling", section 4): the
    parameters ``(kappa * alpha, kappa * beta)`` of the Beta an arm is drawn from. Same mean, variance about
    ``1 / kappa`` of the posterior's, so Thompson sampling commits earlier. The one definition shared by
    :class:`ThompsonSampler`, :func:`recommend` and the benchmarked ``BatchThompson``."""
    return sharpness * alpha, sharpness * beta


def check_sharpness(sharpness: Any) -> float:
    """``sharpness`` as a float: a finite number >= 1 (1 = plain Thompson sampling; below 1 would flatten the
    posterior, i.e. explore more, which the test loop does not offer)."""
    if isinstance(sharpness, bool) or not isinstance(sharpness, int | float | np.integer | np.floating):
        raise ValueError(f"sharpness must be a finite number >= 1 (1 = plain Thompson sampling), got {sharpness!r}")
    kappa = float(sharpness)
    if not (np.isfinite(kappa) and kappa >= 1):
        raise ValueError(f"sharpness must be a finite number >= 1 (1 = plain Thompson sampling), got {sharpness!r}")
    return kappa


class ThompsonSampler:
    """Beta-Bernoulli Thompson sampler: ``decide()`` -> arm index, ``update(arm, successes, failures)``.

    Every decision is exact Thompson sampling (the argmax of one independent posterior draw per arm). Two ways to
    draw, chosen for speed:

    * few arms: ``Generator.beta`` draws, made in blocks of consecutive decisions (1, 2, 4, ... up to ``block``
      after each update; a block is discarded on update, so at most half of the drawn rows are ever wasted);
    * ``>= TABLE_MIN_ARMS`` arms: inversion, X_i = F_i^-1(U_i) with one uniform per arm. A table of posterior
      quantiles (denser towards the upper tail) bounds every X_i by the table cell its U_i falls in; only the arms
      whose upper bound reaches the largest lower bound - usually one to a few - are inverted exactly
      (``scipy.special.betaincinv``). One uniform per arm is much cheaper than the two gamma draws of a Beta draw.
      ``update(arm)`` refreshes that arm's table row at the next decision; ``update_many`` invalidates the table,
      which is rebuilt after ``TABLE_REBUILD_AFTER`` decisions (plain Beta draws meanwhile), so alternating bulk
      updates and decisions never pays a rebuild per decision.

    ``sharpness`` kappa >= 1 draws every arm from its reshaped posterior ``Beta(kappa * alpha, kappa * beta)``
    (:func:`reshape_posterior`) on both paths; ``alpha``/``beta`` stay the posterior's own parameters.
    """

    __slots__ = ("_buf", "_direct", "_dirty", "_next", "_offsets", "_pos", "_rng", "_table", "alpha", "beta", "block",
                 "seed", "sharpness", "weights")  # fmt: skip

    def __init__(
        self,
        alpha: np.ndarray,
        beta: np.ndarray,
        seed: int | None = None,
        *,
        block: int = 32,
        weights: np.ndarray | None = None,
        sharpness: float = DEFAULT_SHARPNESS,
    ):
        self.alpha = np.array(alpha, dtype=np.float64)
        self.beta = np.array(beta, dtype=np.float64)
        if self.alpha.ndim != 1 or self.alpha.shape != self.beta.shape or len(self.alpha) == 0:
            raise ValueError("alpha and beta must be equal-length non-empty 1-d arrays")
        if np.any(self.alpha <= 0) or np.any(self.beta <= 0):
            raise ValueError("alpha and beta must be > 0")
        if block < 1:
            raise ValueError("block must be >= 1")
        self.weights = None if weights is None else check_weights(weights, len(self.alpha))
        self.sharpness = check_sharpness(sharpness)
        self.seed = seed
        self.block = int(block)
        self._rng = np.random.default_rng(seed)
        self._buf = np.empty(0, dtype=np.intp)
        self._pos = 0
        self._next = 1
        self._table: np.ndarray | None = None
        self._offsets = np.empty(0, dtype=np.intp)
        self._dirty: set[int] = set()
        self._direct = 0 if len(self.alpha) < TABLE_MIN_ARMS else TABLE_REBUILD_AFTER

    def decide(self) -> int:
        """One Thompson decision (served from the current block of pre-drawn decisions)."""
        if self._pos >= len(self._buf):
            self._buf = self._draw(self._next)
            self._pos = 0
            self._next = min(2 * self._next, self.block)
        arm = self._buf[self._pos]
        self._pos += 1
        return int(arm)

    def _draw(self, size: int) -> np.ndarray:
        if len(self.alpha) >= TABLE_MIN_ARMS:
            if self._table is None and self._direct >= TABLE_REBUILD_AFTER:
                self._table = self._quantiles(np.arange(len(self.alpha)))
                self._offsets = np.arange(len(self.alpha)) * (_LEVELS + 2) + _ONE_KEY
                self._dirty.clear()
            if self._table is not None:
                return self._inverse_decisions(size)
            self._direct += size
        return self._beta_decisions(size)

    def _params(self, arms: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """The Beta parameters the draws of ``arms`` (default all) come from: the posterior, reshaped when
        ``sharpness`` > 1 (untouched at 1, so plain Thompson sampling stays bit for bit what it was)."""
        a, b = (self.alpha, self.beta) if arms is None else (self.alpha[arms], self.beta[arms])
        return (a, b) if self.sharpness == 1.0 else reshape_posterior(a, b, self.sharpness)

    def _beta_decisions(self, size: int) -> np.ndarray:
        """``size`` decisions from plain Beta draws (scaled by the weights, when given)."""
        a, b = self._params()
        x = self._rng.beta(a, b, size=(size, len(self.alpha)))
        if self.weights is not None:
            x *= self.weights
        return x.argmax(axis=1)

    def _quantiles(self, arms: np.ndarray) -> np.ndarray:
        """Rows of the quantile table: F^-1 at the lower end of each cell, then 1.0 (the top of the support); times
        the arm's weight when given (a monotone map, so the table still bounds the scaled draws)."""
        a, b = self._params(arms)
        q = np.hstack([betaincinv(a[:, None], b[:, None], _U_LEVELS[None, :]), np.ones((len(arms), 1))])
        return q if self.weights is None else q * self.weights[arms, None]

    def _exact(self, arms: np.ndarray, v: np.ndarray) -> np.ndarray:
        """The exact (weighted) draws of ``arms`` for ``v`` = 1 - U."""
        a, b = self._params(arms)
        x = betaincinv(a, b, 1.0 - v)
        return x if self.weights is None else x * self.weights[arms]

    def _inverse_decisions(self, size: int) -> np.ndarray:
        """``size`` exact decisions by inversion: bound every draw by its table cell, invert only the contenders.

        ``v`` = 1 - U is drawn directly (uniform on [0, 1) as U on (0, 1]); its cell is one shift of its bits."""
        if self._dirty:
            rows = np.fromiter(self._dirty, dtype=np.intp)
            self._table[rows] = self._quantiles(rows)
            self._dirty.clear()
        k = len(self.alpha)
        flat = self._table.ravel()
        v = self._rng.random(k if size == 1 else (size, k))
        key = (v.view(np.uint64) >> np.uint64(50)).astype(np.intp)
        idx = self._offsets - np.maximum(key, _ONE_KEY - _LEVELS)
        lo, hi = flat[idx], flat[idx + 1]
        if size == 1:
            # contenders: upper bound reaches the best lower bound (tiny slack for rounding in betaincinv)
            c = np.flatnonzero(hi >= lo.max() * (1.0 - 1e-12))
            if len(c) > 1:
                c = c[[self._exact(c, v[c]).argmax()]]
            return c
        r, c = np.nonzero(hi >= lo.max(axis=1, keepdims=True) * (1.0 - 1e-12))
        x = np.full((size, k), -1.0)
        x[r, c] = self._exact(c, v[r, c])
        return x.argmax(axis=1)

    def decide_many(self, m: int) -> np.ndarray:
        """``m`` independent Thompson decisions under the current posterior (no update in between)."""
        self._discard()
        if m <= 0:
            return np.empty(0, dtype=np.intp)
        chunk = max(1, 2_000_000 // len(self.alpha))
        parts = []
        for start in range(0, m, chunk):
            size = min(chunk, m - start)
            parts.append(self._beta_decisions(size))
        return np.concatenate(parts)

    def win_shares(self, draws: int) -> np.ndarray:
        """Share of ``draws`` Thompson decisions won by each arm."""
        return np.bincount(self.decide_many(draws), minlength=len(self.alpha)) / draws

    def update(self, arm: int, successes: float = 1.0, failures: float = 0.0) -> None:
        self.alpha[arm] += successes
        self.beta[arm] += failures
        self._dirty.add(int(arm))
        self._discard()

    def update_many(self, successes: np.ndarray, failures: np.ndarray) -> None:
        """Add per-arm success/failure counts (e.g. one batch of a test)."""
        self.alpha += successes
        self.beta += failures
        self._table = None
        self._dirty.clear()
        self._direct = 0
        self._discard()

    def _discard(self) -> None:
        self._buf = self._buf[:0]
        self._pos = 0
        self._next = 1


def _days_seen(posteriors: pd.DataFrame, first_seen: Any, as_of: Any) -> np.ndarray:
    """Days each pattern has been in test (``inf`` when no first-seen date is known and ``min_days`` is unused)."""
    if first_seen is None:
        if "first_seen" not in posteriors.columns:
            return np.full(len(posteriors), np.inf)
        first = posteriors["first_seen"]
    elif isinstance(first_seen, str):
        first = posteriors[first_seen]
    elif isinstance(first_seen, Mapping | pd.Series):
        first = posteriors["pattern_hash"].map(dict(first_seen))
    else:
        first = pd.Series(list(first_seen), index=posteriors.index)
        if len(first) != len(posteriors):
            raise ValueError("first_seen must have one entry per posterior row")
    first = pd.to_datetime(first, utc=True)
    as_of_ts = pd.Timestamp.now(tz="UTC") if as_of is None else pd.Timestamp(as_of)
    if as_of_ts.tzinfo is None:
        as_of_ts = as_of_ts.tz_localize("UTC")
    days = ((as_of_ts - first) / pd.Timedelta(days=1)).to_numpy(dtype=float, na_value=np.nan)
    # A pattern with no first-seen date is treated as brand new (0 days): it cannot be dropped yet.
    return np.where(np.isnan(days), 0.0, days)


def _ranks(win: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """1-based ranks by win share (descending), ties by mean (descending), then row order."""
    order = np.lexsort((-mean, -win))
    rank = np.empty(len(win), dtype=int)
    rank[order] = np.arange(1, len(win) + 1)
    return rank


def _decay_weights(posteriors: pd.DataFrame, decay_weight: Any) -> np.ndarray:
    """Fatigue discount per row (1 when not given; see :func:`recommend`), checked to lie in (0, 1]."""
    if decay_weight is None:
        if "decay_weight" not in posteriors.columns:
            return np.ones(len(posteriors))
        values = posteriors["decay_weight"]
    elif isinstance(decay_weight, str):
        values = posteriors[decay_weight]
    elif isinstance(decay_weight, Mapping | pd.Series):
        values = posteriors["pattern_hash"].map(dict(decay_weight))
    else:
        values = pd.Series(list(decay_weight), index=posteriors.index)
        if len(values) != len(posteriors):
            raise ValueError("decay_weight must have one entry per posterior row")
    w = pd.to_numeric(values).astype(float).fillna(1.0).to_numpy()  # absent: 1; text raises
    bad = ~(np.isfinite(w) & (w > 0) & (w <= 1))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"decay_weight of pattern {posteriors['pattern_hash'].iloc[i]!r} is {w[i]:g}, not in (0, 1]")
    return w


def _floored_shares(win: np.ndarray, zone: np.ndarray, floor: float) -> np.ndarray:
    """Normalise ``win`` to sum 1 with every ``zone`` entry >= ``floor`` (water-filling; others keep proportions)."""
    k = len(win)
    if k == 0:
        return win
    n_zone = int(zone.sum())
    if n_zone == k:
        floor = min(floor, 1.0 / k)
    elif n_zone:
        floor = min(floor, 0.5 / n_zone)  # floors never take more than half the budget from non-zone patterns
    share = win / win.sum() if win.sum() > 0 else np.full(k, 1.0 / k)
    fixed = np.zeros(k, dtype=bool)
    for _ in range(k + 1):
        new_fixed = fixed | (zone & (share < floor - 1e-15))
        free = ~new_fixed
        rest = 1.0 - floor * new_fixed.sum()
        free_total = win[free].sum()
        share = np.where(new_fixed, floor, 0.0)
        if free.any():
            share[free] = rest * (win[free] / free_total if free_total > 0 else 1.0 / free.sum())
        if (new_fixed == fixed).all():
            break
        fixed = new_fixed
    return share


def recommend(
    posteriors: pd.DataFrame,
    *,
    n: int,
    seed: int | None,
    min_clicks: float,
    min_days: float,
    first_seen: Any = None,
    draws: int = 10_000,
    floor: float = DEFAULT_FLOOR,
    as_of: Any = None,
    decay_weight: Any = None,
    sharpness: float = DEFAULT_SHARPNESS,
) -> pd.DataFrame:
    """Top-``n`` patterns by Thompson win share plus every ignorance-zone pattern, with reasons and a budget split.

    ``posteriors`` is a :func:`optimizer_pipeline.lib.testloop.posteriors.posterior_table` frame (``pattern_hash,
    alpha, beta, clicks``...). A pattern is in the *ignorance zone* while ``clicks < min_clicks`` or it has been tested
    for fewer than ``min_days`` days (``first_seen``: a column name, a mapping pattern_hash -> date, a sequence aligned
    with the rows, or ``None`` to use a ``first_seen`` column if present, else ignore days; days are counted up to
    ``as_of``, default now; an unknown date counts as 0 days). Zone patterns are always kept, even beyond ``n``.

    ``win_share`` = share of ``draws`` Thompson decisions (one joint posterior draw + argmax each, over all patterns)
    the pattern wins. ``budget_share`` renormalises the win shares of the kept patterns to 1 with a ``floor`` for
    every ignorance-zone pattern (lowered to ``0.5 / zone count`` when the floors would otherwise take more than half
    the budget, or to ``1 / count`` when every kept pattern is in the zone). ``rank`` orders by win share (ties:
    posterior mean). ``seed=None`` draws a fresh seed; the seed used is recorded in ``result.attrs["seed"]`` and the
    ``seed`` column.

    Fatigue discount (module docstring): ``decay_weight`` is a column name, a mapping pattern_hash -> weight (absent:
    1), a sequence aligned with the rows, or ``None`` to use a ``decay_weight`` column if present, else 1 for all.
    Thompson decisions are then argmaxes of ``weight * draw``; ``win_share`` is the discounted share (the same seeded
    draws), ranks and budget follow it, and every pattern that would be kept without the discount is still kept.
    A discounted pattern's reason says so, with a ``fatigue_reason`` column's text when present (e.g. "fatigued ad
    X: weight 0.6") and its undiscounted win share. Ignorance-zone floors are not discounted (exploring an untested
    pattern is what the floor buys). The output has a ``decay_weight`` column; with weight 1 everywhere every other
    column equals the undiscounted result exactly.

    Posterior reshaping (module docstring): with ``sharpness`` kappa > 1 every Thompson decision draws from
    ``Beta(kappa * alpha, kappa * beta)``, so ``win_share`` (and the ranks and ``budget_share`` that follow it) is the
    reshaped policy's share, the one ``benchmarks/bandit.py`` measures. The labels (winner / promising / long shot)
    still read the unreshaped share, the posterior probability of being best, and the reason adds the reshaped share;
    every pattern kept at kappa = 1 is still kept. The ``sharpness`` column (and ``attrs["sharpness"]``) records
    kappa; at kappa = 1 every other column equals today's result exactly.
    """
    if n < 1:
        raise ValueError("n must be >= 1")
    if draws < 1:
        raise ValueError("draws must be >= 1")
    if not 0 <= floor <= 1:
        raise ValueError("floor must be in [0, 1]")
    kappa = check_sharpness(sharpness)
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**63))
    columns = [
        "pattern_hash",
        "rank",
        "win_share",
        "budget_share",
        "reason",
        "in_ignorance_zone",
        "seed",
        "decay_weight",
        "sharpness",
    ]
    if len(posteriors) == 0:
        out = pd.DataFrame({c: [] for c in columns})
        out.attrs["seed"] = seed
        out.attrs["sharpness"] = kappa
        return out
    post = posteriors.reset_index(drop=True)
    alpha = post["alpha"].to_numpy(dtype=float)
    beta = post["beta"].to_numpy(dtype=float)
    clicks = post["clicks"].to_numpy(dtype=float)
    days = _days_seen(post, first_seen, as_of)
    zone = (clicks < min_clicks) | (days < min_days)

    weight = _decay_weights(post, decay_weight)
    discounted = bool(np.any(weight < 1))

    def shares(sharp: float, weights: np.ndarray | None) -> np.ndarray:
        return ThompsonSampler(alpha, beta, seed, weights=weights, sharpness=sharp).win_shares(draws)

    plain = shares(kappa, None)
    # same seed, same draws: the discounted shares differ only through the weights
    win = shares(kappa, weight) if discounted else plain
    # the unreshaped (possibly discounted) share, P(best): what the labels say; reshaping only moves the budget
    belief = shares(1.0, weight if discounted else None) if kappa > 1 else win
    mean = alpha / (alpha + beta)
    rank = _ranks(win, weight * mean)
    keep = (rank <= n) | zone | (_ranks(plain, mean) <= n)  # discounted, never removed
    keep |= _ranks(belief, weight * mean) <= n  # reshaped, never removed (the same ranks at kappa = 1)
    order = np.argsort(rank)
    idx = order[keep[order]]

    budget = _floored_shares(win[idx], zone[idx], floor)
    reasons = []
    for i in idx:
        n_txt = f"n = {clicks[i]:.0f}"
        if zone[i]:
            why = []
            if clicks[i] < min_clicks:
                why.append(f"< {min_clicks:g} clicks")
            if days[i] < min_days:
                why.append(f"{days[i]:.0f} of {min_days:g} days")
            reasons.append(f"under-explored ({n_txt}; {', '.join(why)}): kept in the ignorance zone")
        elif belief[i] >= WINNER_SHARE:
            reasons.append(f"high-confidence winner ({n_txt}, wins {belief[i]:.0%} of draws)")
        elif belief[i] >= PROMISING_SHARE:
            reasons.append(f"promising ({n_txt}, wins {belief[i]:.0%} of draws)")
        else:
            reasons.append(f"long shot ({n_txt}, wins {belief[i]:.1%} of draws)")
        if kappa > 1:
            reasons[-1] += f"; sharpness {kappa:g}: wins {win[i]:.1%} of draws from Beta({kappa:g}a, {kappa:g}b)"
        if weight[i] < 1:
            why = str(post.at[i, "fatigue_reason"]) if "fatigue_reason" in post.columns else ""
            why = why if why and why != "nan" else f"weight {weight[i]:.2f}"
            drawn = "reshaped draws" if kappa > 1 else "draws"
            reasons[-1] += f"; fatigue discount: {why} (wins {plain[i]:.1%} of {drawn} undiscounted)"
    out = pd.DataFrame(
        {
            "pattern_hash": post["pattern_hash"].to_numpy()[idx],
            "rank": rank[idx],
            "win_share": win[idx],
            "budget_share": budget,
            "reason": reasons,
            "in_ignorance_zone": zone[idx],
            "seed": seed,
            "decay_weight": weight[idx],
            "sharpness": kappa,
        }
    )
    out.attrs["seed"] = seed
    out.attrs["draws"] = draws
    out.attrs["sharpness"] = kappa
    return out
