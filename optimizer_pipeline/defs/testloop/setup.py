"""The test loop's set-up [client]: ``creatives``, ``influencers`` (+ their ``*_rejected`` quarantines) and
``traffic_sources`` (one unguessable UTM link and an outreach draft per influencer × creative). Thin wiring around
``lib/testloop/creatives.py``, ``lib/testloop/influencers.py``, ``lib/testloop/traffic_sources.py``,
``lib/testloop/outreach.py`` and ``lib/testloop/influencer_status.py``.

Reruns write identical files: e-mail ciphertexts (randomised) and ``assigned_at`` are carried over from the
partition's previous materialisation, read back through the IO manager. No clear e-mail reaches a table, the metadata
or the logs.
"""

import dagster as dg
import pandas as pd

from optimizer_pipeline.lib.core import markdown
from optimizer_pipeline.lib.core.plots import markdown_image
from optimizer_pipeline.lib.registry.clients import Client
from optimizer_pipeline.lib.testloop.creatives import (
    CREATIVE_COLUMNS,
    CREATIVE_STATUSES,
    CreativesError,
    CreativesResult,
    active_creatives,
    load_creatives,
)
from optimizer_pipeline.lib.testloop.creatives import REJECTED_COLUMNS as CREATIVE_REJECTED_COLUMNS
from optimizer_pipeline.lib.testloop.influencer_status import STATUSES
from optimizer_pipeline.lib.testloop.influencers import REJECTED_COLUMNS as ROSTER_REJECTED_COLUMNS
from optimizer_pipeline.lib.testloop.influencers import (
    ROSTER_COLUMNS,
    RosterError,
    read_roster,
    reason_counts,
    roster_table,
)
from optimizer_pipeline.lib.testloop.roster_plots import assignments_png, eligibility_png
from optimizer_pipeline.lib.testloop.traffic_sources import TRAFFIC_COLUMNS, build_traffic_sources
from optimizer_pipeline.partitions import CLIENT
from optimizer_pipeline.resources.influencer_status import InfluencerStatusLog
from optimizer_pipeline.resources.pii import PiiVault
from optimizer_pipeline.resources.registry import ClientRegistry

GROUP = "test_loop"
KINDS = {"parquet", "pandas"}
PREVIEW_COLUMNS = ("handle", "followers", "engagement_rate", "niche", "geo", "status", "eligible", "ineligible_reason")
NOT_CONFIGURED = "not configured: add test_loop.{field} for this client in the registry"


def _client(context: dg.AssetExecutionContext, registry: ClientRegistry) -> Client:
    return registry.load().client(str(context.partition_key))


def _previous(context: dg.AssetExecutionContext, io_manager: dg.IOManager, asset: str) -> pd.DataFrame | None:
    """This partition's last materialised table of ``asset`` (None before the first run)."""
    input_context = dg.build_input_context(
        asset_key=dg.AssetKey(asset),
        partition_key=str(context.partition_key),
        asset_partitions_def=CLIENT,
        instance=context.instance,
    )
    try:
        return io_manager.load_input(input_context)
    except FileNotFoundError:
        return None


def _email_storage(pii: PiiVault) -> str:
    if pii.can_encrypt:
        return "encrypted (Fernet, OPTIMIZER_PII_KEY) + salted HMAC-SHA256 hash"
    return "salted HMAC-SHA256 hash only (OPTIMIZER_PII_KEY not set: drafts have no address)"


# -- creatives ---------------------------------------------------------------------------------------------------


