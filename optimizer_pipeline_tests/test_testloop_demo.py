"""``run_testloop_demo`` on the sample registry: set-up assets, a generated inbox, the runtime assets, a summary."""

import hashlib
import json

import dagster as dg
from dagster._core.scheduler.instigation import InstigatorStatus, InstigatorType

from optimizer_pipeline.cli.demo import SETTLED_SENSORS, demo_resources
from optimizer_pipeline.cli.sensor_state import settle_sensor_cursors, stored_sensor_cursor
from optimizer_pipeline.cli.testloop_demo import run_testloop_demo
from optimizer_pipeline.definitions import load_definitions
from optimizer_pipeline.defs.registry.sync import apply_registry
from optimizer_pipeline.lib.registry.clients import SAMPLE_CLIENTS_FILE, load_registry
from optimizer_pipeline.lib.sample.corpus import DEFAULT_SEED


def test_demo_drops_a_batch_runs_the_loop_and_reproduces(tmp_path, monkeypatch):
    for name in ("OPTIMIZER_INBOX_DIR", "OPTIMIZER_CLIENTS_FILE", "OPTIMIZER_PII_KEY", "OPTIMIZER_TIKTOK_SOURCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("OPTIMIZER_HOME", str(tmp_path))
    registry = load_registry(SAMPLE_CLIENTS_FILE)
    defs = load_definitions(demo_resources(tmp_path, DEFAULT_SEED, 0.3))  # the demo's resources, not the env
    with dg.instance_for_test() as instance:
        apply_registry(registry, instance)
        kw = {"registry": registry, "client": "glowfuel", "seed": 5, "visitors_per_source": 40, "days": 8, "defs": defs}
        out = run_testloop_demo(instance, tmp_path, **kw)
        truth = json.loads((tmp_path / "sample" / "conversion_truth_glowfuel.json").read_text())
        e = truth["events"]
        assert (
            f"read {e['read']} = accepted {e['accepted']} + rejected {e['rejected']} + duplicates "
            f"{e['duplicates']} + ignored {e['ignored']}" in out
        )
        assert f"{truth['orders']['attributed']} attributed (7-day window)" in out
        assert "planted rates inside their 95% credible interval:" in out and "Recommendations" in out
        inbox_files = sorted(p.name for p in (tmp_path / "inbox" / "glowfuel").iterdir())
        assert inbox_files == sorted(truth["files"])
        for asset in ("conversion_events", "attributed_conversions", "pattern_posteriors", "test_recommendations"):
            assert instance.get_materialized_partitions(dg.AssetKey(asset)) == {"glowfuel"}
        posteriors = tmp_path / "data" / "pattern_posteriors" / "glowfuel.parquet"
        before = hashlib.sha256(posteriors.read_bytes()).hexdigest()
        assert run_testloop_demo(instance, tmp_path, **kw) == out  # same seed: same files, tables and summary
        assert hashlib.sha256(posteriors.read_bytes()).hexdigest() == before
        # the runs carry named jobs, and the sensors are left where the demo's runs left the data
        assert {r.job_name for r in instance.get_runs()} == {"testloop_setup_job", "conversion_loop_job"}
        settled = settle_sensor_cursors(defs, instance, SETTLED_SENSORS)
        assert settled["conversion_inbox_sensor"] == "1 run(s) already covered", settled
        for name in SETTLED_SENSORS:  # what each sensor's first daemon tick would do: start nothing
            cursor = stored_sensor_cursor(instance, name)
            with dg.build_sensor_context(instance=instance, cursor=cursor, resources=dict(defs.resources)) as ctx:
                assert not defs.resolve_sensor_def(name)(ctx).run_requests, name
        states = instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
        assert {s.name: s.status for s in states} == dict.fromkeys(SETTLED_SENSORS, InstigatorStatus.DECLARED_IN_CODE)
