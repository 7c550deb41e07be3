"""Group-sequential two-sided tests with Lan-DeMets alpha spending, so a test checked every 6 hours stays valid.

Why: an A/B test looked at 120 times with a fixed z-test calls a false winner far more often than alpha. A
group-sequential design spends the type-I error over the planned duration (Lan & DeMets 1983, "Discrete sequential
boundaries for clinical trials", Biometrika 70:659-663): by calendar fraction ``t`` of the planned maximum duration
at most ``alpha(t)`` has been spent. Look ``k``'s critical value ``c_k`` solves
``P_H0(|Z_j| < c_j for j < k, |Z_k| >= c_k) = alpha(t_k) - alpha(t_{k-1})`` with ``corr(Z_j, Z_k) = sqrt(I_j / I_k)``
(canonical joint distribution), computed by the Armitage-McPherson-Rowe recursive numerical integration on the
Simpson grid of Jennison & Turnbull (2000), *Group Sequential Methods with Applications to Clinical Trials*, ch. 19
(the grid of gsDesign, r = 18). A 6-hour look with little traffic makes the transition kernel narrower than that
grid, so such panels are split first (log density interpolated by panel): alpha stays within ~1e-5 of the spending
over 120 unequal looks (checked against gsDesign's recursion on a fine grid). O'Brien-Fleming-type spending keeps
nearly the power of a fixed-horizon test when the horizon is sized for the effect of interest.

Conventions (documented decisions):
- Information: only ratios matter. Use the sample-size form ``n_v n_c / (n_v + n_c)`` (never decreases) rather
  than ``1 / se^2``, which can dip when an estimated rate moves; z itself is ``log_ratio / se``.
- ``t`` is capped at 1: after the planned horizon no new alpha exists, so boundaries are ``+inf`` (no new winner).
- A look whose information equals the previous look's carries no new data: it spends nothing, its boundary equals
  the previous one (the statistic is the same, so the decision is too); the unspent alpha rolls to the next look
  with new data, which spends ``alpha(t_k) - alpha actually spent so far``.
- Past boundaries never change (``past``): only new looks are solved. ``SequentialPlan`` additionally keeps the
  integration state (the sub-density on the continuation region), so a new look costs one kernel product.
- Repeated confidence intervals (J&T ch. 9): ``exp(log_ratio ± c_k * se) - 1`` with the look's boundary ``c_k``
  contain the true lift at every look simultaneously with probability >= 1 - alpha (``repeated_ci``).
- Several variants against one control: :mod:`.holm_sequential` (Holm step-down over these designs).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike
from scipy import optimize, special

SpendingName = Literal["obf", "pocock"]
Spending = SpendingName | Callable[[np.ndarray, float], np.ndarray]

GRID_R = 18
"""Grid size parameter r of J&T ch. 19 (about 12r - 3 Simpson points per look on the whole line)."""


class SequentialInputError(ValueError):
    """Invalid input for a group-sequential computation (times, information, alpha or boundaries)."""


def obf_spending(t: ArrayLike, alpha: float) -> np.ndarray:
    """O'Brien-Fleming-type two-sided spending: each side spends ``2 - 2 Phi(z_{1-alpha/4} / sqrt(t))``.

    Returns the two-sided total ``4 - 4 Phi(z_{1-alpha/4} / sqrt(t))`` (= alpha at t = 1), the convention of
    ldbounds / gsDesign (one-sided alpha/2 per side) behind the published K = 5 boundaries 4.877 ... 2.031.
    t is capped at 1.
    """
    tt = np.clip(np.asarray(t, dtype=float), 0.0, 1.0)
    with np.errstate(divide="ignore"):
        return 4.0 * special.ndtr(special.ndtri(alpha / 4.0) / np.sqrt(tt))


def pocock_spending(t: ArrayLike, alpha: float) -> np.ndarray:
    """Pocock-type spending ``alpha * ln(1 + (e - 1) t)``, t capped at 1."""
    tt = np.clip(np.asarray(t, dtype=float), 0.0, 1.0)
    return alpha * np.log1p((math.e - 1.0) * tt)


def _spending_fn(spending: Spending) -> Callable[[np.ndarray, float], np.ndarray]:
    if callable(spending):
        return spending
    if spending == "obf":
        return obf_spending
    if spending == "pocock":
        return pocock_spending
    raise SequentialInputError(f"spending must be 'obf', 'pocock' or a callable, got {spending!r}")


def _base_points(r: int) -> np.ndarray:
    """J&T ch. 19 grid points x_1..x_{6r-1} for a N(0, 1) density (dense on [-3, 3], log-spaced tails)."""
    i = np.arange(1, r)
    tail = 3.0 + 4.0 * np.log(r / i)
    mid = -3.0 + 3.0 * np.arange(0, 4 * r + 1) / (2.0 * r)
    return np.concatenate([-tail, mid, tail[::-1]])


_BASE = _base_points(GRID_R)
_SQRT_2PI = math.sqrt(2.0 * math.pi)


def _simpson(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Simpson nodes (panel edges ``x`` and their midpoints) and weights."""
    z = np.empty(2 * x.size - 1)
    z[0::2] = x
    z[1::2] = 0.5 * (x[:-1] + x[1:])
    w = np.empty_like(z)
    d = np.diff(x)
    w[0::2] = np.concatenate([[0.0], d]) + np.concatenate([d, [0.0]])
    w[1::2] = 4.0 * d
    return z, w / 6.0


