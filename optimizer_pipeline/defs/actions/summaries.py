"""``summary_log`` [client] and ``summary_schedule``: the daily and weekly summaries of promotions, reversals and
blocked tests, sent once per period through the notifier (``lib/actions/winner_summary.py`` writes the texts).

The schedule ticks hourly (UTC) and asks each client with an experiments file for its summaries when the client's
local hour is :data:`SUMMARY_HOUR` (``decisions.timezone``, as ``decisions_schedule`` does): the daily summary of
the local day that just ended, and on Mondays also the weekly summary of the seven local days up to Sunday. The run
key is ``<client>:summaries:<day>``, so a tick evaluated twice starts no second run. The stored table is the log of
every summary sent; a summary whose ``summary_id`` (client, kind, last day) is already in it is never sent again,
so a rerun of the same period (the UI, a retried run) sends nothing new. A summary is sent before the log is
written: a failed delivery fails the run and the next run sends it.
"""

from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pandas as pd
from pydantic import Field

from optimizer_pipeline.defs.actions.group import GROUP, TABLE_KINDS
from optimizer_pipeline.defs.checks import CHECKED_VALUE, TENANT_ISOLATION
from optimizer_pipeline.defs.decisions.schedules import clients_local_time
from optimizer_pipeline.defs.metadata import display_metadata
from optimizer_pipeline.lib.actions.winner_summary import daily_summary, summary_payload, weekly_summary
from optimizer_pipeline.lib.core import markdown
from optimizer_pipeline.lib.core.invariants import foreign_rows
from optimizer_pipeline.partitions import CLIENT
from optimizer_pipeline.resources.alerts import AlertNotifier
from optimizer_pipeline.resources.parquet_io import load_stored, previous_table
from optimizer_pipeline.resources.registry import ClientRegistry

#: The client's local hour at which the summaries of the day (and on Mondays of the week) before go out.
SUMMARY_HOUR = 8
KINDS = ("daily", "weekly")
LOG_COLUMNS = ["summary_id", "client", "kind", "first_day", "last_day", "timezone", "sent_at", "channel", "text"]


class SummaryRun(dg.Config):
    """``day``: the last local day the summaries cover (ISO date; default: yesterday in the client's timezone).
    ``kinds``: ``daily`` and/or ``weekly`` (the week of seven days ending with ``day``)."""

    day: str | None = None
    kinds: list[str] = Field(default_factory=lambda: ["daily"])


def summary_id(client: str, kind: str, day: date) -> str:
    """The key that makes a summary go out once: client, kind and the last day it covers."""
    return f"{client}:{kind}:{day.isoformat()}"


def due_kinds(local: datetime) -> list[str]:
    """The summaries due at an hourly tick, ``local`` being the tick in the client's timezone."""
    if local.hour != SUMMARY_HOUR:
        return []
    return ["daily", "weekly"] if local.weekday() == 0 else ["daily"]


