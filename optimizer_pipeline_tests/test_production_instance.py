"""The production instance config (deploy/dagster.postgres.yaml) against the PostgreSQL server on 127.0.0.1."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid

import dagster as dg
import psycopg2
import pytest

from optimizer_pipeline.defs.market.scrape import tiktok_videos
from optimizer_pipeline.defs.registry.sync import apply_registry
from optimizer_pipeline.lib.registry.clients import SAMPLE_CLIENTS_FILE, load_registry
from optimizer_pipeline.lib.sample.corpus import DEFAULT_SEED
from optimizer_pipeline.resources.parquet_io import ParquetIOManager
from optimizer_pipeline.resources.registry import ClientRegistry
from optimizer_pipeline.resources.tiktok import SampleTikTokSource
from optimizer_pipeline_tests.conftest import TEST_SCALE
from optimizer_pipeline_tests.shared_data import REPO_ROOT

#: The server CI has; the port is a test setting so the "no server" message itself can be tested.
PG_HOST, PG_PORT = "127.0.0.1", int(os.environ.get("OPTIMIZER_TEST_PG_PORT", "5432"))


@pytest.fixture
def pg_database():
    """A fresh database on the local server (trust auth), dropped afterwards. No server is a failure, not a skip:
    the production configuration is only proven against a real PostgreSQL."""
    name = f"optimizer_test_{uuid.uuid4().hex[:10]}"
    try:
        conn = psycopg2.connect(host=PG_HOST, port=PG_PORT, user="postgres", dbname="postgres", connect_timeout=5)
    except psycopg2.OperationalError as exc:
        pytest.fail(
            f"no PostgreSQL server answers on {PG_HOST}:{PG_PORT} as user postgres with trust auth ({exc}). "
            "These tests need one: start it (e.g. `pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main "
            "start`) and run them again.",
            pytrace=False,
        )
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'CREATE DATABASE "{name}"')
    yield name
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    conn.close()


def test_postgres_instance_records_partitions_and_materialisations(tmp_path, monkeypatch, pg_database, sample_home):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(REPO_ROOT / "deploy" / "dagster.postgres.yaml", home / "dagster.yaml")
    for key, value in {
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": "5432",
        "DAGSTER_PG_DB": pg_database,
        "DAGSTER_PG_USER": "postgres",
        "DAGSTER_PG_PASSWORD": "",
    }.items():
        monkeypatch.setenv(key, value)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        apply_registry(load_registry(SAMPLE_CLIENTS_FILE), instance)
        assert apply_registry(load_registry(SAMPLE_CLIENTS_FILE), instance).empty
        result = dg.materialize(
            [tiktok_videos],
            partition_key="glowfuel__nutrition",
            instance=instance,
            resources={
                "io_manager": ParquetIOManager(home=str(tmp_path)),
                "registry": ClientRegistry(path=str(SAMPLE_CLIENTS_FILE)),
                "tiktok": SampleTikTokSource(home=str(sample_home), seed=DEFAULT_SEED, scale=TEST_SCALE),
            },
        )
        assert result.success
        event = instance.get_latest_materialization_event(dg.AssetKey("tiktok_videos"))
        assert event is not None and event.dagster_event.partition == "glowfuel__nutrition"
        assert event.asset_materialization.metadata["accepted"].value > 0


def test_no_server_is_a_clear_failure_not_a_skip(tmp_path):
    """Pointed at a port where nothing listens, the Postgres test fails and says what to start."""
    env = {**os.environ, "OPTIMIZER_TEST_PG_PORT": "9", "DAGSTER_HOME": str(tmp_path)}
    target = f"{__file__}::test_postgres_instance_records_partitions_and_materialisations"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", target],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=300,
    )
    assert run.returncode == 1, run.stdout[-2000:]
    assert "no PostgreSQL server answers on 127.0.0.1:9" in run.stdout and "skipped" not in run.stdout
