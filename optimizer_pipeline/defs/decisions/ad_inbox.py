"""``ad_inbox_sensor``: new settled CSV exports in ``<home>/ad_inbox/<client>/`` start one run per client of
``ad_metrics_job`` (``ad_performance`` and its rejected rows for that client; the decisions and alerts follow on
their schedule and through automation).

Same rules as ``conversion_inbox_sensor`` (``lib/testloop/inbox.py``): the tick only lists folders; the cursor holds
each client's high-water mark; the run key digests every settled file the run reads, so a reset cursor or a
re-dropped identical file never starts a duplicate run.
"""

import time

import dagster as dg

from optimizer_pipeline.defs.inbox_ticks import inbox_tick
from optimizer_pipeline.resources.ads import AdInbox

ad_metrics_job = dg.define_asset_job(
    name="ad_metrics_job",
    selection=dg.AssetSelection.assets("ad_performance", "ad_performance_rejected", "ad_alerts"),
    description="Recompute one client's ad_performance from every export file in its ad inbox, then its alerts "
    "(started by ad_inbox_sensor).",
)


def _now_ns() -> int:
    return time.time_ns()


def ad_inbox_run_config(files: list[str]) -> dict:
    """Run config that makes ``ad_performance`` read exactly ``files`` (the set its run key digests)."""
    return {"ops": {"ad_performance": {"config": {"files": files}}}}


@dg.sensor(
    name="ad_inbox_sensor",
    job=ad_metrics_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts ad_metrics_job for a client when settled CSV exports arrive in <home>/ad_inbox/<client>/; "
    "temp names, dotfiles and files younger than settle_seconds wait.",
)
def ad_inbox_sensor(context: dg.SensorEvaluationContext, ad_inbox: AdInbox) -> dg.SensorResult:
    """One run per client per tick; a client with more new files than the limit continues next tick."""
    return inbox_tick(
        context,
        scan=ad_inbox.scan,
        now_ns=_now_ns(),
        limit=ad_inbox.max_files_per_tick,
        run_config=ad_inbox_run_config,
        trigger="ad_inbox",
        nothing="no new settled ad export files",
        key_prefix="ads:",
    )