def _simpson_grid(c: float) -> tuple[np.ndarray, np.ndarray]:
    """Simpson points and weights on the continuation region (-c, c), as in J&T ch. 19 / gsDesign ``gridpts``."""
    x = _BASE[np.abs(_BASE) < c]
    if math.isfinite(c):
        x = np.concatenate([[-c], x, [c]])
    return _simpson(x)


@dataclass(frozen=True)
class _State:
    """Sub-density of Z at the last look on its continuation region: grid ``z`` and ``h = weight * density``."""

    z: np.ndarray
    h: np.ndarray


def _refine(state: _State | None, s: float) -> _State | None:
    """Split Simpson panels wider than ~1.3 s (a narrow kernel after a small information increment) into
    sub-panels, interpolating the log density by each panel's quadratic, so the next integral resolves it."""
    if state is None:
        return None
    x = state.z[0::2]
    width = np.diff(x)
    q = np.clip(np.ceil(width / (1.3 * s)), 1, 64).astype(int)
    q[state.h[1::2] < 1e-10] = 1  # panels without mass: not worth refining (far tails)
    if np.all(q == 1):
        return state
    _, w = _simpson(x)
    f = np.log(np.maximum(state.h / w, 1e-300))  # log density: exact for Gaussian-shaped tails
    f0, fm, f1 = f[0:-1:2], f[1::2], f[2::2]
    panel = np.repeat(np.arange(width.size), 2 * q)
    tau = (np.arange(panel.size) - np.repeat(np.cumsum(2 * q) - 2 * q, 2 * q)) / (2 * q[panel])
    v = 2.0 * tau - 1.0  # -1 at the panel's left edge, 0 at its midpoint
    dens = fm[panel] + 0.5 * (f1 - f0)[panel] * v + 0.5 * (f1 + f0 - 2 * fm)[panel] * v * v
    z = np.append(x[panel] + width[panel] * tau, x[-1])
    _, w_new = _simpson(z[0::2])
    return _State(z, w_new * np.exp(np.append(dens, f[-1])))


def _crossing(state: _State | None, rho: float, c: float) -> float:
    """P_H0(continue so far, |Z_new| >= c) given the last state and correlation ``rho`` with the new statistic."""
    if state is None:
        return float(2.0 * special.ndtr(-c))
    s = math.sqrt(1.0 - rho * rho)
    mu = rho * state.z
    return float(state.h @ (special.ndtr((mu - c) / s) + special.ndtr((-mu - c) / s)))


