"""Labels: vocabulary, rule tables, keyframes, and the Anthropic labeler driven through the real SDK client
against the local fake Messages API (``optimizer_pipeline_tests.anthropic_server``)."""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from optimizer_pipeline.lib.features.labels import LABEL_FIELDS, label_problems, rule_based_labels
from optimizer_pipeline.lib.features.labels.anthropic_labels import TOOL_NAME, AnthropicLabeler, label_schema
from optimizer_pipeline.lib.features.labels.keyframes import KeyframeError, keyframes_jpeg
from optimizer_pipeline.lib.features.labels.vocabulary import CTA_TYPES, EMOTIONS, HOOK_TYPES, PACING, PAIN_POINTS
from optimizer_pipeline.lib.features.runner import VideoJob, run_feature_batch
from optimizer_pipeline.resources.features import AnthropicCreativeLabeler
from optimizer_pipeline_tests.anthropic_server import (
    DEFAULT_API_KEY,
    AnthropicTestServer,
    invalid_json_reply,
    rate_limited,
    server_error,
    text_reply,
    tool_reply,
)

SHA = hashlib.sha256(b"video one").hexdigest()
GOOD = {"hook_type": "question", "emotion": "curiosity", "cta_type": "urgency", "pain_point": "no_time"}
JPEG = b"\xff\xd8\xff\xe0fake-jpeg"

# -- vocabulary -----------------------------------------------------------------------------------------------------


def test_vocabulary_is_the_single_source_of_allowed_values() -> None:
    assert "none" in HOOK_TYPES and "none" in EMOTIONS and "none" in CTA_TYPES and "none" in PAIN_POINTS
    assert PACING == ("fast", "medium", "slow")
    assert list(LABEL_FIELDS) == ["hook_type", "emotion", "cta_type", "pain_point"]
    assert label_problems(GOOD) == []
    assert label_problems({**GOOD, "emotion": "joy"}) == ["emotion='joy' is not one of " + str(list(EMOTIONS))]
    assert label_problems({"hook_type": "pov"}) == [
        "missing field 'emotion'",
        "missing field 'cta_type'",
        "missing field 'pain_point'",
    ]
    assert label_problems("hook_type=pov") == ["labels must be an object, got str"]


# -- rules ----------------------------------------------------------------------------------------------------------

RULE_CASES = [
    # caption, hashtags, detected text, expected (hook, emotion, cta, pain)
    ("POV: you have no time to cook 😂 link in bio", ["fyp"], "", ("pov", "humor", "link_in_bio", "no_time")),
    ("Why is nobody talking about this?", [], "", ("question", "curiosity", "none", "none")),
    ("5 easy ways to lose belly fat. Last chance, buy now!", [], "", ("listicle", "urgency", "urgency", "weight")),
    ("How to meal prep in 10 minutes", ["#BusyMom"], "save this for later", ("tutorial", "none", "save", "no_time")),
    ("My before and after glow up", ["transformation"], "", ("before_after", "none", "none", "none")),
    ("Storytime: the day I quit sugar", [], "", ("story", "none", "none", "none")),
    ("Unpopular opinion: the only diet you need", [], "", ("bold_claim", "none", "none", "none")),
    ("dancing again", ["TrendingSound"], "", ("trend_sound", "none", "none", "none")),
    ("Cozy slow morning routine", ["asmr"], "", ("none", "calm", "none", "none")),
    ("Proven by science: my blood sugar dropped", [], "", ("none", "trust", "none", "health_worry")),
    ("Too tired after work? You can do it", [], "", ("question", "inspiration", "none", "no_energy")),
    ("Meals under $5 that are not boring", [], "", ("none", "none", "none", "budget")),
    ("Drop a 🔥 if you agree!! omg", [], "", ("none", "excitement", "comment", "none")),
    ("Follow for part 2", [], "", ("none", "none", "follow", "none")),
    ("Use code SAVE20 for 20% off", [], "", ("none", "none", "buy_now", "none")),
    ("Keto explained for beginners", [], "", ("none", "none", "none", "confusion")),
    ("Why I stay consistent", [], "", ("question", "none", "none", "motivation")),
    ("", [], "", ("none", "none", "none", "none")),
]


