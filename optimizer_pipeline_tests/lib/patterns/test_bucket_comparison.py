"""``lib/patterns/bucket_comparison.py`` against its references: the compared videos against ``select_bucket`` with
no top-N cut, CR1 scores against statsmodels' cluster covariance, CR2 against statsmodels HC2 (one video per
creator) and against the Bell-McCaffrey matrix definition (clustered), the Bell-McCaffrey df against its matrix
definition, Holm against statsmodels ``multipletests``."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import linalg, stats
from statsmodels.stats.multitest import multipletests

from optimizer_pipeline.lib.market.bucket_selection import EXCLUDED_BELOW_TOP_N, EXCLUDED_ER_OUTLIER, select_bucket
from optimizer_pipeline.lib.patterns.bucket_comparison import (
    clustered_fit,
    clustered_mean,
    compare_buckets,
    comparison_videos,
    holm_adjusted,
    log_er,
)
from optimizer_pipeline.lib.sample.bucket_hashtags import as_scraped, hashtag_candidates

RTOL = 1e-8


def _data(seed: int, n: int = 90, k: int = 3, creators: int = 14) -> tuple[np.ndarray, ...]:
    """Log ER, celebrity-like weights, bucket index and creators (some spanning buckets, one bucket-only)."""
    rng = np.random.default_rng(seed)
    col = rng.integers(k, size=n)
    who = rng.integers(creators, size=n).astype(object)
    who[col == 0] = np.where(rng.random((col == 0).sum()) < 0.2, "solo", who[col == 0])
    y = rng.normal(size=n) + 0.3 * col + rng.normal(size=creators + 1)[np.where(who == "solo", creators, 0)]
    w = np.where(rng.random(n) < 0.15, 0.5, 1.0)
    return y, w, col, who


def _design(col: np.ndarray, k: int) -> np.ndarray:
    x = np.zeros((len(col), k))
    x[np.arange(len(col)), col] = 1.0
    return x


def test_compared_videos_are_every_quality_passed_video():
    """Selected + below top-N rows are ``select_bucket`` without the top-N cut (same weights); the outlier-fenced
    rows join them with the same celebrity rule; rows failing the quality filters stay out."""
    rng = np.random.default_rng(3)
    bucket = "16-30s"
    frame = as_scraped(hashtag_candidates(rng, {bucket: 160}, {bucket: 0.08}, icc=0.3)[bucket], bucket)
    frame.loc[:5, "views"] = 300  # fail min views
    frame.loc[6:9, "engagement_rate"] = 0.01  # fail min ER
    frame.loc[10:12, "engagement_rate"] = 0.95  # outliers, one of them a celebrity
    frame.loc[12:18, "views"] = 10**7  # celebrities
    top = select_bucket(frame, bucket, videos_per_bucket=50)
    everything = select_bucket(frame, bucket, videos_per_bucket=10**6)
    compared = comparison_videos(top.selected, top.excluded).set_index("video_id")
    assert (top.excluded["reason"] == EXCLUDED_BELOW_TOP_N).sum() > 50
    outliers = top.excluded.loc[top.excluded["reason"] == EXCLUDED_ER_OUTLIER, "video_id"]
    assert len(outliers) >= 3  # the planted three and genuine top performers cut by the linear fences
    assert len(compared) == len(everything.selected) + len(outliers) == 160 - 10
    assert sorted(compared.index) == sorted([*everything.selected["video_id"], *outliers])
    assert (compared["source"] == "selected").sum() == 50
    expected = everything.selected.set_index("video_id")
    np.testing.assert_allclose(compared.loc[expected.index, "engagement_rate"], expected["engagement_rate"])
    # the below-top-N rows' celebrity weights, recomputed, are select_bucket's; and so are the selected rows' own
    np.testing.assert_array_equal(compared.loc[expected.index, "sample_weight"], expected["sample_weight"])
    assert (expected["sample_weight"] == 0.5).sum() >= 6  # the planted ones and a few natural ones
    planted = [f"{bucket}-{i:05d}" for i in (10, 11, 12)]
    assert set(planted) <= set(outliers) and compared.loc[planted, "sample_weight"].tolist() == [1.0, 1.0, 0.5]
    no_weights = comparison_videos(top.selected.drop(columns="sample_weight"), top.excluded).set_index("video_id")
    np.testing.assert_array_equal(no_weights.loc[expected.index, "sample_weight"], expected["sample_weight"])
    # without excluded rows only the selection is compared; excluded rows carry their creator (bucket_selection)
    assert len(comparison_videos(top.selected)) == 50
    _, _, creators = log_er(compared.reset_index())
    assert sorted(creators) == sorted(frame.set_index("video_id").loc[compared.index, "author"])
    # an author missing from a row is an unknown creator (its own cluster)
    _, _, creators = log_er(compared.reset_index().assign(author=None))
    assert (creators == None).all()  # noqa: E711


def test_cr1_scores_match_statsmodels_cluster_covariance():
    y, w, col, who = _data(1)
    k = 3
    fit = clustered_fit(y, w, col, who, k)
    raw = fit.scores * np.sqrt(np.where(fit.share < 1, 1 - fit.share, 1.0))
    g, n = len(pd.unique(who)), len(y)
    cr1 = g / (g - 1) * (n - 1) / (n - k) * (raw.T @ raw) / np.outer(fit.weight, fit.weight)
    groups = pd.factorize(pd.Series(who))[0]
    ref = sm.WLS(y, _design(col, k), weights=w).fit(cov_type="cluster", cov_kwds={"groups": groups}, use_t=True)
    np.testing.assert_allclose(fit.mean, ref.params, rtol=RTOL)
    np.testing.assert_allclose(cr1, ref.cov_params(), rtol=RTOL, atol=1e-14)


def test_cr2_with_one_video_per_creator_is_statsmodels_hc2():
    y, w, col, _ = _data(2)
    k = 3
    fit = clustered_fit(y, w, col, np.arange(len(y)).astype(str).astype(object), k)
    ref = sm.WLS(y, _design(col, k), weights=w).fit(cov_type="HC2")
    np.testing.assert_allclose(fit.covariance(), ref.cov_params(), rtol=RTOL, atol=1e-14)
    est = clustered_mean(y[col == 0], w[col == 0], np.full((col == 0).sum(), None, dtype=object))
    one = sm.WLS(y[col == 0], np.ones((col == 0).sum()), weights=w[col == 0]).fit(cov_type="HC2")
    assert est.se == pytest.approx(float(one.bse[0]), rel=RTOL)


def _bell_mccaffrey(y, w, col, who, k, c):
    """CR2 variance and Satterthwaite df of ``c·β`` from the matrix definitions (Bell & McCaffrey 2002; Pustejovsky
    & Tipton 2018): whitened design, ``A_g = (I - H_gg)^(-1/2)``, working model ``ε ~ N(0, I)``."""
    sw = np.sqrt(w)
    x = _design(col, k) * sw[:, None]
    bread = np.linalg.inv(x.T @ x)
    beta = bread @ x.T @ (y * sw)
    hat = x @ bread @ x.T
    resid_maker = np.eye(len(y)) - hat
    e = resid_maker @ (y * sw)
    var, rows = 0.0, []
    for g in pd.unique(who):
        idx = np.flatnonzero(who == g)
        a = np.real(linalg.sqrtm(np.linalg.pinv(np.eye(len(idx)) - hat[np.ix_(idx, idx)])))
        lin = c @ bread @ x[idx].T @ a
        var += float(lin @ e[idx]) ** 2
        rows.append(lin @ resid_maker[idx])
    b = np.array(rows) @ np.array(rows).T
    return float(c @ beta), var, float(np.trace(b) ** 2 / np.sum(b * b))


@pytest.mark.parametrize("seed", [4, 5])
def test_cr2_and_df_match_the_matrix_definition(seed):
    y, w, col, who = _data(seed, n=60)
    who = np.where(np.arange(60) % 7 == 0, np.arange(60).astype(str), who).astype(object)  # some lone videos
    k = 3
    fit = clustered_fit(y, w, col, who, k)
    for c in (np.array([1.0, 0, 0]), np.array([0, 1.0, 0]), np.array([1.0, -0.4, -0.6]), np.array([-0.5, -0.5, 1])):
        est, se, df = fit.contrast(c)
        ref_est, ref_var, ref_df = _bell_mccaffrey(y, w, col, who, k, c)
        assert est == pytest.approx(ref_est, rel=RTOL)
        assert se**2 == pytest.approx(ref_var, rel=RTOL)
        assert df == pytest.approx(ref_df, rel=RTOL)


def test_one_video_per_creator_gives_the_classic_t_interval():
    rng = np.random.default_rng(6)
    y = rng.normal(size=25)
    est = clustered_mean(y, np.ones(25), np.array([f"c{i}" for i in range(25)], dtype=object))
    lo, hi = stats.t.interval(0.95, 24, loc=y.mean(), scale=stats.sem(y))
    assert est.df == pytest.approx(24, rel=1e-10)
    assert (est.low, est.high) == (pytest.approx(lo, rel=1e-10), pytest.approx(hi, rel=1e-10))


def test_holm_matches_statsmodels():
    rng = np.random.default_rng(7)
    for m in (1, 2, 5, 9):
        p = rng.uniform(0, 0.1, m) ** rng.uniform(0.5, 2)
        np.testing.assert_allclose(holm_adjusted(p), multipletests(p, method="holm")[1], rtol=1e-12)
    np.testing.assert_allclose(holm_adjusted(np.array([0.01, 0.01])), [0.02, 0.02])


def test_comparison_is_bucket_against_the_rest_of_the_hashtag():
    y, w, col, who = _data(8)
    labels = np.array(["a", "b", "c"], dtype=object)[col]
    comp = compare_buckets(y, w, labels, who, ["a", "b", "c"])
    for i, b in enumerate(comp.buckets):
        inside, rest = labels == b, labels != b
        direct = np.average(y[inside], weights=w[inside]) - np.average(y[rest], weights=w[rest])
        assert comp.log_ratio[i] == pytest.approx(direct, rel=1e-10)
    np.testing.assert_allclose(comp.p_adjusted, holm_adjusted(comp.p_value))
    # the same test as against the whole hashtag (bucket included): the contrast is a multiple of the other
    fit = clustered_fit(y, w, pd.Categorical(labels, categories=list(comp.buckets)).codes.astype(int), who, 3)
    i = 0
    whole = -fit.weight / fit.weight.sum()
    whole[i] += 1.0
    est, se, df = fit.contrast(whole)
    assert 2 * stats.t.sf(abs(est) / se, df) == pytest.approx(comp.p_value[i], rel=1e-10)


def test_degenerate_inputs():
    empty = compare_buckets(np.empty(0), np.empty(0), np.empty(0, dtype=object), np.empty(0, dtype=object), [])
    assert empty.buckets == ()
    one_creator = clustered_mean(np.array([0.1, 0.2, 0.3]), np.ones(3), np.array(["x", "x", "x"], dtype=object))
    assert one_creator.creators == 1 and np.isnan(one_creator.low)
    comp = compare_buckets(
        np.array([0.0, 1.0, 2.0, 3.0]),
        np.ones(4),
        np.array(["a", "a", "b", "b"], dtype=object),
        np.array(["x", "y", "z", "z"], dtype=object),
        ["a", "b"],
    )
    assert np.isfinite(comp.p_value[0]) and np.isfinite(comp.estimates[0].low) and np.isnan(comp.estimates[1].low)
    assert comparison_videos(None, None).empty
