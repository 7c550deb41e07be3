"""The test loop's part of the demo: drop a seeded batch of conversion events (planted rates per pattern) into a
client's inbox, run ``conversion_loop_job`` (conversion_events → attributed_conversions → pattern_posteriors →
test_recommendations) for that client in this process, and summarise posteriors against the planted rates plus the
recommendations.

Usage (after the demo's market and set-up runs, so ``traffic_sources`` exists; else ``testloop_setup_job`` runs)::

    from optimizer_pipeline.cli.testloop_demo import run_testloop_demo
    print(run_testloop_demo(instance, home, registry=registry, client="glowfuel", seed=seed))
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pandas as pd

from optimizer_pipeline.cli.materialize import RunLog, run_job
from optimizer_pipeline.lib.registry.clients import Registry
from optimizer_pipeline.lib.sample.events import generate_events, write_inbox_batch, write_truth
from optimizer_pipeline.resources.parquet_io import read_asset

DEMO_START = datetime(2026, 1, 5, tzinfo=UTC)


def run_testloop_demo(
    instance: dg.DagsterInstance,
    home: Path,
    *,
    registry: Registry,
    client: str = "glowfuel",
    seed: int = 0,
    inbox_dir: Path | None = None,
    visitors_per_source: int = 150,
    days: int = 14,
    defs: dg.Definitions | None = None,
    log: RunLog | None = None,
) -> str:
    """Generate → drop → run the loop → a printable summary. Deterministic for a given seed: a second call writes
    the same files (left untouched) and the same tables. ``inbox_dir`` is the inbox root (default ``<home>/inbox``,
    the inbox resource's default: ``defs`` must read the same folder). ``defs`` defaults to the code location with
    the environment's resources; ``log`` collects the runs."""
    if defs is None:
        from optimizer_pipeline.definitions import load_definitions

        defs = load_definitions()
    log = log if log is not None else RunLog()
    settings = registry.client(client).test_loop
    if read_asset(home, "traffic_sources", client) is None:
        run_job(defs, instance, "testloop_setup_job", client, log)
    traffic = read_asset(home, "traffic_sources", client)
    if traffic is None or traffic.empty:
        return f"test loop [{client}]: no traffic sources (configure test_loop in the registry); nothing to simulate"
    files, truth = generate_events(
        traffic,
        seed=seed,
        visitors_per_source=visitors_per_source,
        start=DEMO_START,
        days=days,
        window_days=settings.attribution_window_days,
    )
    inbox = (inbox_dir or home / "inbox") / client
    write_inbox_batch(inbox, files)
    truth_path = write_truth(home / "sample" / f"conversion_truth_{client}.json", truth)
    meta = run_job(defs, instance, "conversion_loop_job", client, log)
    posteriors = read_asset(home, "pattern_posteriors", client)
    recommendations = read_asset(home, "test_recommendations", client)
    return summary(client, inbox, truth_path, truth, meta, posteriors, recommendations)


def _fmt(x: object) -> str:
    return f"{x:.4f}" if isinstance(x, float) else str(x)


def summary(
    client: str,
    inbox: Path,
    truth_path: Path,
    truth: dict,
    meta: dict,
    posteriors: pd.DataFrame,
    recommendations: pd.DataFrame,
) -> str:
    """Accounting, posteriors vs planted rates (with coverage of the 95 % intervals) and the recommendations."""
    ev, att, post = meta["conversion_events"], meta["attributed_conversions"], meta["pattern_posteriors"]
    table = posteriors.assign(planted=posteriors["pattern_hash"].map(truth["rates"]))
    table["inside_ci"] = (table["planted"] >= table["ci_low"]) & (table["planted"] <= table["ci_high"])
    tested = table[table["planted"].notna()]
    seed = int(recommendations["seed"].iloc[0]) if len(recommendations) else "-"
    cols = ["pattern_hash", "clicks_observed", "conversions_observed", "mean", "ci_low", "ci_high", "p_best"]
    lines = [
        f"Test loop [{client}]: {len(truth['files'])} event files dropped in {inbox} (truth: {truth_path})",
        f"  events: read {ev['read']} = accepted {ev['accepted']} + rejected {ev['rejected']} + duplicates "
        f"{ev['duplicates']} + ignored {ev['ignored']} (planted: {truth['events']})",
        f"  orders: {att['attributed_orders']} attributed ({att['attribution_window_days']}-day window), "
        f"{att['unattributed_orders']} unattributed (planted: {truth['orders']['attributed']} / "
        f"{truth['orders']['unattributed']})",
        f"  prior: Beta({post['prior_alpha']:.3g}, {post['prior_beta']:.3g}) ({post['prior_method']}); "
        f"leave-one-pattern-out MAE {_fmt(post['loo_mae'])}, hit rate {_fmt(post['loo_hit_rate'])} "
        f"({post['loo_patterns']} patterns)",
        f"  planted rates inside their 95% credible interval: {int(tested['inside_ci'].sum())} of {len(tested)}",
        "",
        table.sort_values("mean", ascending=False)[[*cols, "planted", "inside_ci"]].round(4).to_string(index=False),
        "",
        f"Recommendations (Thompson sampling, seed {seed}):",
        recommendations[["rank", "pattern_hash", "budget_share", "reason"]].round(3).to_string(index=False)
        if len(recommendations)
        else "  (none)",
    ]
    return "\n".join(lines)


def autopsy_summary(home: Path, client: str) -> str:
    """One line from the stored ``creative_dna``: videos analysed and set aside, the tags derived (with the pattern
    they complete) and the given tags the videos contradict."""
    dna = read_asset(home, "creative_dna", client)
    if dna is None:
        return f"creative autopsy [{client}]: no creative_dna stored"
    status = dna["video_status"].value_counts()
    filled = dna[dna["tags_filled"].map(len) > 0]
    derived = "; ".join(
        f"{r.creative_id} ({', '.join(r.tags_filled)}) → {r.pattern_hash if isinstance(r.pattern_hash, str) else '?'}"
        for r in filled.itertuples()
    )
    disagreeing = dna[dna["has_disagreement"]]
    contradicted = "; ".join(f"{r.creative_id} ({', '.join(r.disagreements)})" for r in disagreeing.itertuples())
    return (
        f"creative autopsy [{client}]: {status.get('analysed', 0)} videos analysed, {status.get('set_aside', 0)} set "
        f"aside, {status.get('no_video', 0)} creatives without video; tags derived for {len(filled)}"
        f"{': ' + derived if derived else ''}; {len(disagreeing)} creatives disagree"
        f"{': ' + contradicted if contradicted else ''}"
    )
