"""``run_testloop_demo`` on the sample registry: set-up assets, a generated inbox, the runtime assets, a summary."""

import hashlib
import json

import dagster as dg

from optimizer_pipeline.cli.demo import load_definitions
from optimizer_pipeline.cli.testloop_demo import run_testloop_demo
from optimizer_pipeline.defs.registry.sync import apply_registry
from optimizer_pipeline.lib.registry.clients import SAMPLE_CLIENTS_FILE, load_registry


def test_demo_drops_a_batch_runs_the_loop_and_reproduces(tmp_path, monkeypatch):
    for name in ("OPTIMIZER_INBOX_DIR", "OPTIMIZER_CLIENTS_FILE", "OPTIMIZER_PII_KEY", "OPTIMIZER_TIKTOK_SOURCE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("OPTIMIZER_HOME", str(tmp_path))
    registry = load_registry(SAMPLE_CLIENTS_FILE)
    defs = load_definitions()
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
