import dagster as dg

from optimizer_pipeline.defs.registry.sensors import client_registry_sensor
from optimizer_pipeline.defs.registry.sync import apply_registry
from optimizer_pipeline.lib.registry.clients import load_registry
from optimizer_pipeline.resources.registry import ClientRegistry

TWO_CLIENTS = """
clients:
  - name: Acme
    hashtags: [fitness, yoga]
  - name: Beta Foods
    hashtags: [mealprep]
"""
ONE_CLIENT = """
clients:
  - name: Acme
    hashtags: [fitness]
"""


def tick(instance: dg.DagsterInstance, path) -> dg.SensorResult | dg.SkipReason:
    ctx = dg.build_sensor_context(instance=instance, resources={"registry": ClientRegistry(path=str(path))})
    return client_registry_sensor(ctx)


def apply(instance: dg.DagsterInstance, result: dg.SensorResult) -> None:
    """Apply requests the way the daemon does."""
    for req in result.dynamic_partitions_requests:
        if isinstance(req, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(req.partitions_def_name, list(req.partition_keys))
        else:
            for key in req.partition_keys:
                instance.delete_dynamic_partition(req.partitions_def_name, key)


def test_sensor_adds_removes_and_is_idempotent(tmp_path):
    path = tmp_path / "clients.yaml"
    path.write_text(TWO_CLIENTS)
    with dg.instance_for_test() as instance:
        first = tick(instance, path)
        assert isinstance(first, dg.SensorResult)
        assert not first.run_requests
        adds = {r.partitions_def_name: sorted(r.partition_keys) for r in first.dynamic_partitions_requests}
        assert adds == {
            "client_hashtag": ["acme__fitness", "acme__yoga", "beta-foods__mealprep"],
            "client": ["acme", "beta-foods"],
        }
        apply(instance, first)
        assert isinstance(tick(instance, path), dg.SkipReason)  # nothing to do the second time

        path.write_text(ONE_CLIENT)
        third = tick(instance, path)
        kinds = {
            (type(r).__name__, r.partitions_def_name): sorted(r.partition_keys)
            for r in third.dynamic_partitions_requests
        }
        assert kinds == {
            ("DeleteDynamicPartitionsRequest", "client_hashtag"): ["acme__yoga", "beta-foods__mealprep"],
            ("DeleteDynamicPartitionsRequest", "client"): ["beta-foods"],
        }
        apply(instance, third)
        assert instance.get_dynamic_partitions("client_hashtag") == ["acme__fitness"]
        assert instance.get_dynamic_partitions("client") == ["acme"]
        assert isinstance(tick(instance, path), dg.SkipReason)


def test_broken_registry_changes_nothing(tmp_path):
    path = tmp_path / "clients.yaml"
    path.write_text(TWO_CLIENTS)
    with dg.instance_for_test() as instance:
        apply_registry(load_registry(path), instance)
        path.write_text("clients:\n  - name: Acme\n    hashtags: [{tag: x, min_views: many}]\n")
        result = tick(instance, path)
        assert isinstance(result, dg.SkipReason)
        assert "min_views" in result.skip_message
        assert len(instance.get_dynamic_partitions("client_hashtag")) == 3


def test_cli_sync_path_is_idempotent(tmp_path):
    path = tmp_path / "clients.yaml"
    path.write_text(TWO_CLIENTS)
    with dg.instance_for_test() as instance:
        first = apply_registry(load_registry(path), instance)
        assert first.add["client_hashtag"] == ["acme__fitness", "acme__yoga", "beta-foods__mealprep"]
        second = apply_registry(load_registry(path), instance)
        assert second.empty and second.summary() == "in sync"
