"""``tiktok_videos`` [client_hashtag]: scrape (or replay) one hashtag, or one competitor's profile, and normalise it
into one table. A competitor partition (``<client>__at-<handle>``) differs only in what the source fetches."""

import dagster as dg

from optimizer_pipeline.defs.checks import ACCOUNTING
from optimizer_pipeline.defs.metadata import display_metadata
from optimizer_pipeline.lib.core import markdown
from optimizer_pipeline.lib.core.invariants import accounting
from optimizer_pipeline.lib.market.normalize import normalize_items
from optimizer_pipeline.partitions import CLIENT_HASHTAG
from optimizer_pipeline.resources.registry import ClientRegistry
from optimizer_pipeline.resources.tiktok import TikTokSource

PREVIEW_COLUMNS = ["video_id", "author", "duration_s", "duration_bucket", "views", "engagement_rate", "created_at"]


@dg.multi_asset(
    outs={
        "tiktok_videos": dg.AssetOut(
            description="Accepted, normalised TikTok videos of one client × hashtag, or of one competitor profile "
            "of the client (one row per video id).",
            kinds={"parquet", "pandas"},
        ),
        "tiktok_videos_rejected": dg.AssetOut(
            description="Scraped items that were not accepted, each with its reason and the raw item.",
            kinds={"parquet", "pandas"},
        ),
    },
    check_specs=[
        ACCOUNTING.spec("tiktok_videos", CLIENT_HASHTAG, "Compares read = tiktok_videos + tiktok_videos_rejected rows.")
    ],
    partitions_def=CLIENT_HASHTAG,
    group_name="market",
    pool="tiktok_api",
    code_version="tiktok-videos-v1",
)
def tiktok_videos(context: dg.AssetExecutionContext, tiktok: TikTokSource, registry: ClientRegistry):
    """Every scraped item ends up in exactly one of the two tables (read = accepted + rejected)."""
    key = context.partition_key
    client, settings = registry.load().lookup(str(key))
    batch = tiktok.fetch(settings)
    result = normalize_items(
        batch.items, source=batch.source, scraped_at=batch.scraped_at, date_cutoff=settings.date_cutoff
    )
    accepted, rejected = result.accepted, result.rejected
    counted = accounting(result.read, {"accepted": len(accepted), "rejected": len(rejected)})
    reasons = rejected["reason"].value_counts().to_dict() if len(rejected) else {}
    buckets = accepted["duration_bucket"].value_counts().reindex(settings.buckets, fill_value=0).to_dict()
    context.log.info(
        f"{key} ({settings.label}): read {result.read} = accepted {len(accepted)} + rejected {len(rejected)}"
        f" ({batch.source})"
    )
    if settings.is_profile:
        target = {"kind": "competitor profile", "competitor": settings.label}
    else:
        target = {"kind": "hashtag", "hashtag": settings.label}
    yield dg.MaterializeResult(
        asset_key="tiktok_videos",
        value=accepted,
        metadata=display_metadata(
            {
                "client": client.name,
                **target,
                "source": batch.source,
                "scraped_at": batch.scraped_at.isoformat(),
                "read": result.read,
                "accepted": len(accepted),
                "rejected": len(rejected),
                "per_bucket": dg.MetadataValue.md(markdown.counts(buckets, key="duration bucket", value="videos")),
                "median_engagement_rate": float(accepted["engagement_rate"].median()) if len(accepted) else 0.0,
                "preview": dg.MetadataValue.md(markdown.table(accepted[PREVIEW_COLUMNS])),
                **batch.metadata,
            }
        ),
        check_results=[ACCOUNTING.result("tiktok_videos", counted)],
    )
    yield dg.MaterializeResult(
        asset_key="tiktok_videos_rejected",
        value=rejected,
        metadata=display_metadata(
            {
                "read": result.read,
                "rejected": len(rejected),
                "reasons": dg.MetadataValue.md(markdown.counts(reasons, key="reason")),
                "preview": dg.MetadataValue.md(
                    markdown.table(rejected[["source_file", "source_row", "video_id", "reason"]])
                ),
            }
        ),
    )