@dg.asset(
    partitions_def=CLIENT,
    group_name=GROUP,
    kinds=TABLE_KINDS,
    code_version="summary-log-v1",
    dagster_type=CHECKED_VALUE,
    deps=["experiment_decisions", "experiment_variants"],
    check_specs=[
        TENANT_ISOLATION.spec("summary_log", CLIENT, "Compares each logged summary's client column with the partition.")
    ],
    description="Every daily and weekly summary sent for the client (promotions, reversals and blocked tests of the "
    "period, every number a cell of the decision tables), with its period, time and channel; each goes out once "
    "(summary_schedule, at 08:00 client time).",
)
def summary_log(
    context: dg.AssetExecutionContext,
    config: SummaryRun,
    registry: ClientRegistry,
    notifier: AlertNotifier,
    io_manager: dg.ResourceParam[dg.IOManager],
) -> dg.MaterializeResult:
    """Write the run's summaries, send those not sent before, append them to the log."""
    slug = str(context.partition_key)
    settings = registry.load().client(slug).decisions
    unknown = sorted(set(config.kinds) - set(KINDS))
    if unknown:
        raise dg.Failure(description=f"unknown summary kind(s) {unknown}; known: {', '.join(KINDS)}")
    day = date.fromisoformat(config.day) if config.day else datetime.now(settings.zone).date() - timedelta(days=1)
    log = previous_table(context, io_manager, "summary_log")
    log = log if log is not None else pd.DataFrame(columns=LOG_COLUMNS)
    decisions = load_stored(context, io_manager, "experiment_decisions", slug, CLIENT)
    variants = load_stored(context, io_manager, "experiment_variants", slug, CLIENT)
    fresh = []
    for kind in config.kinds:
        key = summary_id(slug, kind, day)
        if decisions is None or key in set(log["summary_id"]):
            continue
        if kind == "daily":
            text, first = daily_summary(decisions, variants, day=day, tz=settings.timezone), day
        else:
            text, first = weekly_summary(decisions, variants, week_ending=day, tz=settings.timezone), day - timedelta(6)
        text = f"{slug}: {text}"
        notifier.send(summary_payload(text))
        fresh.append(
            {
                "summary_id": key,
                "client": slug,
                "kind": kind,
                "first_day": first.isoformat(),
                "last_day": day.isoformat(),
                "timezone": settings.timezone,
                "sent_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "channel": notifier.channel,
                "text": text,
            }
        )
    new = pd.DataFrame(fresh, columns=LOG_COLUMNS)
    table = pd.concat([log, new], ignore_index=True) if len(log) else new
    status = "no decisions stored yet: nothing to summarise" if decisions is None else "ok"
    context.log.info(f"{slug}: {len(new)} summary(ies) sent for {day}, {len(table)} logged")
    return dg.MaterializeResult(
        value=table.reset_index(drop=True),
        metadata=display_metadata(
            {
                "status": status,
                "day": day.isoformat(),
                "sent": len(new),
                "logged": len(table),
                "channel": notifier.channel,
                "new": dg.MetadataValue.md(
                    "\n\n".join(markdown.escape(t) for t in new["text"]) if len(new) else "_(none)_"
                ),
                "preview": dg.MetadataValue.md(
                    markdown.table(table[["summary_id", "kind", "first_day", "last_day", "sent_at"]], max_rows=20)
                ),
            }
        ),
        check_results=[
            TENANT_ISOLATION.result("summary_log", foreign_rows(table["client"], [slug], compared="client column"))
        ],
    )


summaries_job = dg.define_asset_job(
    name="summaries_job",
    selection=dg.AssetSelection.assets("summary_log"),
    description="Send one client's daily (and weekly) summary of its A/B tests through the notifier, once per period.",
)


def summaries_run_config(day: date, kinds: list[str]) -> dict:
    """Run config of one ``summary_log`` run: the last day covered and the kinds."""
    return {"ops": {"summary_log": {"config": {"day": day.isoformat(), "kinds": kinds}}}}


@dg.schedule(
    name="summary_schedule",
    cron_schedule="0 * * * *",
    job=summaries_job,
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description=f"Hourly tick; at {SUMMARY_HOUR:02d}:00 client time the daily summary of the day before (Mondays "
    "also the weekly one) goes to the notifier, once per period.",
)
def summary_schedule(
    context: dg.ScheduleEvaluationContext, registry: ClientRegistry
) -> dg.SkipReason | list[dg.RunRequest]:
    when = context.scheduled_execution_time
    clients = clients_local_time(context, registry)
    if isinstance(clients, dg.SkipReason):
        return clients
    requests = []
    for slug, _settings, local in clients:
        kinds = due_kinds(local)
        if not kinds:
            continue
        day = local.date() - timedelta(days=1)
        requests.append(
            dg.RunRequest(
                run_key=f"{slug}:summaries:{day.isoformat()}",
                partition_key=slug,
                run_config=summaries_run_config(day, kinds),
                tags={"optimizer/trigger": "summary_schedule"},
            )
        )
    if not requests:
        return dg.SkipReason(f"no client at {SUMMARY_HOUR:02d}:00 local time at {when.isoformat()}")
    return requests
