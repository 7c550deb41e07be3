"""``influencer_coverage``: 95 % interval coverage of a pattern's mean rate when influencers differ (issue 12, item 4).

Truth in: clients of :data:`PATTERNS` patterns, each tested through :data:`SOURCES` influencers (one ``utm_id``
each) with 150 to 400 clicks apiece (uniform integers). Pattern ``j`` has a true mean rate ``mu_j`` (uniform 3-5 %);
influencer ``s`` converts at ``mu_j * exp(sd * z_s - sd^2 / 2)``, ``z_s`` standard normal, so ``mu_j`` is the mean
over influencers (what the next influencer would get, the rate a decision is about) and ``sd`` the between-influencer
sd of the log rate. Each client runs ``build_posteriors`` (rows per pattern and source); the figure is the share of
patterns whose 95 % interval contains ``mu_j`` at ``sd = 0.5``.

``detail`` also holds, per sd (0, 0.3, 0.5): coverage and mean interval width (sd 0 shows the price of the cluster
model when there is no heterogeneity), the mean estimated intra-class correlation and design effect, and the
single-look "high-confidence winner" rate among identical patterns: every ``mu_j = 4 %``, Thompson ``recommend``
(10,000 draws, the asset's default) on the client's posteriors, counted when any pattern wins >= 90 % of the draws
(:data:`~optimizer_pipeline.lib.testloop.thompson.WINNER_SHARE`); per client, so the rate is per look. ``passed``
needs coverage >= 0.93 and that winner rate <= 0.05 at sd 0.5.

``before``: the same clients under the old model, every click an independent trial (per-pattern totals, no source
structure; the empirical-Bayes prior fitted to the raw totals).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optimizer_pipeline.lib.testloop.posterior_report import build_posteriors
from optimizer_pipeline.lib.testloop.posteriors import posterior_table
from optimizer_pipeline.lib.testloop.prior import fit_prior
from optimizer_pipeline.lib.testloop.thompson import WINNER_SHARE, recommend

KEY = "influencer_coverage"
TARGET = 0.93
WINNER_TARGET = 0.05
PATTERNS = 12
SOURCES = 3
RATE_RANGE = (0.03, 0.05)
NULL_RATE = 0.04
CLICK_RANGE = (150, 400)
THOMPSON_DRAWS = 10_000
SEED = 120512


def simulate_client(rng: np.random.Generator, sd: float, identical: bool) -> tuple[pd.DataFrame, pd.Series]:
    """(rows ``pattern_hash, utm_id, age_days, clicks, conversions``; true mean rate per pattern)."""
    mu = np.full(PATTERNS, NULL_RATE) if identical else rng.uniform(*RATE_RANGE, PATTERNS)
    rate = np.minimum(mu[:, None] * np.exp(sd * rng.standard_normal((PATTERNS, SOURCES)) - sd**2 / 2), 1.0)
    clicks = rng.integers(CLICK_RANGE[0], CLICK_RANGE[1] + 1, (PATTERNS, SOURCES))
    conversions = rng.binomial(clicks, rate)
    hashes = [f"hook:h{j:02d}" for j in range(PATTERNS)]
    rows = pd.DataFrame(
        {
            "pattern_hash": np.repeat(hashes, SOURCES),
            "utm_id": [f"u{j:02d}-{s}" for j in range(PATTERNS) for s in range(SOURCES)],
            "age_days": 0.0,
            "clicks": clicks.ravel(),
            "conversions": conversions.ravel(),
        }
    )
    return rows, pd.Series(mu, index=hashes)


def _posteriors(rows: pd.DataFrame, old: bool) -> tuple[pd.DataFrame, float]:
    """(posterior table, estimated rho) with today's model or the old independent-clicks one."""
    if old:
        totals = rows.groupby("pattern_hash", as_index=False)[["clicks", "conversions"]].sum()
        prior = fit_prior(totals["clicks"], totals["conversions"])
        return posterior_table(totals, prior=prior, p_best_draws=10), 0.0
    summary = pd.DataFrame({"pattern_hash": sorted(rows["pattern_hash"].unique())})
    report = build_posteriors(rows, summary, decay=None, seed=0, as_of=None, loo_min_clicks=100, p_best_draws=10)
    return report.table, report.dispersion.rho


