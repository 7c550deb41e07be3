"""``conversion_events`` / ``conversion_events_rejected`` and ``attributed_conversions`` [client]: thin wiring around
``lib/testloop/conversions.py`` (parse, dedupe, pseudonymise), ``lib/testloop/attribution.py`` (stitching, last touch)
and ``lib/testloop/source_counts.py`` (per traffic source and day).

Every run recomputes the partition from every file it covers (dedupe by messageId across every file ever received),
so replaying an inbox or re-running a partition writes identical Parquet files. A run started by
``conversion_inbox_sensor`` reads exactly the files its run key digests (passed as run config), so a file that lands
between the tick and the run waits for the next run instead of entering under a key that does not name it; a run
started by hand reads every event file of the folder.

``attributed_conversions`` dates everything a person does for a utm_id by their click (first UTM visit) and splits
clicks into mature (attribution window closed by the newest event of the inbox, the table's ``as_of``) and immature;
``pattern_posteriors`` uses the mature ones only (lib/testloop/source_counts.py explains why).
"""

from collections.abc import Iterator
from pathlib import Path

import dagster as dg
import pandas as pd

from optimizer_pipeline.defs.automation import PROPAGATE
from optimizer_pipeline.defs.checks import ACCOUNTING, CHECKED_VALUE, TENANT_ISOLATION
from optimizer_pipeline.defs.metadata import display_metadata
from optimizer_pipeline.defs.testloop.group import GROUP
from optimizer_pipeline.lib.core import markdown
from optimizer_pipeline.lib.core.invariants import accounting, foreign_rows
from optimizer_pipeline.lib.testloop.attribution import attribute_orders
from optimizer_pipeline.lib.testloop.conversions import parse_event_files
from optimizer_pipeline.lib.testloop.redaction import redact_line
from optimizer_pipeline.lib.testloop.source_counts import daily_as_of, daily_source_counts
from optimizer_pipeline.partitions import CLIENT
from optimizer_pipeline.resources.inbox import ConversionInbox
from optimizer_pipeline.resources.pii import PiiVault
from optimizer_pipeline.resources.registry import ClientRegistry

KINDS = {"parquet", "duckdb"}
#: Columns shown in previews: no anonymous ids, user id hashes or e-mail hashes.
PREVIEW_COLUMNS = ["timestamp", "event", "utm_id", "order_id", "total", "currency", "source_file", "line"]


class InboxFiles(dg.Config):
    """Which inbox files a run reads: the list a sensor's run key covers, or (unset, e.g. a materialisation from
    the UI) every event file in the client's folder."""

    files: list[str] | None = None


def _per_file(files: list, accepted: pd.DataFrame, rejected: pd.DataFrame) -> pd.DataFrame:
    acc = accepted["source_file"].value_counts() if len(accepted) else pd.Series(dtype=int)
    rej = rejected["file"].value_counts() if len(rejected) else pd.Series(dtype=int)
    return pd.DataFrame(
        {
            "file": [p.name for p in files],
            "bytes": [p.stat().st_size for p in files],
            "accepted": [int(acc.get(p.name, 0)) for p in files],
            "rejected": [int(rej.get(p.name, 0)) for p in files],
        }
    )


