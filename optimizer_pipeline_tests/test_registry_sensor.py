import dagster as dg
import pytest

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


@pytest.fixture(autouse=True)
def sample_source(monkeypatch: pytest.MonkeyPatch) -> None:
    """The sensor checks hashtags against the active source: Apify (which has any) unless a test says otherwise."""
    monkeypatch.setenv("OPTIMIZER_TIKTOK_SOURCE", "apify")


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
        assert first.skip_reason is not None
        assert first.skip_reason.skip_message == (
            f"added client_hashtag: acme__fitness, acme__yoga, beta-foods__mealprep (new in {path}); "
            f"added client: acme, beta-foods (new in {path})"
        )
        apply(instance, first)
        second = tick(instance, path)
        assert isinstance(second, dg.SkipReason)  # nothing to do the second time
        assert second.skip_message == f"partitions already match {path}"

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
        assert third.skip_reason.skip_message == (
            f"removed client_hashtag: acme__yoga, beta-foods__mealprep (not in {path}); "
            f"removed client: beta-foods (not in {path})"
        )
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


def test_tick_reports_missing_files_and_hashtags_the_sample_does_not_have(tmp_path, monkeypatch):
    monkeypatch.setenv("OPTIMIZER_TIKTOK_SOURCE", "sample")
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "creatives.yaml").write_text("creatives: []\n")
    path = tmp_path / "conf" / "clients.yaml"
    path.write_text(
        "clients:\n  - name: Acme\n    hashtags: [nutrition, fitness]\n"
        "    test_loop: {creatives_file: creatives.yaml, influencers_file: exports/influencers.csv}\n"
    )
    with dg.instance_for_test() as instance:
        result = tick(instance, path)
        lines = result.skip_reason.skip_message.splitlines()
        assert lines[0].startswith("added client_hashtag: acme__fitness, acme__nutrition")
        missing = tmp_path / "conf" / "exports" / "influencers.csv"
        assert lines[1:] == [
            f"problem: {path}: client 'acme': test_loop.influencers_file: file {str(missing)!r} does not exist "
            "(paths are relative to the registry file)",
            f"problem: {path}: client 'acme': hashtags: #fitness is not in the sample source, which has "
            "#mealprep, #nutrition; its partition acme__fitness will fail to scrape",
        ]
        apply(instance, result)  # problems are reported, the partitions still follow the file
        assert instance.get_dynamic_partitions("client") == ["acme"]


def test_registry_sync_command_prints_the_changes_and_the_problems(tmp_path, monkeypatch, capsys):
    from optimizer_pipeline.cli.main import main

    monkeypatch.setenv("OPTIMIZER_TIKTOK_SOURCE", "sample")
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    path = tmp_path / "clients.yaml"
    path.write_text("clients:\n  - name: Acme\n    hashtags: [nutrition, fitness]\n")
    assert main(["registry", "sync", "--clients", str(path)]) == 1  # applied, but a hashtag cannot be scraped
    out = capsys.readouterr().out.splitlines()
    assert (
        out[0]
        == f"added client_hashtag: acme__fitness, acme__nutrition (new in {path}); added client: acme (new in {path})"
    )
    assert out[1].startswith("problem: ") and "#fitness is not in the sample source, which has #mealprep" in out[1]

    path.write_text("clients:\n  - name: Acme\n    hashtags: [nutrition]\n")
    assert main(["registry", "sync", "--clients", str(path)]) == 0
    assert capsys.readouterr().out.strip() == f"removed client_hashtag: acme__fitness (not in {path})"
