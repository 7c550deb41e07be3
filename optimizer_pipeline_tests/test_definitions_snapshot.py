"""A snapshot of the code location: asset keys, groups, partitions, checks, automation conditions, pools, code
versions, jobs, sensors and schedules. Any change to them fails here until the snapshot is regenerated on purpose:

    OPTIMIZER_UPDATE_SNAPSHOT=1 .venv/bin/python -m pytest optimizer_pipeline_tests/test_definitions_snapshot.py

and the diff of ``snapshots/definitions.json`` is reviewed with the change that caused it.
"""

from __future__ import annotations

import difflib
import json
import os
from pathlib import Path
from typing import Any

import dagster as dg

from optimizer_pipeline.definitions import load_definitions

SNAPSHOT = Path(__file__).parent / "snapshots" / "definitions.json"


def _condition(condition: dg.AutomationCondition | None) -> str | None:
    """A condition as a compact expression: our own conditions down to Dagster's named ones (``eager``,
    ``any_deps_in_progress``, …), which are not expanded, so a Dagster release that rewrites its internals does not
    fail this test while a change of ours does."""
    if condition is None:
        return None
    label = condition.get_label()
    if label and hasattr(dg.AutomationCondition, label):
        return label  # one of Dagster's own named conditions, e.g. ``eager``
    kids = ", ".join(_condition(child) or "?" for child in condition.children)
    return f"{label}: {condition.name}({kids})" if label else f"{condition.name}({kids})"


def _partitions(pdef: dg.PartitionsDefinition | None) -> str | None:
    if pdef is None:
        return None
    if isinstance(pdef, dg.MultiPartitionsDefinition):
        return " × ".join(_partitions(d.partitions_def) or "" for d in pdef.partitions_defs)
    if isinstance(pdef, dg.DynamicPartitionsDefinition):
        return f"dynamic:{pdef.name}"
    if isinstance(pdef, dg.StaticPartitionsDefinition):
        return "static:" + ",".join(pdef.get_partition_keys())
    return type(pdef).__name__


def snapshot(defs: dg.Definitions) -> dict[str, Any]:
    graph = defs.resolve_asset_graph()
    assets: dict[str, Any] = {}
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        ad = node.assets_def
        checks = sorted((spec for spec in ad.check_specs if spec.asset_key == key), key=lambda spec: spec.name)
        assets[key.to_user_string()] = {
            "group": node.group_name,
            "partitions": _partitions(node.partitions_def),
            "deps": sorted(k.to_user_string() for k in node.parent_keys),
            "code_version": node.code_version,
            "pools": sorted(ad.node_def.pools) if ad.is_executable else [],
            "automation": _condition(node.automation_condition),
            "checks": {spec.name: {"blocking": spec.blocking} for spec in checks},
        }
    jobs = {}
    for job in defs.jobs or []:
        resolved = defs.resolve_job_def(job.name)
        jobs[job.name] = sorted(k.to_user_string() for k in resolved.asset_layer.executable_asset_keys)
    sensors = {
        s.name: {"status": s.default_status.value, "job": s.job_name if s.has_jobs else None}
        for s in sorted(defs.sensors or [], key=lambda s: s.name)
    }
    schedules = {
        s.name: {"cron": s.cron_schedule, "status": s.default_status.value, "job": s.job_name}
        for s in sorted(defs.schedules or [], key=lambda s: s.name)
    }
    return {"assets": assets, "jobs": dict(sorted(jobs.items())), "sensors": sensors, "schedules": schedules}


def test_definitions_match_the_snapshot(monkeypatch, tmp_path):
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.delenv("OPTIMIZER_TIKTOK_SOURCE", raising=False)
    current = json.dumps(snapshot(load_definitions()), indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    if os.environ.get("OPTIMIZER_UPDATE_SNAPSHOT") == "1":
        SNAPSHOT.parent.mkdir(exist_ok=True)
        SNAPSHOT.write_text(current)
    stored = SNAPSHOT.read_text() if SNAPSHOT.exists() else ""
    diff = "".join(difflib.unified_diff(stored.splitlines(True), current.splitlines(True), "snapshot", "current"))
    assert not diff, f"the definitions changed; if that is intended, regenerate the snapshot (see module doc):\n{diff}"
