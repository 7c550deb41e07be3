"""``optimizer-pipeline demo``: the whole graph on the embedded default, into a persistent home.

No API keys and no network: the sample corpus stands in for TikTok, and the Dagster instance is SQLite under the
home, so ``DAGSTER_HOME=<home> dagster dev`` shows every materialisation afterwards.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pandas as pd

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_HOME = REPO_ROOT / ".dagster_home"


def prepare_home(home: Path, seed: int, scale: float = 1.0) -> None:
    """Point this process at ``home`` (instance + data) and the embedded default sources."""
    home.mkdir(parents=True, exist_ok=True)
    instance_yaml = REPO_ROOT / "dagster.yaml"
    if instance_yaml.exists() and not (home / "dagster.yaml").exists():
        shutil.copy(instance_yaml, home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)
    os.environ["OPTIMIZER_HOME"] = str(home)
    os.environ["OPTIMIZER_TIKTOK_SOURCE"] = "sample"
    os.environ["OPTIMIZER_SAMPLE_SEED"] = str(seed)
    os.environ["OPTIMIZER_SAMPLE_SCALE"] = str(scale)
    os.environ.pop("OPTIMIZER_CLIENTS_FILE", None)


def run_demo(home: Path, seed: int, scale: float = 1.0) -> pd.DataFrame:
    """Build the sample corpus, register the sample client, materialise everything; return the bucket summary."""
    import dagster as dg

    from optimizer_pipeline.defs.registry.sync import apply_registry
    from optimizer_pipeline.lib.registry import load_registry
    from optimizer_pipeline.lib.sample_corpus import generate_sample_corpus
    from optimizer_pipeline.materialize_all import materialize_all

    home = home.resolve()
    prepare_home(home, seed, scale)
    t0 = time.perf_counter()
    corpus = generate_sample_corpus(home / "sample", seed=seed, scale=scale, workers=2)
    print(
        f"sample corpus: {corpus.n_videos} videos, seed {seed} "
        f"({'generated' if corpus.regenerated else 'reused'}, {time.perf_counter() - t0:.1f} s)"
    )

    from optimizer_pipeline.lib.registry import SAMPLE_CLIENTS_FILE

    with dg.DagsterInstance.get() as instance:
        diff = apply_registry(load_registry(SAMPLE_CLIENTS_FILE), instance)
        print(f"registry: {diff.summary()}")
        defs = load_definitions()
        report = materialize_all(defs, instance, on_run=lambda names, pk: print(f"  materialising {names} [{pk}]"))
    summary = bucket_summary(report.metadata)
    print(f"\n{report.runs} runs in {time.perf_counter() - t0:.1f} s; DAGSTER_HOME={home}\n")
    print(summary.to_string(index=False))
    return summary


def load_definitions():
    """The code location's Definitions, resolved with the current environment."""
    import dagster as dg

    from optimizer_pipeline import definitions

    loaded = definitions.defs
    return loaded() if not isinstance(loaded, dg.Definitions) else loaded


def bucket_summary(metadata: dict[tuple[str, str], dict]) -> pd.DataFrame:
    """One row per client_hashtag × bucket from the ``bucket_videos`` materialisation metadata."""
    rows = []
    for (asset, pk), meta in metadata.items():
        if asset != "bucket_videos":
            continue
        ch, bucket = _split_market_key(pk)
        features = metadata.get(("video_features", pk), {})
        rows.append(
            {
                "client_hashtag": ch,
                "bucket": bucket,
                "status": meta.get("status"),
                "in_bucket": _count(meta, "in_bucket"),
                "excluded": _count(meta, "in_bucket") - int(meta.get("selected") or 0),
                "selected": meta.get("selected"),
                "celebrity": meta.get("celebrity_videos"),
                "download_failures": meta.get("download_failures"),
                "with_features": features.get("videos"),
                "quarantined": features.get("quarantined"),
                "median_er": round(float(meta.get("median_engagement_rate") or 0.0), 4),
            }
        )
    return pd.DataFrame(rows)


def _count(meta: dict, name: str) -> int:
    """A count from the Markdown ``counts`` table of bucket_videos metadata."""
    for line in str(meta.get("counts", "")).splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 2 and cells[0] == name:
            return int(float(cells[1]))
    return 0


def _split_market_key(pk: str) -> tuple[str, str]:
    a, _, b = pk.partition("|")
    return (a, b) if "__" in a else (b, a)