def coverage(sd: float, clients: int, *, old: bool, seed: int = SEED) -> dict[str, float]:
    """Coverage of ``mu_j`` by the 95 % intervals, mean width, mean rho and design effect over ``clients``."""
    rng = np.random.default_rng([seed, int(sd * 1000)])
    hits, widths, rhos, deffs = [], [], [], []
    for _ in range(clients):
        rows, mu = simulate_client(rng, sd, identical=False)
        table, rho = _posteriors(rows, old)
        truth = mu.loc[table["pattern_hash"]].to_numpy()
        hits.append((table["ci_low"].to_numpy() <= truth) & (truth <= table["ci_high"].to_numpy()))
        widths.append((table["ci_high"] - table["ci_low"]).to_numpy())
        rhos.append(rho)
        deffs.append(table["design_effect"].to_numpy() if "design_effect" in table else np.ones(len(table)))
    h = np.concatenate(hits)
    return {
        "coverage": float(h.mean()),
        "mean_width": float(np.concatenate(widths).mean()),
        "mean_rho": float(np.mean(rhos)),
        "mean_design_effect": float(np.concatenate(deffs).mean()),
        "patterns": int(h.size),
    }


def winner_rate(sd: float, clients: int, *, old: bool, seed: int = SEED + 1) -> float:
    """Share of clients of identical patterns in which Thompson ``recommend`` calls a pattern a high-confidence
    winner (win share >= WINNER_SHARE) at a single look."""
    rng = np.random.default_rng([seed, int(sd * 1000)])
    called = 0
    for c in range(clients):
        rows, _ = simulate_client(rng, sd, identical=True)
        table, _ = _posteriors(rows, old)
        rec = recommend(table, n=len(table), seed=c, min_clicks=0, min_days=0, draws=THOMPSON_DRAWS)
        called += bool((rec["win_share"] >= WINNER_SHARE).any())
    return called / clients


def measure(quick: bool = False) -> dict:
    """Coverage at sd 0.5 (the figure), with sd 0 / 0.3 and the identical-pattern winner rates in ``detail``."""
    n_cov = {0.0: 15, 0.5: 25} if quick else {0.0: 100, 0.3: 100, 0.5: 100}
    n_null = {0.5: 30} if quick else {0.3: 150, 0.5: 150}
    detail: dict = {
        "patterns_per_client": PATTERNS,
        "influencers_per_pattern": SOURCES,
        "clicks_per_influencer": f"{CLICK_RANGE[0]}-{CLICK_RANGE[1]}",
        "true_mean_rates": f"uniform {RATE_RANGE[0]:g}-{RATE_RANGE[1]:g} (identical: {NULL_RATE:g})",
    }
    for sd, clients in n_cov.items():
        after, before = coverage(sd, clients, old=False), coverage(sd, clients, old=True)
        detail[f"sd_{sd:g}"] = {
            **after,
            "coverage_before": before["coverage"],
            "mean_width_before": before["mean_width"],
            "clients": clients,
        }
    for sd, clients in n_null.items():
        detail.setdefault(f"sd_{sd:g}", {})
        detail[f"sd_{sd:g}"]["winner_rate_identical"] = winner_rate(sd, clients, old=False)
        detail[f"sd_{sd:g}"]["winner_rate_identical_before"] = winner_rate(sd, clients, old=True)
        detail[f"sd_{sd:g}"]["winner_clients"] = clients
    main = detail["sd_0.5"]
    value = main["coverage"]
    detail["monte_carlo_se"] = float(np.sqrt(value * (1 - value) / main["patterns"]))
    return {
        "key": KEY,
        "value": value,
        "target": f">= {TARGET}; winners <= {WINNER_TARGET}",
        "passed": bool(value >= TARGET and main["winner_rate_identical"] <= WINNER_TARGET),
        "before": main["coverage_before"],
        "detail": detail,
    }
