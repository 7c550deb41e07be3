"""The asset checks through ``dagster.materialize`` with real resources: every check passes on good data, fails on
planted bad data (a row of another client, a lost event, a NaN feature, a broken posterior, a model that does not
beat its baseline, too little data), a failed ERROR check still writes the data and stops the downstream asset of
the same run, and a failed WARN check stops nothing."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import dagster as dg
import numpy as np
import pandas as pd
import pytest

from optimizer_pipeline.definitions import load_definitions
from optimizer_pipeline.defs.automation import PROPAGATE
from optimizer_pipeline.defs.checks import TENANT_ISOLATION
from optimizer_pipeline.defs.features import assets as feature_assets
from optimizer_pipeline.defs.patterns.assets import bucket_model
from optimizer_pipeline.defs.registry.sync import apply_registry
from optimizer_pipeline.defs.testloop import conversions, posteriors
from optimizer_pipeline.lib.core.invariants import foreign_rows
from optimizer_pipeline.lib.features.dictionary import FEATURE_DICTIONARY
from optimizer_pipeline.lib.features.table import table_columns
from optimizer_pipeline.lib.registry.clients import load_registry
from optimizer_pipeline.lib.sample.events import generate_events, write_inbox_batch
from optimizer_pipeline.partitions import CLIENT, MARKET_PARTITIONS, market_key
from optimizer_pipeline.resources.features import FeatureStore, RuleLabeler
from optimizer_pipeline.resources.inbox import ConversionInbox
from optimizer_pipeline.resources.models import ModelStore
from optimizer_pipeline.resources.parquet_io import ParquetIOManager
from optimizer_pipeline_tests.test_testloop_runtime import PATTERNS, START, Loop, traffic_table
from optimizer_pipeline_tests.test_testloop_setup import ASSETS as SETUP_ASSETS
from optimizer_pipeline_tests.test_testloop_setup import SAMPLE_DIR
from optimizer_pipeline_tests.test_testloop_setup import resources as setup_resources

ERROR, WARN = dg.AssetCheckSeverity.ERROR, dg.AssetCheckSeverity.WARN
CH = "glowfuel__nutrition"
BUCKET = "0-15s"


def evaluations(result: dg.ExecuteInProcessResult) -> dict[tuple[str, str], dg.AssetCheckEvaluation]:
    """(asset, check) → its evaluation in this run."""
    return {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}


def materialised(result: dg.ExecuteInProcessResult) -> set[str]:
    return {e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}


def assert_all_passed(result: dg.ExecuteInProcessResult, expected: set[tuple[str, str]]) -> None:
    found = evaluations(result)
    assert set(found) == expected
    failed = {k: e.description for k, e in found.items() if not e.passed}
    assert not failed, failed


# --- the check specs themselves ---------------------------------------------------------------------------------

#: Every client-partitioned output of the pipeline (``*_rejected`` twins aside) that carries a tenant check.
TENANT_CHECKED = {
    "creatives", "influencers", "traffic_sources", "conversion_events", "attributed_conversions",
    "pattern_posteriors", "test_recommendations", "cross_hashtag_patterns", "competitor_hashtag_strategy",
    "client_overview", "ad_performance", "ad_alerts", "experiment_decisions", "experiment_variants",
    "budget_plans", "budget_ledger", "fatigue_signals", "blended_scores", "creative_dna", "promotion_history",
    "winner_index", "compound_learning", "winner_insights", "summary_log", "brief_validation",
}  # fmt: skip


def test_every_client_partitioned_output_has_a_blocking_tenant_check(monkeypatch, tmp_path):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    graph = load_definitions().resolve_asset_graph()
    specs = {(k.asset_key.to_user_string(), k.name): graph.get_check_spec(k) for k in graph.asset_check_keys}
    client_outputs = {
        k.to_user_string()
        for k in graph.get_all_asset_keys()
        if graph.get(k).partitions_def == CLIENT and not k.to_user_string().endswith("_rejected")
    }
    assert client_outputs == TENANT_CHECKED  # a new [client] output must come with its tenant check
    for asset in TENANT_CHECKED:
        spec = specs[(asset, "tenant_isolation")]
        assert spec.blocking and spec.description, asset
    assert specs[("experiment_decisions", "decision_validity")].blocking
    assert specs[("creative_reports", "tenant_isolation")].blocking  # [client_hashtag]: cites only own videos
    assert specs[("budget_ledger", "within_limits")].blocking
    for asset in (
        "tiktok_videos", "bucket_videos", "video_features", "creatives", "influencers", "conversion_events",
        "ad_performance", "creative_dna", "brief_validation",
    ):  # fmt: skip
        assert specs[(asset, "accounting")].blocking, asset  # every asset with a rejected / excluded twin
    assert specs[("video_features", "fixed_schema")].blocking and specs[("video_features", "no_nan")].blocking
    assert specs[("pattern_posteriors", "posterior_sanity")].blocking
    assert not specs[("bucket_model", "beats_baseline")].blocking
    for asset in ("bucket_videos", "bucket_model", "bucket_patterns", "bucket_intelligence"):
        assert not specs[(asset, "enough_data")].blocking, asset


# --- test loop set-up: creatives, influencers, traffic_sources ---------------------------------------------------

SETUP_CHECKS = {
    ("creatives", "accounting"),
    ("creatives", "tenant_isolation"),
    ("influencers", "accounting"),
    ("influencers", "tenant_isolation"),
    ("traffic_sources", "tenant_isolation"),
}


def test_sample_client_set_up_passes_every_check(instance, tmp_path):
    res = setup_resources(tmp_path)
    result = dg.materialize(SETUP_ASSETS, partition_key="glowfuel", instance=instance, resources=res)
    assert result.success
    assert_all_passed(result, SETUP_CHECKS)
    accounting = evaluations(result)[("influencers", "accounting")].metadata
    assert (accounting["read"].value, accounting["accepted"].value, accounting["rejected"].value) == (63, 60, 3)


def test_a_creatives_file_shared_with_another_client_fails_and_blocks_traffic_sources(tmp_path):
    """Two clients naming one creatives file would mix their creatives: the check fails, the table is still
    written, and traffic_sources (downstream, same run) is not materialised."""
    reg = tmp_path / "reg"
    reg.mkdir()
    shutil.copy(SAMPLE_DIR / "glowfuel_creatives.yaml", reg / "creatives.yaml")
    shutil.copy(SAMPLE_DIR / "glowfuel_influencers.csv", reg / "roster.csv")
    loop = "    test_loop: {creatives_file: creatives.yaml, influencers_file: roster.csv}\n"
    (reg / "clients.yaml").write_text(
        f"clients:\n  - name: Acme\n    hashtags: [fit]\n{loop}  - name: Globex\n    hashtags: [run]\n{loop}"
    )
    with dg.instance_for_test() as instance:
        apply_registry(load_registry(reg / "clients.yaml"), instance)
        result = dg.materialize(
            SETUP_ASSETS,
            partition_key="acme",
            instance=instance,
            resources=setup_resources(tmp_path, reg / "clients.yaml"),
            raise_on_error=False,
        )
    assert not result.success
    tenant = evaluations(result)[("creatives", "tenant_isolation")]
    assert not tenant.passed and tenant.severity == ERROR and tenant.blocking
    assert tenant.metadata["examples"].value == ["acme,globex"] and tenant.metadata["foreign_rows"].value == 20
    assert {"creatives", "creatives_rejected", "influencers"} <= materialised(result)
    assert "traffic_sources" not in materialised(result)
    assert (tmp_path / "data" / "creatives" / "acme.parquet").exists()  # written, so the UI can show what was read


# --- test loop runtime: conversion_events → attributed_conversions → pattern_posteriors → test_recommendations -----

RUNTIME_CHECKS = {
    ("conversion_events", "accounting"),
    ("conversion_events", "tenant_isolation"),
    ("attributed_conversions", "accounting"),
    ("attributed_conversions", "tenant_isolation"),
    ("pattern_posteriors", "posterior_sanity"),
    ("pattern_posteriors", "tenant_isolation"),
    ("test_recommendations", "tenant_isolation"),
}
RUNTIME = ("conversion_events", "conversion_events_rejected", "attributed_conversions", "pattern_posteriors")
RUNTIME += ("test_recommendations",)


@pytest.fixture
def loop(tmp_path):
    """A client 'acme' with traffic sources and a generated inbox (the runtime tests' set-up)."""
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions("client", ["acme"])
        lp = Loop(tmp_path, inst, traffic_table())
        files, _ = generate_events(traffic_table(), seed=21, visitors_per_source=120, start=START, days=12)
        write_inbox_batch(lp.inbox, files)
        yield lp


def run_loop(lp: Loop) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        lp.assets,
        selection=list(RUNTIME),
        partition_key="acme",
        instance=lp.instance,
        resources=lp.resources,
        raise_on_error=False,
    )


