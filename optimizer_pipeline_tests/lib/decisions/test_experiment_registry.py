"""The experiments registry: the sample file loads with its planted designs, defaults apply, start times get a
timezone, and every invalid file fails with an error naming the file, the experiment and the field."""

from __future__ import annotations

import copy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from optimizer_pipeline.lib.decisions.experiment_registry import (
    HIGHER_IS_BETTER,
    METRIC_RATIOS,
    METRICS,
    SAMPLE_UNIT,
    Experiment,
    ExperimentRegistryError,
    Guardrail,
    load_experiments,
    parse_experiments,
)
from optimizer_pipeline.lib.registry.clients import SAMPLE_CLIENTS_FILE

SAMPLE = SAMPLE_CLIENTS_FILE.parent / "glowfuel_experiments.yaml"
SOURCE = "glowfuel_experiments.yaml"
AD_PERFORMANCE_COLUMNS = {"impressions", "reach", "clicks", "spend", "conversions", "revenue"}


def minimal(**changes: Any) -> dict[str, Any]:
    exp = {
        "id": "hook-q",
        "hypothesis": "A question hook lifts CTR.",
        "variants": [
            {"name": "control", "ad_ids": ["120210000000000001"], "control": True},
            {"name": "question-hook", "ad_ids": ["120210000000000002"]},
        ],
        "primary_metric": "ctr",
        "start": "2026-11-01T00:00:00Z",
        "status": "running",
    }
    exp.update(changes)
    return exp


def parse_one(exp: dict[str, Any], **kw: Any) -> Experiment:
    return parse_experiments({"experiments": [exp]}, SOURCE, **kw)[0]


def test_sample_file_loads_with_its_four_planted_designs():
    experiments = load_experiments(SAMPLE)
    by_id = {e.id: e for e in experiments}
    assert list(by_id) == ["hook-question-vs-statement", "aa-same-creative", "cta-shop-vs-learn", "price-anchor-offer"]
    assert all(e.status == "running" and len(e.variants) == 2 for e in experiments)
    ads = [a for e in experiments for a in e.ad_ids]
    assert ads == [f"glowfuel-ad-{i:02d}" for i in range(1, 9)]  # the ids the sample metrics generator must use
    assert by_id["cta-shop-vs-learn"].split == {"control": 0.5, "learn-more": 0.5}
    assert by_id["cta-shop-vs-learn"].sample_unit == "clicks"
    assert by_id["price-anchor-offer"].guardrails == (Guardrail("cpa", 0.10),)
    assert not by_id["price-anchor-offer"].guardrails[0].higher_is_better
    assert by_id["hook-question-vs-statement"].control.ad_ids == ("glowfuel-ad-01",)
    assert [v.name for v in by_id["hook-question-vs-statement"].treatments] == ["question-hook"]


def test_defaults_and_equal_split():
    exp = parse_one(minimal(variants=[*minimal()["variants"], {"name": "statement", "ad_ids": "9"}]))
    assert exp.split == pytest.approx({"control": 1 / 3, "question-hook": 1 / 3, "statement": 1 / 3})
    assert (exp.alpha, exp.max_duration_days, exp.min_runtime_hours, exp.min_samples_per_variant) == (0.05, 30, 24, 100)
    assert (exp.min_relative_lift, exp.guardrails) == (0.0, ())
    assert exp.variants[2].ad_ids == ("9",)  # a bare id (even an integer) becomes a one-element tuple of strings
    assert exp.higher_is_better and exp.sample_unit == "impressions"


def test_start_times_are_utc_and_naive_times_use_the_client_timezone():
    aware = parse_one(minimal(start=datetime(2026, 11, 1, 9, tzinfo=UTC)))
    assert aware.start == datetime(2026, 11, 1, 9, tzinfo=UTC)
    paris = parse_one(minimal(start="2026-11-01T09:00:00"), timezone_name="Europe/Paris")
    assert paris.start == datetime(2026, 11, 1, 8, tzinfo=UTC)  # CET = UTC+1 in November
    doc = yaml.safe_load("experiments:\n- " + _yaml_start("2026-07-01"))  # YAML reads the bare day as a date
    day = parse_experiments(doc, SOURCE, timezone_name="America/New_York")[0]
    assert day.start == datetime(2026, 7, 1, 4, tzinfo=UTC)  # midnight EDT
    assert parse_one(minimal(start=None, status="draft")).start is None


