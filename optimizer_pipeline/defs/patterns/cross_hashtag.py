"""``cross_hashtag_patterns`` [client]: per duration bucket, which patterns hold across the client's hashtags
(universal: claimed in >= 80 % of the analysed hashtags) and which are hashtag-specific, plus how differently the
hashtags perform (variance, best / worst hashtag, a hashtag × bucket heatmap).

Thin wiring around ``lib/patterns/cross_hashtag.py``. Only the client's hashtags are read, not its competitor profiles.
``bucket_patterns`` and ``bucket_videos`` are partitioned by client_hashtag × duration_bucket and no built-in
mapping selects "this client's hashtags", so the dependencies are declared with ``AllPartitionMapping`` (lineage)
and the asset loads exactly the registry's hashtag × bucket keys through the IO manager, as
``competitor_hashtag_strategy`` does.
"""

import dagster as dg
import pandas as pd

from optimizer_pipeline.defs.automation import client_rollup
from optimizer_pipeline.defs.checks import CHECKED_VALUE, TENANT_ISOLATION
from optimizer_pipeline.defs.metadata import display_metadata
from optimizer_pipeline.lib.core import markdown
from optimizer_pipeline.lib.core.invariants import foreign_rows
from optimizer_pipeline.lib.core.plots import markdown_image
from optimizer_pipeline.lib.patterns.cross_hashtag import (
    SCOPE_SINGLE,
    SCOPE_SPECIFIC,
    SCOPE_UNIVERSAL,
    engagement_matrix,
    heatmap_png,
    performance_summary,
)
from optimizer_pipeline.lib.patterns.cross_hashtag import (
    cross_hashtag_patterns as find_cross_patterns,
)
from optimizer_pipeline.partitions import CLIENT, CLIENT_HASHTAG, MARKET_PARTITIONS, market_key
from optimizer_pipeline.resources.parquet_io import load_stored
from optimizer_pipeline.resources.registry import ClientRegistry

CODE_VERSION = "cross-hashtag-patterns-v1"
UPSTREAM = ("bucket_patterns", "bucket_videos")
UNIVERSAL_PREVIEW = ["duration_bucket", "feature", "direction", "hashtags_claimed", "hashtags_analysed"]
UNIVERSAL_PREVIEW += ["best_evidence", "median_lift", "sentence"]
PERFORMANCE_PREVIEW = ["duration_bucket", "hashtags", "log_er_variance", "best_hashtag", "best_median_er"]
PERFORMANCE_PREVIEW += ["worst_hashtag", "worst_median_er", "best_worst_ratio"]


def _status(hashtags: int, expected: int, missing: dict[str, list[str]], unregistered: list[str]) -> str:
    if hashtags == 0:
        return "no hashtags in the registry"
    if expected == 0:
        return "no hashtag partition registered (run `optimizer-pipeline registry sync` or the sensor)"
    parts = []
    if unregistered:
        parts.append(f"{len(unregistered)} hashtag partition(s) not registered ({', '.join(unregistered)})")
    for asset, keys in missing.items():
        if keys:
            parts.append(f"{len(keys)} of {expected} {asset} partition(s) not materialised")
    if all(len(keys) == expected for keys in missing.values()) and expected:
        return "no hashtag data: materialise bucket_patterns and bucket_videos first"
    return "partial: " + "; ".join(parts) if parts else "ok"


