"""``bucket_videos`` [client_hashtag × duration_bucket]: the videos one bucket's analysis will use."""

import dagster as dg
import pandas as pd

from optimizer_pipeline.defs.automation import PROPAGATE
from optimizer_pipeline.defs.checks import ACCOUNTING, ENOUGH_DATA
from optimizer_pipeline.defs.metadata import display_metadata
from optimizer_pipeline.lib.core import markdown
from optimizer_pipeline.lib.core.invariants import accounting, enough_data
from optimizer_pipeline.lib.market.bucket_selection import STATUS_INSUFFICIENT, select_bucket
from optimizer_pipeline.lib.market.downloads import attach_video_files
from optimizer_pipeline.partitions import MARKET_PARTITIONS, partition_dims
from optimizer_pipeline.resources.registry import ClientRegistry
from optimizer_pipeline.resources.videos import VideoStore

PREVIEW_COLUMNS = [
    "video_id",
    "author",
    "engagement_rate",
    "views",
    "performance_tier",
    "creator_tier",
    "download_status",
]
NOT_ANALYSED = "not analysed"


@dg.multi_asset(
    outs={
        "bucket_videos": dg.AssetOut(
            automation_condition=PROPAGATE,
            description="Selected videos of one bucket: quality-filtered, outliers removed, top-N by engagement, "
            "with celebrity weights, creator tiers, performance tiers and local video files.",
            kinds={"parquet", "pandas"},
        ),
        "bucket_videos_excluded": dg.AssetOut(
            automation_condition=PROPAGATE,
            description="Videos of the bucket that were left out, each with its reason.",
            kinds={"parquet", "pandas"},
        ),
    },
    check_specs=[
        ACCOUNTING.spec(
            "bucket_videos",
            MARKET_PARTITIONS,
            "Compares the bucket's tiktok_videos rows (0 for a bucket not analysed) = bucket_videos + "
            "bucket_videos_excluded rows.",
        ),
        ENOUGH_DATA.spec(
            "bucket_videos", MARKET_PARTITIONS, "Fails (WARN) when fewer videos pass the selection than a bucket needs."
        ),
    ],
    partitions_def=MARKET_PARTITIONS,
    group_name="market",
    pool="video_download",
    code_version="bucket-videos-v2",
)
def bucket_videos(
    context: dg.AssetExecutionContext,
    tiktok_videos: pd.DataFrame,
    registry: ClientRegistry,
    video_store: VideoStore,
):
    """Too few videos is a status ("insufficient data"), not a failure; so is a failed download."""
    dims = partition_dims(context)
    bucket = dims["duration_bucket"]
    _, settings = registry.load().lookup(dims["client_hashtag"])
    analysed = bucket in settings.buckets
    sel = select_bucket(
        tiktok_videos if analysed else tiktok_videos.iloc[0:0],
        bucket,
        min_views=settings.min_views,
        min_engagement_rate=settings.min_engagement_rate,
        videos_per_bucket=settings.videos_per_bucket,
        er_scale=settings.outlier_fence_scale,
    )
    status = sel.status if analysed else NOT_ANALYSED
    selected = attach_video_files(
        sel.selected,
        video_store.cache(),
        threads=video_store.download_threads,
        timeout_s=video_store.timeout_s,
        max_bytes=video_store.max_megabytes * 2**20,
        retries=video_store.retries,
    )
    downloads = selected["download_status"].value_counts().to_dict()
    failed = selected[selected["download_status"] == "failed"]
    if len(failed):
        context.log.warning(f"{len(failed)} video file(s) could not be fetched; see download_error")
    context.log.info(f"{dims}: {status}, {len(selected)} selected, {len(sel.excluded)} excluded")
    counted = accounting(sel.counts["in_bucket"], {"selected": len(selected), "excluded": len(sel.excluded)})
    enough = enough_data(
        status,
        {"in_bucket": sel.counts["in_bucket"], "selected": len(selected), "download_failures": len(failed)},
        insufficient=STATUS_INSUFFICIENT,
    )
    yield dg.MaterializeResult(
        asset_key="bucket_videos",
        value=selected,
        metadata=display_metadata(
            {
                "status": status,
                "selected": len(selected),
                "counts": dg.MetadataValue.md(markdown.counts(sel.counts)),
                "performance_tiers": dg.MetadataValue.md(
                    markdown.counts(selected["performance_tier"].value_counts().to_dict(), key="tier", value="videos")
                ),
                "creator_tiers": dg.MetadataValue.md(
                    markdown.counts(selected["creator_tier"].value_counts().to_dict(), key="tier", value="videos")
                ),
                "celebrity_videos": int(selected["is_celebrity"].sum()) if len(selected) else 0,
                "fences": dg.MetadataValue.json({k: float(v) for k, v in sel.thresholds.items()}),
                "downloads": dg.MetadataValue.md(markdown.counts(downloads, key="status", value="videos")),
                "download_failures": len(failed),
                "median_engagement_rate": float(selected["engagement_rate"].median()) if len(selected) else 0.0,
                "preview": dg.MetadataValue.md(markdown.table(selected[PREVIEW_COLUMNS])),
            }
        ),
        check_results=[
            ACCOUNTING.result("bucket_videos", counted),
            ENOUGH_DATA.result("bucket_videos", enough),
        ],
    )
    yield dg.MaterializeResult(
        asset_key="bucket_videos_excluded",
        value=sel.excluded,
        metadata=display_metadata(
            {
                "excluded": len(sel.excluded),
                "preview": dg.MetadataValue.md(markdown.table(sel.excluded)),
            }
        ),
    )
