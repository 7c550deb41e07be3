"""The words a creator reads: every feature as a plain phrase and a plain threshold, one recommendation per family.

Why: the pattern sentences (:mod:`optimizer_pipeline.lib.patterns.pattern_sentences`) are precise but technical
("Motion range >= 0.476 luma/frame", "Avoid relative position of peak cut density >= 18%"). A creator acts on
seconds, cuts, words and BPM, on "half the video", and on "more movement than the typical 16-30 second video"; the
precise threshold and unit stay in the client report's appendix (:func:`technical_note`). Those sentences are not
changed: this module is a second voice over the same ``bucket_patterns`` rows.

Rules:

* A number where the creator can act on it: seconds (rounded: tenths below 1 s, halves below 10 s, whole seconds
  above), counts (a count ``>= 21.5`` is "at least 22"), words, BPM, "a cut at least every 1.5 seconds" for a rate.
* An ordinal phrase where the unit is technical (luma/frame, dBFS, dB, spectral flatness, saturation, beat
  strength): a continuous pattern's threshold is its bucket's median (:mod:`~optimizer_pipeline.lib.patterns.evidence`),
  so "above it" is "more than the typical video of this length".
* Shares as fractions ("a fifth", "half", "two thirds"; a percentage when no simple fraction is within 3 points).
* Timeline windows, the opening and closing stretches and peak/valley positions as parts of the video ("in the last
  10 % of the video"), with the clock times they cover in the bucket's duration range (:mod:`~optimizer_pipeline.lib.
  core.buckets`): "around 0:14-0:30" for the last tenth of a 16-30 second video.
* ``direction`` picks the side of the threshold: "higher" describes ``value >= threshold`` (the pattern), "lower"
  describes ``value < threshold``. A "lower" row is an anti-pattern: its recommendation avoids the pattern's side
  and suggests the other one (``instead``).
* One recommendation per family: only a family lead with an evidence label (STRONG, MODERATE, EMERGING) speaks;
  proxies, explained rows and rows without evidence give none (:func:`creator_recommendation`).

Meta columns (identity and provenance: file hash, extractor version, pixel size, frame rate, OCR availability) are
not creative choices and get no creator wording (:data:`META_REASON`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from optimizer_pipeline.lib.core.buckets import bucket_bounds
from optimizer_pipeline.lib.features.dictionary import (
    CLOSING_SHARE,
    FEATURE_DICTIONARY,
    HOOK_S,
    OPENING_SHARE,
    PACING_FAST_MIN_CPS,
    PACING_SLOW_MAX_CPS,
    TIMELINE_WINDOWS,
    TIMELINES,
)
from optimizer_pipeline.lib.features.labels.vocabulary import LABEL_FIELDS
from optimizer_pipeline.lib.patterns.families import EXPLAINED, PROXY, ROLE_MEMBER

#: Why a meta column has no creator wording.
META_REASON = "identity or provenance of the file, not a creative choice"
#: Evidence labels that give a recommendation, with their stars and the words a creator reads.
STARS = {"STRONG": 3, "MODERATE": 2, "EMERGING": 1}
EVIDENCE_WORDS = {
    "STRONG": "strong evidence",
    "MODERATE": "moderate evidence",
    "EMERGING": "early signal, worth testing",
}
DIRECTIONS = ("higher", "lower")

_HOOK = f"the first {HOOK_S:g} seconds"
#: Simple fractions a share is said as, when one is within _FRACTION_TOLERANCE of it.
_FRACTIONS: tuple[tuple[float, str], ...] = (
    (0.1, "a tenth"),
    (0.2, "a fifth"),
    (0.25, "a quarter"),
    (1 / 3, "a third"),
    (0.4, "two fifths"),
    (0.5, "half"),
    (0.6, "three fifths"),
    (2 / 3, "two thirds"),
    (0.75, "three quarters"),
    (0.8, "four fifths"),
    (0.9, "nine tenths"),
)
_FRACTION_TOLERANCE = 0.03


# ---------------------------------------------------------------------------------------------------------- numbers
def _half_up(x: float, step: float) -> float:
    return math.floor(x / step + 0.5) * step


def seconds_text(x: float) -> str:
    """A duration as a creator says it: tenths below 1 s, halves below 10 s, whole seconds from 10 s."""
    x = float(x)
    if x < 1:
        v = max(_half_up(x, 0.1), 0.1)
        v = round(v, 1)
    elif x < 10:
        v = _half_up(x, 0.5)
    else:
        v = _half_up(x, 1.0)
    return "1 second" if v == 1 else f"{v:g} seconds"


def clock_text(t: float) -> str:
    """A moment of the video as m:ss (whole seconds, half up); below 1 s as seconds."""
    if t < 1:
        return seconds_text(t)
    s = int(_half_up(float(t), 1.0))
    return f"{s // 60}:{s % 60:02d}"


def fraction_text(share: float, *, article: bool = True) -> str:
    """A share as a simple fraction ("a fifth", "half"), or a percentage when no fraction is close."""
    s = float(share)
    if s >= 0.995:
        return "all"
    value, words = min(_FRACTIONS, key=lambda f: abs(f[0] - s))
    if abs(value - s) <= _FRACTION_TOLERANCE:
        return words if article else words.removeprefix("a ")
    return f"{max(round(100 * s), 1)} %"


def _plural(n: float, one: str, many: str) -> str:
    return one if n == 1 else many


def _tidy(text: str) -> str:
    """English for the edge cases of the templates ("the first 1 second" -> "the first second")."""
    return text.replace("the first 1 second", "the first second").replace("every 1 second", "every second")


# ---------------------------------------------------------------------------------------------------------- context
@dataclass(frozen=True)
class _Context:
    """What a phrase needs from the bucket: how to say "the typical video" and the clock range of a share."""

    bucket: str | None

    @property
    def typical(self) -> str:
        if self.bucket is None:
            return "the typical video of this length"
        low, high = bucket_bounds(self.bucket)
        if low <= 0:
            return f"the typical video of up to {high:g} seconds"
        return f"the typical {self.bucket.removesuffix('s')} second video"

    def clock(self, start_share: float, end_share: float) -> str:
        """The moments a stretch of the video covers in this bucket's duration range, e.g. " (around 0:14-0:30)"
        ("" without a bucket); the first bucket has no lower edge, so its stretch is given for a full-length video."""
        if self.bucket is None:
            return ""
        low, high = bucket_bounds(self.bucket)
        first, last = (high, high) if low <= 0 else (low, high)
        start, end = _clock_or_zero(start_share * first), _clock_or_zero(end_share * last)
        span = start if start == end else f"{start}-{end}"
        return f" ({span} in a {high:g}-second video)" if low <= 0 else f" (around {span})"


def _clock_or_zero(t: float) -> str:
    return "0:00" if t < 0.5 else clock_text(max(t, 1.0))


Render = Callable[[float, bool, _Context], str]


@dataclass(frozen=True)
class _Words:
    """A feature's plain name and how its threshold reads (value, high side?, context) -> phrase."""

    phrase: str
    render: Render


