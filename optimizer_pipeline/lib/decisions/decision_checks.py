"""What must hold of every look's decisions, whatever the data: the invariant behind the ``decision_validity``
asset check. Only a bug can break it, so the check is blocking (a broken decision must not move money)."""

from __future__ import annotations

from collections.abc import Collection

import numpy as np
import pandas as pd

from optimizer_pipeline.lib.core.invariants import Verdict
from optimizer_pipeline.lib.decisions.decision_rules import DECISIONS


def decision_problems(decisions: pd.DataFrame, running: Collection[str]) -> list[str]:
    """Every broken rule of the rows of the looks in ``decisions``: one row per running experiment and look, a
    known decision, a winner exactly on promote, lift inside its interval, confidence in [0, 1] or missing."""
    problems: list[str] = []
    if decisions.empty:
        return problems
    unknown = sorted(set(decisions["decision"]) - set(DECISIONS))
    if unknown:
        problems.append(f"unknown decisions {unknown}")
    for look, rows in decisions.groupby("look_at", sort=True):
        seen = rows["experiment_id"].tolist()
        if len(seen) != len(set(seen)):
            problems.append(f"look {look}: an experiment has several rows")
        missing = sorted(set(running) - set(seen))
        if missing:
            problems.append(f"look {look}: running experiments without a decision: {missing}")
    winner = decisions["winner"].fillna("").astype(str) != ""
    promote = decisions["decision"] == "promote"
    if (promote & ~winner).any() or (~promote & winner).any():
        problems.append("a promote without a winner, or a winner without a promote")
    lift, low, high = (
        pd.to_numeric(decisions[c], errors="coerce").to_numpy(dtype=float) for c in ("lift", "lift_low", "lift_high")
    )
    known = np.isfinite(lift) & np.isfinite(low) & np.isfinite(high)
    if np.any(known & ((low > lift + 1e-9) | (lift > high + 1e-9))):
        problems.append("a lift outside its own interval")
    conf = pd.to_numeric(decisions["confidence"], errors="coerce").to_numpy(dtype=float)
    if np.any(np.isfinite(conf) & ((conf < 0) | (conf > 1))):
        problems.append("a confidence outside [0, 1]")
    return problems


def decision_validity(decisions: pd.DataFrame, running: Collection[str]) -> Verdict:
    """The verdict of :func:`decision_problems` over the looks decided in one run."""
    problems = decision_problems(decisions, running)
    looks = int(decisions["look_at"].nunique()) if len(decisions) else 0
    if problems:
        return Verdict(False, "; ".join(problems), {"looks": looks, "rows": len(decisions)})
    return Verdict(True, f"{len(decisions)} decisions over {looks} look(s) are well formed", {"looks": looks})
