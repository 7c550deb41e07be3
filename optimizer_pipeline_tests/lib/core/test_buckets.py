"""Duration bucket edges and partition-key slugs: the two places a one-off error silently misfiles videos."""

from __future__ import annotations

import pytest

from optimizer_pipeline.lib.core.buckets import DURATION_BUCKETS, bucket_bounds, bucket_for
from optimizer_pipeline.lib.core.slugs import client_hashtag_key, is_slug, slugify, split_client_hashtag


@pytest.mark.parametrize(
    ("duration", "bucket"),
    [
        (0.1, "0-15s"),
        (15, "0-15s"),
        (15.0, "0-15s"),
        (15.4, "16-30s"),
        (16, "16-30s"),
        (30, "16-30s"),
        (30.01, "31-60s"),
        (60, "31-60s"),
        (61, "61-90s"),
        (90, "61-90s"),
        (90.5, "91-120s"),
        (120, "91-120s"),
        ("45", "31-60s"),
    ],
)
def test_bucket_edges(duration: float, bucket: str) -> None:
    assert bucket_for(duration) == bucket


@pytest.mark.parametrize("duration", [120.01, 121, 0, -1, float("nan"), float("inf"), None, "abc"])
def test_out_of_scope_durations_have_no_bucket(duration: object) -> None:
    assert bucket_for(duration) is None


def test_bucket_bounds_round_trip() -> None:
    assert DURATION_BUCKETS == ("0-15s", "16-30s", "31-60s", "61-90s", "91-120s")
    for label in DURATION_BUCKETS:
        low, high = bucket_bounds(label)
        assert bucket_for(high) == label
        assert bucket_for(low + 0.001) == label
    with pytest.raises(KeyError):
        bucket_bounds("121-180s")


@pytest.mark.parametrize(
    ("text", "slug"),
    [("Glow Fuel!", "glow-fuel"), ("  #SkinCare  ", "skincare"), ("Café Noir", "cafe-noir"), ("a__b", "a-b")],
)
def test_slugify(text: str, slug: str) -> None:
    assert slugify(text) == slug
    assert is_slug(slug)


def test_slugify_rejects_empty() -> None:
    with pytest.raises(ValueError):
        slugify("!!!")


def test_client_hashtag_key_round_trip() -> None:
    key = client_hashtag_key("glow-fuel", "skincare")
    assert key == "glow-fuel__skincare"
    assert split_client_hashtag(key) == ("glow-fuel", "skincare")


@pytest.mark.parametrize(
    ("client", "hashtag"),
    [("glow|fuel", "skincare"), ("glow__fuel", "skincare"), ("glow-fuel", "skin|care"), ("Glow", "fit"), ("", "x")],
)
def test_client_hashtag_key_rejects_unsafe_parts(client: str, hashtag: str) -> None:
    with pytest.raises(ValueError):
        client_hashtag_key(client, hashtag)


@pytest.mark.parametrize("key", ["glow-fuel", "glow-fuel|skincare", "a__b__c", "__skincare", "Glow__x"])
def test_split_client_hashtag_rejects_bad_keys(key: str) -> None:
    with pytest.raises(ValueError):
        split_client_hashtag(key)
