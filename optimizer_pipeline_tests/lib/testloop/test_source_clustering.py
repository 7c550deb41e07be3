import math
import warnings

import numpy as np
import pandas as pd
import pytest

from optimizer_pipeline.lib.testloop.source_clustering import (
    METHOD_ANOVA,
    METHOD_NONE,
    design_effects,
    estimate_dispersion,
    source_totals,
)


def _beta_binomial_client(seed: int, rho: float, patterns: int = 300, sources: int = 3, equal: bool = True):
    """Sources whose rates are Beta with mean mu_j and intra-class correlation rho; clicks per source 100-400
    (the same for every source of a pattern when ``equal``)."""
    rng = np.random.default_rng(seed)
    mu = rng.uniform(0.03, 0.06, patterns)
    if equal:
        n = np.repeat(rng.integers(100, 401, (patterns, 1)), sources, axis=1)
    else:
        n = rng.integers(100, 401, (patterns, sources))
    strength = 1 / rho - 1
    p = rng.beta(mu[:, None] * strength, (1 - mu[:, None]) * strength, (patterns, sources))
    k = rng.binomial(n, p)
    rows = pd.DataFrame(
        {
            "pattern_hash": np.repeat([f"hook:p{j:03d}" for j in range(patterns)], sources),
            "utm_id": [f"u{j}-{s}" for j in range(patterns) for s in range(sources)],
            "clicks": n.ravel(),
            "conversions": k.ravel(),
        }
    )
    return rows, mu, n, k


def test_design_effect_is_kish_formula_with_effective_counts():
    rows = pd.DataFrame(
        {
            "pattern_hash": ["a", "a", "a", "b", "c"],
            "utm_id": ["x", "y", "z", "w", None],
            "clicks": [100, 200, 300, 50, 0],
            "conversions": [5, 8, 9, 2, 0],
        }
    )
    t = design_effects(source_totals(rows), 0.01).set_index("pattern_hash")
    deff_a = 1 + ((100**2 + 200**2 + 300**2) / 600 - 1) * 0.01
    assert t.loc["a", "design_effect"] == pytest.approx(deff_a)
    assert t.loc["a", "effective_clicks"] == pytest.approx(600 / deff_a)
    assert t.loc["a", "effective_conversions"] == pytest.approx(22 / deff_a)
    assert t.loc["a", "sources"] == 3
    assert t.loc["b", "design_effect"] == pytest.approx(1 + 49 * 0.01)  # one source: 1 + (n - 1) rho
    assert t.loc["c", "design_effect"] == 1.0 and t.loc["c", "effective_clicks"] == 0.0  # no clicks
    assert (design_effects(source_totals(rows), 0.0)["design_effect"] == 1.0).all()  # rho 0: independent clicks


def test_rows_without_utm_id_are_one_source_per_pattern():
    rows = pd.DataFrame({"pattern_hash": ["a", "a", "b"], "clicks": [10, 20, 5], "conversions": [1, 2, 0]})
    totals = source_totals(rows, weights=np.array([1.0, 0.5, 1.0]))
    assert list(totals["source"]) == ["", ""]
    assert list(totals["clicks"]) == [20.0, 5.0] and list(totals["conversions"]) == [2.0, 0.0]
    d = estimate_dispersion(source_totals(rows))
    assert d.method == METHOD_NONE and d.rho == 0.0 and d.patterns == 0
    # a None utm_id (the zero row of a pattern without data) is one source as well
    with_none = rows.assign(utm_id=[None, None, "s"])
    assert list(source_totals(with_none)["source"]) == ["", "s"]


def test_rho_recovers_the_intra_class_correlation():
    """Beta-Binomial sources with rho = 0.02, 300 patterns x 3 sources: over 4 seeds the moment estimate's SE is
    about 0.001 each (measured over 6 seeds: 0.0184-0.0215), so +-0.003 on the mean of 4 is > 5 SE."""
    estimates = [estimate_dispersion(source_totals(_beta_binomial_client(s, 0.02)[0])) for s in range(4)]
    assert all(e.method == METHOD_ANOVA and e.patterns == 300 and e.sources == 900 for e in estimates)
    assert abs(np.mean([e.rho for e in estimates]) - 0.02) < 0.003
    # no heterogeneity: the estimate is about 0 (truncated at 0, so only its upper spread remains)
    rows, *_ = _beta_binomial_client(9, 1e-9)
    assert estimate_dispersion(source_totals(rows)).rho < 0.003


def test_pattern_variance_agrees_with_statsmodels_cluster_robust():
    """Reference: statsmodels' cluster-robust (sandwich) variance of each pattern's rate (intercept-only Binomial GLM
    per pattern on its source rows, clusters = sources), times S / (S - 1) because each pattern's mean is estimated
    from its own S = 3 clusters (equal sizes within a pattern make that factor exact). The model's variance
    ``p (1 - p) deff / N`` must agree on average over 200 patterns: each sandwich estimate has 2 degrees of freedom
    (relative SD ~1), so the mean of 200 has SE ~7 % before the pairing with the same data (which removes most of it:
    with 300 patterns the ratio over 6 seeds was 0.965-1.027), hence +-12 %. Against the truth (true rho and rates):
    within 15 %."""
    sm = pytest.importorskip("statsmodels.api")
    rows, mu, n, k = _beta_binomial_client(0, 0.02, patterns=200)
    totals = source_totals(rows)
    d = estimate_dispersion(totals)
    t = design_effects(totals, d.rho)
    p_hat = t["conversions"] / t["clicks"]
    model_var = (p_hat * (1 - p_hat) * t["design_effect"] / t["clicks"]).to_numpy()
    s = n.shape[1]
    robust = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # statsmodels' perfect-separation heuristic on 3 aggregated rows
        for j in range(len(mu)):
            endog = np.column_stack([k[j], n[j] - k[j]]).astype(float)
            fit = sm.GLM(endog, np.ones((s, 1)), family=sm.families.Binomial()).fit(
                cov_type="cluster", cov_kwds={"groups": np.arange(s), "use_correction": False}
            )
            p = 1 / (1 + math.exp(-fit.params[0]))
            assert p == pytest.approx(p_hat.iloc[j], rel=1e-8)  # the same click-weighted rate
            robust.append((p * (1 - p)) ** 2 * fit.cov_params()[0, 0] * s / (s - 1))  # delta method from logit
    assert abs(np.mean(robust) / model_var.mean() - 1) < 0.12
    true_var = mu * (1 - mu) * (1 + ((n**2).sum(1) / n.sum(1) - 1) * 0.02) / n.sum(1)
    assert abs(model_var.mean() / true_var.mean() - 1) < 0.15
