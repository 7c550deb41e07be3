"""``hashtag_refresh_schedule``: each registered hashtag and competitor is re-scraped when its registry cron fires,
once per fire time, through the named ``tiktok_refresh_job``."""

from __future__ import annotations

from datetime import UTC, datetime

import dagster as dg

from optimizer_pipeline.defs.market.schedules import due_refreshes, fire_time, hashtag_refresh_schedule
from optimizer_pipeline.defs.registry.sync import apply_registry
from optimizer_pipeline.lib.registry.clients import load_registry
from optimizer_pipeline.resources.registry import ClientRegistry

REGISTRY = """
defaults: {refresh: '0 6 * * 1'}
clients:
  - name: Acme
    competitors: [{handle: rival, refresh: '10 6 * * *'}]
    hashtags: [fit, {tag: gym, refresh: none}, {tag: yoga, refresh: '0 */2 * * *'}]
"""
MONDAY_0600 = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)  # a Monday


def _evaluate(instance: dg.DagsterInstance, path: str, at: datetime) -> list[dg.RunRequest] | dg.SkipReason:
    resources = {"registry": ClientRegistry(path=path)}
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=at, resources=resources) as context:
        result = hashtag_refresh_schedule(context)
    return result if isinstance(result, dg.SkipReason) else list(result)


def test_due_partitions_get_one_run_each_keyed_by_fire_time(tmp_path):
    clients = tmp_path / "clients.yaml"
    clients.write_text(REGISTRY)
    with dg.instance_for_test() as instance:
        apply_registry(load_registry(clients), instance)
        requests = _evaluate(instance, str(clients), MONDAY_0600)
        assert sorted((r.partition_key, r.run_key) for r in requests) == [
            ("acme__fit", "acme__fit:2026-01-05T06:00:00+00:00"),  # the weekly default fires on Monday 06:00
            ("acme__yoga", "acme__yoga:2026-01-05T06:00:00+00:00"),  # every two hours
        ]
        assert {r.tags["optimizer/trigger"] for r in requests} == {"hashtag_refresh"}
        assert hashtag_refresh_schedule.job_name == "tiktok_refresh_job"
        later = _evaluate(instance, str(clients), MONDAY_0600.replace(minute=15))  # 06:10 fell in (06:00, 06:15]
        assert [(r.partition_key, r.run_key) for r in later] == [
            ("acme__at-rival", "acme__at-rival:2026-01-05T06:10:00+00:00")
        ]
        quiet = _evaluate(instance, str(clients), MONDAY_0600.replace(minute=30))
        assert isinstance(quiet, dg.SkipReason) and "no refresh due" in quiet.skip_message


def test_unregistered_partitions_and_a_broken_registry_request_nothing(tmp_path):
    clients = tmp_path / "clients.yaml"
    clients.write_text(REGISTRY)
    with dg.instance_for_test() as instance:  # the registry sensor has not added the partitions yet
        assert isinstance(_evaluate(instance, str(clients), MONDAY_0600), dg.SkipReason)
        apply_registry(load_registry(clients), instance)
        clients.write_text(REGISTRY.replace("'0 */2 * * *'", "'0 25 * * *'"))  # hour 25: not a cron
        skipped = _evaluate(instance, str(clients), MONDAY_0600)
        assert isinstance(skipped, dg.SkipReason)
        assert "registry not usable" in skipped.skip_message and "'yoga'" in skipped.skip_message


def test_fire_time_is_the_latest_in_the_half_open_window(tmp_path):
    start, end = MONDAY_0600.replace(hour=5, minute=45), MONDAY_0600
    assert fire_time("0 6 * * 1", start, end) == MONDAY_0600
    assert fire_time("0 6 * * 1", end, end.replace(minute=15)) is None  # (06:00, 06:15] excludes 06:00
    assert fire_time("*/5 * * * *", start, end) == MONDAY_0600
    clients = tmp_path / "clients.yaml"
    clients.write_text(REGISTRY)
    due = list(due_refreshes(load_registry(clients), {"acme__fit", "acme__gym"}, start, end))
    assert due == [("acme__fit", MONDAY_0600)]  # gym is 'none'; yoga and rival are not registered
