"""The registry's ``test_loop:`` block: defaults when absent, relative paths, and errors naming file, client, field."""

from __future__ import annotations

from pathlib import Path

import pytest

from optimizer_pipeline.lib.registry.clients import SAMPLE_CLIENTS_FILE, RegistryError, load_registry
from optimizer_pipeline.lib.registry.testloop_settings import TestLoopSettings

BASE = "clients:\n  - name: Acme\n    hashtags: [fit]\n"


def write(tmp_path: Path, block: str = "") -> Path:
    path = tmp_path / "clients.yaml"
    path.write_text(BASE + block)
    return path


def test_absent_block_gives_the_contract_defaults(tmp_path):
    settings = load_registry(write(tmp_path)).client("acme").test_loop
    assert settings == TestLoopSettings()
    assert (settings.min_followers, settings.max_followers, settings.min_engagement_rate) == (5000, 50000, 0.03)
    assert (settings.creatives_per_influencer, settings.attribution_window_days) == (1, 7)
    assert (settings.min_clicks, settings.min_days, settings.decay, settings.top_n, settings.seed) == (
        100, 7, None, 5, 0
    )  # fmt: skip
    assert settings.niches == () and settings.creatives_file is None and settings.landing_url is None
    assert settings.sharpness == 1.0  # plain Thompson sampling unless a client opts in


def test_values_and_relative_paths(tmp_path):
    block = (
        "    test_loop:\n"
        "      creatives_file: loop/creatives.yaml\n"
        "      influencers_file: /data/roster.csv\n"
        "      landing_url: https://acme.example/shop?ref=tt\n"
        "      niches: [Fitness, ' food ', fitness]\n"
        "      attribution_window_days: 28\n"
        "      decay: 0.95\n"
        "      seed: 42\n"
        "      sharpness: 8\n"
    )
    settings = load_registry(write(tmp_path, block)).client("acme").test_loop
    assert settings.creatives_file == tmp_path.resolve() / "loop" / "creatives.yaml"
    assert settings.influencers_file == Path("/data/roster.csv")
    assert settings.niches == ("fitness", "food")
    assert (settings.attribution_window_days, settings.decay, settings.seed) == (28, 0.95, 42)
    assert settings.sharpness == 8.0 and isinstance(settings.sharpness, float)


@pytest.mark.parametrize(
    ("block", "needles"),
    [
        ("attribution_window_days: 3", ["attribution_window_days", "[1, 7, 28]"]),
        ("decay: 0", ["decay", "0 < decay <= 1"]),
        ("decay: 1.5", ["decay"]),
        ("min_followers: 60000", ["min_followers", "above 'max_followers'"]),
        ("min_engagement_rate: 3", ["min_engagement_rate", "3% = 0.03"]),
        ("landing_url: glowfuel.example/shop", ["landing_url", "http(s)"]),
        ("niches: [1, 2]", ["niches"]),
        ("top_n: 0", ["top_n", ">= 1"]),
        ("creatives_per_influencer: true", ["creatives_per_influencer"]),
        ("creative_file: x.yaml", ["unknown field", "creative_file"]),
        ("sharpness: 0.5", ["'sharpness'", "finite number >= 1", "got 0.5"]),
        ("sharpness: 0", ["'sharpness'", ">= 1"]),
        ("sharpness: eight", ["'sharpness'", ">= 1", "'eight'"]),
        ("sharpness: '8'", ["'sharpness'", "'8'"]),
        ("sharpness: .nan", ["'sharpness'", "finite"]),
        ("sharpness: .inf", ["'sharpness'", "finite"]),
        ("sharpness: true", ["'sharpness'"]),
        ("sharpness: null", ["'sharpness'"]),
    ],
)
def test_errors_name_file_client_and_field(tmp_path, block, needles):
    path = write(tmp_path, f"    test_loop:\n      {block}\n")
    with pytest.raises(RegistryError) as info:
        load_registry(path)
    message = str(info.value)
    for needle in [str(path), "client 'Acme'", "test_loop", *needles]:
        assert needle in message


def test_sample_client_points_at_the_shipped_files():
    settings = load_registry(SAMPLE_CLIENTS_FILE).client("glowfuel").test_loop
    assert settings.creatives_file is not None and settings.creatives_file.exists()
    assert settings.influencers_file is not None and settings.influencers_file.exists()
    assert settings.landing_url == "https://glowfuel.example/shop"
