"""The decision loop on the sample ad account: daily exports into the ad inbox, ``ad_performance`` and alerts, the
6-hourly looks over the simulated days in one ``decisions_job`` run, and each experiment's decision trail printed
beside its planted truth (``lib/sample/ad_account.py``).

Also the ``optimizer-pipeline decide`` command: one look (now, or ``--at``) for one client, printed.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd

from optimizer_pipeline.cli.materialize import RunLog, run_job
from optimizer_pipeline.defs.decisions.schedules import DECISION_ASSETS, META_REFRESH_ASSETS
from optimizer_pipeline.lib.decisions.experiment_decision import looks_between
from optimizer_pipeline.lib.decisions.experiment_registry import Experiment, load_experiments
from optimizer_pipeline.lib.registry.clients import Registry
from optimizer_pipeline.lib.sample.ad_account import generate_ad_account, ground_truth, write_daily_exports
from optimizer_pipeline.resources.parquet_io import read_asset

#: Simulated days of the sample ad account: the experiments' planned 30-day horizon.
DEMO_DAYS = 30


def decisions_run_config(looks: list[datetime]) -> dict:
    """Run config that makes ``experiment_decisions`` decide exactly these looks."""
    return {"ops": {"experiment_decisions": {"config": {"looks": [t.isoformat() for t in looks]}}}}


def run_decisions_demo(
    instance: dg.DagsterInstance,
    home: Path,
    *,
    registry: Registry,
    client: str,
    seed: int,
    defs: dg.Definitions,
    log: RunLog,
) -> str:
    """Generate → drop → ``ad_metrics_job`` → ``decisions_job`` over every 6-hourly look → a printable trail."""
    settings = registry.client(client).decisions
    if settings.experiments_file is None:
        return f"decisions [{client}]: no experiments file configured; nothing to simulate"
    experiments = load_experiments(settings.experiments_file, timezone_name=settings.timezone)
    starts = [e.start for e in experiments if e.start is not None]
    if not starts:
        return f"decisions [{client}]: no experiment has a start; nothing to simulate"
    first = min(starts)
    frame = generate_ad_account(experiments, start=first.date(), days=DEMO_DAYS, seed=seed)
    inbox = home / "ad_inbox" / client
    files = write_daily_exports(frame, inbox)
    run_job(defs, instance, "ad_metrics_job", client, log)
    looks = looks_between(first, first + timedelta(days=DEMO_DAYS), settings.decision_every_hours, settings.timezone)
    run_job(
        defs,
        instance,
        "decisions_job",
        client,
        log,
        assets=[dg.AssetKey(a) for a in DECISION_ASSETS],
        run_config=decisions_run_config(looks),
    )
    trail = read_asset(home, "experiment_decisions", client)
    alerts = read_asset(home, "ad_alerts", client)
    head = (
        f"decisions [{client}]: {len(files)} daily ad exports in {inbox}, {len(frame)} ad-days; "
        f"{len(looks)} looks every {settings.decision_every_hours} h; "
        f"{0 if alerts is None else len(alerts)} ad alerts logged"
    )
    return head + "\n" + decision_trail(trail, experiments)


def decision_trail(trail: pd.DataFrame | None, experiments: list[Experiment]) -> str:
    """Per experiment: each change of decision with its look, the latest reason, and the planted truth."""
    if trail is None or trail.empty:
        return "  (no decisions)"
    truth = ground_truth(experiments).set_index("experiment_id")["expected_decision"].to_dict()
    lines = []
    for exp_id, rows in trail.groupby("experiment_id", sort=False):
        changed = rows[rows["decision"] != rows["decision"].shift()]
        steps = " -> ".join(f"{r.decision} (look {r.look_index}, {str(r.look_at)[:16]})" for r in changed.itertuples())
        last = rows.iloc[-1]
        lines.append(f"  {exp_id} [planted: {truth.get(exp_id, '?')}]")
        lines.append(f"    trail: {steps}")
        lines.append(f"    now: {last['decision']}: {last['reason']}")
    return "\n".join(lines)


def decide(client: str, at: datetime | None, experiment: str | None) -> int:
    """``optimizer-pipeline decide``: one look for ``client`` through ``decisions_job`` in this process, recorded in
    the instance at ``$DAGSTER_HOME``; prints the decisions of that look (only ``experiment``'s when given)."""
    from datetime import UTC

    from optimizer_pipeline.definitions import load_definitions
    from optimizer_pipeline.defs.resources import clients_file, data_home
    from optimizer_pipeline.lib.registry.clients import RegistryError, load_registry

    look = (at or datetime.now(UTC)).replace(second=0, microsecond=0)
    look = look if look.tzinfo is not None else look.replace(tzinfo=UTC)
    try:
        settings = load_registry(clients_file()).client(client).decisions
    except (RegistryError, KeyError) as exc:
        print(f"error: {exc}")
        return 1
    assets = (*META_REFRESH_ASSETS, *DECISION_ASSETS) if settings.ad_source == "meta" else DECISION_ASSETS
    defs = load_definitions()
    with dg.DagsterInstance.get() as instance:
        if client not in instance.get_dynamic_partitions("client"):
            print(f"error: client {client!r} is not registered (run `optimizer-pipeline registry sync`)")
            return 1
        run_job(
            defs,
            instance,
            "decisions_job",
            client,
            RunLog(),
            assets=[dg.AssetKey(a) for a in assets],
            run_config=decisions_run_config([look]),
            trigger="cli",
        )
    trail = read_asset(data_home(), "experiment_decisions", client)
    if trail is None or trail.empty:
        print(f"{client}: no running experiment")
        return 0
    now = trail[pd.to_datetime(trail["look_at"], utc=True) == pd.Timestamp(look)]
    if experiment is not None:
        now = now[now["experiment_id"] == experiment]
        if now.empty:
            print(f"error: no running experiment {experiment!r} for {client}")
            return 1
    for r in now.itertuples():
        print(f"{r.experiment_id}: {r.decision}: {r.reason}\n  {r.explanation}\n")
    return 0
