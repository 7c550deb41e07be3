"""``ad_performance`` [client] through Dagster: CSV exports via ``ad_inbox_sensor`` (bad rows set aside and counted,
a re-dropped file changes nothing) and the Meta Insights API through the real SDK against a local Graph server."""

from datetime import UTC, datetime, timedelta
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
import yaml

from optimizer_pipeline.defs.decisions import ad_inbox as sensor_module
from optimizer_pipeline.defs.decisions.ad_inbox import ad_inbox_sensor
from optimizer_pipeline.defs.decisions.ad_performance import ad_performance
from optimizer_pipeline.lib.actions.pipeline_value import pipeline_value
from optimizer_pipeline.resources.ads import AdInbox, MetaAdsSource
from optimizer_pipeline.resources.parquet_io import ParquetIOManager, asset_path, read_asset
from optimizer_pipeline.resources.registry import ClientRegistry
from optimizer_pipeline_tests.meta_graph_server import DEFAULT_ACCOUNT_ID, DEFAULT_TOKEN, MetaGraphServer, insights_rows

HEADER = "ad_id,date,impressions,clicks,spend,conversions,revenue,currency\n"


def _registry(tmp_path: Path, decisions: dict) -> Path:
    doc = {"clients": [{"slug": "acme", "name": "Acme", "hashtags": [{"tag": "x"}], "decisions": decisions}]}
    path = tmp_path / "clients.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


def _resources(tmp_path: Path, registry: Path, graph_url: str = "http://127.0.0.1:9", token: str | None = None):
    return {
        "io_manager": ParquetIOManager(home=str(tmp_path)),
        "registry": ClientRegistry(path=str(registry)),
        "ad_inbox": AdInbox(home=str(tmp_path), settle_seconds=0),
        "meta_ads": MetaAdsSource(access_token=token, graph_url=graph_url),
    }


def _materialize(instance, resources, run_config=None) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [ad_performance], partition_key="acme", resources=resources, instance=instance, run_config=run_config
    )


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions("client", ["acme"])
        yield inst


def test_csv_exports_through_the_sensor_count_every_line_and_rerun_identically(tmp_path, instance, monkeypatch):
    registry = _registry(tmp_path, {"ad_source": "csv"})
    resources = _resources(tmp_path, registry)
    folder = tmp_path / "ad_inbox" / "acme"
    folder.mkdir(parents=True)
    (folder / "ads-2026-11-01.csv").write_text(
        HEADER
        + "ad-1,2026-11-01,1000,20,10.5,2,90,USD\n"
        + "ad-2,2026-11-01,800,0,8.0,0,0,USD\n"
        + "ad-3,2026-11-01,100,200,1.0,0,0,USD\n"  # more clicks than impressions
        + "ad-4,2026-11-01,abc,1,1.0,0,0,USD\n"  # unparsable number
    )
    (folder / "ads-2026-11-02.csv").write_text(HEADER + "ad-1,2026-11-02,1200,30,12.0,40,100,USD\n")
    (folder / "upload.csv.part").write_text("not yet")
    monkeypatch.setattr(sensor_module, "_now_ns", lambda: 10**30)  # every file has settled

    ctx = dg.build_sensor_context(instance=instance, cursor=None, resources={"ad_inbox": resources["ad_inbox"]})
    tick = ad_inbox_sensor(ctx)
    assert isinstance(tick, dg.SensorResult) and len(tick.run_requests) == 1
    request = tick.run_requests[0]
    assert request.partition_key == "acme"
    files = request.run_config["ops"]["ad_performance"]["config"]["files"]
    assert files == ["ads-2026-11-01.csv", "ads-2026-11-02.csv"]

    result = _materialize(instance, resources, request.run_config)
    assert result.success
    rows = read_asset(tmp_path, "ad_performance", "acme")
    rejected = read_asset(tmp_path, "ad_performance_rejected", "acme")
    assert sorted(zip(rows["ad_id"], rows["date"].astype(str), strict=True)) == [
        ("ad-1", "2026-11-01"),
        ("ad-1", "2026-11-02"),
        ("ad-2", "2026-11-01"),
    ]
    assert sorted(rejected["source_line"]) == [4, 5]
    assert all(rejected["reason"].str.len() > 0)
    ad2 = rows[rows["ad_id"] == "ad-2"].iloc[0]
    assert pd.isna(ad2["cpc"]) and pd.isna(ad2["cpa"]) and ad2["ctr"] == 0.0  # no division by zero
    day2 = rows[(rows["ad_id"] == "ad-1") & (rows["date"].astype(str) == "2026-11-02")].iloc[0]
    assert day2["flags"] == "conversions_exceed_clicks"
    assert day2["ctr"] == pytest.approx(30 / 1200) and day2["cpm"] == pytest.approx(10.0)
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"accounting": True, "tenant_isolation": True}
    meta = result.asset_materializations_for_node("ad_performance")[0].metadata
    assert meta["read"].value == 5 and meta["rows"].value == 3 and meta["rejected"].value == 2

    # the same file dropped again under another name: same rows, nothing double counted
    (folder / "ads-2026-11-02-again.csv").write_text((folder / "ads-2026-11-02.csv").read_text())
    second = ad_inbox_sensor(
        dg.build_sensor_context(instance=instance, cursor=tick.cursor, resources={"ad_inbox": resources["ad_inbox"]})
    )
    assert len(second.run_requests) == 1
    assert _materialize(instance, resources, second.run_requests[0].run_config).success
    again = read_asset(tmp_path, "ad_performance", "acme")
    value_cols = ["ad_id", "date", "impressions", "clicks", "spend", "conversions", "revenue"]
    pd.testing.assert_frame_equal(again[value_cols], rows[value_cols])

    # a tick with nothing new skips; a reset cursor repeats the same run key (no duplicate run)
    quiet = ad_inbox_sensor(
        dg.build_sensor_context(instance=instance, cursor=second.cursor, resources={"ad_inbox": resources["ad_inbox"]})
    )
    assert not quiet.run_requests and "no new settled ad export files" in quiet.skip_reason.skip_message
    reset = ad_inbox_sensor(
        dg.build_sensor_context(instance=instance, cursor=None, resources={"ad_inbox": resources["ad_inbox"]})
    )
    assert reset.run_requests[0].run_key == second.run_requests[0].run_key


