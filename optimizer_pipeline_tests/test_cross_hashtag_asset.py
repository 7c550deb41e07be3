"""``cross_hashtag_patterns`` through Dagster: upstream Parquet files written in the IO manager's layout, the sample
registry (glowfuel: hashtags nutrition and mealprep, competitors greenbites and preppro)."""

import re
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from optimizer_pipeline.cli.materialize import materialization_metadata
from optimizer_pipeline.defs.patterns.cross_hashtag import cross_hashtag_patterns
from optimizer_pipeline.lib.core.buckets import DURATION_BUCKETS
from optimizer_pipeline.lib.patterns.cross_hashtag import CROSS_COLUMNS
from optimizer_pipeline.lib.patterns.evidence import PATTERN_COLUMNS
from optimizer_pipeline.lib.registry.clients import SAMPLE_CLIENTS_FILE, load_registry
from optimizer_pipeline.resources.parquet_io import ParquetIOManager
from optimizer_pipeline.resources.registry import ClientRegistry

CLIENT = "glowfuel"


def write(home: Path, asset: str, key: str, bucket: str, df: pd.DataFrame) -> None:
    path = home / "data" / asset / key / f"{bucket}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False)


def pattern_rows(bucket: str, claims: dict[str, str]) -> pd.DataFrame:
    rows = [
        {c: None for c in PATTERN_COLUMNS}
        | {
            "feature": feature,
            "duration_bucket": bucket,
            "evidence": evidence,
            "direction": "higher",
            "q_value": 0.01,
            "lift": 2.0,
            "sentence": f"{feature} wins",
        }
        for feature, evidence in claims.items()
    ]
    return pd.DataFrame(rows, columns=list(PATTERN_COLUMNS)).astype(
        {"feature": str, "evidence": str, "direction": str, "sentence": str, "q_value": float, "lift": float}
    )


def seed(home: Path, *, skip: set[tuple[str, str]] = frozenset()) -> None:
    """nutrition claims hook + music in every bucket, mealprep only hook; competitors claim 'competitor_only'."""
    client = load_registry(SAMPLE_CLIENTS_FILE).client(CLIENT)
    for settings in client.sources:
        key = client.key_for(settings)
        for bucket in settings.buckets:
            if (settings.tag, bucket) in skip:
                continue
            if settings.is_profile:
                claims = {"competitor_only": "STRONG"}
            elif settings.tag == "nutrition":
                claims = {"hook": "STRONG", "music": "MODERATE"}
            else:
                claims = {"hook": "MODERATE", "music": "none"}
            write(home, "bucket_patterns", key, bucket, pattern_rows(bucket, claims))
            er = 0.05 if settings.tag == "nutrition" else 0.02
            write(
                home, "bucket_videos", key, bucket, pd.DataFrame({"video_id": ["a", "b"], "engagement_rate": [er] * 2})
            )


def run(tmp_path: Path) -> tuple[pd.DataFrame, dict]:
    registry = load_registry(SAMPLE_CLIENTS_FILE)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("client", registry.client_keys())
        instance.add_dynamic_partitions("client_hashtag", registry.client_hashtag_keys())
        io = ParquetIOManager(home=str(tmp_path))
        result = dg.materialize(
            [cross_hashtag_patterns],
            partition_key=CLIENT,
            instance=instance,
            resources={"io_manager": io, "registry": ClientRegistry(path=str(SAMPLE_CLIENTS_FILE))},
        )
        assert result.success
        metadata = materialization_metadata(result)["cross_hashtag_patterns"]
    table = pd.read_parquet(tmp_path / "data" / "cross_hashtag_patterns" / f"{CLIENT}.parquet")
    return table, metadata


def test_universal_and_specific_patterns_of_the_sample_client(tmp_path):
    seed(tmp_path)
    table, metadata = run(tmp_path)
    assert list(table.columns) == list(CROSS_COLUMNS)
    buckets = load_registry(SAMPLE_CLIENTS_FILE).client(CLIENT).hashtags[1].buckets
    assert set(table["feature"]) == {"hook", "music"}  # competitor profiles are not read
    hook = table[table["feature"] == "hook"]
    assert set(hook["scope"]) == {"universal"} and set(hook["hashtags"]) == {"nutrition, mealprep"}
    music = table[table["feature"] == "music"]
    assert set(music["scope"]) == {"hashtag-specific"} and set(music["hashtags"]) == {"nutrition"}
    assert len(hook) == len(buckets) and set(hook["duration_bucket"]) <= set(DURATION_BUCKETS)
    assert metadata["status"] == "ok"
    assert metadata["rows"] == len(table)
    assert metadata["universal"] == len(hook) and metadata["hashtag_specific"] == len(music)
    assert "hook" in metadata["universal_patterns"] and "music" not in metadata["universal_patterns"]
    assert "nutrition" in metadata["performance"] and "mealprep" in metadata["performance"]
    assert metadata["heatmap"].startswith("![") and "data:image/png;base64," in metadata["heatmap"]


def test_missing_partitions_are_a_partial_status(tmp_path):
    seed(tmp_path, skip={("mealprep", "0-15s")})
    table, metadata = run(tmp_path)
    assert re.match(r"partial: 1 of \d+ bucket_patterns partition\(s\) not materialised", metadata["status"])
    assert "glowfuel__mealprep|0-15s" in metadata["missing"]
    first = table[table["duration_bucket"] == "0-15s"]
    assert set(first["scope"]) == {"single hashtag"}


@pytest.mark.parametrize("asset", ["bucket_patterns", "bucket_videos"])
def test_lineage_declares_both_upstreams(asset):
    spec = next(iter(cross_hashtag_patterns.specs))
    assert dg.AssetKey(asset) in {dep.asset_key for dep in spec.deps}
