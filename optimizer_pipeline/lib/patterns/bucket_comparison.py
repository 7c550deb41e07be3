"""Compare the duration buckets of one hashtag on log engagement rate, with creators as clusters.

Why a model of its own: ``bucket_videos`` holds each bucket's top N videos *by engagement rate*, so its mean
measures how many candidates a bucket had (the best 50 of 400 beat the best 50 of 55 even when the buckets are
identical), and a creator's videos share the creator's audience, so they are not independent draws.

* **Videos compared** (:func:`comparison_videos`): every in-bucket video that passed the quality filters (min
  views, min engagement rate): the selected rows plus the ``bucket_videos_excluded`` rows whose reason is "below
  top-N" or "engagement-rate outlier". The outlier-fenced rows are **in**: the fences are a data-dependent trim
  (quartiles estimated from the bucket's own rows, much noisier in a bucket of 55 than of 400), and the variance of
  a trimmed mean is not the variance of the rows that remain, so leaving them out made the comparison's test
  liberal (identical buckets of 400 vs 55 candidates, the default linear fences: two-sided size 10.7 % with them
  out, 5.0 % with them in, over 1,000 simulated hashtags). They are also rarely extreme on the log scale the
  comparison uses: the default linear fences mostly cut a log-normal bucket's genuine top performers (about 4 % of
  its videos), and one implausible rate moves a geometric mean far less than an arithmetic one. Celebrity videos
  keep ``sample_weight`` 0.5 (``select_bucket``'s rule: views above ``Q3 + 2.5 IQR`` of the rows that passed the
  fences), recomputed for excluded rows when the excluded table does not carry the weight. A row without an
  ``author`` counts as a creator of its own.
* **Model** (:class:`ClusteredFit`): one WLS of ``y = log(max(ER, ER_FLOOR))`` on bucket indicators over every
  compared video of the hashtag (weights ``sample_weight``), so bucket ``b``'s estimate is its weighted mean
  ``m_b``. Its variance is cluster-robust by creator, **CR2** (Bell & McCaffrey's bias-reduced linearisation): a
  creator's weighted residual sum in bucket ``b``, ``S_gb = Σ_{i∈g,b} w_i (y_i - m_b)``, is divided by
  ``sqrt(1 - h_gb)`` with ``h_gb = W_gb / W_b`` the creator's share of the bucket's weight (its leverage), and
  ``Cov(m) = D⁻¹ S'S D⁻¹`` with ``D = diag(W_b)``. A creator who posts in two buckets makes their means covary.
  Every t reference uses **Bell-McCaffrey (Satterthwaite) degrees of freedom** for the contrast at hand,
  ``(tr B)² / tr(B²)`` under the working model of independent videos. Why not CR1 with ``t(G - 1)`` (statsmodels'
  ``cov_type="cluster"``): with unequal creator activity it is liberal (per-test size 5.5-6 % and 5-6 % of null
  hashtags with a verdict after Holm in the calibration simulation; CR2 with these df: 4-4.5 % and 2.5-3 %).
* **Per-bucket interval** (:func:`clustered_mean`, :attr:`Comparison.estimates`): ``m_b ± t(df) · se``, which
  involves only the bucket's own rows. With one video per creator and unit weights it is exactly the classic
  t-interval (``scipy.stats.t.interval``); with one creator it is undefined (NaN).
* **Comparison** (:func:`compare_buckets`): each tested bucket against **the rest of the hashtag** (the pooled
  other buckets): ``log(ratio_to_rest) = m_b - Σ_{j≠b} W_j m_j / Σ_{j≠b} W_j``. Comparing with the hashtag as a
  whole, the bucket included, is the same test: ``m_b - m_all = (W_rest / W) (m_b - m_rest)`` has the same t
  statistic once the reference's own variance and its covariance with the bucket are counted (the old rule treated
  the reference as a known constant, and a bucket that is a large part of the hashtag pulled it). Two-sided
  p-values, then Holm's step-down adjustment across the tested buckets of the hashtag (family-wise error ``<=``
  :data:`ALPHA` under any dependence between the tests).
* **P(best)** (:func:`p_best`): Monte-Carlo draws of the tested buckets' means from the same joint model,
  multivariate t with the CR2 covariance and the smallest df of a tested bucket (seeded, so deterministic).

Reference checks (tests): the unadjusted scores reproduce statsmodels' ``WLS(...).fit(cov_type="cluster")``
covariance; CR2 with one video per creator is statsmodels' ``cov_type="HC2"``; CR2 and the df match the matrix
definitions (``A_g = (I - H_gg)^(-1/2)`` on the whitened design) to 1e-8; Holm matches statsmodels
``multipletests``. Written out in numpy because statsmodels has no CR2, is a development dependency only, and the
calibration simulations fit thousands of hashtags (``multipletests`` alone runs a full garbage collection per call).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from optimizer_pipeline.lib.market.bucket_selection import (
    CELEBRITY_FENCE_IQR,
    CELEBRITY_SAMPLE_WEIGHT,
    EXCLUDED_BELOW_TOP_N,
    EXCLUDED_ER_OUTLIER,
    MIN_ROWS_FOR_FENCES,
)

ALPHA = 0.05
CONFIDENCE = 0.95
ER_FLOOR = 1e-4
SELECTED = "selected"
#: The ``bucket_videos_excluded`` reasons whose rows join the comparison (the rows that passed the quality filters).
COMPARED_REASONS: tuple[str, ...] = (EXCLUDED_BELOW_TOP_N, EXCLUDED_ER_OUTLIER)
#: ``source``: "selected" or the row's exclusion reason.
COMPARISON_COLUMNS: tuple[str, ...] = ("video_id", "author", "engagement_rate", "views", "sample_weight", "source")


def _values(frame: pd.DataFrame, name: str, numeric: bool) -> np.ndarray:
    if name not in frame:
        return np.full(len(frame), np.nan) if numeric else np.full(len(frame), None, dtype=object)
    if numeric:
        return pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    return frame[name].to_numpy(dtype=object, na_value=None)


def _celebrity_weights(views: np.ndarray, fence_rows: np.ndarray) -> np.ndarray:
    """``select_bucket``'s celebrity rule: views above ``Q3 + 2.5 IQR`` of the ``fence_rows`` (the rows that passed
    its outlier fences), applied to every row."""
    known = views[fence_rows & np.isfinite(views)]
    if len(known) < MIN_ROWS_FOR_FENCES:
        return np.ones(len(views))
    q1, q3 = np.quantile(known, [0.25, 0.75])  # linear interpolation, as pandas' Series.quantile
    fence = q3 + CELEBRITY_FENCE_IQR * (q3 - q1)
    return np.where(views > fence, CELEBRITY_SAMPLE_WEIGHT, 1.0)


def comparison_videos(selected: pd.DataFrame | None, excluded: pd.DataFrame | None = None) -> pd.DataFrame:
    """The bucket's compared videos (:data:`COMPARISON_COLUMNS`): the selected rows plus the :data:`COMPARED_REASONS`
    rows of ``excluded`` (rules in the module docstring). ``excluded=None`` compares the selected rows only."""
    parts: list[tuple[pd.DataFrame, str]] = []
    if selected is not None and len(selected):
        parts.append((selected, SELECTED))
    if excluded is not None and len(excluded) and "reason" in excluded:
        reasons = excluded["reason"].astype(str)
        parts += [(excluded[reasons == reason], reason) for reason in COMPARED_REASONS]
    fields = (("video_id", False), ("author", False), ("engagement_rate", True), ("views", True))
    columns = {
        name: np.concatenate([_values(p, name, numeric) for p, _ in parts]) if parts else np.empty(0)
        for name, numeric in (*fields, ("sample_weight", True))
    }
    columns["source"] = (
        np.concatenate([np.full(len(p), source, dtype=object) for p, source in parts])
        if parts
        else np.empty(0, dtype=object)
    )
    weight = columns["sample_weight"]
    missing = np.isnan(weight)
    if missing.any():
        fence_rows = columns["source"] != EXCLUDED_ER_OUTLIER
        weight[missing] = _celebrity_weights(columns["views"], fence_rows)[missing]
    return pd.DataFrame(columns)[list(COMPARISON_COLUMNS)]


def log_er(videos: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``log(max(ER, ER_FLOOR))``, the sample weights (1 where missing) and the creator labels (None: unknown, a
    creator of its own) of the rows with a finite ER and a positive weight."""
    if videos is None or videos.empty or "engagement_rate" not in videos:
        return np.empty(0), np.empty(0), np.empty(0, dtype=object)
    er = pd.to_numeric(videos["engagement_rate"], errors="coerce").to_numpy(dtype=float)
    w = (
        pd.to_numeric(videos["sample_weight"], errors="coerce").fillna(1.0).to_numpy(dtype=float)
        if "sample_weight" in videos
        else np.ones(len(er))
    )
    authors = _values(videos, "author", numeric=False)
    creators = np.array([a if isinstance(a, str) and a else None for a in authors], dtype=object)
    keep = np.isfinite(er) & (w > 0)
    return np.log(np.maximum(er[keep], ER_FLOOR)), w[keep], creators[keep]