# ----------------------------------------------------------------------------------------------------- render kinds
def _count(one: str, many: str, where: str = "") -> Render:
    """Counts: "at least 2 cuts in the first 3 seconds" / "at most 1 cut ..." (a count >= 21.5 is >= 22)."""

    def render(v: float, high: bool, ctx: _Context) -> str:
        n = math.ceil(v - 1e-9)
        if n <= 0:
            return f"any number of {many}{where}" if high else f"no {many}{where}"
        if high:
            return f"at least {n} {_plural(n, one, many)}{where}"
        return f"no {many}{where}" if n == 1 else f"at most {n - 1} {_plural(n - 1, one, many)}{where}"

    return render


def _time(high_text: str, low_text: str) -> Render:
    """Durations and first moments, with ``{t}`` the rounded seconds."""

    def render(v: float, high: bool, ctx: _Context) -> str:
        return _tidy((high_text if high else low_text).format(t=seconds_text(v)))

    return render


def _rate(event: str, events: str, where: str = "", *, lead: tuple[str, str] = ("", "")) -> Render:
    """A per-second rate as the gap between events: "a cut at least every 1.5 seconds"."""

    def render(v: float, high: bool, ctx: _Context) -> str:
        prefix = lead[0] if high else lead[1]
        if v <= 0:
            text = f"{events}{where} at any pace" if high else f"no {events}{where}"
        else:
            gap = seconds_text(1.0 / v)
            text = f"{event} at least every {gap}{where}" if high else f"{event} less often than every {gap}{where}"
        return _tidy(prefix + text)

    return render


def _ordinal(more: str, less: str) -> Render:
    """A technical unit: compared with the bucket's typical video (a continuous pattern's threshold is its median)."""

    def render(v: float, high: bool, ctx: _Context) -> str:
        return f"{more if high else less} than {ctx.typical}"

    return render