@dg.multi_asset(
    outs={
        "conversion_events": dg.AssetOut(
            description="Every accepted Segment / RudderStack event of the client's inbox (page views, Order "
            "Completed, identify calls linking ids), deduplicated by messageId across all files ever received; user "
            "ids and e-mails only as salted HMAC-SHA256 hashes. Columns: lib/conversions.ACCEPTED_COLUMNS.",
            kinds=KINDS,
        ),
        "conversion_events_rejected": dg.AssetOut(
            description="Malformed event lines with file, line number and reason; the raw line is kept (2 KB max) "
            "with e-mails and user ids replaced by salted-hash tokens.",
            kinds=KINDS,
        ),
    },
    check_specs=[
        ACCOUNTING.spec(
            "conversion_events",
            CLIENT,
            "Compares lines read = conversion_events + conversion_events_rejected rows + duplicates (same "
            "messageId) + ignored lines.",
        ),
        TENANT_ISOLATION.spec(
            "conversion_events",
            CLIENT,
            "The table has no client column: compares each row's source_file (a file name) with the names of the "
            "run's files that lie in the client's own inbox folder (<inbox>/<client>/); a name also used by a file "
            "outside that folder counts as foreign.",
        ),
    ],
    partitions_def=CLIENT,
    group_name=GROUP,
    code_version="conversion-events-v1",
)
def conversion_events(
    context: dg.AssetExecutionContext, config: InboxFiles, inbox: ConversionInbox, pii: PiiVault
) -> Iterator[dg.MaterializeResult]:
    """read = accepted + rejected + duplicates + ignored; nothing is dropped without being counted."""
    client = str(context.partition_key)
    try:
        files = inbox.files(client, config.files)
    except FileNotFoundError as exc:
        raise dg.Failure(description=str(exc)) from exc
    salt = pii.salt(client)
    batch = parse_event_files(files, salt=salt)
    accepted = batch.accepted.to_pandas()
    rejected = batch.rejected.copy()
    rejected["raw"] = [redact_line(str(r), salt) for r in rejected["raw"]]
    folder = inbox.folder(client)
    counted = accounting(
        batch.read,
        {
            "accepted": len(accepted),
            "rejected": len(rejected),
            "duplicates": batch.duplicates,
            "ignored": batch.ignored,
        },
    )
    outside = {p.name for p in files if Path(p).resolve().parent != Path(folder).resolve()}
    own_files = {p.name for p in files} - outside  # a row names its file only: a shared name cannot be told apart
    isolated = foreign_rows(accepted["source_file"], own_files, compared="source_file vs the client's inbox folder")
    if not files:
        status = f"no event files in {folder}"
    elif len(rejected):
        status = f"ok; {len(rejected)} malformed lines quarantined"
    else:
        status = "ok"
    events = accepted["event"].fillna(accepted["type"]).value_counts().to_dict() if len(accepted) else {}
    reasons = rejected["reason"].value_counts().to_dict() if len(rejected) else {}
    context.log.info(
        f"{client}: read {batch.read} = accepted {len(accepted)} + rejected {len(rejected)} + duplicates "
        f"{batch.duplicates} + ignored {batch.ignored} from {len(files)} files"
    )
    yield dg.MaterializeResult(
        asset_key="conversion_events",
        value=accepted,
        metadata=display_metadata(
            {
                "status": status,
                "inbox": dg.MetadataValue.path(str(folder)),
                "files": len(files),
                "read": batch.read,
                "accepted": len(accepted),
                "rejected": len(rejected),
                "duplicates": batch.duplicates,
                "ignored": batch.ignored,
                "page_views": int(events.get("Page Viewed", 0)),
                "orders": int(events.get("Order Completed", 0)),
                "people_identified": int(accepted["user_id_hash"].nunique()) if len(accepted) else 0,
                "first_event": str(accepted["timestamp"].min()) if len(accepted) else "",
                "last_event": str(accepted["timestamp"].max()) if len(accepted) else "",
                "per_event": dg.MetadataValue.md(markdown.counts(events, key="event", value="accepted")),
                "per_file": dg.MetadataValue.md(markdown.table(_per_file(files, accepted, rejected), max_rows=50)),
                "reasons": dg.MetadataValue.md(markdown.counts(reasons, key="reason", value="lines")),
                "preview": dg.MetadataValue.md(markdown.table(accepted[PREVIEW_COLUMNS], max_rows=10)),
            }
        ),
        check_results=[
            ACCOUNTING.result("conversion_events", counted),
            TENANT_ISOLATION.result("conversion_events", isolated),
        ],
    )
    yield dg.MaterializeResult(
        asset_key="conversion_events_rejected",
        value=rejected,
        metadata=display_metadata(
            {
                "read": batch.read,
                "rejected": len(rejected),
                "reasons": dg.MetadataValue.md(markdown.counts(reasons, key="reason", value="lines")),
                "preview": dg.MetadataValue.md(markdown.table(rejected, max_rows=20)),
            }
        ),
    )