def _yaml_start(start: str) -> str:
    doc = minimal()
    doc.pop("start")
    text = yaml.safe_dump(doc, sort_keys=False).replace("\n", "\n  ")
    return f"start: {start}\n  {text}"


def test_metric_tables_cover_every_metric_with_ad_performance_columns():
    assert set(METRIC_RATIOS) == set(HIGHER_IS_BETTER) == set(SAMPLE_UNIT) == set(METRICS)
    assert [m for m, up in HIGHER_IS_BETTER.items() if not up] == ["cpa"]
    for num, den in METRIC_RATIOS.values():
        assert {num, den} <= AD_PERFORMANCE_COLUMNS
    assert set(SAMPLE_UNIT.values()) <= AD_PERFORMANCE_COLUMNS
    assert METRIC_RATIOS["cpa"] == ("spend", "conversions") and METRIC_RATIOS["cvr"] == ("conversions", "clicks")


def _variants(*specs: tuple[str, list[str], bool]) -> list[dict[str, Any]]:
    return [{"name": n, "ad_ids": a, "control": c} for n, a, c in specs]


@pytest.mark.parametrize(
    ("changes", "field", "needle"),
    [
        ({"alpha": 0.9}, "alpha", "must be in (0, 0.5), got 0.9"),
        ({"aa": "yes"}, "aa", "must be true or false"),
        ({"alpha": 0}, "alpha", "(0, 0.5)"),
        ({"alpha": "5%"}, "alpha", "number"),
        ({"primary_metric": "likes"}, "primary_metric", "['ctr', 'cvr', 'cpa', 'roas', 'revenue_per_impression']"),
        ({"status": "live"}, "status", "draft"),
        ({"hypothesis": " "}, "hypothesis", "required"),
        ({"min_relative_lift": -0.1}, "min_relative_lift", ">= 0"),
        ({"max_duration_days": 0}, "max_duration_days", ">= 1"),
        ({"min_runtime_hours": -1}, "min_runtime_hours", ">= 0"),
        ({"min_runtime_hours": 24 * 31}, "min_runtime_hours", "max_duration_days"),
        ({"min_samples_per_variant": 0}, "min_samples_per_variant", ">= 1"),
        ({"min_samples_per_variant": 1.5}, "min_samples_per_variant", "integer"),
        ({"start": None}, "start", "required for a running"),
        ({"start": "next monday"}, "start", "ISO date-time"),
        ({"split": {"control": 0.6, "question-hook": 0.5}}, "split", "sum to 1, got 1.1"),
        ({"split": {"control": 1.0, "question-hook": 0}}, "split", "(0, 1)"),
        ({"split": {"control": 0.5, "other": 0.5}}, "split", "every variant"),
        ({"split": [0.5, 0.5]}, "split", "mapping"),
        ({"variants": _variants(("control", ["1"], True))}, "variants", "at least 2"),
        ({"variants": _variants(("a", ["1"], True), ("b", ["2"], True))}, "variants", "exactly one"),
        ({"variants": _variants(("a", ["1"], False), ("b", ["2"], False))}, "variants", "found 0"),
        ({"variants": _variants(("a", ["1"], True), ("a", ["2"], False))}, "variants", "used twice"),
        ({"variants": _variants(("a", ["1"], True), ("b", ["1"], False))}, "variants", "ad '1' is listed twice"),
        ({"variants": _variants(("a", ["1", "1"], True), ("b", ["2"], False))}, "variants", "listed twice"),
        ({"variants": _variants(("a", [], True), ("b", ["2"], False))}, "variants", "non-empty list"),
        ({"variants": _variants(("Control A", ["1"], True), ("b", ["2"], False))}, "variants", "slug"),
        (
            {"variants": [*_variants(("a", ["1"], True)), {"name": "b", "ad_ids": ["2"], "control": "yes"}]},
            "variants",
            "true or false",
        ),
        ({"variants": [*_variants(("a", ["1"], True)), {"name": "b", "ads": ["2"]}]}, "variants", "unknown"),
        ({"guardrails": [{"metric": "ctr", "max_degradation": 0.1}]}, "guardrails", "primary metric"),
        ({"guardrails": [{"metric": "cpa", "max_degradation": -0.1}]}, "guardrails", ">= 0"),
        ({"guardrails": [{"metric": "roas", "max_degradation": 1.0}]}, "guardrails", "[0, 1)"),
        ({"guardrails": [{"metric": "bounce", "max_degradation": 0.1}]}, "guardrails", "'metric' must be one of"),
        (
            {"guardrails": [{"metric": "cpa", "max_degradation": 0.1}, {"metric": "cpa", "max_degradation": 0.2}]},
            "guardrails",
            "two guardrails",
        ),
        ({"guardrails": {"metric": "cpa"}}, "guardrails", "list"),
    ],
)
def test_every_error_names_file_experiment_and_field(changes, field, needle):
    with pytest.raises(ExperimentRegistryError) as err:
        parse_one(minimal(**changes))
    message = str(err.value)
    assert message.startswith(f"{SOURCE}: experiment 'hook-q': field '{field}': "), message
    assert needle in message, message