def _share_of_time(thing: str) -> Render:
    def render(v: float, high: bool, ctx: _Context) -> str:
        f = fraction_text(v)
        return f"{thing} for at least {f} of the video" if high else f"{thing} for less than {f} of the video"

    return render


def _share_of_frame(high_text: str, low_text: str) -> Render:
    def render(v: float, high: bool, ctx: _Context) -> str:
        return (high_text if high else low_text).format(f=fraction_text(v))

    return render


def _flag(yes: str, no: str) -> Render:
    """0/1 flags: the high side is "1" (whatever the threshold between 0 and 1)."""

    def render(v: float, high: bool, ctx: _Context) -> str:
        return yes if high else no

    return render


_NAMED_FRAMES = ((9 / 16, "9:16 portrait"), (3 / 4, "3:4"), (4 / 5, "4:5"), (1.0, "square 1:1"), (16 / 9, "16:9"))


def _frame_shape(v: float, high: bool, ctx: _Context) -> str:
    """Frame width / height: a named shape (9:16, 4:5, square, 16:9) when one is within 3 %."""
    value, name = min(_NAMED_FRAMES, key=lambda f: abs(f[0] - v))
    if abs(value - v) <= 0.03 * value:
        return f"a frame at least as wide as {name}" if high else f"a narrower, more portrait frame than {name}"
    width = f"{v:.2f}".rstrip("0").rstrip(".")
    return (
        f"a frame at least {width} times as wide as it is tall"
        if high
        else f"a frame less than {width} times as wide as it is tall"
    )


_FAST_GAP = seconds_text(1 / PACING_FAST_MIN_CPS)
_SLOW_GAP = seconds_text(1 / PACING_SLOW_MAX_CPS)
_PACING_LEVELS = {
    "fast": f"fast pacing (a cut at least every {_FAST_GAP})",
    "medium": f"medium pacing (a cut every {_FAST_GAP.removesuffix(' seconds')} to {_SLOW_GAP})",
    "slow": f"slow pacing (less than one cut every {_SLOW_GAP})",
}


def _pacing_score(v: float, high: bool, ctx: _Context) -> str:
    level = math.ceil(v - 1e-9)  # slow 0, medium 1, fast 2
    if high:
        if level >= 2:
            return _PACING_LEVELS["fast"]
        return f"medium or fast pacing (a cut at least every {_SLOW_GAP})" if level == 1 else "any pacing"
    if level >= 2:
        return f"slow or medium pacing (less than one cut every {_FAST_GAP})"
    return _PACING_LEVELS["slow"]


def _tempo(v: float, high: bool, ctx: _Context) -> str:
    n = round(v)
    return f"music at {n} BPM or faster" if high else f"music slower than {n} BPM"


def _faces(v: float, high: bool, ctx: _Context) -> str:
    n = round(v, 1)
    return f"{n:g} or more faces on screen at once (on average)" if high else f"fewer than {n:g} faces at once"


