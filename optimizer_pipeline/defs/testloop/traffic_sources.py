"""``traffic_sources`` [client]: one unguessable UTM link and an outreach draft per influencer × creative. Thin
wiring around ``lib/testloop/traffic_sources.py``, ``lib/testloop/outreach.py`` and
``lib/testloop/influencer_status.py``.

Reruns write identical files: ``assigned_at`` is carried over from the partition's previous materialisation, read
back through the IO manager.
"""

import dagster as dg
import pandas as pd

from optimizer_pipeline.defs.checks import CHECKED_VALUE, TENANT_ISOLATION
from optimizer_pipeline.defs.metadata import display_metadata
from optimizer_pipeline.defs.testloop.group import GROUP, TABLE_KINDS
from optimizer_pipeline.lib.core import markdown
from optimizer_pipeline.lib.core.invariants import foreign_rows
from optimizer_pipeline.lib.core.plots import markdown_image
from optimizer_pipeline.lib.testloop.creative_autopsy import with_autopsy_tags
from optimizer_pipeline.lib.testloop.influencer_status import STATUSES
from optimizer_pipeline.lib.testloop.roster_plots import assignments_png
from optimizer_pipeline.lib.testloop.traffic_sources import TRAFFIC_COLUMNS, build_traffic_sources
from optimizer_pipeline.partitions import CLIENT
from optimizer_pipeline.resources.influencer_status import InfluencerStatusLog
from optimizer_pipeline.resources.parquet_io import load_stored, previous_table
from optimizer_pipeline.resources.pii import PiiVault
from optimizer_pipeline.resources.registry import ClientRegistry

#: The creative autopsy: read when stored, so its derived tags complete a creative registered without them.
DNA = "creative_dna"


@dg.asset(
    partitions_def=CLIENT,
    check_specs=[
        TENANT_ISOLATION.spec(
            "traffic_sources", CLIENT, "Compares each row's client column with this partition's client."
        )
    ],
    dagster_type=CHECKED_VALUE,
    group_name=GROUP,
    kinds=TABLE_KINDS,
    code_version="traffic-sources-v2",
    ins={"creatives": dg.AssetIn(), "influencers": dg.AssetIn()},
    deps=[dg.AssetDep(DNA)],
    description="One row per influencer × creative assignment: unguessable utm_id (HMAC of the client's secret, "
    "stable across reruns), full UTM link on test_loop.landing_url, pattern_hash, outreach status (CSV start + "
    "status log; potential → contacted → agreed → posted / rejected), assigned_at and an outreach draft (to = "
    "encrypted address or empty, subject, body). Eligible influencers get active creatives, balanced by pattern; a "
    "link that may have gone out (status beyond potential, or in the log) is kept even if its creative is paused "
    "or the influencer no longer passes the filter. pattern_posteriors joins conversions to patterns via utm_id. A "
    "creative registered without some tags is assigned under the tags its creative_dna (the autopsy) derived, once "
    "all five are known.",
)
def traffic_sources(
    context: dg.AssetExecutionContext,
    creatives: pd.DataFrame,
    influencers: pd.DataFrame,
    registry: ClientRegistry,
    pii: PiiVault,
    status_log: InfluencerStatusLog,
    io_manager: dg.ResourceParam[dg.IOManager],
) -> dg.MaterializeResult:
    """Eligible influencers × active creatives, balanced by pattern, plus pinned links that may have gone out; an
    invalid logged transition is reported only."""
    client = registry.load().client(str(context.partition_key))
    entries, unreadable = status_log.read(client.slug)
    previous = previous_table(context, io_manager, "traffic_sources")
    creatives = with_autopsy_tags(creatives, load_stored(context, io_manager, DNA, client.slug, CLIENT))
    now = pd.Timestamp.now(tz="UTC").floor("s")
    try:
        table, the_plan = build_traffic_sources(
            client, influencers, creatives, salt=pii.salt(client.slug), entries=entries, previous=previous, now=now
        )
    except ValueError as exc:
        raise dg.Failure(description=str(exc)) from exc
    problems = pd.DataFrame(
        unreadable + the_plan.replay.problems, columns=["line", "handle", "creative_id", "status", "reason"]
    ).sort_values("line")
    if not client.test_loop.creatives_file or not client.test_loop.influencers_file:
        status = "not configured: the registry has no test_loop files for this client"
    elif table.empty:
        status = "no assignments: no eligible influencers or no active creatives"
    else:
        status = "ok" if problems.empty else f"ok; {len(problems)} status log entries not applied"
    if len(problems):
        context.log.warning(f"{client.slug}: {len(problems)} status log entries not applied (see metadata)")
    if the_plan.dropped:
        status += f"; {len(the_plan.dropped)} links dropped (influencer or creative removed from its file)"
        context.log.warning(f"{client.slug}: links dropped: {the_plan.dropped}")
    per_status = table["status"].value_counts().reindex(STATUSES, fill_value=0).to_dict()
    per_pattern = table["pattern_hash"].value_counts().to_dict()
    metadata = {
        "client": client.name,
        "status": status,
        "assignments": len(table),
        "influencers_assigned": int(table["influencer"].nunique()),
        "creatives_used": int(table["creative_id"].nunique()),
        "patterns": len(per_pattern),
        "live_links": int(per_status["posted"]),
        "landing_url": client.test_loop.landing_url or "",
        "email_storage": pii.email_storage,
        "status_log": str(status_log.path(client.slug)),
        "status_log_entries": len(entries) + len(unreadable),
        "status_log_applied": the_plan.replay.applied,
        "status_log_not_applied": len(problems),
        "links_dropped": dg.MetadataValue.json([list(p) for p in the_plan.dropped]),
        "per_status": dg.MetadataValue.md(markdown.counts(per_status, key="status", value="assignments")),
        "per_pattern": dg.MetadataValue.md(markdown.counts(per_pattern, key="pattern", value="assignments")),
        "log_entries_not_applied": dg.MetadataValue.md(markdown.table(problems, max_rows=30)),
        "preview": dg.MetadataValue.md(
            markdown.table(table[["influencer", "creative_id", "status", "utm_id", "utm_link"]], max_rows=20)
        ),
    }
    if len(table):
        first = table.iloc[0]
        metadata["example_outreach"] = dg.MetadataValue.md(
            f"**To:** {'(encrypted address)' if pd.notna(first['outreach_to']) else '(no key: not stored)'}  \n"
            f"**Subject:** {first['outreach_subject']}\n\n```\n{first['outreach_body']}\n```"
        )
        metadata["assignments_plot"] = dg.MetadataValue.md(
            markdown_image(assignments_png(table), "assignments per pattern by status")
        )
    context.log.info(f"{client.slug}: {len(table)} assignments, {per_status['posted']} live links")
    isolated = foreign_rows(table["client"], [client.slug], compared="client column")
    return dg.MaterializeResult(
        value=table[list(TRAFFIC_COLUMNS)],
        metadata=display_metadata(metadata),
        check_results=[TENANT_ISOLATION.result("traffic_sources", isolated)],
    )
