"""One tick of an inbox sensor (the conversion inbox, the ad inbox): per registered client, the new settled files
above its high-water mark become one run request whose run key digests exactly the files the run reads
(``lib/testloop/inbox.py`` has the rules). Shared so both sensors keep the same cursor and run-key semantics."""

from collections.abc import Callable, Sequence

import dagster as dg

from optimizer_pipeline.lib.testloop.inbox import FolderScan, dump_cursor, load_cursor, new_files
from optimizer_pipeline.partitions import CLIENT


def inbox_tick(
    context: dg.SensorEvaluationContext,
    *,
    scan: Callable[[str, int], FolderScan],
    now_ns: int,
    limit: int,
    run_config: Callable[[list[str]], dict],
    trigger: str,
    nothing: str,
    key_prefix: str = "",
    notes_after: Callable[[set[str]], Sequence[str]] = lambda clients: (),
) -> dg.SensorResult:
    """One run per client with new settled files (a client with more than ``limit`` continues next tick);
    ``key_prefix`` keeps two inboxes' run keys apart; ``notes_after`` adds notes about the registered clients."""
    marks = load_cursor(context.cursor)
    clients = sorted(context.instance.get_dynamic_partitions(CLIENT.name))
    requests: list[dg.RunRequest] = []
    notes: list[str] = []
    new_marks = {c: m for c, m in marks.items() if c in clients}  # deleted clients leave the cursor
    for client in clients:
        found_scan = scan(client, now_ns)
        if found_scan.pending:
            notes.append(f"{client}: {len(found_scan.pending)} file(s) still settling")
        found = new_files(f"{key_prefix}{client}", found_scan, marks.get(client), limit=limit)
        if found is None:
            continue
        new_marks[client] = found.mark
        if found.remaining:
            notes.append(f"{client}: {found.remaining} more new file(s) next tick")
        requests.append(
            dg.RunRequest(
                run_key=found.run_key,
                partition_key=client,
                run_config=run_config(found.covered_names),
                tags={"optimizer/trigger": trigger, "optimizer/new_files": str(len(found.files))},
            )
        )
    notes.extend(notes_after(set(clients)))
    for note in notes:
        context.log.info(note)
    cursor = dump_cursor(new_marks)
    if not requests:
        reason = nothing + (f"; {'; '.join(notes)}" if notes else "")
        return dg.SensorResult(skip_reason=reason, cursor=cursor)
    return dg.SensorResult(run_requests=requests, cursor=cursor)