# ----------------------------------------------------------------------------------------------- the base features
_BASE: dict[str, _Words] = {
    "duration_s": _Words("video length", _time("a video of {t} or longer", "a video shorter than {t}")),
    "aspect_ratio": _Words("frame shape", _frame_shape),
    "is_vertical": _Words("vertical (portrait) video", _flag("a vertical (portrait) video", "a horizontal video")),
    "truncated": _Words("video file that stops early", _flag("a video file that stops early", "a complete file")),
    "cut_count": _Words("number of cuts", _count("cut", "cuts")),
    "cuts_per_second": _Words("how often you cut", _rate("a cut", "cuts", " on average")),
    "hook_cut_count": _Words(f"cuts in {_HOOK}", _count("cut", "cuts", f" in {_HOOK}")),
    "has_cut": _Words("at least one cut", _flag("at least one cut", "one continuous shot with no cuts")),
    "time_to_first_cut_s": _Words(
        "when the first cut comes", _time("the first cut at {t} or later", "the first cut within the first {t}")
    ),
    "shot_length_mean_s": _Words(
        "average shot length", _time("shots of {t} or longer on average", "shots shorter than {t} on average")
    ),
    "shot_length_min_s": _Words(
        "shortest shot", _time("shots that all last {t} or longer", "at least one quick shot shorter than {t}")
    ),
    "fade_count": _Words("fades to black", _count("fade to black", "fades to black")),
    "pacing_score": _Words("editing pace", _pacing_score),
    "motion_mean": _Words(
        "on-screen movement",
        _ordinal("more, faster on-screen movement", "calmer, steadier shots"),
    ),
    "motion_max": _Words(
        "strongest burst of movement", _ordinal("stronger bursts of fast movement", "milder bursts of movement")
    ),
    "hook_motion_mean": _Words(
        f"movement in {_HOOK}", _ordinal(f"more movement in {_HOOK}", f"calmer shots in {_HOOK}")
    ),
    "brightness_mean": _Words("brightness of the picture", _ordinal("a brighter picture", "a darker picture")),
    "hook_brightness_mean": _Words(
        f"brightness of {_HOOK}", _ordinal(f"a brighter picture in {_HOOK}", f"a darker picture in {_HOOK}")
    ),
    "contrast_mean": _Words(
        "contrast between light and dark", _ordinal("stronger contrast between light and dark", "softer contrast")
    ),
    "colorfulness_mean": _Words("colourfulness", _ordinal("more colourful shots", "more muted colours")),
    "saturation_mean": _Words("colour intensity", _ordinal("more vivid, intense colours", "paler, softer colours")),
    "has_face": _Words("a face on screen", _flag("a face on screen at some point", "no face on screen")),
    "face_share": _Words("how much of the video shows a face", _share_of_time("a face on screen")),
    "time_to_first_face_s": _Words(
        "when the first face appears",
        _time("the first face appearing at {t} or later", "a face within the first {t}"),
    ),
    "face_area_mean": _Words(
        "close-up size",
        _share_of_frame(
            "close-ups where the face fills at least {f} of the frame", "faces smaller than {f} of the frame"
        ),
    ),
    "face_area_max": _Words(
        "closest close-up",
        _share_of_frame(
            "at least one close-up where the face fills {f} of the frame or more",
            "no close-up where the face fills {f} of the frame",
        ),
    ),
    "face_count_mean": _Words("people on screen at once", _faces),
    "has_face_hook": _Words(f"a face in {_HOOK}", _flag(f"a face in {_HOOK}", f"no face in {_HOOK}")),
    "has_text": _Words("on-screen text", _flag("on-screen text", "no on-screen text")),
    "text_share": _Words("how much of the video has on-screen text", _share_of_time("on-screen text")),
    "time_to_first_text_s": _Words(
        "when the first on-screen text appears",
        _time("the first on-screen text at {t} or later", "on-screen text within the first {t}"),
    ),
    "text_area_mean": _Words(
        "size of on-screen text",
        _share_of_frame(
            "on-screen text covering at least {f} of the screen", "text covering less than {f} of the screen"
        ),
    ),
    "has_text_hook": _Words(
        f"on-screen text in {_HOOK}", _flag(f"on-screen text in {_HOOK}", f"no on-screen text in {_HOOK}")
    ),
    "hook_text_word_count": _Words(
        f"words of on-screen text in {_HOOK}",
        _count("word of on-screen text", "words of on-screen text", f" in {_HOOK}"),
    ),
    "has_audio": _Words("sound", _flag("sound", "a silent video")),
    "tempo_bpm": _Words("music tempo", _tempo),
    "has_beat": _Words("a beat", _flag("music with a clear beat", "no clear beat")),
    "beat_strength": _Words(
        "how punchy the beat is", _ordinal("a punchier, more pronounced beat", "a softer, less pronounced beat")
    ),
    "onset_rate": _Words(
        "how busy the sound is",
        _rate("a new sound (a beat, a word, a hit)", "new sounds", "", lead=("busy sound: ", "")),
    ),
    "loudness_mean_dbfs": _Words("volume", _ordinal("louder sound overall", "quieter sound overall")),
    "loudness_peak_dbfs": _Words("loudest moments", _ordinal("louder loud moments", "softer loud moments")),
    "loudness_range_db": _Words(
        "difference between quiet and loud parts",
        _ordinal("bigger differences between quiet and loud parts", "a more even volume"),
    ),
    "silence_ratio": _Words("silence", _share_of_time("silence")),
    "speech_score": _Words(
        "how much of the sound is talking",
        _ordinal("more talking in the sound", "less talking (more music or effects)"),
    ),
    "has_speech": _Words(
        "mostly talking", _flag("sound that is mostly talking", "sound that is mostly music or effects, not talking")
    ),
    "spectral_flatness_mean": _Words(
        "how noisy the sound is",
        _ordinal("noisier, rougher sound (hiss, crowd, wind)", "cleaner, more musical sound"),
    ),
    "hook_loudness_dbfs": _Words(
        f"volume in {_HOOK}", _ordinal(f"louder sound in {_HOOK}", f"quieter sound in {_HOOK}")
    ),
    "hook_has_onset": _Words(
        f"a sound starting in {_HOOK}", _flag(f"a sound starting in {_HOOK}", f"no new sound in {_HOOK}")
    ),
    "hook_first_onset_s": _Words(
        "when the first sound starts",
        _time("the first sound at {t} or later", "sound starting within the first {t}"),
    ),
}