def test_meta_source_reads_insights_through_the_sdk(tmp_path, instance):
    today = datetime.now(UTC).date()
    with MetaGraphServer(insights_rows(n_ads=3, days=4, start=today - timedelta(days=3))) as graph:
        registry = _registry(tmp_path, {"ad_source": "meta", "meta_ad_account_id": DEFAULT_ACCOUNT_ID})
        result = _materialize(instance, _resources(tmp_path, registry, graph.url, DEFAULT_TOKEN))
        assert result.success
        assert any("/insights" in r.path for r in graph.requests)
    rows = read_asset(tmp_path, "ad_performance", "acme")
    assert len(rows) == 12 and set(rows["platform"]) == {"meta"}
    meta = result.asset_materializations_for_node("ad_performance")[0].metadata
    assert meta["source"].value == "meta" and meta["read"].value == 12
    assert DEFAULT_TOKEN not in str({k: v.value for k, v in meta.items()})


def test_meta_source_without_a_token_fails_with_the_variable_to_set(tmp_path, instance):
    registry = _registry(tmp_path, {"ad_source": "meta", "meta_ad_account_id": DEFAULT_ACCOUNT_ID})
    with pytest.raises(ValueError, match="OPTIMIZER_META_ACCESS_TOKEN"):
        _materialize(instance, _resources(tmp_path, registry))


PIPELINE = {
    "currency": "AED",
    "half_life_days": 7,
    "stages": [  # worth 25, 150, 1000 AED (p * value * 0.5 ** (days / 7)): increments 25, 125, 850
        {"name": "lead", "probability": 0.1, "value": 1000, "days_to_close": 14},
        {"name": "call_booked", "probability": 0.3, "value": 1000, "days_to_close": 7},
        {"name": "deal_won", "probability": 1.0, "value": 1000, "days_to_close": 0},
    ],
}
STAGED = (
    "ad_id,date,impressions,clicks,spend,conversions,currency,Lead,Call booked,deal_won\n"
    "ad-1,2026-11-01,1000,20,10.5,9,AED,8,3,1\n"  # 8*25 + 3*125 + 1*850 = 1425
    "ad-2,2026-11-01,800,5,8.0,2,AED,2,,0\n"  # 2*25 = 50
    "ad-3,2026-11-01,900,5,8.0,2,AED,2,-1,0\n"  # negative stage count: rejected
)


