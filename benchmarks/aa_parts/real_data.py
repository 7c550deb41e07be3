"""(c) Upworthy identical-arm pairs replayed look by look, and (d) the Hillstrom e-mail test's known ordering.

(c) Identical arms (same headline and same eyecatcher_id within one clickability_test_id) are real A/A tests: any
winner called between them is false. Tests with a package from weeks 201325-201402 are left out (randomisation
broken by a cache bug, see the data README). One pair per identical group (its first two rows in file order). Each
pair's final counts are split into looks by hypergeometric thinning (``look_replay.thin_looks``) and decided by
``compare_variants`` and by the naive z-test at every look. The VIF of a pair is estimated without that pair and
without knowing which pairs are identical: tests are split into two folds by a hash of the test id (BLAKE2b; the file
itself already keeps only tests with an even SHA-256, so SHA-256 cannot split it), and each fold's pairs get the
empirical-null VIF (Efron 2004, ``overdispersion.empirical_null_vif``) of the pooled z-scores of every within-test
arm pair of the other fold (cross-fitting).

(d) Hillstrom (2008): 64,000 customers randomised to a Men's e-mail, a Women's e-mail or no e-mail; conversion is known
to order Mens > Womens > No E-Mail. Found by the fixed-horizon pooled z-test (``two_sample_tests.compare_proportions``)
on the three pairs with Holm (``multiple_testing.adjust_pvalues``), and by the sequential test at its final look: the
customers split into looks by the same thinning, each pair decided by ``compare_variants`` at alpha / 3 (Bonferroni
over the three pairs; VIF 1, since customers are independent Bernoulli units).
"""

from __future__ import annotations

import hashlib
import math
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd

from aa_parts.look_replay import naive_crossings, sequential_crossing, thin_looks
from optimizer_pipeline.lib.core.multiple_testing import adjust_pvalues
from optimizer_pipeline.lib.decisions.overdispersion import aa_vif, empirical_null_vif, pairwise_z
from optimizer_pipeline.lib.decisions.two_sample_tests import compare_proportions

ALPHA = 0.05
EXCLUDED_WEEKS = (201325, 201402)
HILLSTROM_ORDER = ("Mens E-Mail", "Womens E-Mail", "No E-Mail")


def _fold(test_id: object) -> int:
    return hashlib.blake2b(str(test_id).encode(), digest_size=8).digest()[0] & 1