# ------------------------------------------------------------------------------------------------------- timelines
@dataclass(frozen=True)
class _Signal:
    noun: str
    peak: str  # "the fastest movement": the moment of the series' maximum
    valley: str
    more: str = ""  # ordinal signals: "more on-screen movement"
    less: str = ""
    max_hi: str = ""
    max_lo: str = ""
    min_hi: str = ""
    min_lo: str = ""
    var_hi: str = ""
    var_lo: str = ""


_SIGNALS: dict[str, _Signal] = {
    "cut_density": _Signal(
        "cutting pace",
        "the fastest cutting",
        "the slowest stretch of cutting",
        var_hi="bigger changes in cutting pace",
        var_lo="a more even cutting pace",
    ),
    "motion": _Signal(
        "on-screen movement",
        "the fastest movement",
        "the calmest moment",
        "more on-screen movement",
        "less on-screen movement",
        "stronger bursts of movement",
        "milder bursts of movement",
        "livelier calm moments",
        "stiller calm moments",
        "bigger swings between calm and fast on-screen movement",
        "steadier movement with smaller swings",
    ),
    "loudness": _Signal(
        "volume",
        "the loudest moment",
        "the quietest moment",
        "louder sound",
        "quieter sound",
        "louder loud moments",
        "softer loud moments",
        "louder quiet moments",
        "quieter quiet moments",
        "bigger swings between quiet and loud",
        "a more even volume",
    ),
    "brightness": _Signal(
        "brightness",
        "the brightest moment",
        "the darkest moment",
        "a brighter picture",
        "a darker picture",
        "brighter highlights",
        "dimmer highlights",
        "brighter dark moments",
        "darker dark moments",
        "bigger swings between dark and bright shots",
        "a more even brightness",
    ),
}
if set(_SIGNALS) != set(TIMELINES):
    raise RuntimeError(f"plain wording covers timelines {sorted(_SIGNALS)}, the dictionary has {sorted(TIMELINES)}")


def _stretch(start: float, end: float) -> str:
    """A stretch of the video in words: "in the first 10 % of the video", "40-50 % of the way through"."""
    if start <= 0:
        return f"in the first {round(100 * end)} % of the video"
    if end >= 1:
        return f"in the last {round(100 * (1 - start))} % of the video"
    return f"from {round(100 * start)} % to {round(100 * end)} % of the way through the video"


def _in_stretch(sig: _Signal, start: float, end: float) -> Render:
    where = f" {_stretch(start, end)}"
    if not sig.more:  # cut density: a rate
        rate = _rate("a cut", "cuts", where)
        return lambda v, high, ctx: rate(v, high, ctx) + ctx.clock(start, end)
    return lambda v, high, ctx: f"{sig.more if high else sig.less}{where} than {ctx.typical}" + ctx.clock(start, end)


def _moment(noun: str) -> Render:
    def render(v: float, high: bool, ctx: _Context) -> str:
        when = seconds_text(v) if v < 60 else clock_text(v)
        return f"{noun} at {when} or later" if high else f"{noun} before {when}"

    return render


def _position(noun: str) -> Render:
    def render(v: float, high: bool, ctx: _Context) -> str:
        part = fraction_text(v, article=False)
        side = "after" if high else "within"
        return f"{noun} {side} the first {part} of the video" + ctx.clock(v, v)

    return render