def cluster_codes(creators: np.ndarray) -> np.ndarray:
    """Integer creator codes ``0..G-1``; every unknown (None) creator is a cluster of its own."""
    codes, uniques = pd.factorize(pd.Series(creators, dtype=object), use_na_sentinel=True)
    unknown = codes < 0
    codes[unknown] = len(uniques) + np.arange(int(unknown.sum()))
    return codes


@dataclass(frozen=True)
class BucketEstimate:
    """Weighted mean log ER of one bucket with its cluster-robust (CR2) standard error and t interval."""

    mean: float
    se: float
    df: float
    low: float
    high: float
    creators: int


@dataclass(frozen=True)
class ClusteredFit:
    """WLS of log ER on bucket indicators with CR2 scores by creator: everything a contrast of the bucket means needs.

    ``share[g, b]`` is creator ``g``'s share of bucket ``b``'s weight (its leverage ``h_gb``) and ``scores[g, b]``
    the creator's weighted residual sum in the bucket divided by ``sqrt(1 - h_gb)`` (Bell-McCaffrey's adjustment;
    a bucket with one creator has residual sum 0 and keeps factor 1)."""

    mean: np.ndarray
    weight: np.ndarray
    share: np.ndarray
    scores: np.ndarray
    creators: np.ndarray

    def contrast(self, c: np.ndarray) -> tuple[float, float, float]:
        """``(c·m, CR2 standard error, Bell-McCaffrey degrees of freedom)`` of the contrast ``c`` of bucket means."""
        coef = c / self.weight
        z = self.scores @ coef
        var = float(z @ z)
        adjust = np.where(self.share < 1.0, 1.0 / np.sqrt(np.clip(1.0 - self.share, 1e-300, None)), 1.0)
        f = coef[None, :] * adjust
        u = f * self.share
        b = np.diag((self.weight[None, :] * f**2 * self.share).sum(axis=1)) - (u * self.weight) @ u.T
        denom = float(np.sum(b * b))
        df = float(np.trace(b) ** 2 / denom) if denom > 0 else float("nan")
        return float(c @ self.mean), float(np.sqrt(var)), df

    def covariance(self) -> np.ndarray:
        """CR2 covariance of the bucket means."""
        return (self.scores.T @ self.scores) / np.outer(self.weight, self.weight)


