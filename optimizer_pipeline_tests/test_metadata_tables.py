"""What the Dagster UI shows is what the data says: the metadata tables of the assets whose rows carry pattern ids
(``hook:…|emo:…``), rendered with a Markdown parser and compared cell by cell with the Parquet behind them, and the
``bucket_patterns`` preview showing which comparison its effect comes from.

Materialised in process with small inputs: the sample client's set-up (creatives, influencers, traffic_sources),
a generated inbox through conversion_events → test_recommendations, and ``bucket_patterns`` on synthetic features.
"""

from __future__ import annotations

import math
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from optimizer_pipeline.cli.materialize import materialization_metadata
from optimizer_pipeline.defs.patterns.assets import bucket_patterns
from optimizer_pipeline.defs.testloop.creatives import creatives
from optimizer_pipeline.defs.testloop.influencers import PREVIEW_COLUMNS as INFLUENCER_PREVIEW
from optimizer_pipeline.defs.testloop.influencers import influencers
from optimizer_pipeline.defs.testloop.traffic_sources import traffic_sources
from optimizer_pipeline.lib.core.atomic_files import write_parquet_atomic
from optimizer_pipeline.lib.core.buckets import DURATION_BUCKETS
from optimizer_pipeline.lib.registry.clients import SAMPLE_CLIENTS_FILE
from optimizer_pipeline.lib.sample.events import generate_events, write_inbox_batch
from optimizer_pipeline.lib.testloop.creatives import active_creatives
from optimizer_pipeline.partitions import MARKET_PARTITIONS, market_key
from optimizer_pipeline.resources.influencer_status import InfluencerStatusLog
from optimizer_pipeline.resources.parquet_io import ParquetIOManager, asset_path
from optimizer_pipeline.resources.pii import PiiVault
from optimizer_pipeline.resources.registry import ClientRegistry
from optimizer_pipeline_tests.markdown_tables import (
    assert_table_matches,
    assert_well_formed,
    rendered_tables,
    table_rows,
)
from optimizer_pipeline_tests.test_testloop_runtime import START, Loop, traffic_table

CH = "acme__fitness"


def markdown_values(metadata: dict[str, dict]) -> dict[str, str]:
    """``asset/key`` → every metadata text that holds a Markdown table."""
    return {
        f"{asset}/{key}": value
        for asset, values in metadata.items()
        for key, value in values.items()
        if (isinstance(value, str) and "\n|:" in value) or (isinstance(value, str) and "\n|-" in value)
    }


def assert_floats_rounded(metadata: dict[str, object]) -> None:
    """Float metadata keeps at most 4 significant digits (its integer part when larger)."""
    for key, value in metadata.items():
        if isinstance(value, float) and math.isfinite(value) and value != 0:
            digits = f"{abs(value):.15g}".split("e")[0].replace(".", "").strip("0")
            assert len(digits) <= max(4, len(str(int(abs(value))))), (key, value)


@pytest.fixture(scope="module")
def setup_run(tmp_path_factory) -> tuple[Path, dict[str, dict]]:
    home = tmp_path_factory.mktemp("setup_tables")
    res = {
        "io_manager": ParquetIOManager(home=str(home)),
        "registry": ClientRegistry(path=str(SAMPLE_CLIENTS_FILE)),
        "pii": PiiVault(home=str(home), key="sample test passphrase, long enough"),
        "status_log": InfluencerStatusLog(home=str(home)),
    }
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions("client", ["glowfuel"])
        result = dg.materialize(
            [creatives, influencers, traffic_sources], partition_key="glowfuel", instance=inst, resources=res
        )
        assert result.success
        yield home, materialization_metadata(result)


@pytest.fixture(scope="module")
def runtime_run(tmp_path_factory):
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions("client", ["acme"])
        loop = Loop(tmp_path_factory.mktemp("runtime_tables"), inst, traffic_table())
        files, _ = generate_events(traffic_table(), seed=5, visitors_per_source=60, start=START, days=10)
        write_inbox_batch(loop.inbox, files)
        yield loop, loop.run()


def stored(home: Path, asset: str, key: str) -> pd.DataFrame:
    return pd.read_parquet(home / "data" / asset / f"{key}.parquet")


