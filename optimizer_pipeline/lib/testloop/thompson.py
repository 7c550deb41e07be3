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
    """

    __slots__ = ("_buf", "_direct", "_dirty", "_next", "_offsets", "_pos", "_rng", "_table", "alpha", "beta", "block",
                 "seed")  # fmt: skip

    def __init__(self, alpha: np.ndarray, beta: np.ndarray, seed: int | None = None, *, block: int = 32):
        self.alpha = np.array(alpha, dtype=np.float64)
        self.beta = np.array(beta, dtype=np.float64)
        if self.alpha.ndim != 1 or self.alpha.shape != self.beta.shape or len(self.alpha) == 0:
            raise ValueError("alpha and beta must be equal-length non-empty 1-d arrays")
        if np.any(self.alpha <= 0) or np.any(self.beta <= 0):
            raise ValueError("alpha and beta must be > 0")
        if block < 1:
            raise ValueError("block must be >= 1")
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
        return self._rng.beta(self.alpha, self.beta, size=(size, len(self.alpha))).argmax(axis=1)

    def _quantiles(self, arms: np.ndarray) -> np.ndarray:
        """Rows of the quantile table: F^-1 at the lower end of each cell, then 1.0 (the top of the support)."""
        q = betaincinv(self.alpha[arms, None], self.beta[arms, None], _U_LEVELS[None, :])
        return np.hstack([q, np.ones((len(arms), 1))])

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
                c = c[[betaincinv(self.alpha[c], self.beta[c], 1.0 - v[c]).argmax()]]
            return c
        r, c = np.nonzero(hi >= lo.max(axis=1, keepdims=True) * (1.0 - 1e-12))
        x = np.full((size, k), -1.0)
        x[r, c] = betaincinv(self.alpha[c], self.beta[c], 1.0 - v[r, c])
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
            parts.append(self._rng.beta(self.alpha, self.beta, size=(size, len(self.alpha))).argmax(axis=1))
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
    """
    if n < 1:
        raise ValueError("n must be >= 1")
    if draws < 1:
        raise ValueError("draws must be >= 1")
    if not 0 <= floor <= 1:
        raise ValueError("floor must be in [0, 1]")
    if seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**63))
    columns = ["pattern_hash", "rank", "win_share", "budget_share", "reason", "in_ignorance_zone", "seed"]
    if len(posteriors) == 0:
        out = pd.DataFrame({c: [] for c in columns})
        out.attrs["seed"] = seed
        return out
    post = posteriors.reset_index(drop=True)
    alpha = post["alpha"].to_numpy(dtype=float)
    beta = post["beta"].to_numpy(dtype=float)
    clicks = post["clicks"].to_numpy(dtype=float)
    days = _days_seen(post, first_seen, as_of)
    zone = (clicks < min_clicks) | (days < min_days)

    win = ThompsonSampler(alpha, beta, seed).win_shares(draws)
    mean = alpha / (alpha + beta)
    order = np.lexsort((-mean, -win))  # primary: win share desc, then mean desc
    rank = np.empty(len(post), dtype=int)
    rank[order] = np.arange(1, len(post) + 1)
    keep = (rank <= n) | zone
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
        elif win[i] >= WINNER_SHARE:
            reasons.append(f"high-confidence winner ({n_txt}, wins {win[i]:.0%} of draws)")
        elif win[i] >= PROMISING_SHARE:
            reasons.append(f"promising ({n_txt}, wins {win[i]:.0%} of draws)")
        else:
            reasons.append(f"long shot ({n_txt}, wins {win[i]:.1%} of draws)")
    out = pd.DataFrame(
        {
            "pattern_hash": post["pattern_hash"].to_numpy()[idx],
            "rank": rank[idx],
            "win_share": win[idx],
            "budget_share": budget,
            "reason": reasons,
            "in_ignorance_zone": zone[idx],
            "seed": seed,
        }
    )
    out.attrs["seed"] = seed
    out.attrs["draws"] = draws
    return out
