"""The sample corpus generator: deterministic, self-consistent, decodable, and measurably what its ground truth says."""

from __future__ import annotations

import json
import math
import statistics
from datetime import UTC, datetime
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from optimizer_pipeline.lib.core.buckets import bucket_for
from optimizer_pipeline.lib.sample.corpus import build_corpus, generate_sample_corpus
from optimizer_pipeline.lib.sample.design import (
    BAD_ITEM_REASONS,
    DEFAULT_SEED,
    GENERATOR_VERSION,
    PLANTED_EFFECTS,
    SAMPLE_CLIENT,
    SAMPLE_HASHTAGS,
    audio_neutral_factor,
    bucket_sizes,
)
from optimizer_pipeline.lib.sample.media import HEIGHT, SAMPLE_RATE, WIDTH, render_video

SCALE = 0.05  # 14 normal videos per hashtag (4/4/3/2/1): about 15 s of encoding on 2 cores


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    out = tmp_path_factory.mktemp("sample") / "corpus"
    summary = generate_sample_corpus(out, DEFAULT_SEED, scale=SCALE, workers=2)
    truth = json.loads((out / "ground_truth.json").read_text())
    items = {h: json.loads((out / h / "items.json").read_text()) for h in SAMPLE_HASHTAGS}
    return out, summary, truth, items


def _serialized(obj) -> str:
    return json.dumps(obj, indent=1, ensure_ascii=False) + "\n"


def _bad_rows(truth: dict, hashtag: str) -> set[int]:
    return {b["row"] for b in truth["bad_items"] if b["hashtag"] == hashtag}


def _er(item: dict) -> float:
    return (item["diggCount"] + item["commentCount"] + item["shareCount"]) / item["playCount"]


def test_summary_and_layout(corpus):
    out, summary, truth, items = corpus
    assert summary.regenerated and summary.seed == DEFAULT_SEED and summary.out_dir == out
    assert summary.n_items == {h: len(items[h]) for h in SAMPLE_HASHTAGS}
    normal = [v for v in truth["videos"] if v["role"] == "normal"]
    assert summary.n_videos == len(normal) == len(list((out / "videos").glob("*.mp4")))
    assert summary.video_seconds == sum(v["duration_s"] for v in normal)
    assert truth["generator_version"] == GENERATOR_VERSION and truth["client"] == SAMPLE_CLIENT
    assert truth["seed"] == DEFAULT_SEED and truth["scale"] == SCALE and truth["hashtags"] == list(SAMPLE_HASHTAGS)
    for effect in truth["effects"]:
        assert {
            "feature",
            "duration_bucket",
            "direction",
            "multiplier",
            "hashtags",
            "kind",
            "threshold",
            "description",
        } <= set(effect)
        assert (effect["direction"] == "higher") == (effect["multiplier"] > 1)
        assert effect["feature"] in truth["design_features"]
        for h in effect["hashtags"]:
            assert effect["feature"] not in truth["null_features"][h][effect["duration_bucket"]]
    assert not any(e["duration_bucket"] == "91-120s" for e in truth["effects"])


def test_same_seed_is_byte_identical_and_another_seed_differs(corpus):
    out, _, truth, _ = corpus
    items, again, _ = build_corpus(DEFAULT_SEED, SCALE)
    assert _serialized(again) == (out / "ground_truth.json").read_text()
    for h in SAMPLE_HASHTAGS:
        assert _serialized(items[h]) == (out / h / "items.json").read_text()
    other_items, other, _ = build_corpus(DEFAULT_SEED + 1, SCALE)
    assert {v["video_id"] for v in other["videos"]}.isdisjoint({v["video_id"] for v in truth["videos"]})
    assert _serialized(other_items["nutrition"]) != _serialized(items["nutrition"])


def test_videos_rendered_in_another_process_are_byte_identical(corpus, tmp_path):
    out, _, _, _ = corpus
    _, _, plans = build_corpus(DEFAULT_SEED, SCALE)
    for rel, plan in sorted(plans, key=lambda p: p[1].duration_s)[:2]:
        again = render_video(tmp_path / rel.name, plan)
        assert again.read_bytes() == (out / rel).read_bytes(), rel