def test_the_generated_inbox_passes_every_runtime_check(loop):
    result = run_loop(loop)
    assert result.success
    assert_all_passed(result, RUNTIME_CHECKS)
    sanity = evaluations(result)[("pattern_posteriors", "posterior_sanity")].metadata
    assert sanity["rows"].value == len(PATTERNS) and sanity["bad_rows"].value == 0


def test_an_event_file_of_another_client_fails_tenant_isolation_and_blocks_attribution(loop, monkeypatch):
    """A file from another client's inbox folder among this client's files (e.g. a ``../`` name in a run's config):
    its rows fail the check, and attribution does not run on them."""
    globex = loop.home / "inbox" / "globex"
    files, _ = generate_events(traffic_table(), seed=99, visitors_per_source=5, start=START, days=2)
    write_inbox_batch(globex, files)
    foreign = sorted(globex.iterdir())[0]
    own_files = ConversionInbox.files

    def files_with_a_leak(self, client, *args, **kwargs):
        return [*own_files(self, client, *args, **kwargs), foreign]

    monkeypatch.setattr(ConversionInbox, "files", files_with_a_leak)
    result = run_loop(loop)
    assert not result.success
    found = evaluations(result)
    tenant = found[("conversion_events", "tenant_isolation")]
    assert not tenant.passed and tenant.severity == ERROR and tenant.metadata["examples"].value == [foreign.name]
    assert tenant.metadata["foreign_rows"].value > 0
    assert found[("conversion_events", "accounting")].passed
    assert materialised(result) == {"conversion_events", "conversion_events_rejected"}