def clustered_fit(y: np.ndarray, w: np.ndarray, col: np.ndarray, creators: np.ndarray, k: int) -> ClusteredFit:
    """The CR2 pieces of the bucket-indicator WLS (``col``: each row's bucket index ``0..k-1``)."""
    codes = cluster_codes(creators)
    g = int(codes.max(initial=-1)) + 1
    weight = np.bincount(col, weights=w, minlength=k)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.bincount(col, weights=w * y, minlength=k) / weight
        cell = codes * k + col
        raw = np.bincount(cell, weights=w * (y - mean[col]), minlength=g * k).reshape(g, k)
        share = np.bincount(cell, weights=w, minlength=g * k).reshape(g, k) / weight
    share = np.nan_to_num(share)
    scores = np.where(share < 1.0, raw / np.sqrt(np.clip(1.0 - share, 1e-300, None)), 0.0)
    creators_b = (np.bincount(cell, minlength=g * k).reshape(g, k) > 0).sum(axis=0)
    return ClusteredFit(mean, weight, share, scores, creators_b)


def _interval(fit: ClusteredFit, i: int, confidence: float) -> BucketEstimate:
    nan = float("nan")
    n_creators = int(fit.creators[i])
    unit = np.zeros(len(fit.mean))
    unit[i] = 1.0
    mean, se, df = fit.contrast(unit)
    if n_creators < 2 or not (np.isfinite(se) and np.isfinite(df) and df > 0):
        return BucketEstimate(mean, nan, nan, nan, nan, n_creators)
    half = float(stats.t.ppf(0.5 + confidence / 2, df)) * se
    return BucketEstimate(mean, se, df, mean - half, mean + half, n_creators)


def clustered_mean(
    y: np.ndarray, w: np.ndarray, creators: np.ndarray, confidence: float = CONFIDENCE
) -> BucketEstimate:
    """Weighted mean of ``y`` with a CR2 standard error by creator and a Bell-McCaffrey t interval; NaN bounds with
    fewer than 2 creators. With one video per creator and unit weights this is ``scipy.stats.t.interval``."""
    if len(y) == 0:
        nan = float("nan")
        return BucketEstimate(nan, nan, nan, nan, nan, 0)
    return _interval(clustered_fit(y, w, np.zeros(len(y), dtype=int), creators, 1), 0, confidence)