def test_ground_truth_matches_metadata(corpus):
    _, _, truth, items = corpus
    by_id = {v["video_id"]: v for v in truth["videos"]}
    lo, hi = datetime(2026, 7, 1, tzinfo=UTC).timestamp(), datetime(2026, 11, 1, tzinfo=UTC).timestamp()
    seen = set()
    for h in SAMPLE_HASHTAGS:
        bad = _bad_rows(truth, h)
        for row, item in enumerate(items[h]):
            if row in bad:
                continue
            v = by_id[item["id"]]
            seen.add(item["id"])
            assert len(item["id"]) == 19 and item["id"].isdigit()
            assert v["hashtag"] == h == item["searchHashtag"]["name"]
            assert v["views"] == item["playCount"]
            assert v["engagement_rate"] == pytest.approx(_er(item), abs=1e-12)
            assert v["duration_s"] == item["videoMeta"]["duration"]
            assert bucket_for(item["videoMeta"]["duration"]) == v["duration_bucket"]
            assert min(item[k] for k in ("diggCount", "commentCount", "shareCount", "collectCount")) >= 0
            assert f"#{h}" in item["text"] and {"name": h} in item["hashtags"] and item["isAd"] is False
            created = datetime.fromisoformat(item["createTimeISO"].replace("Z", "+00:00"))
            assert created.timestamp() == item["createTime"]
            if v["role"] == "before_cutoff":
                assert created.date().isoformat() == "2025-12-01"
            else:
                assert lo <= item["createTime"] < hi
            assert ("localVideoPath" in item) == (v["role"] == "normal")
            role_ok = {
                "normal": item["playCount"] >= 1_000 and 0.02 <= _er(item) < 0.6,
                "low_views": item["playCount"] < 1_000,
                "low_engagement": _er(item) < 0.02,
                "outlier": _er(item) > 0.7,
                "before_cutoff": True,
            }
            assert role_ok[v["role"]], (v["role"], item["playCount"], _er(item))
    assert seen == set(by_id)
    for h in SAMPLE_HASHTAGS:
        roles = [v["role"] for v in truth["videos"] if v["hashtag"] == h]
        assert 2 <= roles.count("low_views") <= 3 and 2 <= roles.count("low_engagement") <= 3
        assert 1 <= roles.count("outlier") <= 2 and roles.count("before_cutoff") == 2


def test_every_normal_item_has_a_decodable_video(corpus):
    out, _, truth, items = corpus
    by_id = {v["video_id"]: v for v in truth["videos"]}
    checked = 0
    for h in SAMPLE_HASHTAGS:
        bad = _bad_rows(truth, h)
        for row, item in enumerate(items[h]):
            if "localVideoPath" not in item or row in bad:  # the duplicate shares its original's file
                continue
            path = (out / h / item["localVideoPath"]).resolve()
            with av.open(str(path)) as container:
                video = container.streams.video[0]
                assert (video.codec_context.width, video.codec_context.height) == (WIDTH, HEIGHT)
                assert abs(container.duration / 1e6 - item["videoMeta"]["duration"]) <= 0.2
                assert len(container.streams.audio) == by_id[item["id"]]["design"]["has_audio"]
                if container.streams.audio:
                    assert container.streams.audio[0].codec_context.sample_rate == SAMPLE_RATE
                assert next(container.decode(video=0)).width == WIDTH
            checked += 1
    assert checked == sum(1 for v in truth["videos"] if v["role"] == "normal")


def test_bad_items_are_present_with_their_expected_reasons(corpus):
    _, _, truth, items = corpus
    for h in SAMPLE_HASHTAGS:
        bad = {b["expected_reason"]: b for b in truth["bad_items"] if b["hashtag"] == h}
        assert set(bad) == {r for r, _ in BAD_ITEM_REASONS}
        rows = items[h]
        assert "id" not in rows[bad["missing_id"]["row"]] and bad["missing_id"]["video_id"] is None
        assert rows[bad["non_positive_views"]["row"]]["playCount"] == 0
        assert rows[bad["negative_count"]["row"]]["diggCount"] < 0
        undated = rows[bad["unparseable_date"]["row"]]
        assert undated["createTimeISO"] == "not-a-date" and "createTime" not in undated
        assert rows[bad["duration_over_120s"]["row"]]["videoMeta"]["duration"] == 150
        assert rows[bad["unparseable_duration"]["row"]]["videoMeta"]["duration"] == "n/a"
        dup_row = bad["duplicate_id"]["row"]
        assert rows[dup_row] == rows[dup_row - 1] and rows[dup_row]["id"] == bad["duplicate_id"]["video_id"]
        for b in bad.values():
            assert b["video_id"] == rows[b["row"]].get("id")


def test_bucket_sizes_leave_one_bucket_insufficient(corpus):
    _, _, truth, _ = corpus
    for scale in (0.05, 0.5, 1.0, 2.0):
        sizes = bucket_sizes(scale)
        assert sizes["91-120s"] < 20 and min(sizes.values()) >= 1
    assert sum(n >= 20 for n in bucket_sizes(1.0).values()) >= 3
    for h in SAMPLE_HASHTAGS:
        in_bucket = [v for v in truth["videos"] if v["hashtag"] == h and v["duration_bucket"] == "91-120s"]
        assert 0 < len(in_bucket) < 20
        assert truth["counts"][h]["buckets"]["91-120s"]["valid_items"] == len(in_bucket)


def _expected_multiplier(video: dict) -> float:
    m = 1.0
    for e in PLANTED_EFFECTS:
        here = e["duration_bucket"] == video["duration_bucket"] and video["hashtag"] in e["hashtags"]
        if here and video["design"][e["feature"]] >= e["threshold"]:
            m *= e["multiplier"]
    if not video["design"]["has_audio"]:
        m *= audio_neutral_factor(video["hashtag"], video["duration_bucket"])
    return m


