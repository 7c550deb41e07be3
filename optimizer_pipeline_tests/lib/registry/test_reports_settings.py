"""The registry's ``reports:`` block: defaults when absent, relative and absolute paths, and errors naming file,
client and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from optimizer_pipeline.lib.registry.clients import SAMPLE_CLIENTS_FILE, RegistryError, load_registry
from optimizer_pipeline.lib.registry.reports_settings import ReportSettings, ReportSettingsError, parse_reports

BASE = "clients:\n  - name: Acme\n    hashtags: [fit]\n"


def write(tmp_path: Path, block: str = "") -> Path:
    path = tmp_path / "clients.yaml"
    path.write_text(BASE + block)
    return path


def test_absent_block_gives_no_brief_tests_file(tmp_path):
    settings = load_registry(write(tmp_path)).client("acme").reports
    assert settings == ReportSettings() and settings.brief_tests_file is None
    assert parse_reports({}, "x") == ReportSettings()


def test_relative_path_resolves_against_the_clients_file_and_absolute_stays(tmp_path):
    block = "    reports:\n      brief_tests_file: briefs/acme_brief_tests.yaml\n"
    settings = load_registry(write(tmp_path, block)).client("acme").reports
    assert settings.brief_tests_file == tmp_path.resolve() / "briefs" / "acme_brief_tests.yaml"
    assert parse_reports({"brief_tests_file": "/data/b.yaml"}, "x", tmp_path).brief_tests_file == Path("/data/b.yaml")


@pytest.mark.parametrize(
    ("block", "needles"),
    [
        ("    reports: [brief_tests_file]\n", ["client 'Acme': reports", "expected a mapping"]),
        ("    reports: {brief_test_file: b.yaml}\n", ["reports", "unknown field(s) ['brief_test_file']", "known"]),
        ("    reports: {brief_tests_file: '  '}\n", ["reports", "field 'brief_tests_file'", "file path"]),
        ("    reports: {brief_tests_file: 3}\n", ["reports", "field 'brief_tests_file'", "got 3"]),
    ],
)
def test_errors_name_file_client_and_field(tmp_path, block, needles):
    path = write(tmp_path, block)
    with pytest.raises(RegistryError) as err:
        load_registry(path)
    message = str(err.value)
    assert str(path) in message or path.name in message
    for needle in needles:
        assert needle in message, message
    with pytest.raises(ReportSettingsError):
        parse_reports({"nope": 1}, "x")


def test_sample_client_points_at_the_shipped_brief_tests_file():
    path = load_registry(SAMPLE_CLIENTS_FILE).client("glowfuel").reports.brief_tests_file
    assert path is not None and path.name == "glowfuel_brief_tests.yaml" and path.is_file()
