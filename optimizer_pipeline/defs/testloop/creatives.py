"""``creatives`` [client] (+ ``creatives_rejected``): a client's creative registry file, with the canonical pattern
hash of each fully tagged creative, the paid ads that run it and the tags left for the autopsy (``creative_dna``).
Thin wiring around ``lib/testloop/creatives.py``."""

from pathlib import Path

import dagster as dg
import pandas as pd

from optimizer_pipeline.defs.checks import ACCOUNTING, TENANT_ISOLATION
from optimizer_pipeline.defs.metadata import display_metadata
from optimizer_pipeline.defs.testloop.group import GROUP, NOT_CONFIGURED, TABLE_KINDS
from optimizer_pipeline.lib.core import markdown
from optimizer_pipeline.lib.core.invariants import accounting, foreign_rows
from optimizer_pipeline.lib.testloop.creatives import (
    CREATIVE_COLUMNS,
    CREATIVE_STATUSES,
    CreativesError,
    CreativesResult,
    active_creatives,
    load_creatives,
)
from optimizer_pipeline.lib.testloop.creatives import REJECTED_COLUMNS as CREATIVE_REJECTED_COLUMNS
from optimizer_pipeline.partitions import CLIENT
from optimizer_pipeline.resources.registry import ClientRegistry


@dg.multi_asset(
    outs={
        "creatives": dg.AssetOut(
            description="A client's creatives from its creative registry file (test_loop.creatives_file): id, name, "
            "video path, status (draft | active | paused | retired), the five pattern tags checked against the label "
            "vocabulary (a missing tag is empty and listed in tags_missing; creative_dna derives it from the video), "
            "the canonical pattern_hash (hook:…|emo:…|pace:…|pain:…|cta:…; null while a tag is missing) and ad_ids, "
            "the paid ads (ad_performance.ad_id) that run the creative.",
            kinds=TABLE_KINDS,
        ),
        "creatives_rejected": dg.AssetOut(
            description="Creative entries that were not accepted (unknown tag value, duplicate id or ad id, missing "
            "field, missing tags without a video), each with a reason naming the file, the entry and the field, and "
            "the raw entry.",
            kinds=TABLE_KINDS,
        ),
    },
    check_specs=[
        ACCOUNTING.spec("creatives", CLIENT, "Compares entries read = creatives + creatives_rejected rows."),
        TENANT_ISOLATION.spec(
            "creatives",
            CLIENT,
            "The table has no client column and every row comes from one file: each row's clients are the "
            "registry clients whose test_loop.creatives_file is that file, which must be this client alone.",
        ),
    ],
    partitions_def=CLIENT,
    group_name=GROUP,
    code_version="creatives-v2",
)
def creatives(context: dg.AssetExecutionContext, registry: ClientRegistry):
    """Every entry ends up in exactly one of the two tables (read = accepted + rejected)."""
    client = registry.load().client(str(context.partition_key))
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
    counted = accounting(result.read, {"accepted": len(accepted), "rejected": len(rejected)})
    owners = ",".join(sorted(_file_owners(registry, path))) if path is not None else client.slug
    isolated = foreign_rows(
        pd.Series([owners] * len(accepted), dtype=object),
        [client.slug],
        compared="clients whose creatives_file is the file read",
        separator=",",
    )
    statuses = accepted["status"].value_counts().reindex(CREATIVE_STATUSES, fill_value=0).to_dict()
    patterns = active_creatives(accepted)["pattern_hash"].value_counts().to_dict() if len(accepted) else {}
    incomplete = int(accepted["tags_missing"].map(len).gt(0).sum()) if len(accepted) else 0
    ads = int(accepted["ad_ids"].map(len).sum()) if len(accepted) else 0
    context.log.info(
        f"{client.slug}: creatives read {result.read} = accepted {len(accepted)} + rejected {len(rejected)}"
    )
    yield dg.MaterializeResult(
        asset_key="creatives",
        value=accepted,
        metadata=display_metadata(
            {
                "client": client.name,
                "status": status,
                "source_file": str(path) if path else "",
                "read": result.read,
                "accepted": len(accepted),
                "rejected": len(rejected),
                "active": int(statuses["active"]),
                "active_patterns": len(patterns),
                "tags_incomplete": incomplete,
                "ad_ids_listed": ads,
                "per_status": dg.MetadataValue.md(markdown.counts(statuses, key="status", value="creatives")),
                "active_per_pattern": dg.MetadataValue.md(markdown.counts(patterns, key="pattern", value="creatives")),
                "preview": dg.MetadataValue.md(
                    markdown.table(
                        accepted[["creative_id", "name", "status", "pattern_hash", "tags_missing", "ad_ids"]],
                        max_rows=30,
                    )
                ),
            }
        ),
        check_results=[
            ACCOUNTING.result("creatives", counted),
            TENANT_ISOLATION.result("creatives", isolated),
        ],
    )
    yield dg.MaterializeResult(
        asset_key="creatives_rejected",
        value=rejected,
        metadata=display_metadata(
            {
                "read": result.read,
                "rejected": len(rejected),
                "reasons": dg.MetadataValue.md(
                    markdown.table(rejected[["entry", "creative_id", "reason"]], max_rows=30)
                ),
            }
        ),
    )


def _file_owners(registry: ClientRegistry, path: Path) -> list[str]:
    """Slugs of every registry client whose creatives file is ``path``: more than one means shared rows."""
    target = Path(path).resolve()
    files = {c.slug: c.test_loop.creatives_file for c in registry.load().clients}
    return [slug for slug, f in files.items() if f is not None and Path(f).resolve() == target]
