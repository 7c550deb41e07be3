"""Record an influencer's outreach status change (the ``influencer-status`` command), validated before it is logged.

The check replays exactly what ``traffic_sources`` will replay: the client's roster and creatives, with the links of
the last materialised table pinned, give the assignment, the CSV gives the starting status, the existing log moves
it on. Only a transition that is valid from the current status of an existing assignment is appended, so the log
never gains an entry the asset would reject (unless the files or the log are edited afterwards: the asset then
reports it).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd

from optimizer_pipeline.lib.registry.clients import Registry
from optimizer_pipeline.lib.testloop.creatives import load_creatives
from optimizer_pipeline.lib.testloop.influencer_status import (
    StatusEntry,
    StatusError,
    append_entry,
    new_entry,
    read_log,
    status_log_path,
    transition_problem,
)
from optimizer_pipeline.lib.testloop.influencers import ineligibility, read_roster
from optimizer_pipeline.lib.testloop.redaction import redact_emails
from optimizer_pipeline.lib.testloop.traffic_sources import kept_pairs, plan


def record_status(
    registry: Registry,
    client_slug: str,
    handle: str,
    creative_id: str,
    status: str,
    *,
    home: str | Path,
    previous: pd.DataFrame | None,
    note: str = "",
    at: datetime | None = None,
) -> tuple[StatusEntry, str, Path]:
    """Append ``handle × creative_id → status`` to the client's log; returns (entry, previous status, log path).

    ``previous`` is the client's last materialised ``traffic_sources`` table (None before the first): the links that
    may have gone out, which the asset pins too. The caller loads it (``resources/parquet_io.py::read_asset``), so the
    storage layout is not spelled out here.

    Raises :class:`StatusError` (unknown client, handle or creative, no such assignment, invalid transition) or
    ``ValueError`` from the registry, roster or creatives file, each with a message fit for the command line.
    """
    try:
        client = registry.client(client_slug)
    except KeyError as exc:
        raise StatusError(f"client {client_slug!r} is not in the registry {registry.path}") from exc
    settings = client.test_loop
    if settings.influencers_file is None or settings.creatives_file is None:
        raise StatusError(f"client {client.slug!r} has no test_loop creatives_file / influencers_file in the registry")
    entry = new_entry(handle, creative_id, status, redact_emails(note), at)  # the log is no place for addresses
    roster = read_roster(settings.influencers_file)
    by_handle = {inf.handle: inf for inf in roster.influencers}
    if entry.handle not in by_handle:
        raise StatusError(f"@{entry.handle} is not in {settings.influencers_file} (or its row was rejected)")
    creatives = load_creatives(settings.creatives_file).accepted
    path = status_log_path(home, client.slug)
    entries, _ = read_log(path)
    eligible = [i.handle for i in roster.influencers if ineligibility(i, settings) is None]
    the_plan = plan(
        {i.handle: i.status for i in roster.influencers}, eligible, creatives, settings.creatives_per_influencer,
        entries, kept_pairs(previous),
    )  # fmt: skip
    pair = (entry.handle, entry.creative_id)
    if pair not in the_plan.replay.status:
        assigned = [c for h, c in the_plan.pairs if h == entry.handle]
        why_not = ineligibility(by_handle[entry.handle], settings)
        if not assigned and why_not:
            raise StatusError(f"@{entry.handle} is not eligible ({why_not}), so it has no assignment")
        raise StatusError(f"@{entry.handle} is not assigned creative {entry.creative_id!r}; assigned: {assigned}")
    current = the_plan.replay.status[pair]
    problem = transition_problem(current, entry.status)
    if problem:
        raise StatusError(f"@{entry.handle} × {entry.creative_id}: {problem}")
    append_entry(path, entry)
    return entry, current, path
