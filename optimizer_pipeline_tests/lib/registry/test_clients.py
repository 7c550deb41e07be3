import re
from pathlib import Path

import pytest

from optimizer_pipeline.lib.core.buckets import DURATION_BUCKETS
from optimizer_pipeline.lib.registry.clients import SAMPLE_CLIENTS_FILE, RegistryError, load_registry


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "clients.yaml"
    p.write_text(text)
    return p


def test_sample_registry_loads_with_defaults_applied():
    reg = load_registry(SAMPLE_CLIENTS_FILE)
    assert reg.client_keys() == ["glowfuel"]
    assert reg.client_hashtag_keys() == [
        "glowfuel__at-greenbites",
        "glowfuel__at-preppro",
        "glowfuel__mealprep",
        "glowfuel__nutrition",
    ]
    client, tag = reg.lookup("glowfuel__nutrition")
    assert client.name == "GlowFuel Nutrition" and client.brand["products"]
    assert tag.videos_per_bucket == 80  # client-level default overrides the file default
    assert tag.min_views == 1000 and tag.min_engagement_rate == 0.02 and tag.over_collection == 800
    assert tag.buckets == DURATION_BUCKETS and str(tag.date_cutoff) == "2026-01-01"


def test_builtin_defaults_and_hashtag_strings(tmp_path):
    reg = load_registry(write(tmp_path, "clients:\n  - name: Acme Fitness\n    hashtags: ['#HomeWorkout']\n"))
    _, tag = reg.lookup("acme-fitness__homeworkout")
    assert (tag.tag, tag.videos_per_bucket, tag.min_views, tag.over_collection) == ("HomeWorkout", 50, 1000, 800)
    assert tag.min_engagement_rate == 0.02 and tag.date_cutoff is None


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ("clients:\n  - name: Acme\n", ["clients.yaml", "Acme", "hashtags"]),
        ("clients:\n  - name: Acme\n    hashtags: [{tag: fit, min_views: -3}]\n", ["Acme", "'fit'", "min_views"]),
        ("clients:\n  - name: Acme\n    hashtags: [{tag: fit, buckets: [0-10s]}]\n", ["Acme", "buckets", "0-10s"]),
        (
            "clients:\n  - name: Acme\n    hashtags: [{tag: fit, min_engagement_rate: 2}]\n",
            ["min_engagement_rate", "0.02"],
        ),
        (
            "clients:\n  - name: Acme\n    hashtags: [{tag: fit, date_cutoff: yesterday}]\n",
            ["date_cutoff", "yesterday"],
        ),
        ("clients:\n  - name: Acme\n    slug: Acme|X\n    hashtags: [fit]\n", ["Acme", "slug"]),
        ("clients:\n  - name: Acme\n    hashtags: [fit, fit]\n", ["Acme", "twice"]),
        ("clients:\n  - name: Acme\n    hashtags: [{tag: fit, videos: 3}]\n", ["'fit'", "unknown field", "videos"]),
        ("clients:\n  - hashtags: [fit]\n", ["clients[0]", "name"]),
        ("clients: [\n", ["clients.yaml", "YAML"]),
        ("clients:\n  - name: Acme\n    hashtags: [{tag: fit, outlier_fence_scale: sqrt}]\n", ["outlier_fence_scale"]),
    ],
)
def test_errors_name_file_client_and_field(tmp_path, text, needles):
    with pytest.raises(RegistryError) as err:
        load_registry(write(tmp_path, text))
    for needle in needles:
        assert needle in str(err.value), (needle, str(err.value))


def test_missing_file_is_a_registry_error(tmp_path):
    with pytest.raises(RegistryError, match="not found"):
        load_registry(tmp_path / "nope.yaml")


def test_registry_file_errors_name_the_file_and_a_bom_is_accepted(tmp_path):
    missing = tmp_path / "nope.yaml"
    with pytest.raises(RegistryError, match=re.escape(f"{missing}: registry file not found")):
        load_registry(missing)
    broken = tmp_path / "broken.yaml"
    broken.write_text("clients: [\n", encoding="utf-8")
    with pytest.raises(RegistryError, match=re.escape("broken.yaml: not valid YAML")):
        load_registry(broken)
    bom = tmp_path / "bom.yaml"
    bom.write_bytes(b"\xef\xbb\xbf" + SAMPLE_CLIENTS_FILE.read_bytes())
    assert load_registry(bom).client("glowfuel").name == load_registry(SAMPLE_CLIENTS_FILE).client("glowfuel").name


def test_refresh_defaults_weekly_is_inherited_and_none_disables(tmp_path):
    text = (
        "defaults: {refresh: '0 5 * * *'}\n"
        "clients:\n"
        "  - name: Acme\n"
        "    competitors: [{handle: rival, refresh: none}]\n"
        "    hashtags: [fit, {tag: gym, refresh: '30  7 * * 1,4'}, {tag: yoga, refresh: null}]\n"
        "  - name: Beta\n"
        "    defaults: {refresh: none}\n"
        "    hashtags: [run]\n"
    )
    reg = load_registry(write(tmp_path, text))
    refresh = {key: reg.lookup(key)[1].refresh for key in reg.client_hashtag_keys()}
    assert refresh == {
        "acme__at-rival": None,
        "acme__fit": "0 5 * * *",  # the file's default
        "acme__gym": "30 7 * * 1,4",  # its own, whitespace normalised
        "acme__yoga": None,
        "beta__run": None,  # the client's default
    }
    _, tag = load_registry(SAMPLE_CLIENTS_FILE).lookup("glowfuel__nutrition")
    assert tag.refresh == "0 6 * * 1"  # built-in default: weekly, Mondays 06:00 UTC


@pytest.mark.parametrize("value", ["'99 6 * * 1'", "'0 6 * *'", "weekly", "3", "[0, 6]", "false"])
def test_a_bad_refresh_names_file_client_hashtag_and_field(tmp_path, value):
    path = write(tmp_path, f"clients:\n  - name: Acme\n    hashtags: [{{tag: fit, refresh: {value}}}]\n")
    with pytest.raises(RegistryError) as err:
        load_registry(path)
    for needle in ("clients.yaml", "Acme", "'fit'", "refresh", "none"):
        assert needle in str(err.value), (needle, str(err.value))
