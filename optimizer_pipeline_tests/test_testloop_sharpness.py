"""``test_loop.sharpness`` from the registry reaches ``test_recommendations`` through Dagster: the shares are the
reshaped policy's, kappa is recorded (column, reason, metadata), ``p_best`` and the posteriors are untouched."""

import dagster as dg
import pytest

from optimizer_pipeline.lib.sample.events import generate_events, write_inbox_batch
from optimizer_pipeline_tests.test_testloop_runtime import REGISTRY, START, Loop, traffic_table


def test_registry_sharpness_reshapes_the_recommended_budget(tmp_path):
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions("client", ["acme"])
        _check(tmp_path, inst)


def _check(tmp_path, instance: dg.DagsterInstance) -> None:
    loop = Loop(tmp_path, instance, traffic_table())
    files, _ = generate_events(traffic_table(), seed=21, visitors_per_source=120, start=START, days=12)
    write_inbox_batch(loop.inbox, files)
    meta = loop.run()
    plain = loop.table("test_recommendations").set_index("pattern_hash")
    assert (plain["sharpness"] == 1.0).all() and meta["test_recommendations"]["sharpness"] == 1.0
    posteriors = loop.table("pattern_posteriors")

    (tmp_path / "clients.yaml").write_text(REGISTRY.format(extra=", sharpness: 8"))
    meta = loop.run(("test_recommendations",))["test_recommendations"]
    sharp = loop.table("test_recommendations").set_index("pattern_hash")
    assert meta["sharpness"] == 8.0 and (sharp["sharpness"] == 8.0).all()
    assert sharp["reason"].str.contains("; sharpness 8: wins ", regex=False).all()
    leader = plain["win_share"].idxmax()
    assert sharp.loc[leader, "win_share"] > plain.loc[leader, "win_share"]
    assert sharp.loc[leader, "budget_share"] > plain.loc[leader, "budget_share"]
    shared = plain.index.intersection(sharp.index)
    assert (sharp.loc[shared, "p_best"] == plain.loc[shared, "p_best"]).all()  # a belief, not reshaped
    assert loop.table("pattern_posteriors").equals(posteriors)
    assert sharp["budget_share"].sum() == pytest.approx(1.0)
