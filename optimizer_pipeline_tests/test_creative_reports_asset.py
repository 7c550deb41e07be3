"""``creative_reports`` through ``dagster.materialize``: on the sample corpus (one hashtag scraped, bucketed, featured,
modelled and analysed, then reported), and on two clients sharing a hashtag name, where one client's reports must
never cite the other's videos and a foreign hashtag in the evidence fails the blocking tenant check."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from optimizer_pipeline.cli.materialize import materialization_metadata
from optimizer_pipeline.defs.features.assets import video_features
from optimizer_pipeline.defs.market.buckets import bucket_videos
from optimizer_pipeline.defs.market.scrape import tiktok_videos
from optimizer_pipeline.defs.patterns.assets import bucket_model, bucket_patterns
from optimizer_pipeline.defs.patterns.intelligence import bucket_intelligence
from optimizer_pipeline.defs.reports.reports import creative_reports
from optimizer_pipeline.lib.core.buckets import DURATION_BUCKETS
from optimizer_pipeline.lib.patterns.cross_hashtag import CROSS_COLUMNS
from optimizer_pipeline.lib.patterns.evidence import bucket_patterns as find_patterns
from optimizer_pipeline.lib.registry.clients import load_registry
from optimizer_pipeline.lib.reports.creative_reports import NOT_ENOUGH, REPORT_COLUMNS, REPORT_IDS
from optimizer_pipeline.partitions import market_key
from optimizer_pipeline.resources.features import FeatureStore
from optimizer_pipeline.resources.parquet_io import ParquetIOManager
from optimizer_pipeline.resources.registry import ClientRegistry
from optimizer_pipeline_tests.conftest import sample_market_resources

ASSETS = [tiktok_videos, bucket_videos, video_features, bucket_model, bucket_patterns, bucket_intelligence]
ASSETS += [creative_reports]
CH = "glowfuel__mealprep"
BUCKET_STAGES = (
    ["bucket_videos", "bucket_videos_excluded", "video_features", "video_features_quarantine"],
    ["bucket_model", "bucket_model_importance"],
    ["bucket_patterns"],
)


def _check(result: dg.ExecuteInProcessResult) -> dg.AssetCheckEvaluation:
    return next(e for e in result.get_asset_check_evaluations() if e.check_name == "tenant_isolation")


@pytest.fixture(scope="module")
def sample_run(sample_home, tmp_path_factory):
    """Every bucket of one sample hashtag up to bucket_intelligence, then its creative reports."""
    home = tmp_path_factory.mktemp("reports_home")
    res = sample_market_resources(home, sample_home)
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions("client_hashtag", [CH])
        sel = ["tiktok_videos", "tiktok_videos_rejected"]
        assert dg.materialize(ASSETS, selection=sel, partition_key=CH, instance=inst, resources=res).success
        for stage in BUCKET_STAGES:
            for bucket in DURATION_BUCKETS:
                key = market_key(CH, bucket)
                assert dg.materialize(ASSETS, selection=stage, partition_key=key, instance=inst, resources=res).success
        intel = dg.materialize(
            ASSETS, selection=["bucket_intelligence"], partition_key=CH, instance=inst, resources=res
        )
        assert intel.success
        result = dg.materialize(ASSETS, selection=["creative_reports"], partition_key=CH, instance=inst, resources=res)
        assert result.success
        first = _written(home)
        again = dg.materialize(ASSETS, selection=["creative_reports"], partition_key=CH, instance=inst, resources=res)
        yield home, result, again, first


def _written(home: Path) -> dict[str, bytes]:
    """The asset's table and report files, by path."""
    paths = [home / "data" / "creative_reports" / f"{CH}.parquet", *(home / "reports").rglob("*.*")]
    return {str(p): p.read_bytes() for p in paths}


