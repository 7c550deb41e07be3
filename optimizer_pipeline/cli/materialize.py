"""Run in this process what Dagster itself selects: named jobs for the roots, automation ticks for the rest.

The demo and tests use it instead of the daemon and a process per run (about 20 s per partition versus about 1 s in
process). Nothing here decides what depends on what: :func:`run_until_settled` evaluates the assets' automation
conditions exactly as the automation sensor does (``dg.evaluate_automation_conditions``), runs every requested
asset partition through the named job that selects it (``defs/jobs.py``, ``conversion_loop_job``), upstream levels
first, and ticks again until nothing is requested. Every run is recorded in the instance under its job's name, so
``dagster dev`` shows it afterwards.
"""

from __future__ import annotations

import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg
from dagster._core.definitions.asset_daemon_cursor import AssetDaemonCursor

from optimizer_pipeline.defs.jobs import AUTOMATION_JOB_NAMES

#: Console logs of in-process runs: warnings and errors only (no Dagster DEBUG/INFO lines in the demo's output).
QUIET_LOGS: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
#: Ticks after which automation must have settled; more means a condition keeps re-requesting (a loop).
MAX_TICKS = 12

OnRun = Callable[[str, str, list[str]], None]  # (job name, partition key, asset names)


@dataclass
class RunLog:
    """What the in-process runs materialised: metadata per (asset, partition key), runs, the automation cursor."""

    metadata: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    runs: int = 0
    ticks: int = 0
    cursor: AssetDaemonCursor | None = None


def materialization_metadata(result: dg.ExecuteInProcessResult) -> dict[str, dict[str, Any]]:
    """Asset key → plain metadata values of every materialisation in an in-process run."""
    out: dict[str, dict[str, Any]] = {}
    for ev in result.get_asset_materialization_events():
        mat = ev.step_materialization_data.materialization
        out[mat.asset_key.to_user_string()] = {k: v.value for k, v in mat.metadata.items()}
    return out


def run_job(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    job_name: str,
    partition_key: str,
    log: RunLog,
    *,
    assets: Iterable[dg.AssetKey] | None = None,
    trigger: str = "demo",
    on_run: OnRun | None = None,
    run_config: Mapping[str, Any] | None = None,
) -> dict[str, dict[str, Any]]:
    """One in-process run of ``job_name`` (the given assets of it) for one partition, with ``run_config`` (its
    ``ops`` section) beside the quiet logs; raises when it fails."""
    job = defs.resolve_job_def(job_name)
    selection = sorted(assets, key=lambda k: k.to_user_string()) if assets is not None else None
    names = sorted(k.to_user_string() for k in (selection or job.asset_layer.selected_asset_keys))
    if on_run:
        on_run(job_name, partition_key, names)
    result = job.execute_in_process(
        run_config={**QUIET_LOGS, **(run_config or {})},
        instance=instance,
        partition_key=partition_key,
        asset_selection=selection,
        tags={"optimizer/trigger": trigger},
        raise_on_error=False,
    )
    log.runs += 1
    if not result.success:
        raise RuntimeError(f"{job_name} [{partition_key}] ({', '.join(names)}) failed")
    meta = materialization_metadata(result)
    for asset, values in meta.items():
        log.metadata[(asset, partition_key)] = values
    return meta


def job_of_asset(defs: dg.Definitions) -> dict[dg.AssetKey, str]:
    """Asset key → the named job that runs it for automation (the first of ``AUTOMATION_JOB_NAMES`` selecting it)."""
    owner: dict[dg.AssetKey, str] = {}
    for name in AUTOMATION_JOB_NAMES:
        for key in defs.resolve_job_def(name).asset_layer.selected_asset_keys:
            owner.setdefault(key, name)
    return owner


def barriers(graph: dg.BaseAssetGraph) -> dict[dg.AssetKey, int]:
    """Asset key → how many partition-crossing edges lie upstream of it on the longest path.

    Assets with the same barrier that one job runs for one partition can share a run (the job orders them); an edge
    that is not the identity (``bucket_patterns`` reading every bucket of its hashtag, a [client] rollup reading its
    hashtags) needs every upstream partition finished first, so it starts the next barrier."""
    barrier: dict[dg.AssetKey, int] = {}
    for key in graph.toposorted_asset_keys:
        node = graph.get(key)
        barrier[key] = max(
            (
                barrier[parent]
                + int(
                    graph.get(parent).partitions_def != node.partitions_def
                    or not isinstance(graph.get_partition_mapping(key, parent), dg.IdentityPartitionMapping)
                )
                for parent in node.parent_keys
                if parent in barrier
            ),
            default=0,
        )
    return barrier


def planned_runs(
    defs: dg.Definitions, requested: Mapping[dg.AssetKey, set[str]]
) -> list[tuple[str, str, set[dg.AssetKey]]]:
    """``(job, partition key, assets)`` runs covering ``requested``: one run per job, partition and barrier
    (:func:`barriers`), earlier barriers first. A requested key brings the rest of its execution set (a multi-asset
    that cannot run in part)."""
    graph = defs.resolve_asset_graph()
    barrier_of = barriers(graph)
    owner = job_of_asset(defs)
    runs: dict[tuple[int, str, str], set[dg.AssetKey]] = defaultdict(set)
    for key, partitions in requested.items():
        together = set(graph.get(key).execution_set_asset_keys) | {key}
        barrier = max(barrier_of[k] for k in together)
        job = owner.get(key)
        if job is None:
            raise ValueError(f"automation requested {key.to_user_string()}, which no named job runs")
        for pk in partitions:
            runs[(barrier, job, str(pk))] |= together
    return [(job, pk, keys) for (_, job, pk), keys in sorted(runs.items())]


def automation_tick(
    defs: dg.Definitions, instance: dg.DagsterInstance, cursor: AssetDaemonCursor | None
) -> tuple[dict[dg.AssetKey, set[str]], AssetDaemonCursor]:
    """One evaluation of every automation condition, as the automation sensor's tick: requested partitions per
    asset and the new cursor."""
    with warnings.catch_warnings():  # the evaluator's own default selection uses a beta parameter
        warnings.simplefilter("ignore", dg.BetaWarning)
        result = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
    graph = defs.resolve_asset_graph()
    requested = {
        key: {str(pk) for pk in result.get_requested_partitions(key)}
        for key in graph.materializable_asset_keys
        if result.get_num_requested(key)
    }
    return requested, result.cursor


def run_until_settled(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    log: RunLog,
    *,
    on_run: OnRun | None = None,
    max_ticks: int = MAX_TICKS,
) -> RunLog:
    """Tick automation (from ``log.cursor``) and run what it requests until a tick requests nothing."""
    for _ in range(max_ticks):
        requested, log.cursor = automation_tick(defs, instance, log.cursor)
        log.ticks += 1
        if not requested:
            return log
        for job, pk, keys in planned_runs(defs, requested):
            run_job(defs, instance, job, pk, log, assets=keys, trigger="automation", on_run=on_run)
    raise RuntimeError(f"automation still requests runs after {max_ticks} ticks: a condition re-requests its work")