def _log_sum_exp(x: np.ndarray) -> float:
    top = float(x.max())
    return top + math.log(float(np.exp(x - top).sum()))


def _solve(state: _State | None, rho: float, target: float, start: float) -> float:
    """Boundary c whose crossing probability is ``target``: Newton on log P(c) (accurate for tiny early targets)."""
    if target <= 0.0:
        return math.inf
    if state is None:
        return float(-special.ndtri(target / 2.0))
    s = math.sqrt(1.0 - rho * rho)
    mu = rho * state.z
    log_h = np.log(np.maximum(state.h, 1e-300))
    log_target = math.log(target)

    def log_p(c: float) -> tuple[float, float]:
        a, b = (mu - c) / s, (-mu - c) / s
        lp = _log_sum_exp(np.concatenate([log_h + special.log_ndtr(a), log_h + special.log_ndtr(b)]))
        log_dens = _log_sum_exp(np.concatenate([log_h - 0.5 * a * a, log_h - 0.5 * b * b])) - math.log(s * _SQRT_2PI)
        return lp, math.exp(log_dens - lp)  # log P(c) and -d log P / dc

    if log_p(0.0)[0] <= log_target:
        return 0.0
    c = start if math.isfinite(start) and start > 0.0 else 2.0
    for _ in range(50):
        lp, slope = log_p(c)
        step = (lp - log_target) / slope if slope > 0.0 else -1.0
        c_new = max(c + step, 0.5 * c)
        if abs(c_new - c) < 1e-10:
            return c_new
        c = c_new
    lo, hi = 0.0, 1.0
    while log_p(hi)[0] > log_target:
        lo, hi = hi, 2.0 * hi
    return float(optimize.brentq(lambda x: log_p(x)[0] - log_target, lo, hi, xtol=1e-10))


def _advance(state: _State | None, rho: float, c: float) -> _State:
    """Sub-density at the new look on (-c, c): one kernel (matrix-vector) product over the previous grid."""
    z, w = _simpson_grid(c)
    if state is None:
        return _State(z, w * np.exp(-0.5 * z * z) / _SQRT_2PI)
    s = math.sqrt(1.0 - rho * rho)
    kernel = np.exp(-0.5 * np.square((z[:, None] - rho * state.z[None, :]) / s)) / (s * _SQRT_2PI)
    return _State(z, w * (kernel @ state.h))