def _timeline_words(tl: str) -> dict[str, _Words]:
    sig, pre = _SIGNALS[tl], f"tl_{tl}"
    rated = not sig.more
    if rated:
        mean = _rate("a cut", "cuts", " on average")
        peak = _rate("a cut", "cuts", lead=("at its fastest, ", "even at its fastest, "))
        low = _rate("a cut", "cuts", lead=("even at its slowest, ", "at its slowest, "))
    else:
        mean = _ordinal(sig.more, sig.less)
        peak = _ordinal(sig.max_hi, sig.max_lo)
        low = _ordinal(sig.min_hi, sig.min_lo)
    var = _ordinal(sig.var_hi, sig.var_lo)
    out = {
        f"{pre}_mean": _Words(f"average {sig.noun}", mean),
        f"{pre}_max": _Words(sig.peak.removeprefix("the "), peak),
        f"{pre}_min": _Words(sig.valley.removeprefix("the "), low),
        f"{pre}_std": _Words(f"how much the {sig.noun} varies", var),
        f"{pre}_range": _Words(f"swings in {sig.noun}", var),
        f"{pre}_length_s": _Words("video length", _BASE["duration_s"].render),
    }
    for k in range(TIMELINE_WINDOWS):
        start, end = k / TIMELINE_WINDOWS, (k + 1) / TIMELINE_WINDOWS
        out[f"{pre}_w{k + 1:02d}"] = _Words(f"{sig.noun} {_stretch(start, end)}", _in_stretch(sig, start, end))
    out |= {
        f"{pre}_peak_time_s": _Words(f"when {sig.peak} comes", _moment(sig.peak)),
        f"{pre}_peak_value": _Words(sig.peak.removeprefix("the "), peak),
        f"{pre}_valley_time_s": _Words(f"when {sig.valley} comes", _moment(sig.valley)),
        f"{pre}_valley_value": _Words(sig.valley.removeprefix("the "), low),
        f"{pre}_opening_mean": _Words(f"{sig.noun} {_stretch(0, OPENING_SHARE)}", _in_stretch(sig, 0.0, OPENING_SHARE)),
        f"{pre}_closing_mean": _Words(
            f"{sig.noun} {_stretch(1 - CLOSING_SHARE, 1)}", _in_stretch(sig, 1 - CLOSING_SHARE, 1.0)
        ),
        f"{pre}_peak_time_ratio": _Words(f"how far into the video {sig.peak} comes", _position(sig.peak)),
    }
    return out


# ---------------------------------------------------------------------------------------------------------- labels
#: A label level as a creator says it; "use {level}" must read as English.
LEVEL_WORDS: dict[str, dict[str, str]] = {
    "pacing_label": _PACING_LEVELS,
    "hook_type": {
        "question": "a question hook",
        "bold_claim": "a bold-claim hook",
        "pov": "a POV hook",
        "tutorial": "a tutorial hook",
        "before_after": "a before/after hook",
        "story": "a story hook",
        "listicle": 'a list hook ("3 ways to ...")',
        "trend_sound": "a trending-sound hook",
        "none": "no recognisable hook",
    },
    "emotion": {
        "curiosity": "a curious tone",
        "excitement": "an excited tone",
        "humor": "humour",
        "inspiration": "an inspiring tone",
        "trust": "a trustworthy, reassuring tone",
        "urgency": "a sense of urgency",
        "calm": "a calm tone",
        "none": "no clear emotional tone",
    },
    "cta_type": {
        "follow": 'a "follow" call to action',
        "link_in_bio": 'a "link in bio" call to action',
        "comment": "asking viewers to comment",
        "buy_now": 'a "buy now" call to action',
        "save": "asking viewers to save the video",
        "urgency": 'an urgent call to action ("today only")',
        "none": "no call to action",
    },
    "pain_point": {
        "no_time": 'the "no time" problem',
        "no_energy": 'the "no energy" problem',
        "weight": "weight worries",
        "budget": "the budget problem",
        "confusion": "confusion about what to do",
        "motivation": "lack of motivation",
        "health_worry": "health worries",
        "none": "no particular viewer problem",
    },
}
_LABEL_PHRASE = {
    "pacing_label": "editing pace",
    "hook_type": "hook style",
    "emotion": "emotional tone",
    "cta_type": "call to action",
    "pain_point": "viewer problem addressed",
}
for _field, _levels in LABEL_FIELDS.items():
    if set(_levels) != set(LEVEL_WORDS[_field]):
        raise RuntimeError(f"plain wording of {_field} covers {sorted(LEVEL_WORDS[_field])}, vocabulary {_levels}")

_WORDS: dict[str, _Words] = dict(_BASE)
for _tl in TIMELINES:
    _WORDS |= _timeline_words(_tl)


def _meta(feature: str) -> bool:
    spec = FEATURE_DICTIONARY.get(feature)
    return spec is not None and spec.role == "meta"


