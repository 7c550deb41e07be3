"""``client_registry_sensor``: keeps the dynamic partitions equal to ``clients.yaml``."""

import dagster as dg

from optimizer_pipeline.defs.registry.sync import diff_registry, partition_requests, registry_report
from optimizer_pipeline.defs.resources import tiktok_source_catalog
from optimizer_pipeline.lib.registry.checks import check_registry
from optimizer_pipeline.lib.registry.clients import RegistryError
from optimizer_pipeline.resources.registry import ClientRegistry


@dg.sensor(
    name="client_registry_sensor",
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Adds client_hashtag / client partitions for new registry entries and removes deleted ones.",
)
def client_registry_sensor(
    context: dg.SensorEvaluationContext, registry: ClientRegistry
) -> dg.SensorResult | dg.SkipReason:
    """Starts no runs: scraping costs money, so materialising new partitions stays the user's decision.

    The tick's message (a skip reason, since no run is requested) says which file was read, what was added and
    removed, and every problem of the registry, so a sync reverted by a sensor reading another file is visible.
    """
    try:
        reg = registry.load()
    except RegistryError as exc:
        # A broken file must not delete every partition: report and change nothing.
        return dg.SkipReason(f"registry not applied: {exc}")
    diff = diff_registry(reg, context.instance)
    message = registry_report(reg, diff, check_registry(reg, tiktok_source_catalog()))
    if diff.empty:
        return dg.SkipReason(message)
    context.log.info(message)
    return dg.SensorResult(dynamic_partitions_requests=partition_requests(diff), skip_reason=message)
