"""Leave the sensors' cursors where the demo's own runs left the data, so the first ``dagster dev`` afterwards
starts no duplicate run.

The demo runs in process, without the daemon: without this, ``conversion_inbox_sensor`` would find the demo's
event files new (empty cursor) and start ``conversion_loop_job`` again, and the automation sensor would start
from no cursor. Each sensor is evaluated once here, as its first daemon tick would be, and the cursor it returns
is stored in the instance the way ``dagster sensor cursor --set`` stores one (``dagster/_cli/sensor.py``). The
stored state is looked up by selector (code location, repository, sensor name), so it is keyed by the code location
name of ``workspace.yaml``; a sensor that is RUNNING by default keeps the status ``DECLARED_IN_CODE``, as the
daemon would store it (a STOPPED state would switch it off).
"""

from __future__ import annotations

import dagster as dg
from dagster._core.definitions.asset_daemon_cursor import AssetDaemonCursor
from dagster._core.definitions.repository_definition.valid_definitions import SINGLETON_REPOSITORY_NAME
from dagster._core.remote_origin import RegisteredCodeLocationOrigin, RemoteInstigatorOrigin, RemoteRepositoryOrigin
from dagster._core.scheduler.instigation import (
    InstigatorState,
    InstigatorStatus,
    InstigatorType,
    SensorInstigatorData,
)
from dagster._daemon.asset_daemon import asset_daemon_cursor_to_instigator_serialized_cursor
from dagster._time import get_current_timestamp

from optimizer_pipeline.definitions import CODE_LOCATION


def sensor_origin(name: str, location: str = CODE_LOCATION) -> RemoteInstigatorOrigin:
    """The origin the daemon files a sensor of this code location under (only its selector is used for lookup)."""
    repository = RemoteRepositoryOrigin(RegisteredCodeLocationOrigin(location), SINGLETON_REPOSITORY_NAME)
    return RemoteInstigatorOrigin(repository, name)


def store_sensor_cursor(instance: dg.DagsterInstance, sensor: dg.SensorDefinition, cursor: str | None) -> None:
    """Set ``sensor``'s stored cursor (creating its state when the daemon never ran), keeping its status."""
    origin = sensor_origin(sensor.name)
    stored = instance.get_instigator_state(origin.get_id(), _selector_id(origin))
    running = sensor.default_status == dg.DefaultSensorStatus.RUNNING
    data = SensorInstigatorData(
        min_interval=sensor.minimum_interval_seconds,
        cursor=cursor,
        last_sensor_start_timestamp=get_current_timestamp(),
        sensor_type=sensor.sensor_type,
    )
    if stored is None:
        status = InstigatorStatus.DECLARED_IN_CODE if running else InstigatorStatus.STOPPED
        instance.add_instigator_state(InstigatorState(origin, InstigatorType.SENSOR, status, data))
    else:
        instance.update_instigator_state(stored.with_data(data))


def stored_sensor_cursor(instance: dg.DagsterInstance, name: str) -> str | None:
    """The cursor stored for sensor ``name`` of this code location (None when there is none)."""
    origin = sensor_origin(name)
    state = instance.get_instigator_state(origin.get_id(), _selector_id(origin))
    return getattr(state.instigator_data, "cursor", None) if state else None


def settle_sensor_cursors(defs: dg.Definitions, instance: dg.DagsterInstance, names: tuple[str, ...]) -> dict[str, str]:
    """Evaluate each named (run-requesting) sensor once against the instance and store the cursor it returns;
    returns sensor name → what its tick would have done (requests are dropped: their work is already done)."""
    outcome: dict[str, str] = {}
    for name in names:
        sensor = defs.resolve_sensor_def(name)
        resources = dict(defs.resources or {})
        with dg.build_sensor_context(
            instance=instance, cursor=stored_sensor_cursor(instance, name), resources=resources
        ) as context:
            result = sensor(context)
        if not isinstance(result, dg.SensorResult):
            raise TypeError(f"{name} returned {type(result).__name__}; only SensorResult ticks carry their cursor")
        store_sensor_cursor(instance, sensor, result.cursor)
        runs = len(result.run_requests or [])
        skipped = result.skip_reason.skip_message if result.skip_reason else None
        outcome[name] = f"{runs} run(s) already covered" if runs else (skipped or "nothing new")
    return outcome


def store_automation_cursor(defs: dg.Definitions, instance: dg.DagsterInstance, cursor: AssetDaemonCursor) -> None:
    """Store the cursor of the demo's last automation evaluation as the automation sensor's, as the asset daemon
    serialises it, so its first tick compares against the demo's last evaluation instead of starting afresh."""
    sensor = defs.resolve_sensor_def("automation_sensor")
    store_sensor_cursor(instance, sensor, asset_daemon_cursor_to_instigator_serialized_cursor(cursor))


def _selector_id(origin: RemoteInstigatorOrigin) -> str:
    return InstigatorState(origin, InstigatorType.SENSOR, InstigatorStatus.STOPPED).selector_id
