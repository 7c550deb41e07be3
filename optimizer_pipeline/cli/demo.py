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

REPO_ROOT = Path(__file__).resolve().parents[2]
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
    os.environ.pop("OPTIMIZER_INBOX_DIR", None)  # the test loop's inbox is <home>/inbox


def run_demo(home: Path, seed: int, scale: float = 1.0) -> pd.DataFrame:
    """Build the sample corpus, register the sample client, materialise everything; return the bucket summary."""
    import dagster as dg

    from optimizer_pipeline.cli.materialize import materialize_all
    from optimizer_pipeline.cli.testloop_demo import run_testloop_demo
    from optimizer_pipeline.defs.registry.sync import apply_registry
    from optimizer_pipeline.lib.registry.clients import SAMPLE_CLIENTS_FILE, load_registry
    from optimizer_pipeline.lib.sample.corpus import SAMPLE_CLIENT, generate_sample_corpus

    home = home.resolve()
    prepare_home(home, seed, scale)
    t0 = time.perf_counter()
    corpus = generate_sample_corpus(home / "sample", seed=seed, scale=scale, workers=2)
    print(
        f"sample corpus: {corpus.n_videos} videos, seed {seed} "
        f"({'generated' if corpus.regenerated else 'reused'}, {time.perf_counter() - t0:.1f} s)"
    )

    registry = load_registry(SAMPLE_CLIENTS_FILE)
    with dg.DagsterInstance.get() as instance:
        diff = apply_registry(registry, instance)
        print(f"registry: {diff.summary()}")
        defs = load_definitions()
        report = materialize_all(defs, instance, on_run=lambda names, pk: print(f"  materialising {names} [{pk}]"))
        testloop = run_testloop_demo(instance, home, registry=registry, client=SAMPLE_CLIENT, seed=seed, defs=defs)
    summary = bucket_summary(report.metadata)
    print(f"\n{report.runs} runs in {time.perf_counter() - t0:.1f} s; DAGSTER_HOME={home}\n")
    print(summary.to_string(index=False))
    models = model_summary(report.metadata)
    if len(models):
        print("\nModels and patterns per bucket (grouped CV by creator; claims = STRONG/MODERATE evidence):\n")
        print(models.to_string(index=False))
    print_top_patterns(home)
    print_intelligence(home)
    recovery = score_sample_recovery(home)
    if recovery is not None:
        print(f"\nRecovery of the sample corpus's planted effects: {recovery.summary()}")
    print(f"\n{testloop}")
    return summary


def model_summary(metadata: dict[tuple[str, str], dict]) -> pd.DataFrame:
    """One row per client_hashtag × bucket from the ``bucket_model`` and ``bucket_patterns`` metadata."""
    rows = []
    for (asset, pk), meta in metadata.items():
        if asset != "bucket_model":
            continue
        ch, bucket = _split_market_key(pk)
        pats = metadata.get(("bucket_patterns", pk), {})
        rows.append(
            {
                "client_hashtag": ch,
                "bucket": bucket,
                "model": meta.get("status"),
                "cv": meta.get("cv_scheme") or "-",
                "beats_baseline": meta.get("beats_baseline"),
                "strong": pats.get("strong"),
                "moderate": pats.get("moderate"),
                "emerging": pats.get("emerging"),
            }
        )
    return pd.DataFrame(rows)


def print_top_patterns(home: Path, per_bucket: int = 2) -> None:
    """The strongest claims of each hashtag bucket, as the report sentences."""
    root = home / "data" / "bucket_patterns"
    if not root.is_dir():
        return
    print("\nTop patterns:")
    for path in sorted(root.glob("*/*.parquet")):
        rows = pd.read_parquet(path)
        shown = rows[rows["evidence"].isin(["STRONG", "MODERATE"])].drop_duplicates("sentence").head(per_bucket)
        for r in shown.itertuples():
            print(f"  {path.parent.name} {path.stem}: [{r.evidence}] {r.sentence}")


def print_intelligence(home: Path) -> None:
    """Buckets ranked per hashtag (geometric-mean engagement with its CI), verdicts and the recommended mix."""
    root = home / "data" / "bucket_intelligence"
    if not root.is_dir():
        return
    cols = ["rank", "duration_bucket", "verdict", "geo_mean_engagement_rate", "ci_low", "ci_high", "recommended_share"]
    for path in sorted(root.glob("*.parquet")):
        if "__at-" in path.stem:
            continue
        table = pd.read_parquet(path)
        print(f"\nBucket intelligence {path.stem}:")
        print(table[[c for c in cols if c in table.columns]].round(4).to_string(index=False))


def score_sample_recovery(home: Path):
    """Planted effects found vs the sample corpus's ground truth (hashtag partitions of the sample client)."""
    import json

    from optimizer_pipeline.lib.sample.corpus import SAMPLE_CLIENT
    from optimizer_pipeline.lib.sample.recovery import score_recovery

    truth_file = home / "sample" / "ground_truth.json"
    root = home / "data" / "bucket_patterns"
    if not truth_file.exists() or not root.is_dir():
        return None
    truth = json.loads(truth_file.read_text())
    patterns = {}
    for hashtag in truth["hashtags"]:
        for path in sorted((root / f"{SAMPLE_CLIENT}__{hashtag}").glob("*.parquet")):
            rows = pd.read_parquet(path)
            if len(rows):
                patterns[(hashtag, path.stem)] = rows
    return score_recovery(patterns, truth)


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