@pytest.mark.parametrize(("caption", "hashtags", "detected", "expected"), RULE_CASES)
def test_rule_tables(caption: str, hashtags: list[str], detected: str, expected: tuple[str, ...]) -> None:
    labels = rule_based_labels(caption, hashtags, detected)
    assert (labels["hook_type"], labels["emotion"], labels["cta_type"], labels["pain_point"]) == expected
    assert labels["label_source"] == "rules"
    assert label_problems(labels) == []


def test_rules_are_deterministic_and_word_bounded() -> None:
    caption = "Povidone iodine kit, a fatal flaw?"  # neither "pov" nor "fat" as words
    labels = rule_based_labels(caption, None)
    assert labels["hook_type"] == "question" and labels["pain_point"] == "none"
    assert rule_based_labels(caption, None) == labels


# -- keyframes ------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """4 s, 12 fps, 160x284 H.264; frame i has grey level 5*i, so each keyframe's time is visible in its pixels."""
    path = tmp_path_factory.mktemp("video") / "tiny.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=12)
        stream.width, stream.height, stream.pix_fmt = 160, 284, "yuv420p"
        stream.options = {"g": "24"}
        for i in range(48):
            frame = av.VideoFrame.from_ndarray(np.full((284, 160, 3), 5 * i, np.uint8), format="bgr24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def test_keyframes_are_evenly_spaced_downscaled_jpegs(tiny_video: Path) -> None:
    frames = keyframes_jpeg(tiny_video, n=4, width=64)
    images = [cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR) for jpeg in frames]
    assert all(jpeg[:2] == b"\xff\xd8" for jpeg in frames)
    assert [img.shape for img in images] == [(114, 64, 3)] * 4
    # middles of four 1 s slices: frames 6, 18, 30, 42 -> grey 30, 90, 150, 210
    assert [round(float(img.mean()) / 5) * 5 for img in images] == pytest.approx([30, 90, 150, 210], abs=10)
    assert keyframes_jpeg(tiny_video, n=1, width=512)[0][:2] == b"\xff\xd8"  # narrower than width: not upscaled


def test_keyframes_of_a_broken_file_raise_keyframe_error(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"BAD not a video")
    with pytest.raises(KeyframeError):
        keyframes_jpeg(broken)
    with pytest.raises(KeyframeError):
        keyframes_jpeg(tmp_path / "missing.mp4")


# -- Anthropic labeler against the fake Messages API ---------------------------------------------------------------


@pytest.fixture
def server():
    with AnthropicTestServer() as srv:
        yield srv


def make_labeler(server: AnthropicTestServer, tmp_path: Path, **kwargs) -> AnthropicLabeler:
    kwargs.setdefault("api_key", DEFAULT_API_KEY)
    kwargs.setdefault("model", AnthropicCreativeLabeler.model_fields["model"].default)
    return AnthropicLabeler(base_url=server.url, cache_dir=tmp_path / "labels", **kwargs)


def label(labeler: AnthropicLabeler, sha: str = SHA):
    return labeler.label(sha, "Why is nobody talking about this? Last chance!", ["fyp", "#health"], [JPEG, JPEG])


def test_valid_reply_gives_labels_tokens_and_cost(server: AnthropicTestServer, tmp_path: Path) -> None:
    server.queue(tool_reply(GOOD, input_tokens=2000, output_tokens=100))
    result = label(make_labeler(server, tmp_path))

    assert result.labels == GOOD
    assert (result.label_source, result.error, result.cached, result.attempts) == ("anthropic", None, False, 1)
    assert (result.input_tokens, result.output_tokens) == (2000, 100)
    assert result.cost_usd == pytest.approx((2000 * 3.0 + 100 * 15.0) / 1e6)  # claude-sonnet-4-6: $3 / $15

    [request] = server.requests
    assert request.path == "/v1/messages" and request.headers["anthropic-version"]
    assert request.body["model"] == "claude-sonnet-4-6"
    assert [img["source"] for img in request.images] == [
        {"type": "base64", "media_type": "image/jpeg", "data": base64.b64encode(JPEG).decode()}
    ] * 2
    assert "Caption: Why is nobody talking about this? Last chance!" in request.text
    assert "Hashtags: #fyp #health" in request.text
    assert request.body["tool_choice"] == {"type": "tool", "name": TOOL_NAME, "disable_parallel_tool_use": True}
    [tool] = request.body["tools"]
    assert tool["name"] == TOOL_NAME and tool["input_schema"] == label_schema()
    for field, values in LABEL_FIELDS.items():
        assert tool["input_schema"]["properties"][field]["enum"] == list(values)
    assert result.as_row()["label_cost_usd"] == result.cost_usd and result.as_row()["hook_type"] == "question"


