"""``bucket_intelligence`` through ``dagster.materialize``: planted upstream bucket assets (same keys as the real
ones) written to a temporary Parquet IO manager, then the 1-D asset reads every bucket of the hashtag."""

import dagster as dg
import numpy as np
import pandas as pd

from optimizer_pipeline.defs.patterns.intelligence import bucket_intelligence
from optimizer_pipeline.lib.core.buckets import DURATION_BUCKETS
from optimizer_pipeline.lib.market.bucket_selection import EXCLUDED_BELOW_TOP_N, EXCLUDED_ER_OUTLIER
from optimizer_pipeline.lib.patterns.intelligence import DEPRIORITISE, INSUFFICIENT, INTELLIGENCE_COLUMNS, PRIORITISE
from optimizer_pipeline.partitions import MARKET_PARTITIONS, market_key, partition_dims
from optimizer_pipeline.resources.parquet_io import ParquetIOManager

CH = "glowfuel__nutrition"
#: bucket → (videos, geometric-mean ER): 16-30s is 2x, 61-90s half, 91-120s tiny.
PLANT = {"0-15s": (50, 0.05), "16-30s": (50, 0.10), "31-60s": (50, 0.05), "61-90s": (50, 0.025), "91-120s": (6, 0.2)}
#: 0-15s had 250 more candidates below its top 50 (same distribution: its top 50 alone would look like a winner).
BELOW_TOP_N = {"0-15s": 250}


def _bucket(context: dg.AssetExecutionContext) -> str:
    return partition_dims(context)["duration_bucket"]


def _engagement(bucket: str) -> np.ndarray:
    """Every candidate's ER, best first: the top ``PLANT`` rows are selected, the rest are below top-N."""
    n, gm = PLANT[bucket][0] + BELOW_TOP_N.get(bucket, 0), PLANT[bucket][1]
    rng = np.random.default_rng(DURATION_BUCKETS.index(bucket))
    return np.sort(np.exp(np.log(gm) + rng.normal(0, 0.3, n)))[::-1]


@dg.asset(name="bucket_videos", partitions_def=MARKET_PARTITIONS)
def planted_videos(context: dg.AssetExecutionContext) -> pd.DataFrame:
    bucket = _bucket(context)
    n = PLANT[bucket][0]
    return pd.DataFrame(
        {
            "video_id": [f"{bucket}-{i}" for i in range(n)],
            "author": [f"c{i % 8}" for i in range(n)],
            "engagement_rate": _engagement(bucket)[:n],
            "sample_weight": np.where(np.arange(n) % 10 == 0, 0.5, 1.0),
            "performance_tier": "middle",
        }
    )


@dg.asset(name="bucket_videos_excluded", partitions_def=MARKET_PARTITIONS)
def planted_excluded(context: dg.AssetExecutionContext) -> pd.DataFrame:
    bucket = _bucket(context)
    below = _engagement(bucket)[PLANT[bucket][0] :]
    rows = pd.DataFrame(
        {
            "video_id": [f"{bucket}-x{i}" for i in range(len(below))],
            "reason": EXCLUDED_BELOW_TOP_N,
            "engagement_rate": below,
            "views": 5000,
            "author": [f"c{i}" for i in np.random.default_rng(1).integers(8, size=len(below))],
        }
    )
    if not len(below):
        return rows
    outlier = pd.DataFrame(
        {"video_id": [f"{bucket}-o"], "reason": [EXCLUDED_ER_OUTLIER], "engagement_rate": [0.4], "views": [5000]}
    )
    return pd.concat([rows, outlier], ignore_index=True)


@dg.asset(name="bucket_patterns", partitions_def=MARKET_PARTITIONS)
def planted_patterns(context: dg.AssetExecutionContext) -> pd.DataFrame:
    bucket = _bucket(context)
    return pd.DataFrame(
        {
            "feature": ["hook_strength", "cut_rate"],
            "evidence": ["STRONG" if bucket == "16-30s" else "EMERGING", "none"],
            "direction": ["higher", "lower"],
            "sentence": [f"strong hooks win in {bucket}", ""],
            "q_value": [0.004, 0.7],
        }
    )


@dg.asset(name="bucket_model", partitions_def=MARKET_PARTITIONS)
def planted_model(context: dg.AssetExecutionContext) -> pd.DataFrame:
    bucket = _bucket(context)
    ok = PLANT[bucket][0] >= 20
    return pd.DataFrame(
        {
            "model": ["ridge"],
            "r2": [0.2 if ok else np.nan],
            "baseline_r2": [0.0],
            "status": ["ok" if ok else "insufficient data"],
            "beats_baseline": [bucket == "16-30s"],
            "cv_scheme": ["group_kfold"],
        }
    )


def test_bucket_intelligence_materialises(tmp_path):
    assets = [planted_videos, planted_excluded, planted_patterns, planted_model, bucket_intelligence]
    resources = {"io_manager": ParquetIOManager(home=str(tmp_path))}
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("client_hashtag", [CH])
        for bucket in DURATION_BUCKETS:
            upstream = dg.materialize(
                assets,
                selection=["bucket_videos", "bucket_videos_excluded", "bucket_patterns", "bucket_model"],
                partition_key=market_key(CH, bucket),
                instance=instance,
                resources=resources,
            )
            assert upstream.success
        result = dg.materialize(
            assets, selection=["bucket_intelligence"], partition_key=CH, instance=instance, resources=resources
        )
        assert result.success
        table = result.output_for_node("bucket_intelligence")
        stored = pd.read_parquet(tmp_path / "data" / "bucket_intelligence" / f"{CH}.parquet")
        (event,) = result.get_asset_materialization_events()
    metadata = event.materialization.metadata
    assert list(table.columns) == list(INTELLIGENCE_COLUMNS)
    assert list(stored["duration_bucket"]) == list(table["duration_bucket"])
    by = table.set_index("duration_bucket")
    assert table["duration_bucket"].iloc[0] == "16-30s"
    assert by.loc["16-30s", "verdict"] == PRIORITISE
    assert by.loc["61-90s", "verdict"] == DEPRIORITISE
    assert by.loc["91-120s", "verdict"] == INSUFFICIENT and by.loc["91-120s", "rank"] == 5
    assert by.loc["0-15s", "videos"] == 50 and by.loc["0-15s", "videos_compared"] == 301  # with its outlier
    # its top 50 alone would beat the hashtag ~1.3x; all 300 are level with the rest (which holds the 0.2 tiny bucket)
    assert by.loc["0-15s", "verdict"] != PRIORITISE and 0.9 < by.loc["0-15s", "ratio_to_rest"] < 1.02
    assert metadata["videos_compared"].value == 301 + 50 * 3 + 6
    assert by.loc["16-30s", "top_pattern"] == "strong hooks win in 16-30s"
    assert abs(table["recommended_share"].sum() - 1) < 1e-9
    assert by["recommended_share"].idxmax() == "16-30s"
    for key in ("rows", "ranking", "top_patterns", "verdicts", "verdict_counts", "content_mix", "engagement_chart"):
        assert key in metadata, key
    assert metadata["rows"].value == 5
    assert metadata["best_bucket"].value == "16-30s"
    assert metadata["verdict_counts"].value[INSUFFICIENT] == 1
    assert metadata["engagement_chart"].value.startswith("![")
    assert "data:image/png;base64," in metadata["engagement_chart"].value