def test_setup_tables_show_the_stored_rows(setup_run):
    home, meta = setup_run
    for text in markdown_values(meta).values():
        assert_well_formed(text)
    cr = stored(home, "creatives", "glowfuel")
    assert cr["pattern_hash"].dropna().str.contains("|", regex=False).all()  # null while a tag is missing
    assert assert_table_matches(meta["creatives"]["preview"], cr) == min(len(cr), 30)
    active = active_creatives(cr)["pattern_hash"].value_counts()
    shown = {pattern: int(n) for pattern, n in table_rows(meta["creatives"]["active_per_pattern"])}
    assert shown == active.to_dict()
    ts = stored(home, "traffic_sources", "glowfuel")
    assert assert_table_matches(meta["traffic_sources"]["preview"], ts) == min(len(ts), 20)
    shown = {pattern: int(n) for pattern, n in table_rows(meta["traffic_sources"]["per_pattern"])}
    assert shown == ts["pattern_hash"].value_counts().to_dict()
    roster = stored(home, "influencers", "glowfuel")
    assert rendered_tables(meta["influencers"]["preview"])[0][0] == list(INFLUENCER_PREVIEW)
    assert assert_table_matches(meta["influencers"]["preview"], roster) == min(len(roster), 20)
    for values in meta.values():
        assert_floats_rounded(values)


def test_posteriors_and_recommendations_show_the_stored_rows(runtime_run):
    """Before the fix, the posteriors table showed "pain:budget" under ``mean`` and cut ids at 60 characters."""
    loop, meta = runtime_run
    for text in markdown_values(meta).values():
        assert_well_formed(text)
    posteriors = loop.table("pattern_posteriors")
    assert posteriors["pattern_hash"].str.contains("|", regex=False).all()
    shown = assert_table_matches(meta["pattern_posteriors"]["preview"], posteriors, key="pattern_hash")
    assert shown == min(len(posteriors), 20)
    recommendations = loop.table("test_recommendations")
    shown = assert_table_matches(meta["test_recommendations"]["recommendations"], recommendations, key="pattern_hash")
    assert shown == min(len(recommendations), 50)
    events = loop.table("conversion_events")
    assert assert_table_matches(meta["conversion_events"]["preview"], events) == min(len(events), 10)


def features(bucket: str, rng: np.random.Generator, n: int = 60) -> pd.DataFrame:
    """A bucket where a text hook is rare in the bottom tier only: its strongest comparison is bottom vs middle, so
    the effect shown is negative while the pattern's direction is "higher"."""
    rank = np.arange(n)
    return pd.DataFrame(
        {
            "video_id": [f"{bucket}-{i:03d}" for i in range(n)],
            "author": [f"creator{i % 20}" for i in range(n)],
            "engagement_rate": np.sort(rng.lognormal(-3.0, 0.5, n))[::-1],
            "has_text_hook": np.where(rank >= int(0.7 * n), rng.random(n) < 0.1, rng.random(n) < 0.7).astype(int),
            "hook_cut_count": rng.poisson(2, n).astype(float),
        }
    )


def test_bucket_patterns_preview_shows_the_effects_reference(tmp_path):
    rng = np.random.default_rng(5)
    for bucket in DURATION_BUCKETS:
        key = market_key(CH, bucket)
        write_parquet_atomic(features(bucket, rng), asset_path(tmp_path, "video_features", key))
        importance = pd.DataFrame({"feature": ["has_text_hook"], "is_driver": [False]})
        write_parquet_atomic(importance, asset_path(tmp_path, "bucket_model_importance", key))
    upstream = [
        dg.AssetSpec(a, partitions_def=MARKET_PARTITIONS) for a in ("video_features", "bucket_model_importance")
    ]
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions("client_hashtag", [CH])
        result = dg.materialize(
            [*upstream, bucket_patterns],
            partition_key=market_key(CH, "0-15s"),
            instance=inst,
            resources={"io_manager": ParquetIOManager(home=str(tmp_path))},
        )
    assert result.success
    meta = materialization_metadata(result)["bucket_patterns"]
    rows = pd.read_parquet(asset_path(tmp_path, "bucket_patterns", market_key(CH, "0-15s")))
    preview = meta["preview"]
    assert assert_table_matches(preview, rows, key="feature") >= 1
    header, *body = rendered_tables(preview)[0]
    assert "effect_from" in header and header.index("effect_from") == header.index("effect") - 1
    hook = dict(zip(header, next(r for r in body if r[0] == "has_text_hook"), strict=True))
    assert (hook["direction"], hook["effect_from"]) == ("higher", "bottom vs middle") and float(hook["effect"]) < 0
    assert_floats_rounded(meta)
