"""Competitors without Dagster: registry parsing, the sample corpus' competitor items, the hashtag-strategy table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from optimizer_pipeline.lib.core.slugs import split_client_hashtag
from optimizer_pipeline.lib.market.competitors import STRATEGY_COLUMNS, hashtag_strategy, top_hashtags
from optimizer_pipeline.lib.registry.clients import SAMPLE_CLIENTS_FILE, RegistryError, load_registry
from optimizer_pipeline.lib.sample.competitor_items import (
    SAMPLE_COMPETITORS,
    build_competitor_items,
    competitor_profile,
    write_competitor_items,
)
from optimizer_pipeline.lib.sample.corpus import DEFAULT_SEED, build_corpus

REGISTRY = """
defaults:
  min_views: 2000
clients:
  - name: Acme
    defaults: {videos_per_bucket: 30, date_cutoff: 2026-02-01}
    hashtags: [fitness]
    competitors:
      - "@FitFoodie"
      - {handle: prep.pro_, min_views: 5000, buckets: [0-15s, 16-30s]}
  - name: Beta
    hashtags: [yoga]
"""


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "clients.yaml"
    p.write_text(text)
    return p


# -- registry -------------------------------------------------------------------------------------------------------


def test_competitors_become_client_hashtag_keys_with_client_defaults(tmp_path):
    reg = load_registry(write(tmp_path, REGISTRY))
    assert reg.client_hashtag_keys() == ["acme__at-fitfoodie", "acme__at-prep-pro", "acme__fitness", "beta__yoga"]
    assert reg.competitor_keys() == ["acme__at-fitfoodie", "acme__at-prep-pro"]
    acme = reg.client("acme")
    assert acme.competitors == ("fitfoodie", "prep.pro_")
    assert acme.competitor_keys() == {"fitfoodie": "acme__at-fitfoodie", "prep.pro_": "acme__at-prep-pro"}
    assert reg.client("beta").competitor_profiles == ()
    client, fit = reg.lookup("acme__at-fitfoodie")
    assert client is acme and fit.is_profile and fit.kind == "profile"
    assert (fit.handle, fit.tag, fit.slug, fit.label) == ("fitfoodie", "fitfoodie", "at-fitfoodie", "@fitfoodie")
    # inherited: file defaults, then the client's defaults
    assert (fit.min_views, fit.videos_per_bucket, str(fit.date_cutoff)) == (2000, 30, "2026-02-01")
    _, prep = reg.lookup("acme__at-prep-pro")
    assert prep.min_views == 5000 and prep.buckets == ("0-15s", "16-30s") and prep.videos_per_bucket == 30
    _, tag = reg.lookup("acme__fitness")
    assert tag.kind == "hashtag" and not tag.is_profile and tag.handle is None and tag.label == "#fitness"
    for key in reg.client_hashtag_keys():
        split_client_hashtag(key)  # every key is a valid '<client>__<slug>' key
    with pytest.raises(KeyError, match="nobody"):
        reg.client("nobody")


def test_sample_registry_has_two_competitors():
    reg = load_registry(SAMPLE_CLIENTS_FILE)
    assert reg.competitor_keys() == ["glowfuel__at-greenbites", "glowfuel__at-preppro"]
    _, settings = reg.lookup("glowfuel__at-greenbites")
    assert settings.videos_per_bucket == 80 and settings.min_views == 1000  # the client's defaults
    assert set(reg.client("glowfuel").competitors) == set(SAMPLE_COMPETITORS)


@pytest.mark.parametrize(
    ("competitors", "needles"),
    [
        # a handle whose key equals a hashtag's key
        (
            "[fitfoodie]\n    hashtags: [fitness, {tag: foodie, slug: at-fitfoodie}]",
            ["@fitfoodie", "'foodie'", "acme__at-fitfoodie", "slug"],
        ),
        ("[fitfoodie, '@FitFoodie']\n    hashtags: [fitness]", ["Acme", "@fitfoodie", "twice"]),
        ("[fit_foodie, fit.foodie]\n    hashtags: [fitness]", ["@fit.foodie", "@fit_foodie", "acme__at-fit-foodie"]),
        ("['fit foodie!']\n    hashtags: [fitness]", ["Acme", "competitors[0]", "not a TikTok handle"]),
        ("[{handle: fitfoodie, views: 3}]\n    hashtags: [fitness]", ["@fitfoodie", "unknown field", "views"]),
        ("[{handle: fitfoodie, min_views: -1}]\n    hashtags: [fitness]", ["@fitfoodie", "min_views"]),
        ("[{min_views: 3}]\n    hashtags: [fitness]", ["competitors[0]", "handle"]),
        ("fitfoodie\n    hashtags: [fitness]", ["Acme", "competitors", "list"]),
    ],
)
def test_competitor_errors_are_clear(tmp_path, competitors, needles):
    text = f"clients:\n  - name: Acme\n    competitors: {competitors}\n"
    with pytest.raises(RegistryError) as err:
        load_registry(write(tmp_path, text))
    for needle in needles:
        assert needle in str(err.value), (needle, str(err.value))


# -- sample corpus --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def corpus_truth() -> dict:
    """The ground truth of a small corpus (nothing is encoded: competitor items need only the truth)."""
    _, truth, _ = build_corpus(DEFAULT_SEED, 0.15)
    return truth


def test_sample_competitor_items_reuse_the_corpus_videos(corpus_truth):
    videos = {v["video_path"]: v for v in corpus_truth["videos"] if v["video_path"]}
    corpus_ids = {v["video_id"] for v in corpus_truth["videos"]}
    seen_ids: set[str] = set()
    for handle in ("greenbites", "preppro"):
        items, truth = build_competitor_items(corpus_truth, handle)
        assert len(items) == len(truth["videos"]) > 0
        for item, row in zip(items, truth["videos"], strict=True):
            source = videos[item["localVideoPath"].removeprefix("../")]  # an existing corpus video file
            assert row["reused_video_id"] == source["video_id"] and row["video_id"] == item["id"]
            assert item["videoMeta"]["duration"] == source["duration_s"]  # the file's own duration
            assert item["authorMeta"]["name"] == handle and f"/@{handle}/video/" in item["webVideoUrl"]
            tags = [t["name"] for t in item["hashtags"]]
            assert tags and set(tags) <= set(competitor_profile(handle).usage)
            assert all(f"#{t}" in item["text"] for t in tags)
            assert 0 < (item["diggCount"] + item["commentCount"] + item["shareCount"]) / item["playCount"] < 1
            assert "searchHashtag" not in item
        ids = {i["id"] for i in items}
        assert len(ids) == len(items) and not ids & corpus_ids and not ids & seen_ids
        seen_ids |= ids
        # one video per source file, every bucket represented
        assert len({i["localVideoPath"] for i in items}) == len(items)
        assert {r["duration_bucket"] for r in truth["videos"]} == set(corpus_truth["counts"]["nutrition"]["buckets"])
    # deterministic
    assert (
        build_competitor_items(corpus_truth, "greenbites")[0] == build_competitor_items(corpus_truth, "greenbites")[0]
    )


def test_competitor_mix_differs_between_competitors(corpus_truth):
    share = {}
    for handle in ("greenbites", "preppro"):
        _, truth = build_competitor_items(corpus_truth, handle)
        n = len(truth["videos"])
        share[handle] = {t: sum(t in r["hashtags"] for r in truth["videos"]) / n for t in ("nutrition", "mealprep")}
    assert share["greenbites"]["nutrition"] > share["greenbites"]["mealprep"]
    assert share["preppro"]["mealprep"] > share["preppro"]["nutrition"]
    # a handle the sample does not know gets a seeded profile of its own
    other = competitor_profile("somebrand")
    assert other.handle == "somebrand" and other == competitor_profile("@SomeBrand")
    assert set(other.usage) == set(SAMPLE_COMPETITORS["greenbites"].usage)


def test_write_competitor_items_leaves_the_corpus_alone(tmp_path, corpus_truth):
    out = tmp_path / "sample"
    out.mkdir()
    (out / "ground_truth.json").write_text(json.dumps(corpus_truth))
    before = (out / "ground_truth.json").read_bytes()
    path = write_competitor_items(out, "@GreenBites")
    assert path == out / "@greenbites" / "items.json"
    items = json.loads(path.read_text())
    assert items == build_competitor_items(corpus_truth, "greenbites")[0]
    mtime = path.stat().st_mtime_ns
    assert write_competitor_items(out, "greenbites") == path and path.stat().st_mtime_ns == mtime  # not rewritten
    assert (out / "ground_truth.json").read_bytes() == before
    assert sorted(p.name for p in out.iterdir()) == ["@greenbites", "ground_truth.json"]


# -- hashtag strategy -----------------------------------------------------------------------------------------------


def videos(rows: list[tuple[str, object, float, str]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "video_id": [r[0] for r in rows],
            "hashtags": [r[1] for r in rows],
            "engagement_rate": [r[2] for r in rows],
            "created_at": pd.to_datetime([r[3] for r in rows], utc=True).as_unit("us"),
        }
    )


PLANTED = {
    "alpha": videos(
        [
            ("1", ["x", "X", "#x", "y"], 0.10, "2026-01-01"),  # 'x' three ways counts once
            ("2", np.array(["x"], dtype=object), 0.20, "2026-01-05"),  # Parquet gives arrays
            ("3", ["y", "z"], 0.04, "2026-01-03"),
            ("4", [], 0.06, "2026-01-02"),  # no hashtags: counts in the denominator only
            ("5", None, 0.08, "2026-01-04"),
        ]
    ),
    "beta": videos([("6", ["x"], 0.05, "2026-02-01"), ("7", ["x"], 0.15, "2026-02-02")]),
    "gamma": videos([]),
}


def test_strategy_matches_a_hand_computation():
    table = hashtag_strategy(PLANTED)
    assert tuple(table.columns) == STRATEGY_COLUMNS
    ts = pd.Timestamp
    # alpha: 5 videos, median ER over all = 0.08
    expected = pd.DataFrame(
        [
            ("alpha", "x", 2, 2 / 5, 0.15, 0.15, 0.15 / 0.08, ts("2026-01-01", tz="UTC"), ts("2026-01-05", tz="UTC")),
            ("alpha", "y", 2, 2 / 5, 0.07, 0.07, 0.07 / 0.08, ts("2026-01-01", tz="UTC"), ts("2026-01-03", tz="UTC")),
            ("alpha", "z", 1, 1 / 5, 0.04, 0.04, 0.04 / 0.08, ts("2026-01-03", tz="UTC"), ts("2026-01-03", tz="UTC")),
            ("beta", "x", 2, 1.0, 0.10, 0.10, 1.0, ts("2026-02-01", tz="UTC"), ts("2026-02-02", tz="UTC")),
        ],
        columns=list(STRATEGY_COLUMNS),
    )
    pd.testing.assert_frame_equal(table, expected.astype(table.dtypes.to_dict()), check_exact=False, rtol=1e-12)
    assert str(table["first_seen"].dtype) == "datetime64[us, UTC]" and table["videos"].dtype == "int64"
    assert top_hashtags(table, 1)[["competitor", "hashtag"]].values.tolist() == [["alpha", "x"], ["beta", "x"]]


def test_no_competitors_or_no_videos_give_an_empty_table_with_the_columns():
    for data in ({}, {"gamma": PLANTED["gamma"]}):
        table = hashtag_strategy(data)
        assert table.empty and tuple(table.columns) == STRATEGY_COLUMNS
    zero = videos([("1", ["x"], 0.0, "2026-01-01"), ("2", ["y"], 0.0, "2026-01-02")])
    assert hashtag_strategy({"z": zero})["engagement_vs_competitor_median"].isna().all()  # 0/0 is not a ratio
    with pytest.raises(ValueError, match="hashtags"):
        hashtag_strategy({"bad": PLANTED["beta"].drop(columns="hashtags")})
