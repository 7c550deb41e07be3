"""``brief_validation`` (+ ``brief_validation_rejected``) through Dagster: the sample client's three brief tests get
the verdicts of the pure module, bad entries are set aside with read = accepted + rejected, a test on another
client's hashtag fails the blocking tenant check, an unconfigured client gets empty tables, and a rerun writes the
same Parquet bytes."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import pandas as pd
import yaml

from optimizer_pipeline.cli.materialize import materialization_metadata
from optimizer_pipeline.defs.registry.sync import apply_registry
from optimizer_pipeline.defs.reports.brief_validation import NO_STRATEGY, NOT_CONFIGURED, brief_validation
from optimizer_pipeline.lib.registry.clients import SAMPLE_CLIENTS_FILE, load_registry
from optimizer_pipeline.lib.reports.brief_tests import REJECTED_COLUMNS, load_brief_tests
from optimizer_pipeline.lib.reports.brief_validation import RESULT_COLUMNS, evaluate_brief_tests
from optimizer_pipeline.resources.parquet_io import ParquetIOManager
from optimizer_pipeline.resources.registry import ClientRegistry

SAMPLE_TESTS = SAMPLE_CLIENTS_FILE.parent / "glowfuel_brief_tests.yaml"
OUTPUTS = ("brief_validation", "brief_validation_rejected")


def resources(home: Path, clients: Path = SAMPLE_CLIENTS_FILE) -> dict:
    return {"io_manager": ParquetIOManager(home=str(home)), "registry": ClientRegistry(path=str(clients))}


def run(instance, home: Path, clients: Path = SAMPLE_CLIENTS_FILE, key: str = "glowfuel", **kw):
    return dg.materialize([brief_validation], partition_key=key, instance=instance, resources=resources(home, clients),
                          **kw)  # fmt: skip


def table(home: Path, asset: str, key: str = "glowfuel") -> pd.DataFrame:
    return pd.read_parquet(home / "data" / asset / f"{key}.parquet")


def checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def registry_with(tmp_path: Path, tests: list[dict], *, other: str = "") -> Path:
    """A registry whose client Acme (hashtags fit, nutrition) has ``tests`` as its brief tests; ``other`` adds
    clients."""
    reg = tmp_path / "reg"
    reg.mkdir(exist_ok=True)
    (reg / "tests.yaml").write_text(yaml.safe_dump({"brief_tests": tests}, sort_keys=False))
    (reg / "clients.yaml").write_text(
        "clients:\n  - name: Acme\n    hashtags: [fit, nutrition]\n    reports: {brief_tests_file: tests.yaml}\n"
        + other
    )
    return reg / "clients.yaml"


def sample_entries() -> list[dict]:
    return yaml.safe_load(SAMPLE_TESTS.read_text())["brief_tests"]


def test_sample_client_verdicts_metadata_and_identical_rerun(instance, tmp_path):
    result = run(instance, tmp_path)
    assert result.success
    assert all(e.passed for e in checks(result).values()) and set(checks(result)) == {"accounting", "tenant_isolation"}
    got = table(tmp_path, "brief_validation")
    assert list(got.columns) == list(RESULT_COLUMNS)
    verdicts = dict(zip(got["test_id"], got["verdict"], strict=True))
    assert verdicts == {
        "gf-question-hook-2026-10": "validated",
        "gf-fast-pacing-2026-10": "rejected",
        "gf-link-in-bio-2026-11": "rejected",
    }
    expected = evaluate_brief_tests(load_brief_tests(SAMPLE_TESTS).accepted)
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)  # the table is the module's, unchanged
    assert table(tmp_path, "brief_validation_rejected").empty
    meta = materialization_metadata(result)["brief_validation"]
    assert (meta["read"], meta["accepted"], meta["rejected"]) == (3, 3, 0)
    assert (meta["verdict_validated"], meta["verdict_rejected"], meta["verdict_inconclusive"]) == (1, 2, 0)
    assert meta["status"] == "ok" and meta["multiplicity"] == "holm over 3 evaluable test(s)"
    assert meta["affiliate_brief"] == "hook_type=question"
    assert "gf-question-hook-2026-10" in meta["preview"] and "| verdict" in meta["preview"]
    before = {a: (tmp_path / "data" / a / "glowfuel.parquet").read_bytes() for a in OUTPUTS}
    assert run(instance, tmp_path).success
    assert {a: (tmp_path / "data" / a / "glowfuel.parquet").read_bytes() for a in OUTPUTS} == before


def test_bad_entries_are_set_aside_and_counted(tmp_path):
    good = sample_entries()[0]
    no_control = {**sample_entries()[1], "id": "no-control", "control": []}
    typo = {**sample_entries()[2], "id": "typo", "metrik": "conversion_rate"}
    clients = registry_with(tmp_path, [good, no_control, typo, "not a mapping"])
    with dg.instance_for_test() as inst:
        apply_registry(load_registry(clients), inst)
        result = run(inst, tmp_path, clients, key="acme")
    assert result.success
    accounting = checks(result)["accounting"]
    assert accounting.passed and accounting.blocking
    assert (accounting.metadata["read"].value, accounting.metadata["accepted"].value) == (4, 1)
    assert accounting.metadata["rejected"].value == 3
    rejected = table(tmp_path, "brief_validation_rejected", "acme")
    assert list(rejected.columns) == list(REJECTED_COLUMNS)
    assert list(rejected["entry"]) == [1, 2, 3]
    reasons = list(rejected["reason"])
    assert "brief_tests[1] (id 'no-control')" in reasons[0] and "field 'control'" in reasons[0]
    assert "field 'metrik'" in reasons[1] and "brief_tests[3]" in reasons[2]
    assert list(table(tmp_path, "brief_validation", "acme")["test_id"]) == [good["id"]]
    meta = materialization_metadata(result)
    assert meta["brief_validation"]["status"] == "ok; 3 entries quarantined"
    assert meta["brief_validation_rejected"]["rejected"] == 3


def test_a_test_on_another_clients_hashtag_fails_the_blocking_tenant_check(tmp_path):
    own, foreign = sample_entries()[0], {**sample_entries()[2], "hashtag": "running"}
    clients = registry_with(tmp_path, [own, foreign], other="  - name: Globex\n    hashtags: [running]\n")
    with dg.instance_for_test() as inst:
        apply_registry(load_registry(clients), inst)
        acme = run(inst, tmp_path, clients, key="acme", raise_on_error=False)
        globex = run(inst, tmp_path / "globex", clients, key="globex")
    tenant = checks(acme)["tenant_isolation"]
    assert not acme.success and not tenant.passed and tenant.blocking
    assert tenant.severity == dg.AssetCheckSeverity.ERROR
    assert tenant.metadata["foreign_rows"].value == 1 and tenant.metadata["examples"].value == ["running"]
    assert (tmp_path / "data" / "brief_validation" / "acme.parquet").exists()  # written, so the UI shows what was read
    assert checks(globex)["tenant_isolation"].passed  # Globex has no reports block: nothing to leak
    assert materialization_metadata(globex)["brief_validation"]["status"] == NOT_CONFIGURED


def test_a_client_without_a_reports_block_gets_empty_tables(tmp_path):
    reg = tmp_path / "reg"
    reg.mkdir()
    shutil.copy(SAMPLE_TESTS, reg / "unused.yaml")
    (reg / "clients.yaml").write_text("clients:\n  - name: Acme\n    hashtags: [fit]\n")
    with dg.instance_for_test() as inst:
        apply_registry(load_registry(reg / "clients.yaml"), inst)
        result = run(inst, tmp_path, reg / "clients.yaml", key="acme")
    assert result.success and all(e.passed for e in checks(result).values())
    assert table(tmp_path, "brief_validation", "acme").empty
    assert list(table(tmp_path, "brief_validation", "acme").columns) == list(RESULT_COLUMNS)
    assert table(tmp_path, "brief_validation_rejected", "acme").empty
    meta = materialization_metadata(result)["brief_validation"]
    assert meta["status"] == NOT_CONFIGURED and "not configured" in meta["status"]
    assert (meta["read"], meta["accepted"], meta["rejected"]) == (0, 0, 0)
    assert meta["affiliate_brief"] == NO_STRATEGY == "none validated yet"
