"""``ad_performance`` / ``ad_performance_rejected`` [client]: one row per ad and day, from the client's ad source.

Thin wiring around ``lib/ads``: the client's ``decisions.ad_source`` in the registry picks the source. ``csv``
(default) reads the export files of ``<home>/ad_inbox/<client>/`` (every file, or exactly those a sensor run key
covers), ``meta`` asks the Insights API for the last ``lookback_days`` days. Each run recomputes the partition from
everything its source holds, so a re-dropped file or a rerun writes identical Parquet. Derived metrics (CTR, CPM,
CPC, CPA, ROAS, CVR) are null when their denominator is 0, never infinite. A client with ``decisions.pipeline`` (a
service business) gets one count column per funnel stage, read from the export columns named after the stages
(``lib/ads/export_files``), which ``pipeline_value`` turns into synthetic revenue; other clients' tables are as before.
"""

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import dagster as dg
import pandas as pd

from optimizer_pipeline.defs.checks import ACCOUNTING, TENANT_ISOLATION
from optimizer_pipeline.defs.decisions.group import GROUP, TABLE_KINDS
from optimizer_pipeline.defs.metadata import display_metadata
from optimizer_pipeline.lib.ads.derived_metrics import add_derived_metrics
from optimizer_pipeline.lib.ads.export_files import read_export_files, with_stage_columns
from optimizer_pipeline.lib.core import markdown
from optimizer_pipeline.lib.core.invariants import accounting, foreign_rows
from optimizer_pipeline.partitions import CLIENT
from optimizer_pipeline.resources.ads import AdInbox, MetaAdsSource
from optimizer_pipeline.resources.registry import ClientRegistry

PREVIEW_COLUMNS = ["date", "ad_id", "impressions", "clicks", "spend", "conversions", "ctr", "cpa", "flags"]


class AdInboxFiles(dg.Config):
    """Which ad export files a run reads: the list a sensor's run key covers, or (unset) every file."""

    files: list[str] | None = None


def _per_file(files: pd.DataFrame) -> pd.DataFrame:
    cols = ["source_file", "export_format", "rows_read", "accepted", "rejected", "superseded"]
    return files[[c for c in cols if c in files.columns]]


