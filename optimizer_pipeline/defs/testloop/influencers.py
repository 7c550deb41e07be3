"""``influencers`` [client] (+ ``influencers_rejected``): a client's influencer export, with the seed's filter as a
column and e-mails only as salted hashes (plus ciphertexts with a key). Thin wiring around
``lib/testloop/influencers.py``.

Reruns write identical files: e-mail ciphertexts (randomised) are carried over from the partition's previous
materialisation, read back through the IO manager. No clear e-mail reaches a table, the metadata or the logs.
"""

import dagster as dg
import pandas as pd

from optimizer_pipeline.defs.checks import ACCOUNTING, TENANT_ISOLATION
from optimizer_pipeline.defs.metadata import display_metadata
from optimizer_pipeline.defs.testloop.group import GROUP, NOT_CONFIGURED, TABLE_KINDS
from optimizer_pipeline.lib.core import markdown
from optimizer_pipeline.lib.core.invariants import accounting, foreign_rows
from optimizer_pipeline.lib.core.plots import markdown_image
from optimizer_pipeline.lib.testloop.influencers import REJECTED_COLUMNS as ROSTER_REJECTED_COLUMNS
from optimizer_pipeline.lib.testloop.influencers import (
    ROSTER_COLUMNS,
    RosterError,
    read_roster,
    reason_counts,
    roster_table,
)
from optimizer_pipeline.lib.testloop.roster_plots import eligibility_png
from optimizer_pipeline.partitions import CLIENT
from optimizer_pipeline.resources.parquet_io import previous_table
from optimizer_pipeline.resources.pii import PiiVault
from optimizer_pipeline.resources.registry import ClientRegistry

PREVIEW_COLUMNS = ("handle", "followers", "engagement_rate", "niche", "geo", "status", "eligible", "ineligible_reason")


@dg.multi_asset(
    outs={
        "influencers": dg.AssetOut(
            description="A client's influencer roster from its export CSV (test_loop.influencers_file): handle, "
            "followers, engagement rate, niche, geo, starting status, eligibility under the seed's filter (followers "
            "in [min, max], ER > minimum, niche) with the reason when not eligible, and the e-mail only as a salted "
            "hash plus, when OPTIMIZER_PII_KEY is set, a ciphertext.",
            kinds=TABLE_KINDS,
        ),
        "influencers_rejected": dg.AssetOut(
            description="Influencer rows that could not be used (no handle, bad e-mail, unreadable numbers, duplicate "
            "handle), with their CSV line, the reason and the raw row with e-mail addresses redacted.",
            kinds=TABLE_KINDS,
        ),
    },
    check_specs=[
        ACCOUNTING.spec("influencers", CLIENT, "Compares CSV rows read = influencers + influencers_rejected rows."),
        TENANT_ISOLATION.spec("influencers", CLIENT, "Compares each row's client column with this partition's client."),
    ],
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
    client = registry.load().client(str(context.partition_key))
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
        previous = previous_table(context, io_manager, "influencers")
        ciphertexts = {}
        if previous is not None and {"email_hash", "email_encrypted"} <= set(previous.columns):
            ciphertexts = dict(zip(previous["email_hash"], previous["email_encrypted"], strict=True))
        table = roster_table(roster, client.slug, settings, pii, ciphertexts)
        rejected, read, scale = roster.rejected, roster.read, roster.engagement_scale
        status = "ok" if rejected.empty else f"ok; {len(rejected)} rows quarantined"
    counted = accounting(read, {"accepted": len(table), "rejected": len(rejected)})
    isolated = foreign_rows(table["client"], [client.slug], compared="client column")
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
        "email_storage": pii.email_storage,
        "not_eligible_reasons": dg.MetadataValue.md(
            markdown.counts(reason_counts(table["ineligible_reason"]), key="reason", value="influencers")
        ),
        "preview": dg.MetadataValue.md(markdown.table(table[list(PREVIEW_COLUMNS)], max_rows=20)),
    }
    if len(table):
        png = eligibility_png(table, settings)
        metadata["eligibility_plot"] = dg.MetadataValue.md(markdown_image(png, "followers vs engagement rate"))
    checks = [
        ACCOUNTING.result("influencers", counted),
        TENANT_ISOLATION.result("influencers", isolated),
    ]
    yield dg.MaterializeResult(
        asset_key="influencers", value=table, metadata=display_metadata(metadata), check_results=checks
    )
    yield dg.MaterializeResult(
        asset_key="influencers_rejected",
        value=rejected,
        metadata=display_metadata(
            {
                "read": read,
                "rejected": len(rejected),
                "reasons": dg.MetadataValue.md(markdown.table(rejected[["line", "handle", "reason"]], max_rows=30)),
            }
        ),
    )
