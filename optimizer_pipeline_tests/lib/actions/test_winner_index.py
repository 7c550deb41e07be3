"""Winner index: built from a constructed trail (reversed and control wins left out), similarity search against a
numpy cosine reference on the same standardised vectors, filters, and bad input."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from optimizer_pipeline.lib.actions.winner_index import (
    WinnerIndexError,
    build_winner_index,
    duration_bucket,
    search_winners,
    variant_dna,
)
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
    assert row["duration_bucket"] == "15-30 s"


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


def test_duration_buckets() -> None:
    assert [duration_bucket(s) for s in (5, 15, 15.1, 45, 61, float("nan"))] == [
        "0-15 s", "0-15 s", "15-30 s", "30-60 s", "60 s+", "",
    ]  # fmt: skip


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