def _check_feature(feature: str) -> None:
    if _meta(feature):
        raise ValueError(f"{feature} is a meta column ({META_REASON}); it has no creator wording")
    if feature not in _WORDS and feature not in _LABEL_PHRASE:
        raise ValueError(f"no plain wording for feature {feature!r}: not in the feature dictionary or label fields")


# ------------------------------------------------------------------------------------------------------ public API
def plain_phrase(feature: str) -> str:
    """How a creator names a feature ("swings in on-screen movement", "when the first cut comes")."""
    _check_feature(feature)
    return _LABEL_PHRASE[feature] if feature in _LABEL_PHRASE else _WORDS[feature].phrase


def plain_threshold(feature: str, value: float | str, direction: str, *, bucket: str | None = None) -> str:
    """The side of a threshold a creator aims for, in creator units: ``direction`` "higher" reads
    ``value >= threshold``, "lower" reads ``value < threshold``; a label's ``value`` is its level. ``bucket``
    (a duration bucket label) names "the typical video" and the clock times a stretch of the video covers."""
    _check_feature(feature)
    if direction not in DIRECTIONS:
        raise ValueError(f"direction of {feature} must be one of {DIRECTIONS}, got {direction!r}")
    ctx = _Context(bucket)
    if bucket is not None:
        bucket_bounds(bucket)  # unknown bucket: KeyError naming the known ones
    if feature in _LABEL_PHRASE:
        level = _level_words(feature, value)
        return level if direction == "higher" else f"anything but {level}"
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"threshold of {feature} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise ValueError(f"threshold of {feature} must be finite, got {value!r}")
    return _WORDS[feature].render(v, direction == "higher", ctx)


def _level_words(feature: str, level: object) -> str:
    words = LEVEL_WORDS[feature].get(str(level))
    if words is None:
        raise ValueError(f"{feature} has no level {level!r}; known: {', '.join(LEVEL_WORDS[feature])}")
    return words


_REQUIRED = object()


def _field(row: Any, name: str, default: Any = _REQUIRED) -> Any:
    """A field of a bucket_patterns row (a Mapping, a pandas row or an itertuples record); a missing or NaN field
    is ``default``, or an error naming the row and field when the field is required."""
    value = row.get(name) if isinstance(row, Mapping | pd.Series) else getattr(row, name, None)
    if _missing(value):
        if default is _REQUIRED:
            raise ValueError(f"bucket_patterns row {_row_name(row)} has no value in field {name!r}")
        return default
    return value


def _missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def _row_name(row: Any) -> str:
    feature = row.get("feature") if isinstance(row, Mapping | pd.Series) else getattr(row, "feature", None)
    return repr(feature) if feature is not None else "(no feature)"


def _sentence(text: str) -> str:
    return text[0].upper() + text[1:] + ("" if text.endswith(".") else ".")


def creator_recommendation(row: Any, *, bucket: str) -> dict[str, Any] | None:
    """The one recommendation of a pattern family, from its lead row of ``bucket_patterns``; None for a proxy
    (``family_role`` "member"), an explained row, a too-rare row or a row without evidence.

    Returns ``feature``, ``family``, ``bucket``, ``action`` ("do" or "avoid"), ``text`` (the sentence), ``instead``
    (what to do instead of an avoided pattern, or None), ``evidence`` (the label), ``evidence_words``, ``stars``
    (3/2/1) and ``technical`` (:func:`technical_note`, for the appendix)."""
    feature = str(_field(row, "feature"))
    row_bucket = _field(row, "duration_bucket", "")
    if row_bucket and str(row_bucket) != bucket:
        raise ValueError(f"bucket_patterns row {feature!r} is of bucket {row_bucket!r}, asked for {bucket!r}")
    evidence = str(_field(row, "evidence"))
    if evidence not in STARS:
        return None
    if str(_field(row, "family_role", "lead")) == ROLE_MEMBER or str(_field(row, "explained_by", "")):
        return None
    if str(_field(row, "classification", "")) in {PROXY, EXPLAINED, "too rare"}:
        return None
    kind, direction = str(_field(row, "kind")), str(_field(row, "direction"))
    if direction not in DIRECTIONS:
        raise ValueError(f"bucket_patterns row {feature!r}: direction must be one of {DIRECTIONS}, got {direction!r}")
    threshold = _field(row, "threshold")
    pattern_side = plain_threshold(feature, threshold, "higher", bucket=bucket)
    if direction == "higher":
        action, text, instead = "do", _sentence(f"{_verb(kind)} {pattern_side}"), None
    else:
        action, text = "avoid", _sentence(f"Avoid {pattern_side}")
        # a flag's or a level's other side only repeats the avoid sentence ("no on-screen text")
        other = plain_threshold(feature, threshold, "lower", bucket=bucket) if kind == "continuous" else None
        instead = _sentence(f"Aim for {other}") if other else None
    return {
        "feature": feature,
        "family": str(_field(row, "family", feature)),
        "bucket": bucket,
        "action": action,
        "text": text,
        "instead": instead,
        "evidence": evidence,
        "evidence_words": EVIDENCE_WORDS[evidence],
        "stars": STARS[evidence],
        "technical": technical_note(row),
    }