def test_planted_effects_drive_the_multiplier(corpus):
    _, _, truth, _ = corpus
    for v in truth["videos"]:
        assert v["multiplier"] == pytest.approx(_expected_multiplier(v), rel=1e-5)
        if v["design"]["has_audio"] == 0:
            assert v["design"]["tempo_bpm"] == 0 and v["design"]["silence_ratio"] == 0


def test_planted_effects_are_visible_at_full_scale():
    """Metadata only (no encoding): pattern-present vs absent median ER moves in the planted direction."""
    _, truth, _ = build_corpus(DEFAULT_SEED, 1.0)
    normal = [v for v in truth["videos"] if v["role"] == "normal"]
    for e in truth["effects"]:
        for h in e["hashtags"]:
            group = [
                v
                for v in normal
                if v["hashtag"] == h and v["duration_bucket"] == e["duration_bucket"] and v["design"]["has_audio"]
            ]
            present = [v["engagement_rate"] for v in group if v["design"][e["feature"]] >= e["threshold"]]
            absent = [v["engagement_rate"] for v in group if v["design"][e["feature"]] < e["threshold"]]
            assert len(present) >= 5 and len(absent) >= 5, e
            ratio = statistics.median(present) / statistics.median(absent)
            assert (ratio > 1.3) if e["direction"] == "higher" else (ratio < 1 / 1.3), (e["feature"], h, ratio)


def _hard_cuts(path: Path) -> tuple[int, float]:
    """(hard cuts from consecutive HSV histograms, mean luma) of a decoded video."""
    cuts, lumas, prev = 0, [], None
    with av.open(str(path)) as container:
        for frame in container.decode(video=0):
            img = frame.to_ndarray(format="bgr24")
            lumas.append(float(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY).mean()))
            hist = cv2.calcHist(
                [cv2.cvtColor(img, cv2.COLOR_BGR2HSV)], [0, 1, 2], None, [8, 4, 8], [0, 180, 0, 256, 0, 256]
            )
            hist = cv2.normalize(hist, hist).flatten()
            if prev is not None and cv2.compareHist(prev, hist, cv2.HISTCMP_BHATTACHARYYA) > 0.5:
                cuts += 1
            prev = hist
    return cuts, float(np.mean(lumas))


def _mono_audio(path: Path) -> np.ndarray:
    resampler = av.AudioResampler(format="fltp", layout="mono", rate=SAMPLE_RATE)
    with av.open(str(path)) as container:
        chunks = [r.to_ndarray()[0] for f in container.decode(audio=0) for r in resampler.resample(f)]
    return np.concatenate(chunks).astype(np.float32)


def test_cuts_brightness_and_tempo_are_measurable(corpus):
    out, _, truth, _ = corpus
    normal = sorted((v for v in truth["videos"] if v["role"] == "normal"), key=lambda v: v["duration_s"])
    for v in normal[:4] + normal[-1:]:
        cuts, luma = _hard_cuts(out / v["video_path"])
        design_cuts = round(v["design"]["cuts_per_second"] * v["duration_s"])
        assert abs(cuts - design_cuts) <= 1 and design_cuts == len(v["timeline"]["cut_times_s"]), v["video_id"]
        assert abs(luma - v["design"]["brightness_mean"]) < 20, (luma, v["design"]["brightness_mean"])
    import librosa

    with_audio = [v for v in normal if v["design"]["has_audio"] and v["duration_s"] <= 24][:2]
    assert with_audio
    for v in with_audio:
        y = _mono_audio(out / v["video_path"])
        assert abs(len(y) / SAMPLE_RATE - v["duration_s"]) < 0.2
        onset = librosa.onset.onset_strength(y=y, sr=SAMPLE_RATE)
        tempo = float(np.atleast_1d(librosa.feature.tempo(onset_envelope=onset, sr=SAMPLE_RATE))[0])
        target = v["design"]["tempo_bpm"]
        assert min(abs(math.log(tempo / (target * k))) for k in (0.5, 1, 2)) < math.log(1.05), (tempo, target)


def test_present_corpus_is_reused_and_a_missing_video_is_rerendered(corpus):
    out, _, truth, _ = corpus
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    again = generate_sample_corpus(out, DEFAULT_SEED, scale=SCALE, workers=2)
    assert not again.regenerated
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before  # reuse writes no file
    assert again.n_items == corpus[1].n_items and again.n_videos == corpus[1].n_videos
    shortest = min((v for v in truth["videos"] if v["role"] == "normal"), key=lambda v: v["duration_s"])
    victim = out / shortest["video_path"]
    original = victim.read_bytes()
    other = [p for p in (out / "videos").glob("*.mp4") if p != victim]
    mtimes = {p: p.stat().st_mtime_ns for p in other}
    victim.unlink()
    repaired = generate_sample_corpus(out, DEFAULT_SEED, scale=SCALE, workers=1)
    assert repaired.regenerated and victim.read_bytes() == original
    assert all(p.stat().st_mtime_ns == t for p, t in mtimes.items())  # only the missing file was rendered
    assert (out / "ground_truth.json").read_text() == _serialized(truth)