def test_a_lost_event_fails_accounting_but_the_data_is_still_written(loop, monkeypatch):
    parse = conversions.parse_event_files

    def parse_losing_one(*args, **kwargs):
        batch = parse(*args, **kwargs)
        return dataclasses.replace(batch, read=batch.read + 1)

    monkeypatch.setattr(conversions, "parse_event_files", parse_losing_one)
    result = run_loop(loop)
    assert not result.success
    check = evaluations(result)[("conversion_events", "accounting")]
    assert not check.passed and check.blocking and check.metadata["difference"].value == 1
    assert "1 item(s) unaccounted for" in check.description
    assert materialised(result) == {"conversion_events", "conversion_events_rejected"}
    written = pd.read_parquet(loop.path("conversion_events"))
    assert len(written) == check.metadata["accepted"].value > 0


def test_a_posterior_with_ci_low_above_its_mean_fails_and_blocks_recommendations(loop, monkeypatch):
    build = posteriors.build_posteriors

    def broken(*args, **kwargs):
        report = build(*args, **kwargs)
        table = report.table
        row = table.index[(table["alpha"] >= 1) & (table["beta"] >= 1)][0]
        table.loc[row, "ci_low"] = table.loc[row, "mean"] + 0.01
        table.loc[row, "ci_high"] = max(table.loc[row, "ci_high"], table.loc[row, "ci_low"])
        return report

    monkeypatch.setattr(posteriors, "build_posteriors", broken)
    result = run_loop(loop)
    assert not result.success
    check = evaluations(result)[("pattern_posteriors", "posterior_sanity")]
    assert not check.passed and check.metadata["ci_low_above_mean"].value == 1
    assert "pattern_posteriors" in materialised(result) and "test_recommendations" not in materialised(result)


