"""``conversion_inbox_sensor`` through ``build_sensor_context``: cursor, run keys, settling, temp names, limits."""

import json
import time
from pathlib import Path

import dagster as dg
import pytest

from optimizer_pipeline.defs.testloop import inbox as sensor_module
from optimizer_pipeline.defs.testloop import posteriors
from optimizer_pipeline.defs.testloop.conversions import attributed_conversions, conversion_events
from optimizer_pipeline.defs.testloop.inbox import RUNTIME_ASSETS, conversion_inbox_sensor, conversion_loop_job
from optimizer_pipeline.lib.testloop.inbox import load_cursor
from optimizer_pipeline.partitions import CLIENT
from optimizer_pipeline.resources.inbox import ConversionInbox
from optimizer_pipeline.resources.parquet_io import ParquetIOManager
from optimizer_pipeline.resources.pii import PiiVault
from optimizer_pipeline.resources.registry import ClientRegistry


class Clock:
    """The sensor's clock, moved by the test (files keep their real timestamps)."""

    def __init__(self):
        self.now = time.time_ns()

    def advance(self, seconds: float) -> None:
        self.now += int(seconds * 1e9)


@pytest.fixture
def clock(monkeypatch):
    c = Clock()
    monkeypatch.setattr(sensor_module, "_now_ns", lambda: c.now)
    return c


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions("client", ["acme", "beta"])
        yield inst


def drop(root: Path, client: str, name: str, text: str = '{"not": "parsed by the sensor"}\n') -> Path:
    folder = root / client
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


def tick(instance, root: Path, cursor: str | None, **inbox_kw) -> dg.SensorResult:
    inbox = ConversionInbox(home=str(root.parent), root=str(root), settle_seconds=30, **inbox_kw)
    ctx = dg.build_sensor_context(instance=instance, cursor=cursor, resources={"inbox": inbox})
    result = conversion_inbox_sensor(ctx)
    assert isinstance(result, dg.SensorResult)
    return result


def skip_text(result: dg.SensorResult) -> str:
    return result.skip_reason.skip_message if result.skip_reason else ""


def test_sensor_targets_the_runtime_job(tmp_path):
    res = {
        "io_manager": ParquetIOManager(home=str(tmp_path)),
        "inbox": ConversionInbox(home=str(tmp_path)),
        "pii": PiiVault(home=str(tmp_path)),
        "registry": ClientRegistry(path=str(tmp_path / "clients.yaml")),
    }
    traffic_sources = dg.AssetSpec("traffic_sources", partitions_def=CLIENT)  # another part's asset
    defs = dg.Definitions(
        assets=[
            traffic_sources,
            conversion_events,
            attributed_conversions,
            posteriors.pattern_posteriors,
            posteriors.test_recommendations,
        ],
        jobs=[conversion_loop_job],
        sensors=[conversion_inbox_sensor],
        resources=res,
    )
    job = defs.resolve_job_def("conversion_loop_job")
    assert {k.to_user_string() for k in job.asset_layer.executable_asset_keys} == set(RUNTIME_ASSETS)
    assert job.partitions_def.name == "client"
    assert conversion_inbox_sensor.job_name == "conversion_loop_job"
    assert conversion_inbox_sensor.default_status == dg.DefaultSensorStatus.RUNNING