def test_ten_reports_written_for_the_sample_hashtag(sample_run):
    home, result, _, _ = sample_run
    table = pd.read_parquet(home / "data" / "creative_reports" / f"{CH}.parquet")
    assert list(table.columns) == list(REPORT_COLUMNS) and tuple(table["report_id"]) == REPORT_IDS
    folder = home / "reports" / "glowfuel" / "mealprep"
    for row in table.itertuples():
        assert (folder / f"{row.report_id}.md").read_text() == row.markdown
        assert json.loads((folder / f"{row.report_id}.json").read_text())["report_id"] == row.report_id
    meta = materialization_metadata(result)["creative_reports"]
    assert meta["folder"] == str(folder) and len(meta["files"]) == 20
    assert meta["preview"].startswith("# Viral replication framework: #mealprep")
    assert meta["recommendations"] == int(table["n_recommendations"].sum()) > 0
    # cross_hashtag_patterns and pattern_posteriors were never materialised: said, not failed
    assert "cross_hashtag_patterns" in meta["not_materialised"] and "pattern_posteriors" in meta["not_materialised"]
    trend = table.set_index("report_id").loc["trend_jacking"]
    assert trend.n_recommendations == 0 and NOT_ENOUGH in trend.markdown.lower()
    assert _check(result).passed


def test_sample_reports_follow_the_pattern_table(sample_run):
    """Every STRONG family lead of the sample's bucket_patterns is in the viral replication report."""
    home, _, _, _ = sample_run
    table = pd.read_parquet(home / "data" / "creative_reports" / f"{CH}.parquet").set_index("report_id")
    viral = json.loads(table.loc["viral_replication", "json"])
    for section in viral["sections"]:
        path = home / "data" / "bucket_patterns" / CH / f"{section['bucket']}.parquet"
        rows = pd.read_parquet(path)
        strong = rows[(rows["evidence"] == "STRONG") & (rows["family_role"] == "lead") & (rows["explained_by"] == "")]
        assert {r["family"] for r in section["recommendations"]} == set(strong["family"]), section["bucket"]
        if strong.empty:
            assert section["status"] == NOT_ENOUGH
        else:  # examples are top-tier bucket videos with their links
            videos = pd.read_parquet(home / "data" / "bucket_videos" / CH / f"{section['bucket']}.parquet")
            tier = dict(zip(videos["video_id"].astype(str), videos["performance_tier"], strict=True))
            assert section["examples"] and all(tier[e["video_id"]] == "top" for e in section["examples"])


def test_rerun_changes_nothing(sample_run):
    home, result, again, first = sample_run
    assert again.success and _written(home) == first and len(first) == 21
    before, after = (materialization_metadata(r)["creative_reports"] for r in (result, again))
    assert before["summary"] == after["summary"] and before["preview"] == after["preview"]


# --- two clients ----------------------------------------------------------------------------------------------
REGISTRY = """
clients:
  - slug: alpha
    name: Alpha Foods
    industry: food
    brand: {}
    hashtags:
      - tag: nutrition
        buckets: [16-30s, 31-60s]
      - tag: mealprep
        buckets: [16-30s, 31-60s]
  - slug: beta
    name: Beta Drinks
    industry: drinks
    brand: {}
    hashtags:
      - tag: nutrition
        buckets: [16-30s, 31-60s]
"""


def _write(home: Path, asset: str, key: str, df: pd.DataFrame, bucket: str | None = None) -> None:
    path = home / "data" / asset / key / f"{bucket}.parquet" if bucket else home / "data" / asset / f"{key}.parquet"
    path.parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False)


def _plant(home: Path, client: str, prefix: str, seed: int) -> None:
    """One client's nutrition hashtag: hook cuts double engagement in 16-30s; video ids start with ``prefix``."""
    rng = np.random.default_rng(seed)
    frames = {}
    for bucket in ("16-30s", "31-60s"):
        n = 100
        cuts = rng.integers(0, 5, n).astype(float)
        er = np.exp(np.log(0.05) + np.log(3.0) * (cuts >= 2) * (bucket == "16-30s") + rng.normal(0, 0.3, n))
        frames[bucket] = pd.DataFrame(
            {
                "video_id": [f"{prefix}{bucket[:2]}{i:03d}" for i in range(n)],
                "engagement_rate": er,
                "hook_cut_count": cuts,
            }
        )
    key = f"{client}__nutrition"
    for bucket, rows in find_patterns(frames).items():
        _write(home, "bucket_patterns", key, rows, bucket)
        v = frames[bucket][["video_id", "engagement_rate"]].sort_values("engagement_rate", ascending=False)
        v["url"] = "https://www.tiktok.com/@x/video/" + v["video_id"]
        v["performance_tier"] = ["top"] * 10 + ["middle"] * (len(v) - 10)
        _write(home, "bucket_videos", key, v, bucket)


