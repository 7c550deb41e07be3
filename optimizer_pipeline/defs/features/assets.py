"""``video_features`` [client_hashtag × duration_bucket]: one fixed-schema feature row per selected video."""

import dagster as dg
import pandas as pd

from optimizer_pipeline.defs.automation import PROPAGATE
from optimizer_pipeline.defs.checks import ACCOUNTING, FIXED_SCHEMA, NO_NAN
from optimizer_pipeline.defs.metadata import display_metadata
from optimizer_pipeline.lib.core import markdown
from optimizer_pipeline.lib.core.invariants import accounting, fixed_schema, no_nan
from optimizer_pipeline.lib.core.plots import feature_distributions_png, markdown_image
from optimizer_pipeline.lib.features import FEATURE_VERSION, extract_video_features, feature_columns
from optimizer_pipeline.lib.features.runner import FeatureBatchError, run_feature_batch
from optimizer_pipeline.lib.features.table import build_feature_table, jobs_for, quarantine_table, table_columns
from optimizer_pipeline.partitions import MARKET_PARTITIONS, partition_dims
from optimizer_pipeline.resources.features import CreativeLabeler, FeatureStore

PREVIEW_COLUMNS = [
    "video_id",
    "performance_tier",
    "engagement_rate",
    "cuts_per_second",
    "hook_cut_count",
    "has_text_hook",
    "tempo_bpm",
    "pacing_label",
    "hook_type",
    "label_source",
]
PLOT_COLUMNS = ["cuts_per_second", "hook_cut_count", "tempo_bpm", "brightness_mean", "motion_mean", "text_share"]


@dg.multi_asset(
    outs={
        "video_features": dg.AssetOut(
            automation_condition=PROPAGATE,
            description="One row per selected video: visual, audio, timeline and hook features plus semantic labels "
            "(fixed schema; absent things are 0 with a has_* flag).",
            kinds={"parquet", "pandas", "opencv"},
        ),
        "video_features_quarantine": dg.AssetOut(
            automation_condition=PROPAGATE,
            description="Selected videos without features (failed download or unusable file), with the reason.",
            kinds={"parquet", "pandas"},
        ),
    },
    check_specs=[
        ACCOUNTING.spec(
            "video_features",
            MARKET_PARTITIONS,
            "Compares bucket_videos rows = video_features + video_features_quarantine rows.",
        ),
        FIXED_SCHEMA.spec("video_features", MARKET_PARTITIONS, "Schema: lib/features/table.py::table_columns."),
        NO_NAN.spec(
            "video_features", MARKET_PARTITIONS, "Columns: lib/features/dictionary.py::feature_columns (numeric ones)."
        ),
    ],
    partitions_def=MARKET_PARTITIONS,
    group_name="features",
    pool="feature_extraction",
    code_version=FEATURE_VERSION,
)
def video_features(
    context: dg.AssetExecutionContext,
    bucket_videos: pd.DataFrame,
    feature_store: FeatureStore,
    labeler: CreativeLabeler,
):
    """Checkpointed per video: a rerun, or a run killed midway and restarted, recomputes no finished video."""
    dims = partition_dims(context)
    jobs = jobs_for(bucket_videos)
    cache_dir = feature_store.cache_dir()
    try:
        result = run_feature_batch(
            jobs,
            extractor=extract_video_features,
            cache_dir=cache_dir,
            feature_version=FEATURE_VERSION,
            labeler=labeler.labeler(cache_dir),
            progress=context.log.info,
            max_failure_share=feature_store.max_failure_share,
            workers=feature_store.workers,
        )
    except FeatureBatchError as exc:
        listing = "\n".join(f"- {f['video_id']}: {f['reason']}" for f in exc.failures)
        raise dg.Failure(
            description=f"{len(exc.failures)} of {exc.total} videos failed feature extraction, more than the "
            f"{feature_store.max_failure_share:.0%} allowed:\n{listing}",
            metadata={"failures": dg.MetadataValue.md(listing)},
        ) from exc
    table = build_feature_table(bucket_videos, result.rows)
    quarantine = quarantine_table(bucket_videos, result.quarantined)
    context.log.info(
        f"{dims}: {len(table)} videos with features ({result.computed} computed, {result.cached} from cache), "
        f"{len(quarantine)} quarantined"
    )
    cost = float(pd.to_numeric(table["label_cost_usd"], errors="coerce").fillna(0).sum()) if len(table) else 0.0
    metadata = {
        "videos": len(table),
        "computed": result.computed,
        "from_cache": result.cached,
        "quarantined": len(quarantine),
        "elapsed_s": result.elapsed_s,
        "feature_version": FEATURE_VERSION,
        "label_sources": dg.MetadataValue.md(markdown.counts(table["label_source"].value_counts().to_dict())),
        "label_cost_usd": round(cost, 6),
        "pacing": dg.MetadataValue.md(markdown.counts(table["pacing_label"].value_counts().to_dict())),
        "preview": dg.MetadataValue.md(markdown.table(table[PREVIEW_COLUMNS])),
    }
    if len(table):
        png = feature_distributions_png(table, PLOT_COLUMNS, by="performance_tier")
        metadata["distributions"] = dg.MetadataValue.md(markdown_image(png, "feature distributions by tier"))
    counted = accounting(len(bucket_videos), {"with_features": len(table), "quarantined": len(quarantine)})
    checks = [
        ACCOUNTING.result("video_features", counted),
        FIXED_SCHEMA.result("video_features", fixed_schema(table, table_columns())),
        NO_NAN.result("video_features", no_nan(table, feature_columns())),
    ]
    yield dg.MaterializeResult(
        asset_key="video_features", value=table, metadata=display_metadata(metadata), check_results=checks
    )
    yield dg.MaterializeResult(
        asset_key="video_features_quarantine",
        value=quarantine,
        metadata=display_metadata(
            {"quarantined": len(quarantine), "preview": dg.MetadataValue.md(markdown.table(quarantine))}
        ),
    )