@dg.asset(
    automation_condition=client_rollup("bucket_patterns"),
    partitions_def=CLIENT,
    check_specs=[
        TENANT_ISOLATION.spec(
            "cross_hashtag_patterns",
            CLIENT,
            "The table has no client column: compares every hashtag a row lists (its hashtags column) with the "
            "client's own hashtags in the registry (competitor profiles are not the client's hashtags).",
        )
    ],
    dagster_type=CHECKED_VALUE,
    deps=[dg.AssetDep(asset, partition_mapping=dg.AllPartitionMapping()) for asset in UPSTREAM],
    group_name="patterns",
    kinds={"parquet", "pandas"},
    code_version=CODE_VERSION,
    description="One row per (duration bucket, feature, direction) claimed (STRONG / MODERATE) in at least one of "
    "the client's hashtags: hashtags claimed / analysed, share, scope (universal >= 80 %, hashtag-specific, single "
    "hashtag), hashtags, best evidence, median lift, sentence. Metadata: per-bucket performance spread across "
    "hashtags and a hashtag × bucket engagement heatmap. Competitor profiles are not read.",
)
def cross_hashtag_patterns(
    context: dg.AssetExecutionContext,
    registry: ClientRegistry,
    io_manager: dg.ResourceParam[dg.IOManager],
) -> dg.MaterializeResult:
    """Missing upstream partitions are a status in the metadata ("partial: ..."), not a failure."""
    client = registry.load().client(str(context.partition_key))
    patterns: dict[tuple[str, str], pd.DataFrame | None] = {}
    videos: dict[tuple[str, str], pd.DataFrame | None] = {}
    missing: dict[str, list[str]] = {asset: [] for asset in UPSTREAM}
    unregistered: list[str] = []
    expected = 0
    for settings in client.hashtags:
        key = client.key_for(settings)
        if not context.instance.has_dynamic_partition(CLIENT_HASHTAG.name, key):
            unregistered.append(key)
            continue
        for bucket in settings.buckets:
            expected += 1
            for asset, store in (("bucket_patterns", patterns), ("bucket_videos", videos)):
                df = load_stored(context, io_manager, asset, market_key(key, bucket), MARKET_PARTITIONS)
                store[(settings.tag, bucket)] = df
                if df is None:
                    missing[asset].append(f"{key}|{bucket}")
    table = find_cross_patterns(patterns)
    performance = performance_summary(videos)
    matrix = engagement_matrix(videos)
    status = _status(len(client.hashtags), expected, missing, unregistered)
    if status != "ok":
        context.log.warning(f"{client.slug}: {status}")
    scopes = table["scope"].value_counts().to_dict() if len(table) else {}
    universal = table[table["scope"] == SCOPE_UNIVERSAL]
    metadata = {
        "client": client.name,
        "status": status,
        "hashtags": len(client.hashtags),
        "rows": len(table),
        "universal": int(scopes.get(SCOPE_UNIVERSAL, 0)),
        "hashtag_specific": int(scopes.get(SCOPE_SPECIFIC, 0)),
        "single_hashtag": int(scopes.get(SCOPE_SINGLE, 0)),
        "universal_patterns": dg.MetadataValue.md(
            markdown.table(universal[UNIVERSAL_PREVIEW], max_rows=30) if len(universal) else "no universal pattern"
        ),
        "performance": dg.MetadataValue.md(markdown.table(performance[PERFORMANCE_PREVIEW])),
    }
    if matrix.notna().to_numpy().any():
        png = heatmap_png(matrix, title=f"{client.name}: median engagement rate by hashtag and bucket")
        metadata["heatmap"] = dg.MetadataValue.md(markdown_image(png, "hashtag × bucket median engagement rate"))
    else:
        metadata["heatmap"] = dg.MetadataValue.md("no bucket_videos data")
    if any(missing.values()):
        metadata["missing"] = dg.MetadataValue.md("\n".join(f"- {a}: {', '.join(k)}" for a, k in missing.items() if k))
    context.log.info(f"{client.slug}: {status}; {scopes}")
    own = [h.tag for h in client.hashtags]
    isolated = foreign_rows(table["hashtags"], own, compared="hashtags vs the client's hashtags", separator=",")
    return dg.MaterializeResult(
        value=table,
        metadata=display_metadata(metadata),
        check_results=[TENANT_ISOLATION.result("cross_hashtag_patterns", isolated)],
    )