def test_malformed_then_valid_succeeds_on_retry(server: AnthropicTestServer, tmp_path: Path) -> None:
    server.queue(text_reply("Sure! hook: question"), tool_reply(GOOD, input_tokens=1000, output_tokens=50))
    result = label(make_labeler(server, tmp_path))
    assert result.label_source == "anthropic" and result.labels == GOOD
    assert result.attempts == 2 and len(server.requests) == 2
    assert (result.input_tokens, result.output_tokens) == (1500 + 1000, 40 + 50)  # the malformed reply is paid too


MALFORMED = {
    "text_only": (lambda: text_reply("I think it is a question hook."), "no record_video_labels tool_use block"),
    "bad_enum": (lambda: tool_reply({**GOOD, "emotion": "joy"}), "emotion='joy' is not one of"),
    "missing_field": (lambda: tool_reply({"hook_type": "pov"}), "missing field 'emotion'"),
    "invalid_json": (invalid_json_reply, "response body is not valid JSON"),
}


@pytest.mark.parametrize("kind", list(MALFORMED))
def test_always_malformed_fails_softly_with_rule_labels(kind: str, server: AnthropicTestServer, tmp_path: Path) -> None:
    reply, reason = MALFORMED[kind]
    server.queue(*(reply() for _ in range(3)))
    labeler = make_labeler(server, tmp_path, max_attempts=3)

    result = label(labeler)

    assert result.label_source == "anthropic_failed" and len(server.requests) == 3
    expected = rule_based_labels("Why is nobody talking about this? Last chance!", ["fyp", "#health"])
    assert result.labels == {field: expected[field] for field in LABEL_FIELDS}
    assert result.error.startswith("malformed reply in 3 attempt(s): attempt 1: ") and reason in result.error
    assert not (tmp_path / "labels" / f"{SHA}.json").exists()  # failures are retried by the next run
    server.queue(tool_reply(GOOD))
    assert label(labeler).label_source == "anthropic"


def test_server_error_is_retried_by_the_sdk(server: AnthropicTestServer, tmp_path: Path) -> None:
    server.queue(server_error(), tool_reply(GOOD))
    result = label(make_labeler(server, tmp_path))
    assert result.label_source == "anthropic" and result.attempts == 1
    assert [r.headers["x-stainless-retry-count"] for r in server.requests] == ["0", "1"]


def test_rate_limit_after_sdk_retries_is_a_failed_result(server: AnthropicTestServer, tmp_path: Path) -> None:
    server.queue(rate_limited(), rate_limited(), rate_limited())
    result = label(make_labeler(server, tmp_path, max_retries=2))
    assert result.label_source == "anthropic_failed" and len(server.requests) == 3
    assert result.error.startswith("rate limited (still 429 after the SDK's retries) (HTTP 429: rate_limit_error")
    assert "request_id=req_fake" in result.error


def test_persistent_5xx_is_a_failed_result(server: AnthropicTestServer, tmp_path: Path) -> None:
    server.queue(*(server_error() for _ in range(3)))
    result = label(make_labeler(server, tmp_path, max_retries=2))
    assert result.label_source == "anthropic_failed"
    assert "HTTP 500: api_error Internal server error" in result.error


