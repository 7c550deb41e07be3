"""``influencer_status_sensor``: a status change recorded by ``optimizer-pipeline influencer-status`` re-materialises
``traffic_sources`` (and the posteriors on it) without anyone clicking; cursor, run keys and waiting clients."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pandas as pd

from optimizer_pipeline.cli.main import main as cli_main
from optimizer_pipeline.defs.testloop import posteriors
from optimizer_pipeline.defs.testloop.creatives import creatives
from optimizer_pipeline.defs.testloop.influencers import influencers
from optimizer_pipeline.defs.testloop.status_log import (
    STATUS_ASSETS,
    influencer_status_job,
    influencer_status_sensor,
)
from optimizer_pipeline.defs.testloop.traffic_sources import traffic_sources
from optimizer_pipeline.lib.registry.clients import SAMPLE_CLIENTS_FILE
from optimizer_pipeline.lib.testloop.influencer_status import append_entry, new_entry, status_log_path
from optimizer_pipeline.partitions import CLIENT
from optimizer_pipeline.resources.influencer_status import InfluencerStatusLog
from optimizer_pipeline.resources.parquet_io import ParquetIOManager
from optimizer_pipeline.resources.pii import PiiVault
from optimizer_pipeline.resources.registry import ClientRegistry


def tick(instance: dg.DagsterInstance, home: Path, cursor: str | None) -> dg.SensorResult:
    ctx = dg.build_sensor_context(
        instance=instance, cursor=cursor, resources={"status_log": InfluencerStatusLog(home=str(home))}
    )
    result = influencer_status_sensor(ctx)
    assert isinstance(result, dg.SensorResult)
    return result


def mark_materialized(instance: dg.DagsterInstance, asset: str, client: str) -> None:
    instance.report_runless_asset_event(dg.AssetMaterialization(asset_key=asset, partition=client))


def log_change(home: Path, client: str, handle: str = "someone", status: str = "contacted") -> None:
    append_entry(status_log_path(home, client), new_entry(handle, "cr-1", status))


def skip_text(result: dg.SensorResult) -> str:
    return result.skip_reason.skip_message if result.skip_reason else ""


def selected(req: dg.RunRequest) -> list[str]:
    return [k.to_user_string() for k in req.asset_selection]


def test_sensor_targets_the_status_job_and_runs_by_default():
    assert influencer_status_sensor.job_name == "influencer_status_job"
    assert influencer_status_sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert STATUS_ASSETS[0] == "traffic_sources"


def test_cursor_waiting_clients_selection_and_run_keys(tmp_path):
    home = tmp_path
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(CLIENT.name, ["acme", "beta"])
        first = tick(instance, home, None)
        assert not first.run_requests and skip_text(first) == "no status log changed"

        log_change(home, "acme")
        waiting = tick(instance, home, first.cursor)  # creatives / influencers never materialised: nothing to apply to
        assert not waiting.run_requests and "waiting for creatives and influencers to be materialised: acme" in (
            skip_text(waiting)
        )
        assert json.loads(waiting.cursor) == {}  # not advanced: the change is applied once the set-up exists

        for asset in ("creatives", "influencers"):
            mark_materialized(instance, asset, "acme")
        ready = tick(instance, home, waiting.cursor)
        [req] = ready.run_requests
        assert req.partition_key == "acme" and req.tags["optimizer/trigger"] == "influencer_status"
        assert selected(req) == ["traffic_sources"]  # no conversions yet: the posteriors have no input to read
        assert req.run_key.startswith("acme:status_log:")

        again = tick(instance, home, ready.cursor)
        assert not again.run_requests and again.cursor == ready.cursor
        status_log_path(home, "acme").touch()  # a touched but unchanged log is not a change
        assert not tick(instance, home, ready.cursor).run_requests

        mark_materialized(instance, "attributed_conversions", "acme")
        log_change(home, "acme", status="agreed")
        log_change(home, "beta")  # beta has no set-up yet
        changed = tick(instance, home, again.cursor)
        [req2] = changed.run_requests
        assert selected(req2) == list(STATUS_ASSETS) and req2.run_key != req.run_key
        assert "beta" not in json.loads(changed.cursor)  # beta waits for its set-up; its change is not dropped

        # a reset (or lost) cursor asks for the run key already issued for this log content: no duplicate run
        reset = tick(instance, home, None)
        assert [r.run_key for r in reset.run_requests] == [req2.run_key]

        instance.delete_dynamic_partition(CLIENT.name, "acme")
        assert "acme" not in json.loads(tick(instance, home, changed.cursor).cursor)  # deleted clients leave it


def test_a_logged_status_reaches_traffic_sources_through_the_sensor_run(instance, tmp_path):
    home = tmp_path
    res = {
        "io_manager": ParquetIOManager(home=str(home)),
        "registry": ClientRegistry(path=str(SAMPLE_CLIENTS_FILE)),
        "pii": PiiVault(home=str(home), key=None),
        "status_log": InfluencerStatusLog(home=str(home)),
    }
    assert dg.materialize([creatives, influencers, traffic_sources], partition_key="glowfuel", instance=instance,
                          resources=res).success  # fmt: skip
    before = pd.read_parquet(home / "data" / "traffic_sources" / "glowfuel.parquet").set_index("influencer")
    handle = before.index[before["status"] == "potential"][0]
    creative = before.loc[handle, "creative_id"]
    base = tick(instance, home, None)
    assert not base.run_requests  # no log yet

    argv = ["influencer-status", "--client", "glowfuel", "--handle", handle, "--creative", creative]
    assert cli_main([*argv, "--status", "contacted", "--home", str(home), "--clients", str(SAMPLE_CLIENTS_FILE)]) == 0
    [req] = tick(instance, home, base.cursor).run_requests

    defs = dg.Definitions(
        assets=[
            creatives,
            influencers,
            traffic_sources,
            dg.AssetSpec("attributed_conversions", partitions_def=CLIENT),
            posteriors.pattern_posteriors,
            posteriors.test_recommendations,
        ],
        jobs=[influencer_status_job],
        resources=res,
    )
    job = defs.resolve_job_def("influencer_status_job")
    result = job.execute_in_process(
        partition_key=req.partition_key, asset_selection=req.asset_selection, instance=instance, tags=req.tags
    )
    assert result.success
    after = pd.read_parquet(home / "data" / "traffic_sources" / "glowfuel.parquet").set_index("influencer")
    assert (before.loc[handle, "status"], after.loc[handle, "status"]) == ("potential", "contacted")
    changed = after.index[after["status"] != before["status"]].tolist()
    assert changed == [handle]  # nothing else moved
