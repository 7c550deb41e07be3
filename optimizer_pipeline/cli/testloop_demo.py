"""The test loop's part of the demo: drop a seeded batch of conversion events (planted rates per pattern) into a
client's inbox, run conversion_events → attributed_conversions → pattern_posteriors → test_recommendations for that
client in this process, and summarise posteriors against the planted rates plus the recommendations.

Usage (after the demo's ``materialize_all``, so ``traffic_sources`` exists)::

    from optimizer_pipeline.cli.testloop_demo import run_testloop_demo
    print(run_testloop_demo(instance, home, client="glowfuel", seed=seed))
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pandas as pd

from optimizer_pipeline.cli.materialize import materialization_metadata, plan_stages
from optimizer_pipeline.defs.testloop.inbox import RUNTIME_ASSETS
from optimizer_pipeline.lib.registry.clients import Registry
from optimizer_pipeline.lib.sample.events import generate_events, write_inbox_batch, write_truth

DEMO_START = datetime(2026, 1, 5, tzinfo=UTC)
SETUP_ASSETS = ("creatives", "creatives_rejected", "influencers", "influencers_rejected", "traffic_sources")


def _materialize(defs: dg.Definitions, instance: dg.DagsterInstance, keys: tuple[str, ...], client: str) -> dict:
    assets = [a for s in plan_stages(defs) for a in s.assets]  # they carry the Definitions' resources
    result = dg.materialize(
        assets,
        selection=list(keys),
        partition_key=client,
        instance=instance,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}},
        tags={"optimizer/trigger": "demo"},
    )
    if not result.success:
        raise RuntimeError(f"materialising {', '.join(keys)} for {client} failed")
    return materialization_metadata(result)


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
) -> str:
    """Generate → drop → run the loop → a printable summary. Deterministic for a given seed: a second call writes
    the same files (left untouched) and the same tables. ``inbox_dir`` is the inbox root (default ``<home>/inbox``,
    the resource's default: the caller must not point ``OPTIMIZER_INBOX_DIR`` elsewhere)."""
    if defs is None:
        from optimizer_pipeline.cli.demo import load_definitions

        defs = load_definitions()
    settings = registry.client(client).test_loop
    traffic_path = home / "data" / "traffic_sources" / f"{client}.parquet"
    if not traffic_path.exists():
        _materialize(defs, instance, SETUP_ASSETS, client)
    traffic = pd.read_parquet(traffic_path)
    if traffic.empty:
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
    meta = _materialize(defs, instance, RUNTIME_ASSETS, client)
    posteriors = pd.read_parquet(home / "data" / "pattern_posteriors" / f"{client}.parquet")
    recommendations = pd.read_parquet(home / "data" / "test_recommendations" / f"{client}.parquet")
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
