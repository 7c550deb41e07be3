"""``decisions_schedule``: the business clock of the decision loop. Every hour it asks each client whose local hour
is a multiple of its ``decisions.decision_every_hours`` (6 by default, in ``decisions.timezone``) for a look:
one run of ``decisions_job`` per client with the tick's time as the look, run key ``<client>:<look>`` (a tick
evaluated twice starts no second run). A client reading Meta gets its ``ad_performance`` refreshed in the same
run, before the decisions.
"""

from datetime import datetime

import dagster as dg

from optimizer_pipeline.lib.registry.clients import RegistryError
from optimizer_pipeline.lib.registry.decisions_settings import DecisionSettings
from optimizer_pipeline.partitions import CLIENT
from optimizer_pipeline.resources.registry import ClientRegistry

DECISION_ASSETS = ("experiment_decisions", "experiment_variants")
META_REFRESH_ASSETS = ("ad_performance", "ad_performance_rejected", "ad_alerts")

decisions_job = dg.define_asset_job(
    name="decisions_job",
    selection=dg.AssetSelection.assets(*META_REFRESH_ASSETS, *DECISION_ASSETS),
    description="One client's look at its A/B tests of ads (started by decisions_schedule, `optimizer-pipeline "
    "decide` or the UI); clients reading Meta also refresh ad_performance and alerts first.",
)


def decision_due(local: datetime, every_hours: int) -> bool:
    """Whether a client's look is due at an hourly tick, ``local`` being the tick in the client's timezone."""
    return local.hour % every_hours == 0


def clients_local_time(
    context: dg.ScheduleEvaluationContext, registry: ClientRegistry
) -> dg.SkipReason | list[tuple[str, DecisionSettings, datetime]]:
    """The business clocks of the decision loop's schedules: for every registered client partition with an experiments
    file, ``(slug, its decisions settings, the tick in its timezone)``, in slug order; a skip when the registry cannot
    be read (the tick reports it and the next one tries again)."""
    when = context.scheduled_execution_time
    try:
        clients = {c.slug: c for c in registry.load().clients}
    except RegistryError as exc:
        return dg.SkipReason(f"registry unreadable: {exc}")
    partitions = set(context.instance.get_dynamic_partitions(CLIENT.name))
    due = []
    for slug in sorted(partitions & set(clients)):
        settings = clients[slug].decisions
        if settings.experiments_file is not None:
            due.append((slug, settings, when.astimezone(settings.zone)))
    return due


@dg.schedule(
    name="decisions_schedule",
    cron_schedule="0 * * * *",
    job=decisions_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Hourly tick; each client is decided when its local hour is a multiple of decisions_every_hours.",
)
def decisions_schedule(
    context: dg.ScheduleEvaluationContext, registry: ClientRegistry
) -> dg.SkipReason | list[dg.RunRequest]:
    when = context.scheduled_execution_time
    clients = clients_local_time(context, registry)
    if isinstance(clients, dg.SkipReason):
        return clients
    requests = []
    for slug, settings, local in clients:
        if not decision_due(local, settings.decision_every_hours):
            continue
        assets = (*META_REFRESH_ASSETS, *DECISION_ASSETS) if settings.ad_source == "meta" else DECISION_ASSETS
        look = when.isoformat()
        requests.append(
            dg.RunRequest(
                run_key=f"{slug}:{look}",
                partition_key=slug,
                asset_selection=[dg.AssetKey(a) for a in assets],
                run_config={"ops": {"experiment_decisions": {"config": {"looks": [look]}}}},
                tags={"optimizer/trigger": "decisions_schedule"},
            )
        )
    if not requests:
        return dg.SkipReason(f"no client due for a look at {when.isoformat()}")
    return requests