# --- market and patterns: video_features, bucket_model ------------------------------------------------------------

FEATURES = [n for n, s in FEATURE_DICTIONARY.items() if s.role == "feature"][:6]


def features_table(rows: int, signal: float, seed: int = 0) -> pd.DataFrame:
    """A video_features-like table: a few numeric features, 20 creators, engagement rates driven by the first
    feature with strength ``signal`` (0: pure noise, no model can beat the mean baseline)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, len(FEATURES)))
    er = np.exp(-3 + signal * x[:, 0] + 0.3 * rng.normal(size=rows))
    authors = [f"creator{i % 20}" for i in range(rows)]
    return pd.DataFrame(x, columns=FEATURES).assign(engagement_rate=er, author=authors, sample_weight=1.0)


def model_run(home: Path, table: pd.DataFrame) -> dg.ExecuteInProcessResult:
    @dg.asset(name="video_features", partitions_def=MARKET_PARTITIONS)
    def stub_features() -> pd.DataFrame:
        return table

    @dg.asset(partitions_def=MARKET_PARTITIONS, deps=["bucket_model"])
    def after_model() -> None:
        """Stands for anything downstream of bucket_model."""

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("client_hashtag", [CH])
        return dg.materialize(
            [stub_features, bucket_model, after_model],
            partition_key=market_key(CH, BUCKET),
            instance=instance,
            resources={
                "io_manager": ParquetIOManager(home=str(home)),
                "model_store": ModelStore(home=str(home), bootstrap_rounds=20),
            },
            raise_on_error=False,
        )


def test_a_model_that_beats_its_baseline_passes(tmp_path):
    result = model_run(tmp_path, features_table(40, signal=1.0))
    assert result.success
    assert_all_passed(result, {("bucket_model", "enough_data"), ("bucket_model", "beats_baseline")})


def test_a_model_that_does_not_beat_its_baseline_is_a_warning_that_blocks_nothing(tmp_path):
    result = model_run(tmp_path, features_table(40, signal=0.0))
    assert result.success
    check = evaluations(result)[("bucket_model", "beats_baseline")]
    assert not check.passed and check.severity == WARN and not check.blocking
    assert check.metadata["evaluated"].value is True and {"r2", "baseline_r2"} <= set(check.metadata)
    assert {"bucket_model", "after_model"} <= materialised(result)


def test_insufficient_data_is_a_warning_check_with_status_and_counts(tmp_path):
    result = model_run(tmp_path, features_table(8, signal=1.0))
    assert result.success
    found = evaluations(result)
    enough = found[("bucket_model", "enough_data")]
    assert not enough.passed and enough.severity == WARN
    assert enough.metadata["status"].value == "insufficient data" and enough.metadata["videos"].value == 8
    assert found[("bucket_model", "beats_baseline")].passed  # no model: nothing to compare
    assert "after_model" in materialised(result)


def feature_rows(nan_in: str | None) -> pd.DataFrame:
    """One video_features row with the real schema; ``nan_in`` names a feature planted as NaN."""
    row = {c: 1.0 for c in table_columns()}
    row |= {"video_id": "v1", "author": "a", "performance_tier": "top", "pacing_label": "medium"}
    row |= {"label_source": "rules"}
    table = pd.DataFrame([row], columns=table_columns())
    if nan_in:
        table[nan_in] = np.nan
    return table


def features_run(home: Path, monkeypatch: pytest.MonkeyPatch, nan_in: str | None) -> dg.ExecuteInProcessResult:
    """video_features of three selected videos: two failed downloads (quarantined) and one whose feature row is
    planted (the extractor is not run: the video has no file)."""
    selected = pd.DataFrame(
        {
            "video_id": ["v1", "v2", "v3"],
            "download_status": ["local", "failed", "failed"],
            "download_error": [None, "timeout", "404"],
            "video_path": [None, None, None],
        }
    )
    monkeypatch.setattr(feature_assets, "build_feature_table", lambda _selected, _rows: feature_rows(nan_in))

    @dg.asset(name="bucket_videos", partitions_def=MARKET_PARTITIONS)
    def stub_bucket_videos() -> pd.DataFrame:
        return selected

    @dg.asset(partitions_def=MARKET_PARTITIONS, deps=["video_features"])
    def after_features() -> None:
        """Stands for bucket_model and bucket_patterns."""

    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("client_hashtag", [CH])
        return dg.materialize(
            [stub_bucket_videos, feature_assets.video_features, after_features],
            partition_key=market_key(CH, BUCKET),
            instance=instance,
            resources={
                "io_manager": ParquetIOManager(home=str(home)),
                "feature_store": FeatureStore(home=str(home), workers=1),
                "labeler": RuleLabeler(),
            },
            raise_on_error=False,
        )


def test_video_features_with_the_fixed_schema_and_no_nan_pass(tmp_path, monkeypatch):
    result = features_run(tmp_path, monkeypatch, nan_in=None)
    assert result.success
    expected = {("video_features", c) for c in ("accounting", "fixed_schema", "no_nan")}
    assert_all_passed(result, expected)
    assert "after_features" in materialised(result)


def test_a_nan_feature_fails_no_nan_and_blocks_the_downstream_asset(tmp_path, monkeypatch):
    result = features_run(tmp_path, monkeypatch, nan_in="aspect_ratio")
    assert not result.success
    found = evaluations(result)
    check = found[("video_features", "no_nan")]
    assert not check.passed and check.severity == ERROR and check.blocking
    assert json.loads(json.dumps(check.metadata["nan_columns"].value)) == {"aspect_ratio": 1}
    assert found[("video_features", "fixed_schema")].passed and found[("video_features", "accounting")].passed
    assert {"video_features", "video_features_quarantine"} <= materialised(result)
    assert "after_features" not in materialised(result)


# --- declarative automation -----------------------------------------------------------------------------------


def test_a_failed_blocking_check_stops_automation_of_that_partition_only():
    """Checks are partitioned like their asset: a failed tenant check of client a keeps PROPAGATE from requesting
    a's downstream, and does not hold back b's (with unpartitioned checks the latest result would stand for both)."""

    @dg.asset(partitions_def=CLIENT, check_specs=[TENANT_ISOLATION.spec("upstream", CLIENT)])
    def upstream(context):  # no annotation: a local function's string annotation cannot be resolved by Dagster
        rows = pd.Series(["a", "globex"] if context.partition_key == "a" else ["b"])
        verdict = foreign_rows(rows, [context.partition_key], compared="client column")
        return dg.MaterializeResult(check_results=[TENANT_ISOLATION.result("upstream", verdict)])

    @dg.asset(partitions_def=CLIENT, deps=[upstream], automation_condition=PROPAGATE)
    def downstream() -> None:
        """Stands for attributed_conversions or pattern_posteriors."""

    defs = dg.Definitions(assets=[upstream, downstream])
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions("client", ["a", "b"])
        cursor = dg.evaluate_automation_conditions(defs=defs, instance=instance).cursor
        for client in ("a", "b"):  # a fails, then b passes: the latest evaluation overall is a pass
            dg.materialize([upstream], partition_key=client, instance=instance, raise_on_error=False)
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    assert {str(p) for p in result.get_requested_partitions(dg.AssetKey("downstream"))} == {"b"}