@dg.multi_asset(
    outs={
        "ad_performance": dg.AssetOut(
            description="One row per ad and day (impressions, reach, frequency, link clicks, spend, conversions, "
            "revenue, currency, platform) with CTR, CPM, CPC, CPA, ROAS and CVR (null when undefined); rows with "
            "more conversions than clicks are kept and flagged; a client with decisions.pipeline also gets one count "
            "column per funnel stage (lead, call_booked, ...) after platform. Source: the client's "
            "decisions.ad_source (csv exports in <home>/ad_inbox/<client>/, or the Meta Insights API).",
            kinds=TABLE_KINDS,
        ),
        "ad_performance_rejected": dg.AssetOut(
            description="Export lines (or Insights rows) that could not be used, with file, line and reason.",
            kinds=TABLE_KINDS,
        ),
    },
    check_specs=[
        ACCOUNTING.spec(
            "ad_performance",
            CLIENT,
            "Compares rows read = accepted + rejected, summed over files; accepted = kept + superseded (a later "
            "file's revision of the same ad and day replaces the earlier row).",
        ),
        TENANT_ISOLATION.spec(
            "ad_performance",
            CLIENT,
            "Compares each row's source_file with the files of the client's own ad inbox folder (or its Meta account).",
        ),
    ],
    partitions_def=CLIENT,
    group_name=GROUP,
    code_version="ad-performance-v2",
)
def ad_performance(
    context: dg.AssetExecutionContext,
    config: AdInboxFiles,
    registry: ClientRegistry,
    ad_inbox: AdInbox,
    meta_ads: MetaAdsSource,
) -> Iterator[dg.MaterializeResult]:
    """read = accepted + rejected; kept = accepted - superseded; nothing is dropped without being counted."""
    client_slug = str(context.partition_key)
    settings = registry.load().client(client_slug).decisions
    stages = tuple(s.name for s in settings.pipeline.stages) if settings.pipeline is not None else ()
    if settings.ad_source == "meta":
        until = datetime.now(UTC).date()
        since = until - timedelta(days=meta_ads.lookback_days - 1)
        fetched = meta_ads.fetch(
            client_slug, str(settings.meta_ad_account_id), since, until, settings.conversion_action
        )
        rows, rejected = with_stage_columns(fetched.rows, stages), fetched.rejected  # Insights: first stage only
        source = f"meta:{settings.meta_ad_account_id}"
        own = {source}
        per_file = pd.DataFrame(
            {
                "source_file": [source],
                "export_format": ["meta_insights"],
                "rows_read": [len(rows) + len(rejected)],
                "accepted": [len(rows)],
                "rejected": [len(rejected)],
                "superseded": [0],
            }
        )
        extra = {"meta_requests": fetched.requests, "meta_retries": fetched.retries, "meta_waited_s": fetched.waited_s}
    else:
        try:
            paths = ad_inbox.files(client_slug, config.files)
        except FileNotFoundError as exc:
            raise dg.Failure(description=str(exc)) from exc
        read = read_export_files(paths, stages=stages)
        rows, rejected, per_file = read.rows, read.rejected, read.files
        source = str(ad_inbox.folder(client_slug))
        own = {p.name for p in paths}
        extra = {"inbox": dg.MetadataValue.path(source), "files": len(paths)}
    rows = add_derived_metrics(rows).reset_index(drop=True)
    n_read = int(per_file["rows_read"].sum()) if len(per_file) else 0
    n_accepted = int(per_file["accepted"].sum()) if len(per_file) else 0
    superseded = int(per_file["superseded"].sum()) if "superseded" in per_file and len(per_file) else 0
    counted = accounting(n_read, {"kept": len(rows), "superseded": superseded, "rejected": len(rejected)})
    isolated = foreign_rows(rows["source_file"], own, compared="source_file vs the client's own ad source")
    flagged = int((rows["flags"].astype(str) != "").sum()) if len(rows) else 0
    reasons = rejected["reason"].value_counts().to_dict() if len(rejected) else {}
    pipeline_meta = (
        {
            "stage_counts": dg.MetadataValue.md(
                markdown.counts({s: int(rows[s].sum()) for s in stages}, key="stage", value="prospects")
            )
        }
        if stages
        else {}
    )
    if not n_read:
        status = f"no ad metrics yet ({settings.ad_source} source: {source})"
    elif len(rejected):
        status = f"ok; {len(rejected)} rows set aside"
    else:
        status = "ok"
    context.log.info(
        f"{client_slug}: read {n_read} = kept {len(rows)} + superseded {superseded} + rejected {len(rejected)} "
        f"(accepted {n_accepted})"
    )
    yield dg.MaterializeResult(
        asset_key="ad_performance",
        value=rows,
        metadata=display_metadata(
            {
                "status": status,
                "source": settings.ad_source,
                **extra,
                "read": n_read,
                "rows": len(rows),
                "superseded": superseded,
                "rejected": len(rejected),
                "flagged": flagged,
                "ads": int(rows["ad_id"].nunique()) if len(rows) else 0,
                "first_day": str(rows["date"].min()) if len(rows) else "",
                "last_day": str(rows["date"].max()) if len(rows) else "",
                "impressions": int(rows["impressions"].sum()) if len(rows) else 0,
                "spend": float(rows["spend"].sum()) if len(rows) else 0.0,
                **pipeline_meta,
                "per_file": dg.MetadataValue.md(markdown.table(_per_file(per_file), max_rows=50)),
                "preview": dg.MetadataValue.md(markdown.table(rows[[*PREVIEW_COLUMNS, *stages]], max_rows=10)),
            }
        ),
        check_results=[
            ACCOUNTING.result("ad_performance", counted),
            TENANT_ISOLATION.result("ad_performance", isolated),
        ],
    )
    yield dg.MaterializeResult(
        asset_key="ad_performance_rejected",
        value=rejected,
        metadata=display_metadata(
            {
                "read": n_read,
                "rejected": len(rejected),
                "reasons": dg.MetadataValue.md(markdown.counts(reasons, key="reason", value="rows")),
                "preview": dg.MetadataValue.md(markdown.table(rejected, max_rows=20)),
            }
        ),
    )