def test_settle_temp_names_cursor_and_one_run_per_client(tmp_path, instance, clock):
    root = tmp_path / "inbox"
    first = tick(instance, root, None)
    assert not first.run_requests and "no new settled event files" in skip_text(first)

    drop(root, "acme", "a.jsonl")
    drop(root, "acme", ".a2.jsonl.tmp")  # uploads in flight and dotfiles are never candidates
    drop(root, "acme", "a3.jsonl.part")
    drop(root, "acme", "notes.txt")
    settling = tick(instance, root, first.cursor)
    assert not settling.run_requests and "acme: 1 file(s) still settling" in skip_text(settling)

    clock.advance(60)
    ready = tick(instance, root, settling.cursor)
    [req] = ready.run_requests
    assert req.partition_key == "acme" and req.run_key.startswith("acme:")
    assert req.tags["optimizer/trigger"] == "conversion_inbox" and req.tags["optimizer/new_files"] == "1"
    marks = load_cursor(ready.cursor)
    assert set(marks) == {"acme"} and marks["acme"][1] == "a.jsonl"

    again = tick(instance, root, ready.cursor)
    assert not again.run_requests and again.cursor == ready.cursor  # nothing new: no run

    drop(root, "acme", "b.jsonl")
    drop(root, "beta", "x.ndjson")
    drop(root, "beta", "y.json")
    clock.advance(60)
    both = tick(instance, root, again.cursor)
    by_client = {r.partition_key: r for r in both.run_requests}
    assert sorted(by_client) == ["acme", "beta"]  # one run per client, whatever the number of files
    assert by_client["beta"].tags["optimizer/new_files"] == "2"
    assert by_client["acme"].run_key != req.run_key

    # a reset (or lost) cursor asks again for exactly the run keys already issued: Dagster starts no duplicate
    reset = tick(instance, root, None)
    assert {r.run_key for r in reset.run_requests} == {r.run_key for r in both.run_requests}
    assert json.loads(reset.cursor) == json.loads(both.cursor)


def test_limit_per_tick_spreads_a_backlog_over_ticks(tmp_path, instance, clock):
    root = tmp_path / "inbox"
    for i in range(5):
        drop(root, "acme", f"f{i}.jsonl")
    clock.advance(60)
    cursor, seen = None, []
    for expected in (2, 2, 1):
        result = tick(instance, root, cursor, max_files_per_tick=2)
        [req] = result.run_requests
        assert req.tags["optimizer/new_files"] == str(expected)
        seen.append(req.run_key)
        cursor = result.cursor
    assert len(set(seen)) == 3
    assert not tick(instance, root, cursor, max_files_per_tick=2).run_requests


def test_unregistered_folders_and_deleted_clients(tmp_path, instance, clock):
    root = tmp_path / "inbox"
    drop(root, "acme", "a.jsonl")
    drop(root, "ghost", "g.jsonl")
    clock.advance(60)
    result = tick(instance, root, None)
    assert [r.partition_key for r in result.run_requests] == ["acme"]  # ghost is not a client partition
    instance.delete_dynamic_partition("client", "acme")
    after = tick(instance, root, result.cursor)
    assert not after.run_requests
    assert "without a registered client (ignored): acme, ghost" in skip_text(after)
    assert load_cursor(after.cursor) == {}  # the deleted client's mark is dropped, the cursor stays small


def _page_view(message_id: str) -> str:
    event = {"messageId": message_id, "type": "page", "anonymousId": message_id, "timestamp": "2026-02-03T10:00:00Z"}
    return json.dumps(event) + "\n"


def test_a_sensor_run_reads_exactly_the_files_its_run_key_covers(tmp_path, instance, clock):
    root = tmp_path / "inbox"
    drop(root, "acme", "a.jsonl", _page_view("m-a"))
    drop(root, "acme", "b.jsonl", _page_view("m-b"))
    clock.advance(60)
    [req] = tick(instance, root, None).run_requests
    assert req.run_config == sensor_module.inbox_run_config(["a.jsonl", "b.jsonl"])

    late = drop(root, "acme", "c.jsonl", _page_view("m-c"))  # lands between the tick and the run
    resources = {"inbox": ConversionInbox(home=str(tmp_path), root=str(root)), "pii": PiiVault(home=str(tmp_path))}
    resources["io_manager"] = ParquetIOManager(home=str(tmp_path))

    def run(run_config: dict | None) -> dict:
        result = dg.materialize(
            [conversion_events], partition_key="acme", instance=instance, resources=resources, run_config=run_config
        )
        [mat] = [
            m
            for m in result.asset_materializations_for_node("conversion_events")
            if m.asset_key.path == ["conversion_events"]
        ]
        return {k: v.value for k, v in mat.metadata.items()}

    meta = run(req.run_config)
    assert (meta["files"], meta["read"], meta["accepted"]) == (2, 2, 2)  # c.jsonl waits for its own run
    assert run(None)["files"] == 3  # a materialisation by hand reads the whole folder

    late.unlink()
    (root / "acme" / "a.jsonl").unlink()  # inbox files must never be removed: a run naming one fails clearly
    with pytest.raises(dg.Failure, match=r"no longer in .*a\.jsonl"):
        run(req.run_config)
