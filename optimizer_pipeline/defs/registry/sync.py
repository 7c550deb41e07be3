"""Registry → dynamic partitions: one diff used by the sensor (daemon) and by ``registry sync`` (no daemon).

Both also report the registry's problems (:func:`optimizer_pipeline.lib.registry.checks.check_registry`: files it
names that are missing, hashtags the active source does not have) and say which file they read, because the
sensor of a ``dagster dev`` started with another ``OPTIMIZER_CLIENTS_FILE`` reverts what ``registry sync`` did.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import dagster as dg

from optimizer_pipeline.lib.registry.checks import RegistryProblem
from optimizer_pipeline.lib.registry.clients import Registry
from optimizer_pipeline.partitions import CLIENT, CLIENT_HASHTAG


@dataclass
class PartitionDiff:
    """Keys to add and remove per dynamic partitions definition."""

    add: dict[str, list[str]] = field(default_factory=dict)
    remove: dict[str, list[str]] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not any(self.add.values()) and not any(self.remove.values())

    def summary(self) -> str:
        parts = [f"+{name}: {', '.join(keys)}" for name, keys in self.add.items() if keys]
        parts += [f"-{name}: {', '.join(keys)}" for name, keys in self.remove.items() if keys]
        return "; ".join(parts) or "in sync"

    def describe(self, registry_path: str) -> str:
        """What a sync did, in words, e.g. ``removed client_hashtag: glowfuel__old (not in /x/clients.yaml)``."""
        parts = [f"added {name}: {', '.join(keys)} (new in {registry_path})" for name, keys in self.add.items() if keys]
        parts += [
            f"removed {name}: {', '.join(keys)} (not in {registry_path})" for name, keys in self.remove.items() if keys
        ]
        return "; ".join(parts) or f"partitions already match {registry_path}"


def registry_report(registry: Registry, diff: PartitionDiff, problems: list[RegistryProblem]) -> str:
    """The sensor tick's message and ``registry sync``'s output: the changes, then one line per problem."""
    lines = [diff.describe(registry.path)]
    lines += [f"problem: {p}" for p in problems]
    return "\n".join(lines)


def diff_registry(registry: Registry, instance: dg.DagsterInstance) -> PartitionDiff:
    """What must change so the instance's partitions equal the registry's."""
    wanted = {CLIENT_HASHTAG.name: set(registry.client_hashtag_keys()), CLIENT.name: set(registry.client_keys())}
    diff = PartitionDiff()
    for name, keys in wanted.items():
        have = set(instance.get_dynamic_partitions(name))
        diff.add[name] = sorted(keys - have)
        diff.remove[name] = sorted(have - keys)
    return diff


def partition_requests(diff: PartitionDiff) -> list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest]:
    """The sensor's form of a diff."""
    defs = {CLIENT_HASHTAG.name: CLIENT_HASHTAG, CLIENT.name: CLIENT}
    requests: list[dg.AddDynamicPartitionsRequest | dg.DeleteDynamicPartitionsRequest] = []
    for name, keys in diff.add.items():
        if keys:
            requests.append(defs[name].build_add_request(keys))
    for name, keys in diff.remove.items():
        if keys:
            requests.append(defs[name].build_delete_request(keys))
    return requests


def apply_registry(registry: Registry, instance: dg.DagsterInstance) -> PartitionDiff:
    """Apply a diff directly (the CLI path); running it twice changes nothing the second time."""
    diff = diff_registry(registry, instance)
    for name, keys in diff.add.items():
        if keys:
            instance.add_dynamic_partitions(name, keys)
    for name, keys in diff.remove.items():
        for key in keys:
            instance.delete_dynamic_partition(name, key)
    return diff