def _verb(kind: str) -> str:
    return "Use" if kind == "categorical" else "Aim for"


def creator_recommendations(rows: pd.DataFrame, *, bucket: str) -> list[dict[str, Any]]:
    """The recommendations of one bucket's ``bucket_patterns`` table: one per family, strongest evidence first
    (then the smaller q-value)."""
    out: dict[str, tuple[float, dict[str, Any]]] = {}
    for record in rows.to_dict("records"):
        rec = creator_recommendation(record, bucket=bucket)
        if rec is None:
            continue
        q = float(record.get("q_value", math.nan))
        key = (-rec["stars"], q if math.isfinite(q) else math.inf)
        if rec["family"] not in out or key < out[rec["family"]][0]:
            out[rec["family"]] = (key, rec)
    return [rec for _, rec in sorted(out.values(), key=lambda kv: (kv[0], kv[1]["feature"]))]


def _unit_text(unit: str) -> str:
    """A unit after an exact threshold: "0.476 luma/frame", "0.18 (share 0-1)", "2e-07 (scale 0-1)"."""
    if not unit:
        return ""
    if unit == "share":
        return " (share 0-1)"
    return f" (scale {unit})" if unit[0].isdigit() else f" {unit}"


def technical_note(row: Any) -> str:
    """The appendix line of a pattern: the exact threshold with its unit, the tier shares, lift, effect, q-value and
    evidence, and the family's proxies by column name."""
    feature = str(_field(row, "feature"))
    kind, direction = str(_field(row, "kind")), str(_field(row, "direction"))
    threshold = _field(row, "threshold")
    spec = FEATURE_DICTIONARY.get(feature)
    name = spec.phrase if spec else _LABEL_PHRASE.get(feature, feature)
    unit = spec.unit if spec else ""
    if kind == "categorical":
        rule = f"{feature} = {threshold}"
    elif kind == "binary":
        rule = f"{feature} = 1"
    else:
        exact = threshold if isinstance(threshold, str) else f"{float(threshold):.6g}"
        rule = f"{feature} >= {exact}" + _unit_text(unit)
    side = "more common at the top" if direction == "higher" else "rarer at the top, an anti-pattern"
    parts = [f"{name}: {rule} ({side})"]
    shares = [_field(row, f"value_{t}", math.nan) for t in ("top", "middle", "bottom")]
    if all(isinstance(s, int | float) and math.isfinite(s) for s in shares):
        parts.append(f"share with the pattern: top {shares[0]:.0%}, middle {shares[1]:.0%}, bottom {shares[2]:.0%}")
    lift_value = _field(row, "lift", math.nan)
    if isinstance(lift_value, int | float) and math.isfinite(lift_value):
        lo, hi = _field(row, "lift_ci_low", math.nan), _field(row, "lift_ci_high", math.nan)
        parts.append(f"lift {lift_value:.2f} [{lo:.2f}, {hi:.2f}]")
    effect = _field(row, "effect", math.nan)
    if isinstance(effect, int | float) and math.isfinite(effect):
        parts.append(
            f"{_field(row, 'effect_name', 'effect')} {effect:.3g} [{_field(row, 'ci_low', math.nan):.3g}, "
            f"{_field(row, 'ci_high', math.nan):.3g}] ({_field(row, 'effect_from', '')})"
        )
    q = _field(row, "q_value", math.nan)
    if isinstance(q, int | float) and math.isfinite(q):
        parts.append(f"q = {q:.3g}")
    parts.append(f"evidence {_field(row, 'evidence', 'none')}")
    members = str(_field(row, "family_members", ""))
    if members:
        parts.append(f"family proxies: {members}")
    explained = str(_field(row, "explained_by", ""))
    if explained:
        parts.append(f"explained by {explained}")
    return "; ".join(parts)