@dataclass(frozen=True)
class Comparison:
    """The joint clustered model of a hashtag's buckets and each tested bucket against the rest of the hashtag.

    Arrays follow ``buckets``. ``estimates`` are the per-bucket intervals; ``cov`` the CR2 covariance of the bucket
    means and ``df`` the smallest Bell-McCaffrey df of a tested bucket's mean (for P(best)); ``log_ratio`` /
    ``p_value`` / ``p_adjusted`` are NaN for untested buckets."""

    buckets: tuple[str, ...]
    mean: np.ndarray
    estimates: tuple[BucketEstimate, ...]
    cov: np.ndarray
    df: float
    log_ratio: np.ndarray
    p_value: np.ndarray
    p_adjusted: np.ndarray


def compare_buckets(
    y: np.ndarray,
    w: np.ndarray,
    bucket: np.ndarray,
    creators: np.ndarray,
    tested: Sequence[str],
    *,
    confidence: float = CONFIDENCE,
) -> Comparison:
    """Joint CR2 model over every compared video, ``m_b`` vs the rest of the hashtag for each ``tested`` bucket
    (Bell-McCaffrey t test), Holm-adjusted across them (rules in the module docstring)."""
    buckets = tuple(pd.unique(pd.Series(bucket, dtype=object)))
    k = len(buckets)
    nan_k = np.full(k, np.nan)
    if k == 0:
        return Comparison((), np.empty(0), (), np.empty((0, 0)), float("nan"), nan_k, nan_k, nan_k)
    col = pd.Categorical(bucket, categories=list(buckets)).codes.astype(int)
    fit = clustered_fit(y, w, col, creators, k)
    estimates = tuple(_interval(fit, i, confidence) for i in range(k))
    index = {b: i for i, b in enumerate(buckets)}
    log_ratio, p_value = nan_k.copy(), nan_k.copy()
    for b in tested:
        i = index.get(b)
        rest = fit.weight.sum() - fit.weight[i] if i is not None else 0.0
        if i is None or rest <= 0:
            continue
        contrast = -fit.weight / rest
        contrast[i] = 1.0
        log_ratio[i], se, df = fit.contrast(contrast)
        if se > 0 and np.isfinite(df) and df > 0:
            p_value[i] = float(2 * stats.t.sf(abs(log_ratio[i]) / se, df))
    p_adjusted = nan_k.copy()
    done = np.isfinite(p_value)
    if done.any():
        p_adjusted[done] = holm_adjusted(p_value[done])
    dfs = [estimates[index[b]].df for b in tested if b in index and np.isfinite(estimates[index[b]].df)]
    return Comparison(
        buckets, fit.mean, estimates, fit.covariance(), min(dfs, default=float("nan")), log_ratio, p_value, p_adjusted
    )


def holm_adjusted(p: np.ndarray) -> np.ndarray:
    """Holm's step-down adjusted p-values, ``p_(i) -> max_{j <= i} min(1, (m - j + 1) p_(j))``, as statsmodels
    ``multipletests(method="holm")`` (checked in the tests); written out because ``multipletests`` runs a full
    garbage collection on every call (0.2 s), which the calibration simulations cannot afford."""
    p = np.asarray(p, dtype=float)
    m = len(p)
    order = np.argsort(p, kind="mergesort")
    stepped = np.maximum.accumulate(np.minimum(1.0, (m - np.arange(m)) * p[order]))
    out = np.empty(m)
    out[order] = stepped
    return out


def p_best(mean: np.ndarray, cov: np.ndarray, df: float, *, seed: int = 0, draws: int = 20_000) -> np.ndarray:
    """Probability that each bucket has the highest true mean: multivariate ``t(df)`` draws around ``mean`` with
    covariance ``cov`` (NaN covariance: the means are taken as exact)."""
    k = len(mean)
    if k == 0:
        return np.empty(0)
    if k == 1:
        return np.ones(1)
    rng = np.random.default_rng(seed)
    if not np.isfinite(cov).all():
        sample = np.broadcast_to(mean, (draws, k))
    else:
        z = rng.multivariate_normal(np.zeros(k), cov, size=draws, method="eigh")
        scale = np.sqrt(df / rng.chisquare(df, size=draws)) if np.isfinite(df) and df > 0 else np.ones(draws)
        sample = mean + z * scale[:, None]
    wins = np.bincount(np.argmax(sample, axis=1), minlength=k)
    return wins / draws