def test_bad_key_fails_with_a_clear_error_that_never_shows_the_key(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong_key = "sk-ant-api03-WRONG-secret-value-9876543210"
    with AnthropicTestServer() as server:
        labeler = make_labeler(server, tmp_path, api_key=wrong_key)
        result = label(labeler)
        assert len(server.requests) == 1  # 401 is not retried
        assert server.requests[0].headers["authorization"] == f"Bearer {wrong_key}"  # what SDK 2.x sends

    assert result.label_source == "anthropic_failed"
    assert result.error.startswith("authentication failed: the API key was rejected (HTTP 401: authentication_error")
    for text in (result.error, json.dumps(result.as_row()), repr(labeler), caplog.text):
        assert wrong_key not in text and "WRONG-secret" not in text


def test_cache_means_a_rerun_sends_no_request(server: AnthropicTestServer, tmp_path: Path) -> None:
    server.queue(tool_reply(GOOD, input_tokens=1000, output_tokens=10))
    first = label(make_labeler(server, tmp_path))
    second = label(make_labeler(server, tmp_path))  # a new process would build a new labeler

    assert len(server.requests) == 1
    assert second.cached and not first.cached
    assert (second.labels, second.input_tokens, second.cost_usd) == (first.labels, 1000, first.cost_usd)
    record = json.loads((tmp_path / "labels" / f"{SHA}.json").read_text())
    assert record["labels"] == GOOD and record["model"] == "claude-sonnet-4-6"
    assert DEFAULT_API_KEY not in json.dumps(record)
    assert not list((tmp_path / "labels").glob("*.tmp"))

    server.queue(tool_reply({**GOOD, "hook_type": "pov"}))
    other_model = label(make_labeler(server, tmp_path, model="claude-haiku-4-5"))  # another model: not reused
    assert other_model.labels["hook_type"] == "pov" and len(server.requests) == 2
    assert other_model.cost_usd == pytest.approx((1500 * 1.0 + 60 * 5.0) / 1e6)


def test_models_that_reject_forced_tools_use_a_json_schema(server: AnthropicTestServer, tmp_path: Path) -> None:
    server.queue(text_reply(json.dumps(GOOD)))
    labeler = make_labeler(server, tmp_path, model="claude-sonnet-5-5")
    result = label(labeler)

    assert labeler.structured_output == "json_schema"
    assert result.labels == GOOD and result.cost_usd == pytest.approx((1500 * 2.0 + 40 * 10.0) / 1e6)
    body = server.requests[0].body
    assert "tool_choice" not in body and "tools" not in body
    assert body["output_config"] == {"effort": "low", "format": {"type": "json_schema", "schema": label_schema()}}


def test_rejected_request_is_a_failed_result(server: AnthropicTestServer, tmp_path: Path) -> None:
    result = label(make_labeler(server, tmp_path, model="claude-sonnet-5-5", structured_output="tool"))
    assert result.label_source == "anthropic_failed" and len(server.requests) == 1  # 400 is not retried
    assert result.error.startswith("request rejected (HTTP 400: invalid_request_error tool_choice: forced tool use")


def test_unknown_model_has_no_made_up_cost(server: AnthropicTestServer, tmp_path: Path) -> None:
    server.queue(tool_reply(GOOD))
    result = label(make_labeler(server, tmp_path, model="claude-future-9"))
    assert result.label_source == "anthropic" and result.cost_usd is None


def video_features(path: Path) -> dict:
    """Minimal extractor for the runner: the content hash is what the labeler caches by."""
    data = Path(path).read_bytes()
    return {"size_bytes": len(data), "content_sha256": hashlib.sha256(data).hexdigest(), "feature_version": "t1"}


def test_labeler_plugs_into_the_feature_runner(server: AnthropicTestServer, tmp_path: Path, tiny_video: Path) -> None:
    jobs = [VideoJob("v1", tiny_video, caption="Why am I always tired?", hashtags=["sleep"])]
    labeler = make_labeler(server, tmp_path, n_keyframes=3)
    server.queue(tool_reply(GOOD))

    [row] = run_feature_batch(
        jobs, extractor=video_features, cache_dir=tmp_path / "features", feature_version="t1", labeler=labeler
    ).rows
    again = run_feature_batch(
        jobs, extractor=video_features, cache_dir=tmp_path / "features", feature_version="t1", labeler=labeler
    )

    assert {k: row[k] for k in LABEL_FIELDS} == GOOD and row["label_source"] == "anthropic"
    assert row["size_bytes"] == tiny_video.stat().st_size and row["video_id"] == "v1"
    assert len(server.requests[0].images) == 3 and "Caption: Why am I always tired?" in server.requests[0].text
    assert len(server.requests) == 1 and again.rows[0]["label_cached"] is True
