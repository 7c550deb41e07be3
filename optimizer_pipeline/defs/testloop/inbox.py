"""``conversion_inbox_sensor``: new settled files in ``<inbox>/<client>/`` start one run per client of
``conversion_loop_job`` (conversion events → attribution → posteriors → recommendations for that client).

The tick only lists folders (``lib/testloop/inbox.py``): no parsing, no side effects (the UI may evaluate it as a
preview). Cursor: per client, the high-water mark ``(arrival_ns, name)`` of the newest file handed to a run. Run key: a
digest of every settled file up to that mark, i.e. of what the run will read, so a reset cursor never duplicates a run.
"""

import os
import time

import dagster as dg

from optimizer_pipeline.defs.inbox_ticks import inbox_tick
from optimizer_pipeline.resources.inbox import ConversionInbox

#: The test loop's runtime assets, recomputed for a client whenever its inbox changes.
RUNTIME_ASSETS = (
    "conversion_events",
    "conversion_events_rejected",
    "attributed_conversions",
    "pattern_posteriors",
    "test_recommendations",
)

conversion_loop_job = dg.define_asset_job(
    name="conversion_loop_job",
    selection=dg.AssetSelection.assets(*RUNTIME_ASSETS),
    description="Recompute one client's conversion events, attribution, pattern posteriors and recommendations "
    "from every file in its inbox (started by conversion_inbox_sensor).",
)


def inbox_run_config(files: list[str]) -> dict:
    """Run config that makes ``conversion_events`` read exactly ``files`` (the set its run key digests)."""
    return {"ops": {"conversion_events": {"config": {"files": files}}}}


def _now_ns() -> int:
    return time.time_ns()


def _unregistered_folders(inbox: ConversionInbox, clients: set[str]) -> list[str]:
    try:
        return sorted(e.name for e in os.scandir(inbox.root_dir) if e.is_dir() and e.name not in clients)
    except (FileNotFoundError, NotADirectoryError):
        return []


@dg.sensor(
    name="conversion_inbox_sensor",
    job=conversion_loop_job,
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Starts conversion_loop_job for a client when settled event files (.jsonl / .ndjson / .json) arrive "
    "in <inbox>/<client>/; temp names, dotfiles and files younger than settle_seconds wait.",
)
def conversion_inbox_sensor(context: dg.SensorEvaluationContext, inbox: ConversionInbox) -> dg.SensorResult:
    """One run per client per tick; a client with more new files than the limit continues next tick."""
    return inbox_tick(
        context,
        scan=inbox.scan,
        now_ns=_now_ns(),
        limit=inbox.max_files_per_tick,
        run_config=inbox_run_config,
        trigger="conversion_inbox",
        nothing="no new settled event files",
        notes_after=lambda clients: _stray_note(inbox, clients),
    )


def _stray_note(inbox: ConversionInbox, clients: set[str]) -> list[str]:
    stray = _unregistered_folders(inbox, clients)
    return [f"inbox folders without a registered client (ignored): {', '.join(stray[:10])}"] if stray else []
