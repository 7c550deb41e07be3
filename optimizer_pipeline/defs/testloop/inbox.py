"""``conversion_inbox_sensor``: new settled files in ``<inbox>/<client>/`` start one run per client of
``conversion_loop_job`` (conversion events → attribution → posteriors → recommendations for that client).

The tick only lists folders (``lib/testloop/inbox.py``): no parsing, no side effects (the UI may evaluate it as a
preview). Cursor: per client, the high-water mark ``(arrival_ns, name)`` of the newest file handed to a run. Run key: a
digest of every settled file up to that mark, i.e. of what the run will read, so a reset cursor never duplicates a run.
"""

import os
import time

import dagster as dg

from optimizer_pipeline.lib.testloop.inbox import dump_cursor, load_cursor, new_files
from optimizer_pipeline.partitions import CLIENT
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
    marks = load_cursor(context.cursor)
    clients = sorted(context.instance.get_dynamic_partitions(CLIENT.name))
    now = _now_ns()
    requests: list[dg.RunRequest] = []
    notes: list[str] = []
    new_marks = {c: m for c, m in marks.items() if c in clients}  # deleted clients leave the cursor
    for client in clients:
        scan = inbox.scan(client, now)
        if scan.pending:
            notes.append(f"{client}: {len(scan.pending)} file(s) still settling")
        found = new_files(client, scan, marks.get(client), limit=inbox.max_files_per_tick)
        if found is None:
            continue
        new_marks[client] = found.mark
        if found.remaining:
            notes.append(f"{client}: {found.remaining} more new file(s) next tick")
        requests.append(
            dg.RunRequest(
                run_key=found.run_key,
                partition_key=client,
                run_config=inbox_run_config(found.covered_names),
                tags={"optimizer/trigger": "conversion_inbox", "optimizer/new_files": str(len(found.files))},
            )
        )
    stray = _unregistered_folders(inbox, set(clients))
    if stray:
        notes.append(f"inbox folders without a registered client (ignored): {', '.join(stray[:10])}")
    for note in notes:
        context.log.info(note)
    cursor = dump_cursor(new_marks)
    if not requests:
        reason = "no new settled event files" + (f"; {'; '.join(notes)}" if notes else "")
        return dg.SensorResult(skip_reason=reason, cursor=cursor)
    return dg.SensorResult(run_requests=requests, cursor=cursor)