@dg.multi_asset(
    outs={
        "creatives": dg.AssetOut(
            description="A client's creatives from its creative registry file (test_loop.creatives_file): id, name, "
            "video path, status (draft | active | paused | retired), the five pattern tags checked against the label "
            "vocabulary, and the canonical pattern_hash (hook:…|emo:…|pace:…|pain:…|cta:…).",
            kinds=KINDS,
        ),
        "creatives_rejected": dg.AssetOut(
            description="Creative entries that were not accepted (unknown tag value, duplicate id, missing field), "
            "each with a reason naming the file, the entry and the field, and the raw entry.",
            kinds=KINDS,
        ),
    },
    partitions_def=CLIENT,
    group_name=GROUP,
    code_version="creatives-v1",
)
def creatives(context: dg.AssetExecutionContext, registry: ClientRegistry):
    """Every entry ends up in exactly one of the two tables (read = accepted + rejected)."""
    client = _client(context, registry)
    path = client.test_loop.creatives_file
    if path is None:
        result = CreativesResult(
            pd.DataFrame(columns=list(CREATIVE_COLUMNS)), pd.DataFrame(columns=list(CREATIVE_REJECTED_COLUMNS)), 0
        )
        status = NOT_CONFIGURED.format(field="creatives_file")
    else:
        try:
            result = load_creatives(path)
        except CreativesError as exc:
            raise dg.Failure(description=str(exc)) from exc
        status = "ok" if result.rejected.empty else f"ok; {len(result.rejected)} entries quarantined"
    accepted, rejected = result.accepted, result.rejected
    assert result.read == len(accepted) + len(rejected), "creatives lost entries"
    statuses = accepted["status"].value_counts().reindex(CREATIVE_STATUSES, fill_value=0).to_dict()
    patterns = active_creatives(accepted)["pattern_hash"].value_counts().to_dict() if len(accepted) else {}
    context.log.info(
        f"{client.slug}: creatives read {result.read} = accepted {len(accepted)} + rejected {len(rejected)}"
    )
    yield dg.MaterializeResult(
        asset_key="creatives",
        value=accepted,
        metadata={
            "client": client.name,
            "status": status,
            "source_file": str(path) if path else "",
            "read": result.read,
            "accepted": len(accepted),
            "rejected": len(rejected),
            "active": int(statuses["active"]),
            "active_patterns": len(patterns),
            "per_status": dg.MetadataValue.md(markdown.counts(statuses, key="status", value="creatives")),
            "active_per_pattern": dg.MetadataValue.md(markdown.counts(patterns, key="pattern", value="creatives")),
            "preview": dg.MetadataValue.md(
                markdown.table(accepted[["creative_id", "name", "status", "pattern_hash"]], max_rows=30)
            ),
        },
    )
    yield dg.MaterializeResult(
        asset_key="creatives_rejected",
        value=rejected,
        metadata={
            "read": result.read,
            "rejected": len(rejected),
            "reasons": dg.MetadataValue.md(markdown.table(rejected[["entry", "creative_id", "reason"]], max_rows=30)),
        },
    )


# -- influencers -------------------------------------------------------------------------------------------------


