"""The decision loop through Dagster on the sample ad account: exports → ad_performance and alerts →
experiment_decisions over 121 six-hourly looks; the planted truths are what the trail ends in; a rerun of the same
looks writes identical tables; the schedule asks for a look at the client's hours only; ``decide`` adds one look."""

from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from optimizer_pipeline.cli.decisions_demo import decisions_run_config, run_decisions_demo
from optimizer_pipeline.cli.demo import demo_resources, prepare_home
from optimizer_pipeline.cli.main import main
from optimizer_pipeline.cli.materialize import RunLog, run_job
from optimizer_pipeline.definitions import load_definitions
from optimizer_pipeline.defs.decisions.schedules import DECISION_ASSETS, decisions_schedule
from optimizer_pipeline.defs.registry.sync import apply_registry
from optimizer_pipeline.lib.decisions.experiment_decision import looks_between
from optimizer_pipeline.lib.registry.clients import SAMPLE_CLIENTS_FILE, load_registry
from optimizer_pipeline.lib.sample.corpus import DEFAULT_SEED, SAMPLE_CLIENT
from optimizer_pipeline.resources.parquet_io import asset_path, read_asset
from optimizer_pipeline.resources.registry import ClientRegistry

EXPECTED_FINAL = {
    "hook-question-vs-statement": ("promote", "question-hook"),
    "aa-same-creative": ("stop-no-difference", ""),
    "cta-shop-vs-learn": ("blocked-srm", ""),
    "price-anchor-offer": ("blocked-guardrail", ""),
}


@pytest.fixture(scope="module")
def loop(tmp_path_factory):
    home = tmp_path_factory.mktemp("decisions_home")
    prepare_home(home)
    defs = load_definitions(demo_resources(home, DEFAULT_SEED, 0.1))
    registry = load_registry(SAMPLE_CLIENTS_FILE)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        apply_registry(registry, instance)
        log = RunLog()
        text = run_decisions_demo(
            instance, home, registry=registry, client=SAMPLE_CLIENT, seed=DEFAULT_SEED, defs=defs, log=log
        )
        yield home, defs, instance, log, text


def test_trail_ends_in_the_planted_truths(loop):
    home, _, _, log, text = loop
    trail = read_asset(home, "experiment_decisions", SAMPLE_CLIENT)
    assert trail["look_at"].nunique() == 121
    last = trail.sort_values("look_index").groupby("experiment_id").tail(1).set_index("experiment_id")
    for exp_id, (decision, winner) in EXPECTED_FINAL.items():
        assert (last.at[exp_id, "decision"], str(last.at[exp_id, "winner"] or "")) == (decision, winner), exp_id
    aa = trail[trail["experiment_id"] == "aa-same-creative"]
    assert not (aa["decision"] == "promote").any()  # the A/A pair is never promoted at any of the 121 looks
    meta = log.metadata[("experiment_decisions", SAMPLE_CLIENT)]
    assert meta["looks_decided"] == 121 and meta["vif"] > 1
    assert "A/A pairs" in meta["vif_source"]  # the sample A/A test calibrates the noise once it has 10 days
    variants = read_asset(home, "experiment_variants", SAMPLE_CLIENT)
    assert len(variants) == 2 * len(trail)
    assert "planted: promote question-hook" in text and "blocked-srm" in text
    assert read_asset(home, "ad_performance", SAMPLE_CLIENT)["ad_id"].nunique() == 8
    assert read_asset(home, "ad_alerts", SAMPLE_CLIENT) is not None


def test_rerunning_the_same_looks_writes_identical_tables(loop):
    home, defs, instance, log, _ = loop
    before = {a: asset_path(home, a, SAMPLE_CLIENT).read_bytes() for a in DECISION_ASSETS}
    first = datetime(2026, 11, 1, tzinfo=UTC)
    looks = looks_between(first, datetime(2026, 12, 1, tzinfo=UTC), 6, "UTC")
    run_job(
        defs,
        instance,
        "decisions_job",
        SAMPLE_CLIENT,
        log,
        assets=[dg.AssetKey(a) for a in DECISION_ASSETS],
        run_config=decisions_run_config(looks[60:]),  # re-deciding from look 61 on replaces looks 61-121
    )
    after = {a: asset_path(home, a, SAMPLE_CLIENT).read_bytes() for a in DECISION_ASSETS}
    assert pd.read_parquet(asset_path(home, "experiment_decisions", SAMPLE_CLIENT))["look_at"].nunique() == 121
    assert after == before


def test_schedule_asks_for_a_look_only_at_the_clients_hours(loop):
    _, _, instance, _, _ = loop
    registry = ClientRegistry(path=str(SAMPLE_CLIENTS_FILE))
    due = decisions_schedule(
        dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=datetime(2026, 12, 5, 12, tzinfo=UTC),
            resources={"registry": registry},
        )
    )
    assert [r.partition_key for r in due] == [SAMPLE_CLIENT]
    assert due[0].run_key == f"{SAMPLE_CLIENT}:2026-12-05T12:00:00+00:00"
    assert due[0].run_config["ops"]["experiment_decisions"]["config"]["looks"] == ["2026-12-05T12:00:00+00:00"]
    assert {k.to_user_string() for k in due[0].asset_selection} == set(DECISION_ASSETS)  # csv client: no refresh
    quiet = decisions_schedule(
        dg.build_schedule_context(
            instance=instance,
            scheduled_execution_time=datetime(2026, 12, 5, 13, tzinfo=UTC),
            resources={"registry": registry},
        )
    )
    assert isinstance(quiet, dg.SkipReason)


def test_decide_command_adds_one_look(loop, monkeypatch, capsys):
    home, _, _, _, _ = loop
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("OPTIMIZER_HOME", str(home))
    monkeypatch.setenv("OPTIMIZER_CLIENTS_FILE", str(SAMPLE_CLIENTS_FILE))
    before = read_asset(home, "experiment_decisions", SAMPLE_CLIENT)
    code = main(["decide", "--client", SAMPLE_CLIENT, "--experiment", "cta-shop-vs-learn", "--at", "2026-12-02T06:00"])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("cta-shop-vs-learn: blocked-srm:")
    after = read_asset(home, "experiment_decisions", SAMPLE_CLIENT)
    assert len(after) == len(before) + 4 and after["look_at"].nunique() == 122
    assert main(["decide", "--client", "nobody"]) == 1


def test_ad_inbox_files_are_the_daily_exports(loop):
    home, _, _, _, _ = loop
    files = sorted(p.name for p in Path(home, "ad_inbox", SAMPLE_CLIENT).iterdir())
    assert len(files) == 30 and files[0] == "ads-2026-11-01.csv"
