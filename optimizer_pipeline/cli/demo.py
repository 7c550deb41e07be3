"""``optimizer-pipeline demo``: the whole graph on the embedded default, into a persistent home.

No API keys and no network: the sample corpus stands in for TikTok, and the Dagster instance is SQLite under the
home, so ``DAGSTER_HOME=<home> dagster dev`` shows every materialisation afterwards.

Dagster decides what runs, as it would under the daemon, only faster (in process, ``cli/materialize.py``): the demo
scrapes every ``client_hashtag`` partition with ``tiktok_refresh_job`` and sets up the test loop with
``testloop_setup_job`` (the sample creatives' videos are rendered into ``<home>/creative_videos/<client>/`` first,
where ``creative_dna`` finds them; the package ships none), then ticks the assets' automation conditions and runs
what they request through the named jobs until nothing is due; the test loop's events go through
``conversion_loop_job``. At the end the automation cursor and the sensors' cursors are stored where the demo's runs
left the data, so the first ``dagster dev`` starts no duplicate run.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from optimizer_pipeline.partitions import market_dims

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_HOME = REPO_ROOT / ".dagster_home"
#: The run-requesting sensors whose cursors the demo leaves where its own runs left the data.
SETTLED_SENSORS = ("conversion_inbox_sensor", "influencer_status_sensor", "ad_inbox_sensor")


def prepare_home(home: Path) -> None:
    """Create the home with the repository's instance configuration (``dagster dev`` reads it from there)."""
    home.mkdir(parents=True, exist_ok=True)
    instance_yaml = REPO_ROOT / "dagster.yaml"
    if instance_yaml.exists() and not (home / "dagster.yaml").exists():
        shutil.copy(instance_yaml, home / "dagster.yaml")


def demo_resources(home: Path, seed: int, scale: float) -> dict[str, Any]:
    """The resources of the code location bound to the demo's home and the embedded default sources (the sample
    corpus and registry), whatever the environment says; the environment itself is left alone."""
    from optimizer_pipeline.defs.resources import build_resources
    from optimizer_pipeline.lib.registry.clients import SAMPLE_CLIENTS_FILE
    from optimizer_pipeline.resources.ads import AdInbox
    from optimizer_pipeline.resources.alerts import AlertNotifier
    from optimizer_pipeline.resources.budgets import BudgetExecutor
    from optimizer_pipeline.resources.inbox import ConversionInbox
    from optimizer_pipeline.resources.insights import WinnerInsights
    from optimizer_pipeline.resources.registry import ClientRegistry
    from optimizer_pipeline.resources.tiktok import SampleTikTokSource

    return build_resources(
        home=str(home),
        overrides={
            "tiktok": SampleTikTokSource(home=str(home), seed=seed, scale=scale),
            "registry": ClientRegistry(path=str(SAMPLE_CLIENTS_FILE)),
            # the demo writes its event files whole, so they need no settling time
            "inbox": ConversionInbox(home=str(home), settle_seconds=0.0),
            "ad_inbox": AdInbox(home=str(home), settle_seconds=0.0),
            "notifier": AlertNotifier(),  # alerts only in the log: the demo never posts to a real channel
            "executor": BudgetExecutor(home=str(home)),  # dry run, whatever OPTIMIZER_BUDGET_MODE says
            "insights": WinnerInsights(),  # the deterministic winner texts: the demo never calls Claude
        },
    )


def run_demo(home: Path, seed: int, scale: float = 1.0, say: Callable[[str], None] = print) -> pd.DataFrame:
    """Build the sample corpus, register the sample client, let Dagster bring every asset up to date (named jobs
    for the roots, automation ticks for the rest, in process); return the bucket summary.

    No DEBUG line is printed: runs log at WARNING (their run config), and the loggers Dagster creates outside a run's
    config (an IO manager loading through ``build_input_context`` gets a console logger at DEBUG, not registered by
    name) are reached by disabling DEBUG process-wide while the demo runs.
    """
    from optimizer_pipeline.lib.core.progress import PROGRESS_LOGGER, print_progress

    logging.disable(logging.DEBUG)
    progress = print_progress()  # corpus rendering and feature extraction: done/total, elapsed, ETA every ~5 s
    try:
        return _run_demo(home, seed, scale, say)
    finally:
        logging.getLogger(PROGRESS_LOGGER).removeHandler(progress)
        logging.disable(logging.NOTSET)


