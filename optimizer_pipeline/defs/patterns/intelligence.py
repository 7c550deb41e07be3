"""``bucket_intelligence`` [client_hashtag]: thin wiring around ``lib/patterns/intelligence.py``.

Reads every bucket of the hashtag (2-D ``client_hashtag × duration_bucket`` → 1-D ``client_hashtag``: the inferred
mapping loads a dict keyed by multi-partition key strings), both the selected videos and the excluded ones: the
"below top-N" rows join the engagement comparison, so a bucket with more candidates does not look better."""

import dagster as dg
import pandas as pd

from optimizer_pipeline.defs.automation import PROPAGATE
from optimizer_pipeline.defs.checks import CHECKED_VALUE, ENOUGH_DATA
from optimizer_pipeline.defs.metadata import display_metadata
from optimizer_pipeline.lib.core import markdown
from optimizer_pipeline.lib.core.invariants import enough_data
from optimizer_pipeline.lib.core.plots import markdown_image
from optimizer_pipeline.lib.patterns.intelligence import INSUFFICIENT, VERDICTS, bucket_ranking, engagement_bars_png
from optimizer_pipeline.partitions import CLIENT_HASHTAG, by_bucket

INTELLIGENCE_CODE_VERSION = "bucket-intelligence-v2"
TABLE_COLUMNS = [
    "rank",
    "duration_bucket",
    "verdict",
    "recommended_share",
    "videos_compared",
    "creators_compared",
    "geo_mean_engagement_rate",
    "ci_low",
    "ci_high",
    "ratio_to_rest",
    "p_adjusted",
    "median_engagement_rate",
    "q3_q1_ratio",
    "creators_above_median",
    "strong_claims",
    "moderate_claims",
    "model_beats_baseline",
]


@dg.asset(
    automation_condition=PROPAGATE,
    partitions_def=CLIENT_HASHTAG,
    check_specs=[
        ENOUGH_DATA.spec(
            "bucket_intelligence",
            CLIENT_HASHTAG,
            'Fails (WARN) when any duration bucket gets the "insufficient data" verdict.',
        )
    ],
    dagster_type=CHECKED_VALUE,
    group_name="patterns",
    code_version=INTELLIGENCE_CODE_VERSION,
    kinds={"parquet", "pandas", "scipy"},
)
def bucket_intelligence(
    context: dg.AssetExecutionContext,
    bucket_videos: dict[str, pd.DataFrame],
    bucket_videos_excluded: dict[str, pd.DataFrame],
    bucket_patterns: dict[str, pd.DataFrame],
    bucket_model: dict[str, pd.DataFrame],
) -> dg.MaterializeResult:
    """Duration buckets ranked by geometric-mean engagement rate over every quality-passed video (selected and
    below top-N) with creator-clustered 95 % CIs, consistency, pattern claims, model verdict, a prioritise /
    maintain / test more / deprioritise / insufficient data verdict (each bucket against the rest of the hashtag,
    Holm-adjusted across buckets) and a recommended content mix (Monte-Carlo probability of being the best bucket
    plus 10 % exploration). Rules: ``lib/patterns/intelligence.py``."""
    table = bucket_ranking(
        by_bucket(bucket_videos),
        by_bucket(bucket_patterns),
        by_bucket(bucket_model),
        excluded=by_bucket(bucket_videos_excluded),
        seed=0,
    )
    counts = table["verdict"].value_counts().to_dict()
    verdict_counts = {v: int(counts.get(v, 0)) for v in VERDICTS}
    top = "\n".join(
        f"- **{r.duration_bucket}** ({r.top_pattern_evidence}): {markdown.escape(r.top_pattern)}"
        if r.top_pattern
        else f"- **{r.duration_bucket}**: no claim"
        for r in table.itertuples()
    )
    mix = {r.duration_bucket: round(float(r.recommended_share), 3) for r in table.itertuples()}
    metadata = {
        "rows": len(table),
        "hashtag_geo_mean_engagement_rate": float(table.attrs.get("hashtag_geo_mean_engagement_rate", float("nan"))),
        "videos_compared": int(table["videos_compared"].sum()),
        "videos_without_creator": int(table.attrs.get("videos_without_creator", 0)),
        "best_bucket": str(table["duration_bucket"].iloc[0]) if len(table) else "",
        "ranking": dg.MetadataValue.md(markdown.table(table[TABLE_COLUMNS])),
        "top_patterns": dg.MetadataValue.md(top or "no buckets"),
        "verdicts": dg.MetadataValue.md(markdown.counts(verdict_counts, key="verdict", value="buckets")),
        "verdict_counts": dg.MetadataValue.json(verdict_counts),
        "content_mix": dg.MetadataValue.json(mix),
        "engagement_chart": dg.MetadataValue.md(
            markdown_image(engagement_bars_png(table), alt="geometric-mean ER per bucket")
        ),
    }
    context.log.info(f"{context.partition_key}: {verdict_counts}; mix {mix}")
    thin = table[table["verdict"] == INSUFFICIENT]
    status = (
        f"{INSUFFICIENT}: " + ", ".join(f"{r.duration_bucket} ({r.videos} videos)" for r in thin.itertuples())
        if len(thin)
        else "ok"
    )
    enough = enough_data(status, {"buckets": len(table), **verdict_counts}, insufficient=INSUFFICIENT)
    return dg.MaterializeResult(
        value=table,
        metadata=display_metadata(metadata),
        check_results=[ENOUGH_DATA.result("bucket_intelligence", enough)],
    )
