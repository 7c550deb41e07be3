"""The registry's ``decisions:`` block: defaults when absent, values, relative paths, and errors naming file, client
and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from optimizer_pipeline.lib.registry.clients import SAMPLE_CLIENTS_FILE, RegistryError, load_registry
from optimizer_pipeline.lib.registry.decisions_settings import (
    DecisionSettings,
    DecisionSettingsError,
    parse_decisions,
)

BASE = "clients:\n  - name: Acme\n    hashtags: [fit]\n"


def write(tmp_path: Path, block: str = "") -> Path:
    path = tmp_path / "clients.yaml"
    path.write_text(BASE + block)
    return path


def test_absent_block_gives_the_contract_defaults(tmp_path):
    settings = load_registry(write(tmp_path)).client("acme").decisions
    assert settings == DecisionSettings()
    assert settings.experiments_file is None and settings.meta_ad_account_id is None
    assert (settings.ad_source, settings.conversion_action) == ("csv", "offsite_conversion.fb_pixel_purchase")
    assert (settings.timezone, settings.decision_every_hours) == ("UTC", 6)
    assert (settings.alert_drop_threshold, settings.alert_min_engagement, settings.alert_min_impressions) == (
        0.25, 0.01, 1000
    )  # fmt: skip


def test_values_relative_path_and_account_normalisation(tmp_path):
    block = (
        "    decisions:\n"
        "      experiments_file: ads/acme_experiments.yaml\n"
        "      ad_source: meta\n"
        "      meta_ad_account_id: 1234567890\n"
        "      timezone: Europe/Paris\n"
        "      decision_every_hours: 12\n"
        "      alert_drop_threshold: 0.3\n"
        "      alert_min_engagement: 0.005\n"
        "      alert_min_impressions: 500\n"
    )
    settings = load_registry(write(tmp_path, block)).client("acme").decisions
    assert settings.experiments_file == tmp_path.resolve() / "ads" / "acme_experiments.yaml"
    assert (settings.ad_source, settings.meta_ad_account_id) == ("meta", "act_1234567890")
    assert settings.zone.key == "Europe/Paris"
    assert (settings.decision_every_hours, settings.alert_drop_threshold) == (12, 0.3)
    assert (settings.alert_min_engagement, settings.alert_min_impressions) == (0.005, 500)
    assert parse_decisions({"meta_ad_account_id": "act_98765"}, "x").meta_ad_account_id == "act_98765"


@pytest.mark.parametrize(
    ("block", "needles"),
    [
        ("ad_source: tiktok", ["ad_source", "['csv', 'meta']"]),
        ("ad_source: meta", ["meta_ad_account_id", "required"]),
        ("meta_ad_account_id: act_12ab", ["meta_ad_account_id", "act_"]),
        ("timezone: Mars/Olympus", ["timezone", "IANA"]),
        ("timezone: ../etc/passwd", ["timezone", "IANA"]),
        ("decision_every_hours: 5", ["decision_every_hours", "divisor of 24"]),
        ("decision_every_hours: 0", ["decision_every_hours"]),
        ("alert_drop_threshold: 25", ["alert_drop_threshold", "25% = 0.25"]),
        ("alert_drop_threshold: 0", ["alert_drop_threshold"]),
        ("alert_min_engagement: 1.5", ["alert_min_engagement", "1% = 0.01"]),
        ("alert_min_engagement: .nan", ["alert_min_engagement", "number"]),
        ("alert_min_impressions: 0", ["alert_min_impressions", ">= 1"]),
        ("conversion_action: 'Purchases!'", ["conversion_action", "fb_pixel_purchase"]),
        ("experiments_file: ''", ["experiments_file", "file path"]),
        ("budget: 10", ["unknown field", "budget"]),
    ],
)
def test_errors_name_file_client_and_field(tmp_path, block, needles):
    with pytest.raises(RegistryError) as err:
        load_registry(write(tmp_path, f"    decisions:\n      {block}\n"))
    message = str(err.value)
    for needle in ["clients.yaml", "'Acme'", "decisions", *needles]:
        assert needle in message, (needle, message)


def test_not_a_mapping_and_the_error_class():
    with pytest.raises(DecisionSettingsError, match="expected a mapping"):
        parse_decisions(["csv"], "clients.yaml: client 'Acme'")
    assert issubclass(DecisionSettingsError, ValueError)


def test_sample_registry_points_at_the_sample_experiments_file():
    settings = load_registry(SAMPLE_CLIENTS_FILE).client("glowfuel").decisions
    assert settings.experiments_file == SAMPLE_CLIENTS_FILE.parent / "glowfuel_experiments.yaml"
    assert settings.experiments_file.is_file()
    assert (settings.ad_source, settings.timezone, settings.decision_every_hours) == ("csv", "UTC", 6)