def _cross(home: Path, client: str, hashtags: str) -> None:
    rows = find_patterns_lead(home, f"{client}__nutrition")
    cross = pd.DataFrame(
        [
            {c: None for c in CROSS_COLUMNS}
            | {
                "duration_bucket": "16-30s",
                "feature": rows["feature"],
                "level": "",
                "direction": rows["direction"],
                "hashtags_claimed": 2,
                "hashtags_analysed": 2,
                "share": 1.0,
                "scope": "universal",
                "hashtags": hashtags,
                "best_evidence": "STRONG",
                "median_lift": 1.5,
                "sentence": "",
            }
        ],
        columns=list(CROSS_COLUMNS),
    )
    _write(home, "cross_hashtag_patterns", client, cross)


def find_patterns_lead(home: Path, key: str) -> pd.Series:
    rows = pd.read_parquet(home / "data" / "bucket_patterns" / key / "16-30s.parquet")
    return rows[(rows["evidence"] != "none") & (rows["family_role"] == "lead")].iloc[0]


def _run(home: Path, registry_file: Path, key: str) -> dg.ExecuteInProcessResult:
    registry = load_registry(registry_file)
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("client", registry.client_keys())
        instance.add_dynamic_partitions("client_hashtag", registry.client_hashtag_keys())
        return dg.materialize(
            [creative_reports],
            partition_key=key,
            instance=instance,
            raise_on_error=False,
            resources={
                "io_manager": ParquetIOManager(home=str(home)),
                "registry": ClientRegistry(path=str(registry_file)),
                "feature_store": FeatureStore(home=str(home)),
            },
        )


@pytest.fixture
def two_clients(tmp_path: Path) -> tuple[Path, Path]:
    registry_file = tmp_path / "clients.yaml"
    registry_file.write_text(REGISTRY)
    _plant(tmp_path, "alpha", "A", 1)
    _plant(tmp_path, "beta", "B", 2)
    _cross(tmp_path, "alpha", "nutrition, mealprep")
    _cross(tmp_path, "beta", "nutrition")
    return tmp_path, registry_file


def test_two_clients_reports_cite_only_their_own_videos(two_clients):
    home, registry_file = two_clients
    for client, own, other in (("alpha", "A", "beta"), ("beta", "B", "alpha")):
        result = _run(home, registry_file, f"{client}__nutrition")
        assert result.success and _check(result).passed
        table = pd.read_parquet(home / "data" / "creative_reports" / f"{client}__nutrition.parquet")
        text = "\n".join(table["markdown"]) + "\n".join(table["json"])
        files = "\n".join(p.read_text() for p in (home / "reports" / client / "nutrition").iterdir())
        cited = [e["video_id"] for j in table["json"] for s in json.loads(j)["sections"] for e in s.get("examples", [])]
        assert cited and all(v.startswith(own) for v in cited)
        folder = home / "data" / "bucket_videos" / f"{other}__nutrition"
        foreign = pd.concat(pd.read_parquet(p) for p in folder.iterdir())["video_id"]
        assert not any(v in text or v in files for v in foreign), other
        assert set(table["client"]) == {client}


def test_a_foreign_hashtag_in_the_evidence_fails_the_blocking_tenant_check(two_clients):
    home, registry_file = two_clients
    _cross(home, "alpha", "nutrition, energydrinks")  # not one of alpha's hashtags
    result = _run(home, registry_file, "alpha__nutrition")
    check = _check(result)
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert "#energydrinks" in check.description
    assert not result.success  # blocking: the step fails after the data is written
