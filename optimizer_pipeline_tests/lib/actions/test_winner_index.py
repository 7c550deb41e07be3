"""Winner index: built from a constructed trail (reversed and control wins left out), similarity search against a
numpy cosine reference on the same standardised vectors, filters, and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from optimizer_pipeline.lib.actions.winner_index import (
    WinnerIndexError,
    build_winner_index,
    creative_variant_dna,
    search_winners,
    variant_dna,
)
from optimizer_pipeline.lib.core.buckets import bucket_for
from optimizer_pipeline.lib.decisions.experiment_registry import Experiment, Variant

T0 = pd.Timestamp("2026-11-01", tz="UTC")
FEATURES = ["cuts_per_second", "face_share", "hook_motion_mean"]
HOOKS = ["question", "pov", "question", "tutorial", "question", "story", "listicle", "question"]


def _trail(n: int = 8, seed: int = 3) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    dec, var, dna = [], [], []
    for i in range(n):
        exp = f"e{i}"
        for look in (1, 2):
            at = T0 + pd.Timedelta(days=look)
            decision, winner, decided = "promote", "b", (T0 + pd.Timedelta(days=1)).isoformat()
            if exp == "e6" and look == 2:  # reversed at look 2
                decision, winner, decided = "continue", "", None
            if exp == "e7":  # the control wins
                winner = "a"
            dec.append({"experiment_id": exp, "look_at": at, "look_index": look, "decision": decision,
                        "winner": winner, "decided_at": decided, "reason": "", "primary_metric": "ctr",
                        "variant": "b", "lift": 0.1 + 0.01 * i + 0.001 * look, "lift_low": 0.02, "lift_high": 0.3,
                        "z": 3.0, "boundary": 2.5, "confidence": 0.95, "chance_to_win": 0.99})  # fmt: skip
            for v, ctl, clicks in (("a", True, 200.0), ("b", False, 200.0 + 40 * i)):
                var.append({"experiment_id": exp, "look_at": at, "look_index": look, "variant": v,
                            "is_control": ctl, "impressions": 10000.0 * look, "clicks": clicks * look,
                            "conversions": 10.0, "spend": 100.0, "revenue": 300.0,
                            "metric_value": clicks / 10000.0})  # fmt: skip
        for v in ("a", "b"):
            dna.append({"experiment_id": exp, "variant": v, "hook_type": HOOKS[i] if v == "b" else "statement",
                        "emo": "curiosity", "duration_s": 10.0 + 8 * i,
                        **dict(zip(FEATURES, rng.normal([0.5, 0.4, 20], [0.2, 0.2, 5]), strict=True))})  # fmt: skip
    return pd.DataFrame(dec), pd.DataFrame(var), pd.DataFrame(dna)


def _index() -> pd.DataFrame:
    dec, var, dna = _trail()
    return build_winner_index(dec, var, dna, FEATURES)


def test_index_rows_and_columns() -> None:
    idx = _index()
    assert list(idx["experiment_id"]) == ["e0", "e1", "e2", "e3", "e4", "e5"]  # e6 reversed, e7 control won
    row = idx.set_index("experiment_id").loc["e2"]
    assert row["hook"] == "question" and row["pattern_hash"] == "hook:question|emo:curiosity"
    assert row["ctr"] == pytest.approx(2 * 280 / 20000)  # the latest look's counts
    assert row["lift"] == pytest.approx(0.122) and row["lift_at_promotion"] == pytest.approx(0.121)
    assert row["control_metric_value"] == pytest.approx(0.02)
    assert row["duration_bucket"] == "16-30s"  # 26 s, in the project's buckets (lib/core/buckets.py)


def _reference(idx: pd.DataFrame, query: np.ndarray, keep: np.ndarray, k: int) -> tuple[list[str], np.ndarray]:
    x = idx[FEATURES].to_numpy(dtype=float)
    mu, sd = x.mean(axis=0), x.std(axis=0)
    zx, zq = (x - mu) / sd, (query - mu) / sd
    cos = zx @ zq / (np.linalg.norm(zx, axis=1) * np.linalg.norm(zq))
    order = [i for i in np.argsort(-cos, kind="stable") if keep[i]][:k]
    return list(idx["experiment_id"].iloc[order]), cos[order]


def test_search_matches_numpy_and_finds_the_planted_winner() -> None:
    idx = _index()
    planted = idx.set_index("experiment_id").loc["e3", FEATURES].to_numpy(dtype=float)
    query = planted + np.array([0.01, -0.01, 0.1])
    got = search_winners(idx, dict(zip(FEATURES, query, strict=True)), k=3)
    ids, sims = _reference(idx, query, np.ones(len(idx), bool), 3)
    assert got["experiment_id"].iloc[0] == "e3"
    assert list(got["experiment_id"]) == ids
    np.testing.assert_allclose(got["similarity"].to_numpy(dtype=float), sims, rtol=1e-9)
    assert list(got["rank"]) == [1, 2, 3]


def test_filters_question_hooks_with_ctr() -> None:
    idx = _index()
    query = idx.set_index("experiment_id").loc["e3", FEATURES].to_numpy(dtype=float)  # e3 is a tutorial hook
    got = search_winners(idx, list(query), filters={"hook_type": "question", "min_ctr": 0.025}, k=5)
    keep = ((idx["hook"] == "question") & (idx["ctr"] >= 0.025)).to_numpy()
    ids, sims = _reference(idx, query, keep, 5)
    assert list(got["experiment_id"]) == ids
    assert set(got["experiment_id"]) == {"e2", "e4"}  # e0 is a question hook with CTR 2 %
    np.testing.assert_allclose(got["similarity"].to_numpy(dtype=float), sims, rtol=1e-9)
    some = search_winners(idx, filters={"hook": ["pov", "story"], "max_lift": 0.14})
    assert list(some["experiment_id"]) == ["e1"] and some["similarity"].isna().all()


def test_no_query_ranks_by_lift() -> None:
    got = search_winners(_index(), k=2)
    assert list(got["experiment_id"]) == ["e5", "e4"]


def test_variant_dna_from_ads() -> None:
    arms = (Variant("a", ("1", "2"), True, 0.5), Variant("b", ("3",), False, 0.5))
    exp = Experiment("x", "", arms, "ctr", (), 0.05, T0.to_pydatetime(), 14, 48, 1000, 0.05, "running")
    ads = pd.DataFrame({"ad_id": ["1", "2", "3"], "hook": ["question", "pov", "story"], "duration_s": [10, 20, 40]})
    out = variant_dna([exp], ads).set_index("variant")
    assert out.loc["a", "hook"] == "mixed" and out.loc["a", "duration_s"] == 15
    assert out.loc["b", "hook"] == "story"


def test_duration_buckets_are_the_projects() -> None:
    dec, var, dna = _trail()
    dna["duration_s"] = dna["duration_s"].astype(float)
    dna.loc[dna["experiment_id"] == "e0", "duration_s"] = 150.0  # beyond the last bucket: no bucket
    idx = build_winner_index(dec, var, dna, FEATURES).set_index("experiment_id")
    seconds = idx["duration_s"].to_numpy()
    assert list(idx["duration_bucket"]) == [bucket_for(s) or "" for s in seconds]
    assert idx.at["e0", "duration_bucket"] == "" and idx.at["e1", "duration_bucket"] == "16-30s"
    got = search_winners(idx.reset_index(), filters={"duration_bucket": ["16-30s", "31-60s"]}, k=10)
    assert set(got["experiment_id"]) == {e for e in idx.index if idx.at[e, "duration_bucket"] in ("16-30s", "31-60s")}


def _experiment(exp_id: str, control_ads: tuple[str, ...], variant_ads: tuple[str, ...]) -> Experiment:
    arms = (Variant("a", control_ads, True, 0.5), Variant("b", variant_ads, False, 0.5))
    return Experiment(exp_id, "", arms, "ctr", (), 0.05, T0.to_pydatetime(), 14, 48, 1000, 0.05, "running")


def test_creative_dna_joins_ads_to_variants() -> None:
    """creative_dna (one row per creative, its ads in a list) → DNA per experiment variant."""
    creatives = pd.DataFrame(
        {
            "creative_id": ["c1", "c2", "c3", "c4"],
            "ad_ids": [["ad1"], ["ad2", "ad3"], np.array(["ad4"]), []],
            "hook_type": ["statement", "question", "question", "pov"],
            "emotion": ["trust", "curiosity", "joy", "joy"],
            "duration_s": [20.0, 10.0, 30.0, 40.0],
            "face_share": [0.2, 0.6, 0.8, 0.1],
        }
    )
    exps = [_experiment("x", ("ad1",), ("ad2", "ad3", "ad4")), _experiment("y", ("ad9",), ("ad4",))]
    out = creative_variant_dna(exps, creatives, ["face_share"]).set_index(["experiment_id", "variant"])
    assert out.loc[("x", "a"), "creative_ids"] == "c1" and out.loc[("x", "a"), "hook_type"] == "statement"
    b = out.loc[("x", "b")]
    assert b["creative_ids"] == "c2, c3" and b["hook_type"] == "question" and b["emotion"] == "mixed"
    assert b["face_share"] == pytest.approx(0.7) and b["duration_s"] == pytest.approx(20.0)  # c2 counted once
    assert ("y", "a") not in out.index and out.loc[("y", "b"), "creative_ids"] == "c3"
    with pytest.raises(WinnerIndexError, match="creative_dna lacks"):
        creative_variant_dna(exps, creatives.drop(columns="ad_ids"))


def test_bad_input() -> None:
    idx = _index()
    with pytest.raises(WinnerIndexError, match="unknown filter"):
        search_winners(idx, filters={"colour": "red"})
    with pytest.raises(WinnerIndexError, match="numeric"):
        search_winners(idx, filters={"min_hook": 1})
    with pytest.raises(WinnerIndexError, match="3 features"):
        search_winners(idx, [1.0, 2.0])
    with pytest.raises(WinnerIndexError, match="k must"):
        search_winners(idx, k=0)
    dec, var, dna = _trail()
    with pytest.raises(WinnerIndexError, match="lacks columns"):
        build_winner_index(dec, var.drop(columns="clicks"))
    with pytest.raises(WinnerIndexError, match="dna table lacks"):
        build_winner_index(dec, var, dna, ["missing_feature"])


def test_a_query_at_the_mean_has_no_direction() -> None:
    idx = _index()
    got = search_winners(idx, dict(idx[FEATURES].mean()), k=6)
    assert got["similarity"].isna().all()  # DuckDB gives NaN for a zero vector; shown as NULL, not ranked first
    assert list(got["experiment_id"]) == ["e5", "e4", "e3", "e2", "e1", "e0"]  # then by lift
