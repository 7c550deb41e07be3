"""Semantic labels from Claude (keyframes + caption), through the real ``anthropic`` SDK client.

Why it is built this way:
- **Structured output.** The reply must be one of the vocabulary values per field, so the request carries a JSON
  schema whose ``enum`` lists are the vocabulary. By default that schema is a tool's ``input_schema`` and
  ``tool_choice`` forces the tool (``structured_output="tool"``). Models that answer a forced tool choice with a
  400 (``claude-*-5-5`` and ``claude-fable-5-1``, per Anthropic's migration guides) get the same schema as
  ``output_config.format`` instead (``"json_schema"``); pick either explicitly with ``structured_output``.
- **Never trust, never crash.** Every reply is validated against the vocabulary. A malformed one (no tool_use
  block, non-JSON body or text, a missing field, a value outside the enum) is asked again, up to ``max_attempts``
  requests of our own; then the result is ``label_source="anthropic_failed"`` with the rule-based labels and the
  reasons in ``error``. HTTP errors (401, 429 and 5xx once the SDK's own ``max_retries`` are spent) fail the same
  way at once. Nothing but a programming error raises.
- **Pay once.** Successful results are cached on disk as ``cache_dir/<sha256>.json`` (atomic rename), keyed by the
  video's content hash (a re-upload of the same bytes reuses the labels, caption included) and checked against model
  and prompt version, so a rerun sends no request. Failures are not cached: a rerun retries them.
- **Known cost.** ``cost_usd`` = tokens from every response's ``usage`` x the model's price in
  :mod:`.anthropic_pricing` (USD per million tokens, list prices as published by Anthropic; override with
  ``prices=``). An unknown model gives ``cost_usd=None``, never a made-up number.
- **No secrets.** The API key only goes to the SDK client; error texts are scrubbed of it before being returned
  or logged, and :meth:`AnthropicLabeler.__repr__` does not show it.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import anthropic

from optimizer_pipeline.lib.core.atomic_files import atomic_write_text
from optimizer_pipeline.lib.core.hashing import file_sha256, is_sha256_hex
from optimizer_pipeline.lib.features.labels.anthropic_pricing import PRICES_USD_PER_MTOK, ModelPrice, TokenSpend
from optimizer_pipeline.lib.features.labels.keyframes import keyframes_jpeg as extract_keyframes
from optimizer_pipeline.lib.features.labels.rules import rule_based_labels
from optimizer_pipeline.lib.features.labels.vocabulary import LABEL_FIELDS, label_problems

log = logging.getLogger(__name__)

PROMPT_VERSION = "labels-v1"
TOOL_NAME = "record_video_labels"
MAX_IMAGES = 8
MAX_CAPTION_CHARS = 2200

StructuredOutput = Literal["tool", "json_schema"]
#: Models documented to reject a forced ``tool_choice`` with HTTP 400; they get ``output_config.format`` instead.
FORCED_TOOL_UNSUPPORTED: frozenset[str] = frozenset({"claude-sonnet-5-5", "claude-opus-5-5", "claude-fable-5-1"})


_FIELD_HELP = {
    "hook_type": "How the first seconds grab attention. question: opens with a question; bold_claim: a strong or "
    "contrarian statement; pov: 'POV:' role-play; tutorial: how-to / hack; before_after: transformation or "
    "comparison; story: storytime / personal narrative; listicle: 'N things/tips'; trend_sound: built around a "
    "trending sound or meme format; none: no recognisable hook.",
    "emotion": "The dominant feeling the video aims for. urgency means time pressure (limited offer, last chance).",
    "cta_type": "The call to action, if any. link_in_bio: points to the profile link; buy_now: purchase or discount "
    "code; urgency: act-now pressure (limited time/stock); save/comment/follow: asks for that action.",
    "pain_point": "The viewer problem the video addresses. no_time: busy/quick; no_energy: tired; weight: body "
    "weight/fat; budget: money; confusion: does not know how/where to start; motivation: cannot stay consistent; "
    "health_worry: a health concern; none: no problem addressed.",
}
SYSTEM_PROMPT = (
    "You label short-form marketing videos (TikTok) for a creative-testing pipeline. You see a few keyframes in "
    "time order and the caption with hashtags. Choose exactly one value for each field from the allowed values; "
    "use 'none' when nothing fits. Judge what the video does, not what the caption's hashtags merely mention. "
    "Do not label pacing: it is measured elsewhere."
)


class Job(Protocol):
    """What :meth:`AnthropicLabeler.__call__` needs of a video job (``feature_runner.VideoJob`` fits)."""

    path: Path
    sha256: str | None
    caption: str
    hashtags: Sequence[str]


@dataclass(frozen=True)
class LabelResult:
    """Labels of one video and what getting them cost.

    ``input_tokens``/``output_tokens``/``cost_usd`` add up every attempt, malformed ones included (they are billed
    too). A cached result repeats the numbers of the run that paid for it; ``cached`` tells it apart.
    """

    labels: dict[str, str]
    label_source: Literal["anthropic", "anthropic_failed"]
    input_tokens: int
    output_tokens: int
    cost_usd: float | None
    error: str | None
    cached: bool
    model: str = ""
    attempts: int = 0

    def as_row(self) -> dict[str, Any]:
        """Flat columns for a features table: the four labels plus ``label_*`` bookkeeping."""
        return {
            **self.labels,
            "label_source": self.label_source,
            "label_model": self.model,
            "label_input_tokens": self.input_tokens,
            "label_output_tokens": self.output_tokens,
            "label_cost_usd": self.cost_usd,
            "label_error": self.error,
            "label_cached": self.cached,
        }


class MalformedReply(ValueError):
    """The reply does not carry a valid label set."""


def label_schema() -> dict[str, Any]:
    """JSON schema of one label set; its enums are the vocabulary."""
    return {
        "type": "object",
        "properties": {
            field: {"type": "string", "enum": list(values), "description": _FIELD_HELP[field]}
            for field, values in LABEL_FIELDS.items()
        },
        "required": list(LABEL_FIELDS),
        "additionalProperties": False,
    }


class AnthropicLabeler:
    """Labels videos with Claude; see the module docstring for the retry, cache and cost rules."""

    def __init__(
        self,
        api_key: str,
        model: str,
        base_url: str | None = None,
        max_retries: int = 2,
        *,
        cache_dir: Path,
        max_attempts: int = 3,
        prices: Mapping[str, ModelPrice] | None = None,
        structured_output: StructuredOutput | None = None,
        timeout_s: float = 120.0,
        max_tokens: int = 2048,
        n_keyframes: int = 4,
    ) -> None:
        if not api_key:
            raise ValueError("api_key is empty")
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        self.model = model
        self.cache_dir = Path(cache_dir)
        self.max_attempts = max_attempts
        self.prices = dict(PRICES_USD_PER_MTOK if prices is None else prices)
        self.structured_output: StructuredOutput = structured_output or (
            "json_schema" if model in FORCED_TOOL_UNSUPPORTED else "tool"
        )
        self.max_tokens = max_tokens
        self.n_keyframes = n_keyframes
        self._secret = api_key
        self._client = anthropic.Anthropic(
            api_key=api_key, base_url=base_url, max_retries=max_retries, timeout=timeout_s
        )
        if model not in self.prices:
            log.warning("no price for model %s: cost_usd will be None (add it to prices=)", model)

    def __repr__(self) -> str:
        return f"AnthropicLabeler(model={self.model!r}, structured_output={self.structured_output!r})"

    # -- public API ---------------------------------------------------------------------------------------------

    def cache_path(self, video_sha256: str) -> Path:
        """Where the result for this content hash is cached."""
        if not is_sha256_hex(video_sha256):
            raise ValueError(f"video_sha256 must be 64 lower-case hex characters, got {video_sha256!r}")
        return self.cache_dir / f"{video_sha256}.json"

    def cached_result(self, video_sha256: str) -> LabelResult | None:
        """The cached result for this video, or None (also for one made by another model or prompt version)."""
        path = self.cache_path(video_sha256)
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(record, dict):
            return None
        if record.get("model") != self.model or record.get("prompt_version") != PROMPT_VERSION:
            return None
        if label_problems(record.get("labels")):
            return None
        return LabelResult(
            labels={field: record["labels"][field] for field in LABEL_FIELDS},
            label_source="anthropic",
            input_tokens=int(record.get("input_tokens", 0)),
            output_tokens=int(record.get("output_tokens", 0)),
            cost_usd=record.get("cost_usd"),
            error=None,
            cached=True,
            model=self.model,
            attempts=int(record.get("attempts", 0)),
        )

    def label(
        self, video_sha256: str, caption: str, hashtags: Iterable[str], keyframes_jpeg: Sequence[bytes]
    ) -> LabelResult:
        """Labels for one video: cached, from Claude, or (``anthropic_failed``) from the rules with the reason."""
        cached = self.cached_result(video_sha256)
        if cached is not None:
            return cached
        hashtags = [str(tag) for tag in hashtags or []]
        request = self._request(caption or "", hashtags, keyframes_jpeg)
        spent = TokenSpend()
        problems: list[str] = []
        for attempt in range(1, self.max_attempts + 1):
            spent.attempts = attempt
            try:
                message = self._client.messages.create(**request)
            except anthropic.APIStatusError as exc:
                return self._failed(caption, hashtags, spent, _describe_status_error(exc))
            except anthropic.APIConnectionError as exc:
                return self._failed(caption, hashtags, spent, f"could not reach the Anthropic API: {exc.message}")
            except ValueError as exc:  # a 200 whose body is not valid JSON
                problems.append(f"attempt {attempt}: response body is not valid JSON ({type(exc).__name__})")
                continue
            except Exception as exc:  # a labeling failure must not stop a batch
                return self._failed(caption, hashtags, spent, f"unexpected {type(exc).__name__}: {exc}")
            spent.add(getattr(message, "usage", None))
            try:
                labels = self._parse(message)
            except MalformedReply as exc:
                problems.append(f"attempt {attempt}: {exc}")
                log.info("malformed labeling reply for %s: %s", video_sha256[:12], self._scrub(str(exc)))
                continue
            result = LabelResult(
                labels=labels,
                label_source="anthropic",
                input_tokens=spent.input_tokens,
                output_tokens=spent.output_tokens,
                cost_usd=spent.cost_usd(self.prices.get(self.model)),
                error=None,
                cached=False,
                model=self.model,
                attempts=attempt,
            )
            self._store(video_sha256, result)
            return result
        reason = f"malformed reply in {self.max_attempts} attempt(s): " + "; ".join(problems)
        return self._failed(caption, hashtags, spent, reason)

    def __call__(self, job: Job, features: Mapping[str, Any]) -> dict[str, Any]:
        """Labeler for ``run_feature_batch``: keyframes are only decoded when the cache misses."""
        sha = str(features.get("content_sha256") or job.sha256 or file_sha256(job.path)).lower()
        result = self.cached_result(sha)
        if result is None:
            try:
                frames = extract_keyframes(job.path, n=self.n_keyframes)
            except Exception as exc:  # label from the caption alone rather than not at all
                log.warning("no keyframes for %s (%s): labeling from the caption only", job.path, exc)
                frames = []
            result = self.label(sha, job.caption, job.hashtags, frames)
        return result.as_row()

    # -- internals ----------------------------------------------------------------------------------------------

    def _request(self, caption: str, hashtags: list[str], frames: Sequence[bytes]) -> dict[str, Any]:
        images = [
            {
                "type": "image",
                "source": {"type": "base64", "media_type": "image/jpeg", "data": base64.b64encode(jpeg).decode()},
            }
            for jpeg in list(frames)[:MAX_IMAGES]
        ]
        tags = " ".join(f"#{tag.lstrip('#')}" for tag in hashtags) or "(none)"
        text = (
            f"{len(images)} keyframe(s) above, in time order.\n"
            f"Caption: {caption[:MAX_CAPTION_CHARS] or '(empty)'}\nHashtags: {tags}\n"
            + (
                f"Record the labels with the {TOOL_NAME} tool."
                if self.structured_output == "tool"
                else "Answer with the JSON object only."
            )
        )
        request: dict[str, Any] = {
            "model": self.model,
            "max_tokens": self.max_tokens,
            "system": SYSTEM_PROMPT,
            "messages": [{"role": "user", "content": [*images, {"type": "text", "text": text}]}],
        }
        if self.structured_output == "tool":
            request["tools"] = [
                {"name": TOOL_NAME, "description": "Record the video's labels.", "input_schema": label_schema()}
            ]
            request["tool_choice"] = {"type": "tool", "name": TOOL_NAME, "disable_parallel_tool_use": True}
        else:
            # these models think by default; low effort keeps the thinking short enough for max_tokens
            request["output_config"] = {"effort": "low", "format": {"type": "json_schema", "schema": label_schema()}}
        return request

    def _parse(self, message: Any) -> dict[str, str]:
        content = getattr(message, "content", None)
        if not isinstance(content, list):
            raise MalformedReply(f"response is not a message (got {type(message).__name__})")
        kinds = [getattr(block, "type", "?") for block in content]
        stop = getattr(message, "stop_reason", None)
        if self.structured_output == "tool":
            block = next((b for b in content if b.type == "tool_use" and getattr(b, "name", "") == TOOL_NAME), None)
            if block is None:
                raise MalformedReply(f"no {TOOL_NAME} tool_use block (blocks={kinds}, stop_reason={stop})")
            data = block.input
        else:
            text = "".join(getattr(b, "text", "") for b in content if b.type == "text").strip()
            text = re.sub(r"^```(?:json)?\s*|\s*```$", "", text)
            try:
                data = json.loads(text)
            except ValueError:
                raise MalformedReply(f"text is not JSON (blocks={kinds}, stop_reason={stop})") from None
        problems = label_problems(data)
        if problems:
            raise MalformedReply("; ".join(problems))
        return {field: data[field] for field in LABEL_FIELDS}

    def _failed(self, caption: str, hashtags: list[str], spent: TokenSpend, reason: str) -> LabelResult:
        error = self._scrub(reason)
        log.warning("Anthropic labeling failed, using rule-based labels: %s", error)
        fallback = rule_based_labels(caption or "", hashtags)
        return LabelResult(
            labels={field: fallback[field] for field in LABEL_FIELDS},
            label_source="anthropic_failed",
            input_tokens=spent.input_tokens,
            output_tokens=spent.output_tokens,
            cost_usd=spent.cost_usd(self.prices.get(self.model)),
            error=error,
            cached=False,
            model=self.model,
            attempts=spent.attempts,
        )

    def _store(self, video_sha256: str, result: LabelResult) -> None:
        record = {
            **{k: v for k, v in asdict(result).items() if k not in ("cached", "error", "label_source")},
            "video_sha256": video_sha256,
            "prompt_version": PROMPT_VERSION,
            "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        }
        try:
            atomic_write_text(self.cache_path(video_sha256), json.dumps(record, indent=1, sort_keys=True))
        except OSError as exc:  # the labels are still good; the next run just asks again
            log.warning("could not cache labels for %s: %s", video_sha256[:12], exc)

    def _scrub(self, text: str) -> str:
        return text.replace(self._secret, "[redacted]") if self._secret else text


def _describe_status_error(exc: anthropic.APIStatusError) -> str:
    """One line naming the status, the API's error type and message, and what to do about it."""
    what = {
        401: "authentication failed: the API key was rejected",
        403: "permission denied for this API key",
        429: "rate limited (still 429 after the SDK's retries)",
        529: "API overloaded (still 529 after the SDK's retries)",
    }.get(exc.status_code)
    if what is None:
        what = "Anthropic API server error" if exc.status_code >= 500 else "request rejected"
        if exc.status_code >= 500:
            what += " (still failing after the SDK's retries)"
    detail = " ".join(str(part) for part in (exc.type, exc.api_message) if part)
    request_id = f" request_id={exc.request_id}" if exc.request_id else ""
    return f"{what} (HTTP {exc.status_code}{': ' + detail if detail else ''}){request_id}"
