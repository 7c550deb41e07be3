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


PIPELINE = (
    "    decisions:\n"
    "      pipeline:\n"
    "        currency: AED\n"
    "        stages:\n"
    "          - {name: lead, probability: 0.10, value: 7000, days_to_close: 6}\n"
    "          - {name: call_booked, probability: 0.35, value: 7000, days_to_close: 4}\n"
    "          - {name: proposal, probability: 0.6, value: 7000, days_to_close: 1}\n"
)


def test_pipeline_block_defaults_and_values(tmp_path):
    from optimizer_pipeline.lib.registry.decisions_settings import BlendCurve, Stage

    assert DecisionSettings().pipeline is None
    pipeline = load_registry(write(tmp_path, PIPELINE)).client("acme").decisions.pipeline
    assert pipeline.stages[1] == Stage("call_booked", 0.35, 7000.0, 4.0)
    assert (pipeline.currency, pipeline.half_life_days, pipeline.blend) == ("AED", 7.0, BlendCurve("sigmoid", 6, 48))
    blend = PIPELINE + "        half_life_days: 3.5\n        blend: {kind: linear, start_hours: 0, full_hours: 24}\n"
    pipeline = load_registry(write(tmp_path, blend)).client("acme").decisions.pipeline
    assert (pipeline.half_life_days, pipeline.blend) == (3.5, BlendCurve("linear", 0.0, 24.0))


@pytest.mark.parametrize(
    ("old", "new", "needles"),
    [
        ("probability: 0.35", "probability: 0.05", ["stages[1] ('call_booked')", "probability", "increase"]),
        ("probability: 0.6", "probability: 1.5", ["stages[2] ('proposal')", "probability", "(0, 1]"]),
        ("probability: 0.10", "probability: 0", ["stages[0] ('lead')", "probability", "(0, 1]"]),
        ("value: 7000, days_to_close: 4", "value: 0, days_to_close: 4", ["stages[1]", "value", "> 0"]),
        ("days_to_close: 1", "days_to_close: 9", ["stages[2]", "days_to_close", "not increase"]),
        ("days_to_close: 6", "days_to_close: -1", ["stages[0]", "days_to_close", ">= 0"]),
        ("name: proposal", "name: lead", ["stages", "repeats", "lead"]),
        ("name: lead", "name: clicks", ["stages[0]", "name", "ad_performance column"]),
        ("name: lead", "name: roas", ["stages[0]", "name", "ad_performance column"]),  # a derived metric
        ("name: lead", "name: source_file", ["stages[0]", "name", "ad_performance column"]),
        ("name: lead", "name: Lead Form", ["stages[0]", "name", "lower_snake_case"]),
        ("days_to_close: 4}", "days_to_close: 4, stage_owner: Bob}", ["stages[1]", "unknown field", "stage_owner"]),
        ("currency: AED", "currency: dirham", ["pipeline", "currency", "ISO 4217"]),
        ("currency: AED", "currency: AED\n        half_life_days: 0", ["pipeline", "half_life_days", "> 0"]),
        ("currency: AED", "currency: AED\n        blend: {kind: cubic}", ["blend", "kind", "sigmoid"]),
        ("currency: AED", "currency: AED\n        blend: {start_hours: 48, full_hours: 6}", ["blend", "start_hours"]),
        ("currency: AED", "currency: AED\n        cycle: 6", ["pipeline", "unknown field", "cycle"]),
    ],
)
def test_pipeline_errors_name_file_client_stage_and_field(tmp_path, old, new, needles):
    assert old in PIPELINE
    with pytest.raises(RegistryError) as err:
        load_registry(write(tmp_path, PIPELINE.replace(old, new, 1)))
    message = str(err.value)
    for needle in ["clients.yaml", "'Acme'", "decisions: pipeline", *needles]:
        assert needle in message, (needle, message)


def test_pipeline_needs_stages_and_a_mapping():
    with pytest.raises(DecisionSettingsError, match="non-empty list of stages"):
        parse_decisions({"pipeline": {"stages": []}}, "x")
    with pytest.raises(DecisionSettingsError, match="pipeline: expected a mapping"):
        parse_decisions({"pipeline": "7000 AED"}, "x")