def upworthy_tables(path: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Kept packages (outside the excluded weeks, impressions > 0) and one identical pair per group."""
    cols = ["clickability_test_id", "headline", "eyecatcher_id", "impressions", "clicks", "test_week"]
    df = pd.read_parquet(path, columns=cols).reset_index(drop=True)
    bad = df["test_week"].astype(int).between(*EXCLUDED_WEEKS).groupby(df["clickability_test_id"]).transform("any")
    kept = df[~bad & (df["impressions"] > 0)].copy()
    kept["fold"] = kept["clickability_test_id"].map(_fold)
    groups = kept.groupby(["clickability_test_id", "headline", "eyecatcher_id"], sort=False)
    firsts = kept[groups.cumcount() < 2]
    firsts = firsts[firsts.groupby(["clickability_test_id", "headline", "eyecatcher_id"]).transform("size") == 2]
    firsts = firsts.sort_values(["clickability_test_id", "headline", "eyecatcher_id"], kind="stable")
    a, b = firsts.iloc[0::2].reset_index(drop=True), firsts.iloc[1::2].reset_index(drop=True)
    pairs = pd.DataFrame(
        {
            "test": a["clickability_test_id"],
            "fold": a["fold"],
            "trials_a": a["impressions"].to_numpy(),
            "successes_a": a["clicks"].to_numpy(),
            "trials_b": b["impressions"].to_numpy(),
            "successes_b": b["clicks"].to_numpy(),
        }
    )
    return kept, pairs


def within_test_z(kept: pd.DataFrame) -> pd.DataFrame:
    """Pooled z of every arm pair within every test, with the test's fold (NaN z dropped)."""
    rows = []
    for (_, fold), g in kept.groupby(["clickability_test_id", "fold"], sort=False):
        n, c = g["impressions"].to_numpy(), g["clicks"].to_numpy()
        for i, j in combinations(range(len(g)), 2):
            rows.append((fold, c[i], n[i], c[j], n[j]))
    arr = np.array(rows, dtype=float)
    z = pairwise_z(arr[:, 1], arr[:, 2], arr[:, 3], arr[:, 4])
    out = pd.DataFrame({"fold": arr[:, 0].astype(int), "z": z})
    return out[np.isfinite(out["z"])]


def upworthy_replay(path: Path, looks: int, seed: int, max_pairs: int | None) -> dict:
    """False-winner rates of our method and the naive test on the identical pairs, a look every 6 hours."""
    kept, pairs = upworthy_tables(path)
    z = within_test_z(kept)
    fits = {f: empirical_null_vif(z.loc[z["fold"] != f, "z"].to_numpy()) for f in (0, 1)}
    available = len(pairs)
    if max_pairs is not None:
        pairs = pairs.iloc[:max_pairs]
    rng = np.random.default_rng(seed)
    imps = np.concatenate([pairs["trials_a"], pairs["trials_b"]])
    clicks = np.concatenate([pairs["successes_a"], pairs["successes_b"]])
    n_cum, c_cum = thin_looks(imps, clicks, looks, rng)
    p = len(pairs)
    assert np.array_equal(c_cum[:, -1], clicks) and np.array_equal(n_cum[:, -1], imps)
    vif = pairs["fold"].map({f: e.value for f, e in fits.items()}).to_numpy()
    ours = np.array(
        [
            sequential_crossing(
                (c_cum[i], n_cum[i]), (c_cum[p + i], n_cum[p + i]),
                metric="ctr", vif=float(vif[i]), alpha=ALPHA, planned_looks=looks,
            ).look is not None
            for i in range(p)
        ]
    )  # fmt: skip
    naive, _ = naive_crossings(c_cum[:p], n_cum[:p], c_cum[p:], n_cum[p:], ALPHA)
    naive_final, _ = naive_crossings(c_cum[:p, -1:], n_cum[:p, -1:], c_cum[p:, -1:], n_cum[p:, -1:], ALPHA)
    rate = float(ours.mean())
    own = aa_vif(pairs)
    return {
        "pairs": p,
        "pairs_available": available,
        "tests_kept": int(kept["clickability_test_id"].nunique()),
        "within_test_z_scores": {str(f): int((z["fold"] == f).sum()) for f in (0, 1)},
        "vif_by_fold": {str(f): fits[f].value for f in (0, 1)},
        "vif_detail": {str(f): f"fold {f} from the other fold's tests: {fits[f].detail}" for f in (0, 1)},
        "false_winner_rate": rate,
        "false_winner_rate_se": math.sqrt(rate * (1 - rate) / p),
        "false_winner_rate_naive": float(np.mean(naive >= 0)),
        "naive_at_final_look_only": float(np.mean(naive_final >= 0)),
        "identical_pairs_own_vif_not_used": own.raw,
    }


def hillstrom(path: Path, looks: int, seed: int) -> dict:
    """Conversion rates, lifts and p-values of the three pairs; whether Mens > Womens > No E-Mail is found."""
    df = pd.read_csv(path, usecols=["segment", "conversion"])
    agg = df.groupby("segment")["conversion"].agg(["sum", "size"])
    arms = {s: (int(agg.loc[s, "sum"]), int(agg.loc[s, "size"])) for s in HILLSTROM_ORDER}
    pairs = [(HILLSTROM_ORDER[0], HILLSTROM_ORDER[1]), (HILLSTROM_ORDER[1], HILLSTROM_ORDER[2]),
             (HILLSTROM_ORDER[0], HILLSTROM_ORDER[2])]  # fmt: skip
    tests = [compare_proportions(*arms[lo], *arms[hi], alpha=ALPHA) for hi, lo in pairs]
    holm = adjust_pvalues([t.p_value for t in tests], "holm")
    rng = np.random.default_rng(seed)
    n_cum, c_cum = thin_looks(
        np.array([arms[s][1] for s in HILLSTROM_ORDER]), np.array([arms[s][0] for s in HILLSTROM_ORDER]), looks, rng
    )
    pos = {s: i for i, s in enumerate(HILLSTROM_ORDER)}
    rows, fixed_ok, seq_ok = [], True, True
    for (hi, lo), t, p_holm in zip(pairs, tests, holm, strict=True):
        cross = sequential_crossing(
            (c_cum[pos[lo]], n_cum[pos[lo]]), (c_cum[pos[hi]], n_cum[pos[hi]]),
            metric="cvr", vif=1.0, alpha=ALPHA / 3, planned_looks=looks,
        )  # fmt: skip
        fixed_ok &= bool(t.lift > 0 and p_holm < ALPHA)
        seq_ok &= cross.sign > 0
        rows.append(
            {
                "pair": f"{hi} vs {lo}",
                "rate_hi": t.treatment,
                "rate_lo": t.control,
                "lift": t.lift,
                "lift_ci": [t.lift_ci_low, t.lift_ci_high],
                "p_value": t.p_value,
                "p_holm": float(p_holm),
                "sequential_rejected": cross.sign > 0,
                "sequential_first_look": None if cross.look is None else cross.look + 1,
            }
        )
    return {
        "arms": {s: {"conversions": c, "customers": n, "rate": c / n} for s, (c, n) in arms.items()},
        "pairs": rows,
        "fixed_holm_found": fixed_ok,
        "sequential_found": bool(seq_ok),
        "ordering_found": bool(fixed_ok and seq_ok),
    }
