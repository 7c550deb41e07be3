"""``hashtag_refresh_schedule``: re-scrape each hashtag and competitor on its own cron (``refresh:`` in the registry).

The design card asks for scheduled backfills per hashtag. ``build_schedule_from_partitioned_job`` refuses dynamic
partitions (it only takes time-window or static ones), so one schedule ticks every few minutes, reads the registry,
and requests ``tiktok_refresh_job`` for each registered ``client_hashtag`` whose cron fired since the previous tick.
Automation (``defs/automation.py``) then brings everything downstream of that partition up to date. The run key is
the partition and the fire time, so a re-evaluated tick never scrapes twice.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg
from croniter import croniter

from optimizer_pipeline.defs.jobs import tiktok_refresh_job
from optimizer_pipeline.lib.registry.clients import Registry, RegistryError
from optimizer_pipeline.partitions import CLIENT_HASHTAG
from optimizer_pipeline.resources.registry import ClientRegistry

#: How often the schedule looks for due refreshes; a registry cron fires at the first tick at or after its time.
TICK_CRON = "*/15 * * * *"
TICK_INTERVAL = timedelta(minutes=15)
TIMEZONE = "UTC"


def fire_time(cron: str, after: datetime, until: datetime) -> datetime | None:
    """The latest time ``cron`` fires in ``(after, until]`` (UTC, timezone-aware), None when it does not."""
    latest: datetime = croniter(cron, until.astimezone(UTC) + timedelta(microseconds=1)).get_prev(datetime)
    return latest if latest > after else None


def due_refreshes(
    registry: Registry, registered: set[str], after: datetime, until: datetime
) -> Iterator[tuple[str, datetime]]:
    """``(client_hashtag key, fire time)`` of every registered hashtag or competitor whose refresh cron fired in
    ``(after, until]``, in key order; ``refresh: none`` never fires."""
    for client in registry.clients:
        for settings in client.sources:
            key = client.key_for(settings)
            if settings.refresh is None or key not in registered:
                continue
            fired = fire_time(settings.refresh, after, until)
            if fired is not None:
                yield key, fired


@dg.schedule(
    name="hashtag_refresh_schedule",
    job=tiktok_refresh_job,
    cron_schedule=TICK_CRON,
    execution_timezone=TIMEZONE,
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Re-scrapes each client_hashtag partition when its registry 'refresh' cron fires (default Mondays "
    "06:00 UTC, 'none' = never); automation updates everything downstream.",
)
def hashtag_refresh_schedule(
    context: dg.ScheduleEvaluationContext, registry: ClientRegistry
) -> dg.SkipReason | list[dg.RunRequest]:
    """One run per due partition; a broken registry file skips the tick with the error as the reason."""
    try:
        reg = registry.load()
    except RegistryError as exc:
        return dg.SkipReason(f"registry not usable: {exc}")
    until = context.scheduled_execution_time
    if until is None:
        return dg.SkipReason("no scheduled execution time (evaluated outside the scheduler)")
    registered = set(context.instance.get_dynamic_partitions(CLIENT_HASHTAG.name))
    requests = [
        dg.RunRequest(
            run_key=f"{key}:{fired.isoformat()}",
            partition_key=key,
            tags={"optimizer/trigger": "hashtag_refresh", "optimizer/refresh_fire_time": fired.isoformat()},
        )
        for key, fired in due_refreshes(reg, registered, until - TICK_INTERVAL, until)
    ]
    if not requests:
        return dg.SkipReason(f"no refresh due in ({(until - TICK_INTERVAL).isoformat()}, {until.isoformat()}]")
    return requests