def _run_demo(home: Path, seed: int, scale: float, say: Callable[[str], None]) -> pd.DataFrame:
    import dagster as dg

    from optimizer_pipeline.cli.budget_demo import run_budget_demo
    from optimizer_pipeline.cli.decisions_demo import run_decisions_demo
    from optimizer_pipeline.cli.materialize import RunLog, automation_tick, run_job, run_until_settled
    from optimizer_pipeline.cli.sensor_state import settle_sensor_cursors, store_automation_cursor
    from optimizer_pipeline.cli.testloop_demo import autopsy_summary, run_testloop_demo
    from optimizer_pipeline.cli.winners import WinnersQueryError, winners_report
    from optimizer_pipeline.definitions import load_definitions
    from optimizer_pipeline.defs.registry.sync import apply_registry
    from optimizer_pipeline.lib.actions.winner_index import WinnerIndexError
    from optimizer_pipeline.lib.registry.clients import SAMPLE_CLIENTS_FILE, load_registry
    from optimizer_pipeline.lib.sample.corpus import SAMPLE_CLIENT, generate_sample_corpus
    from optimizer_pipeline.lib.sample.creative_videos import render_creative_videos
    from optimizer_pipeline.lib.testloop.creative_autopsy import home_video_dir
    from optimizer_pipeline.partitions import CLIENT, CLIENT_HASHTAG

    home = home.resolve()
    prepare_home(home)
    t0 = time.perf_counter()
    corpus = generate_sample_corpus(home / "sample", seed=seed, scale=scale, workers=2)
    say(
        f"sample corpus: {corpus.n_videos} videos, seed {seed} "
        f"({'generated' if corpus.regenerated else 'reused'}, {time.perf_counter() - t0:.1f} s)"
    )

    registry = load_registry(SAMPLE_CLIENTS_FILE)
    t1 = time.perf_counter()
    creatives_file = registry.client(SAMPLE_CLIENT).test_loop.creatives_file
    rendered = render_creative_videos(creatives_file, home, SAMPLE_CLIENT, seed=seed) if creatives_file else []
    say(
        f"sample creative videos: {len(rendered)} rendered into {home_video_dir(home, SAMPLE_CLIENT)} "
        f"({time.perf_counter() - t1:.1f} s)"
    )
    defs = load_definitions(demo_resources(home, seed, scale))

    def on_run(job: str, partition_key: str, assets: list[str]) -> None:
        say(f"  {job} [{partition_key}]: {', '.join(assets)}")

    with dg.DagsterInstance.from_config(str(home)) as instance:
        diff = apply_registry(registry, instance)
        say(f"registry: {diff.summary()}")
        log = RunLog(cursor=automation_tick(defs, instance, None)[1])  # automation's first tick, before any data
        for key in sorted(instance.get_dynamic_partitions(CLIENT_HASHTAG.name)):
            run_job(defs, instance, "tiktok_refresh_job", key, log, on_run=on_run)
        for client in sorted(instance.get_dynamic_partitions(CLIENT.name)):
            run_job(defs, instance, "testloop_setup_job", client, log, on_run=on_run)
        say("automation: ticking until nothing is due")
        run_until_settled(defs, instance, log, on_run=on_run)
        testloop = run_testloop_demo(
            instance, home, registry=registry, client=SAMPLE_CLIENT, seed=seed, defs=defs, log=log
        )
        run_until_settled(defs, instance, log, on_run=on_run)
        decisions = run_decisions_demo(
            instance, home, registry=registry, client=SAMPLE_CLIENT, seed=seed, defs=defs, log=log
        )
        run_until_settled(defs, instance, log, on_run=on_run)
        budgets = run_budget_demo(instance, home, client=SAMPLE_CLIENT, defs=defs, log=log)
        store_automation_cursor(defs, instance, log.cursor)
        sensors = settle_sensor_cursors(defs, instance, SETTLED_SENSORS)
    summary = bucket_summary(log.metadata)
    say(f"\n{log.runs} runs, {log.ticks} automation ticks in {time.perf_counter() - t0:.1f} s; DAGSTER_HOME={home}")
    say("sensor cursors left at the demo's data: " + "; ".join(f"{k}: {v}" for k, v in sensors.items()) + "\n")
    say(summary.to_string(index=False))
    models = model_summary(log.metadata)
    if len(models):
        say("\nModels and patterns per bucket (grouped CV by creator; claims = STRONG/MODERATE evidence):\n")
        say(models.to_string(index=False))
    print_top_patterns(home, say=say)
    print_intelligence(home, say=say)
    recovery = score_sample_recovery(home)
    if recovery is not None:
        say(f"\nRecovery of the sample corpus's planted effects: {recovery.summary()}")
    say(f"\n{autopsy_summary(home, SAMPLE_CLIENT)}")
    say(f"\n{testloop}")
    say(f"\n{decisions}")
    say(f"\n{budgets}")
    try:
        winners = winners_report(home, SAMPLE_CLIENT, ["hook=question", "ctr>=0.015"], top=3)
    except (WinnersQueryError, WinnerIndexError) as exc:
        winners = f"winners [{SAMPLE_CLIENT}]: {exc}"
    say(f"\n{winners}")
    say(f"\n{reports_summary(home, SAMPLE_CLIENT)}")
    return summary