def _validate(spend_times: ArrayLike, information: ArrayLike, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(spend_times, dtype=float).ravel()
    info = np.asarray(information, dtype=float).ravel()
    if t.size != info.size:
        raise SequentialInputError(f"spend_times ({t.size}) and information ({info.size}) differ in length")
    if not 0.0 < alpha < 1.0:
        raise SequentialInputError(f"alpha must be in (0, 1), got {alpha!r}")
    if t.size and (not np.all(np.isfinite(t)) or np.any(t <= 0.0) or np.any(np.diff(t) < 0.0)):
        raise SequentialInputError("spend_times must be finite, > 0 and non-decreasing")
    if info.size and (not np.all(np.isfinite(info)) or np.any(info <= 0.0) or np.any(np.diff(info) < 0.0)):
        raise SequentialInputError(
            "information must be finite, > 0 and non-decreasing (pass sample size if 1/se^2 wobbles)"
        )
    return np.minimum(t, 1.0), info


@dataclass(frozen=True)
class SequentialPlan:
    """One test's design and its looks so far; ``extend`` adds looks (past boundaries never change).

    The engine stores ``alpha``, ``spending``, ``spend_times``, ``information`` and ``boundaries`` (and may cache
    the whole plan between runs to skip the recursion over past looks: a new look then costs one kernel product).
    """

    alpha: float
    spending: Spending = "obf"
    spend_times: tuple[float, ...] = ()
    information: tuple[float, ...] = ()
    boundaries: tuple[float, ...] = ()
    alpha_spent: float = 0.0
    _state: _State | None = field(default=None, repr=False, compare=False)

    def extend(self, spend_times: ArrayLike, information: ArrayLike, past: ArrayLike | None = None) -> SequentialPlan:
        """Add looks; boundaries come from ``past`` (already used, kept as is) or are solved from the spending."""
        t, info = _validate(
            np.concatenate([self.spend_times, np.ravel(spend_times)]),
            np.concatenate([self.information, np.ravel(information)]),
            self.alpha,
        )
        t, info = t[len(self.spend_times) :], info[len(self.information) :]
        fixed = np.asarray([] if past is None else past, dtype=float).ravel()
        if fixed.size > t.size or np.any(np.isnan(fixed)) or np.any(fixed < 0.0):
            raise SequentialInputError("past boundaries must be >= 0, not NaN, and no more than the looks")
        spend = _spending_fn(self.spending)
        state, spent, out = self._state, self.alpha_spent, list(self.boundaries)
        prev_info = self.information[-1] if self.information else 0.0
        last_cum = float(spend(np.asarray(self.spend_times[-1]), self.alpha)) if self.spend_times else 0.0
        for k in range(t.size):
            if info[k] == prev_info:  # no new data: same statistic, same boundary, nothing spent
                out.append(out[-1])
                continue
            rho = math.sqrt(prev_info / info[k])
            state = _refine(state, math.sqrt(1.0 - rho * rho))
            cum = float(spend(np.asarray(t[k]), self.alpha))
            target = cum - spent if cum > last_cum else 0.0  # no new calendar time (e.g. past the horizon): +inf
            last_cum = max(cum, last_cum)
            c = float(fixed[k]) if k < fixed.size else _solve(state, rho, target, out[-1] if out else 2.0)
            spent += _crossing(state, rho, c)
            state = _advance(state, rho, c)
            out.append(c)
            prev_info = info[k]
        return replace(
            self,
            spend_times=self.spend_times + tuple(float(x) for x in t),
            information=self.information + tuple(float(x) for x in info),
            boundaries=tuple(out),
            alpha_spent=spent,
            _state=state,
        )

    def to_dict(self) -> dict[str, object]:
        """JSON-ready record for the engine to store (includes the integration state, ~100-250 floats)."""
        if not isinstance(self.spending, str):
            raise SequentialInputError("only a named spending ('obf' / 'pocock') can be stored")
        return {
            "alpha": self.alpha,
            "spending": self.spending,
            "spend_times": list(self.spend_times),
            "information": list(self.information),
            "boundaries": list(self.boundaries),
            "alpha_spent": self.alpha_spent,
            "density": None if self._state is None else self._state.h.tolist(),
        }

    @classmethod
    def from_dict(cls, record: Mapping[str, object]) -> SequentialPlan:
        """Inverse of ``to_dict``; without a stored density the recursion is replayed from the past boundaries."""
        plan = cls(float(record["alpha"]), record["spending"])  # type: ignore[arg-type]
        density = record.get("density")
        bounds = np.asarray(record["boundaries"], dtype=float)
        if density is None or bounds.size == 0:
            return plan.extend(record["spend_times"], record["information"], past=bounds)  # type: ignore[arg-type]
        t, info = _validate(record["spend_times"], record["information"], plan.alpha)  # type: ignore[arg-type]
        z, _ = _simpson_grid(float(bounds[-1]))
        h = np.asarray(density, dtype=float)
        if h.shape != z.shape or bounds.size != t.size:
            raise SequentialInputError("stored density or boundaries do not match the stored looks")
        return replace(
            plan,
            spend_times=tuple(t.tolist()),
            information=tuple(info.tolist()),
            boundaries=tuple(bounds.tolist()),
            alpha_spent=float(record["alpha_spent"]),  # type: ignore[arg-type]
            _state=_State(z, h),
        )


def boundaries(
    spend_times: ArrayLike,
    information: ArrayLike,
    alpha: float,
    spending: Spending = "obf",
    past: ArrayLike | None = None,
) -> np.ndarray:
    """Two-sided critical values ``c_k`` (reject when ``|z_k| >= c_k``), one per look.

    ``spend_times``: calendar fraction of the planned maximum duration (> 0, non-decreasing; capped at 1).
    ``information``: 1/se^2 or sample size (> 0, non-decreasing; only ratios matter). ``past``: boundaries already
    used at the first looks, kept as they are.
    """
    return np.asarray(SequentialPlan(alpha, spending).extend(spend_times, information, past=past).boundaries)


def repeated_ci(estimate_log_ratio: float, se: float, boundary: float) -> tuple[float, float]:
    """Repeated confidence interval for the relative lift at a look: ``exp(log_ratio ± c_k se) - 1`` (J&T ch. 9).

    Simultaneous over looks: all of a test's RCIs contain the true lift with probability >= 1 - alpha.
    """
    if not se >= 0.0 or not boundary >= 0.0:
        raise SequentialInputError(f"se and boundary must be >= 0, got {se!r}, {boundary!r}")
    half = boundary * se if se > 0.0 else 0.0
    return float(np.expm1(estimate_log_ratio - half)), float(np.expm1(estimate_log_ratio + half))


@dataclass(frozen=True)
class SequentialLook:
    """Outcome of one look: ``reject`` if ``|z| >= boundary`` at this or an earlier look (``first_crossing``)."""

    boundary: float
    z: float
    reject: bool
    first_crossing: int | None
    alpha_spent: float
    nominal_p: float
    nominal_alpha: float
    plan: SequentialPlan


def sequential_look(
    history: Sequence[tuple[float, float, float]],
    alpha: float,
    spending: Spending = "obf",
    past_boundaries: ArrayLike | None = None,
    plan: SequentialPlan | None = None,
) -> SequentialLook:
    """Evaluate the latest look of ``history`` = [(spend_time, information, z), ...] in look order.

    ``past_boundaries`` (stored by the engine) fix the earlier looks' boundaries; a cached ``plan`` (from the
    previous look's ``SequentialLook.plan`` or ``SequentialPlan.from_dict``) covering a prefix of the history also
    skips the recursion over those looks. ``nominal_p`` = 2(1 - Phi(|z|)); ``nominal_alpha`` = 2(1 - Phi(boundary)).
    """
    if not history:
        raise SequentialInputError("history has no look")
    arr = np.asarray(history, dtype=float)
    if arr.ndim != 2 or arr.shape[1] != 3 or np.any(np.isnan(arr[:, 2])):
        raise SequentialInputError("history must be (spend_time, information, z) triples with z not NaN")
    base = plan if plan is not None else SequentialPlan(alpha, spending)
    n_done = len(base.boundaries)
    if plan is not None and (
        plan.alpha != alpha
        or plan.spending != spending
        or n_done > arr.shape[0]
        or not np.allclose(plan.information, arr[:n_done, 1], rtol=1e-12, atol=0.0)
        or not np.allclose(plan.spend_times, np.minimum(arr[:n_done, 0], 1.0), rtol=1e-12, atol=0.0)
    ):
        raise SequentialInputError("plan does not match alpha, spending or the first looks of history")
    fixed = np.asarray([] if past_boundaries is None else past_boundaries, dtype=float).ravel()[n_done:]
    full = base.extend(arr[n_done:, 0], arr[n_done:, 1], past=fixed)
    bounds = np.asarray(full.boundaries)
    crossed = np.flatnonzero(np.abs(arr[:, 2]) >= bounds)
    z, c = float(arr[-1, 2]), float(bounds[-1])
    return SequentialLook(
        boundary=c,
        z=z,
        reject=crossed.size > 0,
        first_crossing=int(crossed[0]) if crossed.size else None,
        alpha_spent=full.alpha_spent,
        nominal_p=float(2.0 * special.ndtr(-abs(z))),
        nominal_alpha=float(2.0 * special.ndtr(-c)),
        plan=full,
    )