@dg.multi_asset(
    outs={
        "influencers": dg.AssetOut(
            description="A client's influencer roster from its export CSV (test_loop.influencers_file): handle, "
            "followers, engagement rate, niche, geo, starting status, eligibility under the seed's filter (followers "
            "in [min, max], ER > minimum, niche) with the reason when not eligible, and the e-mail only as a salted "
            "hash plus, when OPTIMIZER_PII_KEY is set, a ciphertext.",
            kinds=KINDS,
        ),
        "influencers_rejected": dg.AssetOut(
            description="Influencer rows that could not be used (no handle, bad e-mail, unreadable numbers, duplicate "
            "handle), with their CSV line, the reason and the raw row with e-mail addresses redacted.",
            kinds=KINDS,
        ),
    },
    partitions_def=CLIENT,
    group_name=GROUP,
    code_version="influencers-v1",
)
def influencers(
    context: dg.AssetExecutionContext,
    registry: ClientRegistry,
    pii: PiiVault,
    io_manager: dg.ResourceParam[dg.IOManager],
):
    """read = accepted + rejected; eligibility is a column, not a filter, so the roster stays complete."""
    client = _client(context, registry)
    settings = client.test_loop
    path = settings.influencers_file
    if path is None:
        table = pd.DataFrame(columns=list(ROSTER_COLUMNS))
        rejected = pd.DataFrame(columns=list(ROSTER_REJECTED_COLUMNS))
        read, status, scale = 0, NOT_CONFIGURED.format(field="influencers_file"), ""
    else:
        try:
            roster = read_roster(path)
        except RosterError as exc:
            raise dg.Failure(description=str(exc)) from exc
        previous = _previous(context, io_manager, "influencers")
        ciphertexts = {}
        if previous is not None and {"email_hash", "email_encrypted"} <= set(previous.columns):
            ciphertexts = dict(zip(previous["email_hash"], previous["email_encrypted"], strict=True))
        table = roster_table(roster, client.slug, settings, pii, ciphertexts)
        rejected, read, scale = roster.rejected, roster.read, roster.engagement_scale
        status = "ok" if rejected.empty else f"ok; {len(rejected)} rows quarantined"
    assert read == len(table) + len(rejected), "influencer import lost rows"
    eligible = int(table["eligible"].sum()) if len(table) else 0
    context.log.info(
        f"{client.slug}: influencers read {read} = accepted {len(table)} + rejected {len(rejected)};"
        f" eligible {eligible}"
    )
    metadata = {
        "client": client.name,
        "status": status,
        "source_file": str(path) if path else "",
        "read": read,
        "accepted": len(table),
        "rejected": len(rejected),
        "eligible": eligible,
        "not_eligible": len(table) - eligible,
        "filter": f"followers in [{settings.min_followers:,}, {settings.max_followers:,}] (inclusive), "
        f"ER > {settings.min_engagement_rate:.2%}, niche in {list(settings.niches) or 'any'}",
        "engagement_numbers_read_as": scale,
        "email_storage": _email_storage(pii),
        "not_eligible_reasons": dg.MetadataValue.md(
            markdown.counts(reason_counts(table["ineligible_reason"]), key="reason", value="influencers")
        ),
        "preview": dg.MetadataValue.md(markdown.table(table[list(PREVIEW_COLUMNS)], max_rows=20)),
    }
    if len(table):
        png = eligibility_png(table, settings)
        metadata["eligibility_plot"] = dg.MetadataValue.md(markdown_image(png, "followers vs engagement rate"))
    yield dg.MaterializeResult(asset_key="influencers", value=table, metadata=metadata)
    yield dg.MaterializeResult(
        asset_key="influencers_rejected",
        value=rejected,
        metadata={
            "read": read,
            "rejected": len(rejected),
            "reasons": dg.MetadataValue.md(markdown.table(rejected[["line", "handle", "reason"]], max_rows=30)),
        },
    )


# -- traffic sources ---------------------------------------------------------------------------------------------


@dg.asset(
    partitions_def=CLIENT,
    group_name=GROUP,
    kinds=KINDS,
    code_version="traffic-sources-v1",
    ins={"creatives": dg.AssetIn(), "influencers": dg.AssetIn()},
    description="One row per influencer × creative assignment: unguessable utm_id (HMAC of the client's secret, "
    "stable across reruns), full UTM link on test_loop.landing_url, pattern_hash, outreach status (CSV start + "
    "status log; potential → contacted → agreed → posted / rejected), assigned_at and an outreach draft (to = "
    "encrypted address or empty, subject, body). Eligible influencers get active creatives, balanced by pattern; a "
    "link that may have gone out (status beyond potential, or in the log) is kept even if its creative is paused "
    "or the influencer no longer passes the filter. pattern_posteriors joins conversions to patterns via utm_id.",
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
    client = _client(context, registry)
    entries, unreadable = status_log.read(client.slug)
    previous = _previous(context, io_manager, "traffic_sources")
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
        "email_storage": _email_storage(pii),
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
    return dg.MaterializeResult(value=table[list(TRAFFIC_COLUMNS)], metadata=metadata)