def reports_summary(home: Path, client: str) -> str:
    """Where the client's creative strategy reports were written, one line per hashtag or profile."""
    from optimizer_pipeline.lib.reports.creative_reports import REPORTS_DIR

    folders = sorted(p for p in (Path(home) / REPORTS_DIR / client).glob("*") if p.is_dir())
    if not folders:
        return f"creative reports [{client}]: none written"
    lines = [f"creative reports [{client}] (Markdown and JSON):"]
    lines += [f"  {f}: {len(list(f.glob('*.md')))} reports" for f in folders]
    return "\n".join(lines)


def model_summary(metadata: dict[tuple[str, str], dict]) -> pd.DataFrame:
    """One row per client_hashtag × bucket from the ``bucket_model`` and ``bucket_patterns`` metadata."""
    rows = []
    for (asset, pk), meta in metadata.items():
        if asset != "bucket_model":
            continue
        dims = market_dims(pk)
        ch, bucket = dims["client_hashtag"], dims["duration_bucket"]
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


def print_top_patterns(home: Path, per_bucket: int = 2, say: Callable[[str], None] = print) -> None:
    """The strongest claims of each hashtag bucket, as the report sentences."""
    from optimizer_pipeline.resources.parquet_io import asset_partition_paths

    paths = asset_partition_paths(home, "bucket_patterns")
    if not paths:
        return
    say("\nTop patterns:")
    for path in paths:
        rows = pd.read_parquet(path)
        shown = rows[rows["evidence"].isin(["STRONG", "MODERATE"])].drop_duplicates("sentence").head(per_bucket)
        for r in shown.itertuples():
            say(f"  {path.parent.name} {path.stem}: [{r.evidence}] {r.sentence}")


def print_intelligence(home: Path, say: Callable[[str], None] = print) -> None:
    """Buckets ranked per hashtag (geometric-mean engagement with its CI), verdicts and the recommended mix."""
    from optimizer_pipeline.resources.parquet_io import asset_partition_paths

    cols = ["rank", "duration_bucket", "verdict", "geo_mean_engagement_rate", "ci_low", "ci_high", "recommended_share"]
    for path in asset_partition_paths(home, "bucket_intelligence"):
        if "__at-" in path.stem:
            continue
        table = pd.read_parquet(path)
        say(f"\nBucket intelligence {path.stem}:")
        say(table[[c for c in cols if c in table.columns]].round(4).to_string(index=False))


def score_sample_recovery(home: Path):
    """Planted effects found vs the sample corpus's ground truth (hashtag partitions of the sample client). Every
    claimed row is scored, each with the bucket's ``video_features`` for the proxy rule (see
    :mod:`optimizer_pipeline.lib.sample.recovery`)."""
    import json

    from optimizer_pipeline.lib.core.buckets import DURATION_BUCKETS
    from optimizer_pipeline.lib.sample.corpus import SAMPLE_CLIENT
    from optimizer_pipeline.lib.sample.recovery import score_recovery
    from optimizer_pipeline.partitions import market_key
    from optimizer_pipeline.resources.parquet_io import asset_partition_paths, read_asset

    truth_file = home / "sample" / "ground_truth.json"
    if not truth_file.exists() or not asset_partition_paths(home, "bucket_patterns"):
        return None
    truth = json.loads(truth_file.read_text())
    patterns, frames = {}, {}
    for hashtag in truth["hashtags"]:
        for bucket in DURATION_BUCKETS:
            key = market_key(f"{SAMPLE_CLIENT}__{hashtag}", bucket)
            rows = read_asset(home, "bucket_patterns", key)
            if rows is not None and len(rows):
                patterns[(hashtag, bucket)] = rows
                features = read_asset(home, "video_features", key)
                if features is not None:
                    frames[(hashtag, bucket)] = features
    return score_recovery(patterns, truth, frames)


def bucket_summary(metadata: dict[tuple[str, str], dict]) -> pd.DataFrame:
    """One row per client_hashtag × bucket from the ``bucket_videos`` materialisation metadata."""
    rows = []
    for (asset, pk), meta in metadata.items():
        if asset != "bucket_videos":
            continue
        dims = market_dims(pk)
        ch, bucket = dims["client_hashtag"], dims["duration_bucket"]
        features = metadata.get(("video_features", pk), {})
        selected = int(meta.get("selected") or 0)
        excluded = int(metadata.get(("bucket_videos_excluded", pk), {}).get("excluded") or 0)
        rows.append(
            {
                "client_hashtag": ch,
                "bucket": bucket,
                "status": meta.get("status"),
                "in_bucket": selected + excluded,
                "excluded": excluded,
                "selected": selected,
                "celebrity": meta.get("celebrity_videos"),
                "download_failures": meta.get("download_failures"),
                "with_features": features.get("videos"),
                "quarantined": features.get("quarantined"),
                "median_er": round(float(meta.get("median_engagement_rate") or 0.0), 4),
            }
        )
    return pd.DataFrame(rows)