@dg.asset(
    automation_condition=PROPAGATE,
    partitions_def=CLIENT,
    check_specs=[
        ACCOUNTING.spec(
            "attributed_conversions",
            CLIENT,
            "Compares the attribution's distinct (utm_id, person) clicks = clicks summed over the daily rows.",
        ),
        TENANT_ISOLATION.spec(
            "attributed_conversions",
            CLIENT,
            "The table has no client column: compares each row's utm_id with the utm_ids of this client's "
            "conversion_events (a utm_id that is not a traffic source is allowed here and counted as unknown by "
            "pattern_posteriors).",
        ),
    ],
    dagster_type=CHECKED_VALUE,
    group_name=GROUP,
    kinds=KINDS,
    code_version="attributed-conversions-v2",
    ins={"conversion_events": dg.AssetIn()},
    description="One row per traffic source (utm_id) and UTC click day: clicks (people whose first UTM visit with it "
    "fell on that day; summed over days = distinct stitched people), page_views, and for the people clicked that day: "
    "converters (people with an order attributed to it), orders, revenue, currency; immature_clicks / "
    "immature_converters: the part whose attribution window had not closed by as_of (the newest event of the inbox), "
    "left out of the posteriors. Last-touch attribution within test_loop.attribution_window_days (both edges "
    "inclusive); unattributed orders are counted in the metadata.",
)
def attributed_conversions(
    context: dg.AssetExecutionContext, conversion_events: pd.DataFrame, registry: ClientRegistry
) -> dg.MaterializeResult:
    """Identity stitching and last-touch attribution; the table's grain (click day) lets old days be discounted later
    per person, and its maturity split is as of the newest event, so a replay gives the same file."""
    client = registry.load().client(str(context.partition_key))
    window = client.test_loop.attribution_window_days
    result = attribute_orders(conversion_events, window_days=window)
    daily = daily_source_counts(conversion_events, result)
    as_of = daily_as_of(daily)
    orders = result.orders
    attributed = orders[orders["utm_id"].notna()]
    unattributed = orders[orders["utm_id"].isna()]
    counted = accounting(int(result.clicks["clicks"].sum()), {"daily_clicks": int(daily["clicks"].sum())})
    isolated = foreign_rows(
        daily["utm_id"], set(conversion_events["utm_id"].dropna()), compared="utm_id vs the client's events"
    )
    per_source = (
        daily.groupby("utm_id")[
            ["clicks", "page_views", "converters", "orders", "immature_clicks", "immature_converters"]
        ]
        .sum()
        .sort_values("clicks", ascending=False)
        .reset_index()
    )
    revenue = attributed.groupby(attributed["currency"].fillna("?"))["total"].sum().round(2).to_dict()
    lost = unattributed.groupby(unattributed["currency"].fillna("?"))["total"].sum().round(2).to_dict()
    status = "no orders yet" if orders.empty else "ok"
    if len(orders) and unattributed.shape[0] == len(orders):
        status = "no order could be attributed to a UTM visit"
    context.log.info(
        f"{client.slug}: {len(attributed)} of {len(orders)} orders attributed ({window}-day window), "
        f"{result.unattributed} unattributed; {int(daily['clicks'].sum())} clicks on {len(per_source)} sources"
    )
    return dg.MaterializeResult(
        value=daily,
        metadata=display_metadata(
            {
                "status": status,
                "attribution_window_days": window,
                "rows": len(daily),
                "traffic_sources_clicked": len(per_source),
                "clicks": int(daily["clicks"].sum()),
                "page_views": int(daily["page_views"].sum()),
                "converters": int(daily["converters"].sum()),
                "as_of": str(as_of) if as_of is not None else "",
                "immature_clicks": int(daily["immature_clicks"].sum()),
                "immature_converters": int(daily["immature_converters"].sum()),
                "maturity": f"a click is mature once its {window}-day attribution window has closed by as_of (the "
                "newest event); immature clicks and their converters are kept apart and left out of the posteriors",
                "orders": len(orders),
                "attributed_orders": len(attributed),
                "unattributed_orders": int(result.unattributed),
                "unattributed_share": float(result.unattributed / len(orders)) if len(orders) else 0.0,
                "attributed_revenue": dg.MetadataValue.json(revenue),
                "unattributed_revenue": dg.MetadataValue.json(lost),
                "per_source": dg.MetadataValue.md(markdown.table(per_source, max_rows=30)),
                "unattributed_preview": dg.MetadataValue.md(
                    markdown.table(unattributed[["order_id", "timestamp", "total", "currency"]], max_rows=10)
                ),
            },
            exact=("attributed_revenue", "unattributed_revenue"),
        ),
        check_results=[
            ACCOUNTING.result("attributed_conversions", counted),
            TENANT_ISOLATION.result("attributed_conversions", isolated),
        ],
    )