def test_pipeline_client_stores_stage_counts_that_pipeline_value_turns_into_revenue(tmp_path, instance):
    registry = _registry(tmp_path, {"ad_source": "csv", "pipeline": PIPELINE})
    resources = _resources(tmp_path, registry)
    folder = tmp_path / "ad_inbox" / "acme"
    folder.mkdir(parents=True)
    (folder / "ads.csv").write_text(STAGED)
    result = _materialize(instance, resources)
    assert result.success
    rows = read_asset(tmp_path, "ad_performance", "acme")
    rejected = read_asset(tmp_path, "ad_performance_rejected", "acme")
    assert sorted(rows["ad_id"]) == ["ad-1", "ad-2"]
    assert rejected[["source_file", "source_line", "reason"]].values.tolist() == [
        ["ads.csv", 4, "negative count in call_booked: -1"]
    ]
    assert [c for c in rows.columns if c in ("platform", "lead", "call_booked", "deal_won", "flags")] == [
        "platform",
        "lead",
        "call_booked",
        "deal_won",
        "flags",
    ]
    settings = ClientRegistry(path=str(registry)).load().client("acme").decisions.pipeline
    value = dict(zip(rows["ad_id"], pipeline_value(rows, settings), strict=True))
    assert value == {"ad-1": pytest.approx(1425.0), "ad-2": pytest.approx(50.0)}
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == {"accounting": True, "tenant_isolation": True}
    meta = result.asset_materializations_for_node("ad_performance")[0].metadata
    assert meta["read"].value == 3 and meta["rows"].value == 2 and meta["rejected"].value == 1
    assert "call_booked" in meta["stage_counts"].value

    stored = asset_path(tmp_path, "ad_performance", "acme").read_bytes()
    stored_rejected = asset_path(tmp_path, "ad_performance_rejected", "acme").read_bytes()
    assert _materialize(instance, resources).success  # a rerun writes the same bytes
    assert asset_path(tmp_path, "ad_performance", "acme").read_bytes() == stored
    assert asset_path(tmp_path, "ad_performance_rejected", "acme").read_bytes() == stored_rejected


def test_client_without_pipeline_ignores_stage_columns(tmp_path, instance):
    plain = "\n".join(",".join(line.split(",")[:7]) for line in STAGED.splitlines()) + "\n"
    stored = {}
    for name, text in (("plain", plain), ("staged", STAGED)):
        home = tmp_path / name
        home.mkdir()
        resources = _resources(home, _registry(home, {"ad_source": "csv"}))
        (home / "ad_inbox" / "acme").mkdir(parents=True)
        (home / "ad_inbox" / "acme" / "ads.csv").write_text(text)
        assert _materialize(instance, resources).success
        stored[name] = asset_path(home, "ad_performance", "acme").read_bytes()
    assert stored["staged"] == stored["plain"]
    rows = read_asset(tmp_path / "staged", "ad_performance", "acme")
    assert not {"lead", "call_booked", "deal_won"} & set(rows.columns) and len(rows) == 3


def test_meta_source_of_a_pipeline_client_counts_its_conversions_as_the_first_stage(tmp_path, instance):
    today = datetime.now(UTC).date()
    with MetaGraphServer(insights_rows(n_ads=2, days=2, start=today - timedelta(days=1))) as graph:
        decisions = {"ad_source": "meta", "meta_ad_account_id": DEFAULT_ACCOUNT_ID, "pipeline": {**PIPELINE}}
        decisions["pipeline"].pop("currency")
        registry = _registry(tmp_path, decisions)
        assert _materialize(instance, _resources(tmp_path, registry, graph.url, DEFAULT_TOKEN)).success
    rows = read_asset(tmp_path, "ad_performance", "acme")
    assert len(rows) == 4
    assert rows["lead"].tolist() == rows["conversions"].tolist()
    assert rows["call_booked"].isna().all() and rows["deal_won"].isna().all()
