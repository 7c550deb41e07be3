"""Part (e): how long one look takes for a client with many running experiments (bar: 1,000 in <= 2 s), next to
the same look recomputed without the stored state (every earlier look replayed), measured in the same run."""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

import numpy as np
import pandas as pd

from optimizer_pipeline.lib.decisions.experiment_decision import decide_look, replay
from optimizer_pipeline.lib.decisions.experiment_registry import parse_experiments
from optimizer_pipeline.lib.decisions.overdispersion import VifEstimate

START = datetime(2026, 11, 1, tzinfo=UTC)


def _client(n: int, days: int, seed: int) -> tuple[list, pd.DataFrame]:
    doc = {
        "experiments": [
            {
                "id": f"e{i}",
                "hypothesis": "h",
                "primary_metric": "ctr",
                "status": "running",
                "start": "2026-11-01T00:00:00Z",
                "variants": [
                    {"name": "control", "ad_ids": [f"a{i}c"], "control": True},
                    {"name": "b", "ad_ids": [f"a{i}b"]},
                ],
            }
            for i in range(n)
        ]
    }
    rng = np.random.default_rng(seed)
    ads = np.repeat([f"a{i}{s}" for i in range(n) for s in "cb"], days)
    imp = rng.poisson(5000, size=ads.size)
    clicks = rng.binomial(imp, 0.015)
    data = pd.DataFrame(
        {
            "ad_id": ads,
            "date": np.tile([date(2026, 11, 1) + timedelta(days=d) for d in range(days)], 2 * n),
            "impressions": imp,
            "clicks": clicks,
            "spend": imp * 0.01,
            "conversions": rng.binomial(clicks, 0.03),
            "revenue": 0.0,
        }
    )
    return parse_experiments(doc, "bench"), data


def decision_speed(n: int = 1000, days: int = 10, seed: int = 0) -> dict:
    """Seconds of one daily look on ``n`` two-variant experiments with the stored state of the previous look, and of
    the same look with every earlier look replayed (no stored state)."""
    experiments, data = _client(n, days, seed)
    vif = VifEstimate(1.5, "between_day", 100, "bench", 1.5)
    looks = [START + timedelta(days=d) for d in range(1, days + 1)]
    t0 = time.perf_counter()
    history = replay(experiments, data, looks[:-1], vif).decisions
    replay_seconds = time.perf_counter() - t0
    previous = history.sort_values("look_index").groupby("experiment_id").tail(1)
    t0 = time.perf_counter()
    result = decide_look(experiments, data, looks[-1], vif, previous)
    seconds = time.perf_counter() - t0
    if len(result.decisions) != n:
        raise RuntimeError(f"expected {n} decisions, got {len(result.decisions)}")
    return {
        "experiments": n,
        "seconds": round(seconds, 3),
        "replay_seconds": round(replay_seconds + seconds, 3),
        "speedup_vs_replay": round((replay_seconds + seconds) / seconds, 1),
    }