def test_the_documented_message_shape():
    with pytest.raises(ExperimentRegistryError) as err:
        parse_one(minimal(alpha=0.9))
    assert (
        str(err.value) == "glowfuel_experiments.yaml: experiment 'hook-q': field 'alpha': must be in (0, 0.5), got 0.9"
    )
    assert issubclass(ExperimentRegistryError, ValueError)


def test_an_ad_serves_at_most_one_running_test():
    first = minimal()
    second = minimal(id="other", variants=_variants(("c", ["120210000000000002"], True), ("d", ["7"], False)))
    with pytest.raises(ExperimentRegistryError) as err:
        parse_experiments({"experiments": [first, second]}, SOURCE)
    message = str(err.value)
    assert message.startswith(f"{SOURCE}: experiment 'other': field 'variants': ad '120210000000000002'"), message
    assert "running experiment 'hook-q' (variant 'question-hook')" in message
    for status in ("draft", "paused", "stopped", "completed"):  # only running tests serve the ad
        done = copy.deepcopy(second) | {"status": status}
        assert len(parse_experiments({"experiments": [first, done]}, SOURCE)) == 2


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ({"experiments": [minimal(), minimal()]}, "experiment 'hook-q': field 'id': used twice"),
        ({"experiments": [minimal(id="Hook Q")]}, "experiment #1: field 'id': must be a slug"),
        ({"experiments": [minimal(owner="me")]}, "experiment 'hook-q': unknown field(s) ['owner']"),
        ({"experiments": ["hook-q"]}, "experiment #1: expected a mapping"),
        ({"experiments": {"hook-q": {}}}, "'experiments' list"),
        ({"experiments": [], "version": 2}, "unknown top-level field(s) ['version']"),
    ],
)
def test_file_level_errors(doc, needle):
    with pytest.raises(ExperimentRegistryError) as err:
        parse_experiments(doc, SOURCE)
    assert str(err.value).startswith(SOURCE) and needle in str(err.value), str(err.value)


def test_load_errors_name_the_file(tmp_path: Path):
    with pytest.raises(ExperimentRegistryError, match=r"missing\.yaml: experiments file not found"):
        load_experiments(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("experiments: [\n")
    with pytest.raises(ExperimentRegistryError, match=r"bad\.yaml: not valid YAML"):
        load_experiments(bad)
    empty = tmp_path / "empty.yaml"
    empty.write_text("# no tests yet\n")
    assert load_experiments(empty) == []


def test_experiments_are_frozen():
    exp = parse_one(minimal())
    with pytest.raises(AttributeError):
        exp.alpha = 0.1  # type: ignore[misc]
    with pytest.raises(AttributeError):
        exp.variants[0].share = 1.0  # type: ignore[misc]
