"""Audio features from a mono float32 track at 22.05 kHz (decoded by :mod:`.decode`), analysed with librosa.

Framing: 1024-sample frames (46 ms), hop 512. Silence is a frame below ``SILENCE_DBFS`` RMS; levels are floored at
``FLOOR_DBFS``, so digital silence gives -100, never -inf/NaN. No audio (``samples is None``) gives zeros everywhere
with ``has_audio`` 0. Tempo/onsets use librosa's onset envelope (log-mel, n_fft 2048) and ``beat_track``.

Speech vs music (``speech_score``, a heuristic, not a classifier): speech puts most of its energy in the
300-3400 Hz voice band and modulates it at the syllable rate (3-8 Hz). ``speech_score`` = ramp(voice-band energy
share, 0.3 -> 0.8) x (0.5 + 0.5 x ramp(share of the voice-band envelope's 0.5-20 Hz modulation energy at 3-8 Hz,
0.2 -> 0.35)). Dialogue scores near 1 (friday.mp4: 1.0); beats, bass and pads near 0; orchestral/instrumental
music low (big_buck_bunny: ~0.1); singing and speech over music land in between.

librosa's first beat tracking in a process compiles numba code (~10-30 s): :func:`warm_up` pays it once, and
:func:`analyze_audio` calls it on first use. numba writes the compiled code of ``@guvectorize(cache=True)``
functions (librosa's peak picking and beat tracking) as two files per variant, non-atomically: two processes
compiling at once can pair files of different processes, and every later load then jumps to a null pointer
(SIGSEGV; numba/numba#10128, librosa/librosa#1998). :func:`warm_up` therefore compiles, or loads, under a
machine-wide file lock, so the feature workers of one run, or of two runs, never write the cache concurrently.
"""

from __future__ import annotations

import contextlib
import fcntl
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from .dictionary import HOOK_S, TIMELINE_BIN_S
from .timelines import n_bins

SR = 22050
FRAME = 1024
HOP = 512
FLOOR_DBFS = -100.0
SILENCE_DBFS = -60.0
MIN_BEATS = 4
#: cue -> (typical non-speech value, typical speech value), mapped linearly to 0 ... 1 (see speech_score).
_SPEECH_CUES = {"voice_band_share": (0.3, 0.8), "syllable_modulation": (0.2, 0.35)}
VOICE_BAND_HZ = (300.0, 3400.0)
_warm_lock = threading.Lock()
_warm = False

AUDIO_KEYS = (
    "has_audio",
    "tempo_bpm",
    "has_beat",
    "beat_strength",
    "onset_rate",
    "loudness_mean_dbfs",
    "loudness_peak_dbfs",
    "loudness_range_db",
    "silence_ratio",
    "speech_score",
    "has_speech",
    "spectral_flatness_mean",
    "hook_loudness_dbfs",
    "hook_has_onset",
    "hook_first_onset_s",
)


def _db(power: np.ndarray | float) -> np.ndarray:
    """Power (mean square) -> dBFS, floored."""
    return np.maximum(10.0 * np.log10(np.maximum(power, 1e-20)), FLOOR_DBFS)


#: Serialises numba cache writes across processes (see the module docstring).
NUMBA_CACHE_LOCK = Path(tempfile.gettempdir()) / "optimizer-pipeline-numba-cache.lock"


@contextlib.contextmanager
def _machine_lock(path: Path) -> Iterator[None]:
    with open(path, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def warm_up() -> None:
    """Compile (or load) librosa's numba code once per process, under the machine-wide cache lock; the warm-up
    signal takes the same code path and dtypes as real audio, so later calls compile nothing new."""
    global _warm
    with _warm_lock:
        if _warm:
            return
        t = np.arange(2 * SR) / SR
        clicks = (np.sin(2 * np.pi * 440 * t) * (np.mod(t, 0.5) < 0.05)).astype(np.float32)
        with _machine_lock(NUMBA_CACHE_LOCK):
            _analyze(clicks, 2.0)
        _warm = True


def analyze_audio(samples: np.ndarray | None, duration_s: float) -> tuple[dict[str, float], np.ndarray, list[float]]:
    """(audio feature columns, loudness timeline in dBFS per TIMELINE_BIN_S bin, onset times in s)."""
    nb = n_bins(duration_s)
    if samples is None or samples.size < FRAME:
        return dict.fromkeys(AUDIO_KEYS, 0.0), np.zeros(nb), []
    if not _warm:
        warm_up()
    return _analyze(np.nan_to_num(samples.astype(np.float32, copy=False)), duration_s)


def _frames_power(y: np.ndarray) -> np.ndarray:
    """Mean square per centred frame (FRAME, hop HOP), like librosa.feature.rms(center=True) squared."""
    pad = np.pad(y, FRAME // 2)
    n = 1 + (len(pad) - FRAME) // HOP
    frames = np.lib.stride_tricks.as_strided(pad, (n, FRAME), (pad.strides[0] * HOP, pad.strides[0]), writeable=False)
    return np.einsum("ij,ij->i", frames, frames, dtype=np.float64) / FRAME


def _analyze(y: np.ndarray, duration_s: float) -> tuple[dict[str, float], np.ndarray, list[float]]:
    import librosa

    power = _frames_power(y)
    frame_db = _db(power)
    loud = frame_db >= SILENCE_DBFS
    frame_t = np.arange(len(power)) * HOP / SR
    out = dict.fromkeys(AUDIO_KEYS, 0.0)
    out["has_audio"] = 1.0
    out["silence_ratio"] = float(1.0 - loud.mean())
    out["loudness_mean_dbfs"] = float(_db(np.mean(np.square(y, dtype=np.float64))))
    out["loudness_peak_dbfs"] = float(_db(float(np.max(np.abs(y))) ** 2))
    hook = y[: int(HOOK_S * SR)]
    out["hook_loudness_dbfs"] = float(_db(np.mean(np.square(hook, dtype=np.float64)))) if hook.size else FLOOR_DBFS
    timeline = _loudness_timeline(power, frame_t, duration_s)
    if loud.sum() < 2:
        return out, timeline, []
    out["loudness_range_db"] = float(np.percentile(frame_db[loud], 95) - np.percentile(frame_db[loud], 10))

    spec = np.abs(librosa.stft(y, n_fft=2048, hop_length=HOP))
    mel = librosa.feature.melspectrogram(S=spec**2, sr=SR)
    log_mel = librosa.power_to_db(mel)
    env = librosa.onset.onset_strength(S=log_mel, sr=SR)
    onsets = librosa.onset.onset_detect(onset_envelope=env, sr=SR, hop_length=HOP, units="time")
    onsets = [float(t) for t in onsets if t <= duration_s]
    audio_s = max(len(y) / SR, 1e-6)
    out["onset_rate"] = len(onsets) / audio_s
    hook_onsets = [t for t in onsets if t < HOOK_S]
    out["hook_has_onset"] = float(bool(hook_onsets))
    out["hook_first_onset_s"] = hook_onsets[0] if hook_onsets else 0.0
    beat_env = librosa.onset.onset_strength(S=log_mel, sr=SR, aggregate=np.median)  # as beat_track(y=...) does
    tempo, beats = librosa.beat.beat_track(onset_envelope=beat_env, sr=SR, hop_length=HOP)
    tempo = _refine_tempo(float(np.atleast_1d(tempo)[0]), beats)
    if len(beats) >= MIN_BEATS and tempo > 0 and beat_env.mean() > 0:
        out.update(has_beat=1.0, tempo_bpm=tempo, beat_strength=float(beat_env[beats].mean() / beat_env.mean()))

    n = min(spec.shape[1], len(loud))
    flat = librosa.feature.spectral_flatness(S=spec[:, :n])[0]
    out["spectral_flatness_mean"] = float(flat[loud[:n]].mean())
    score = speech_score(speech_cues(spec, loud))
    out["speech_score"] = float(score)
    out["has_speech"] = float(score >= 0.5)
    return out, timeline, onsets


def _refine_tempo(tempo: float, beats: np.ndarray) -> float:
    """librosa's tempo sits on a lag grid (hop 512 at 22.05 kHz: 117.5 or 123.0, never 120); the tracked beats
    alternate between neighbouring lags, so their mean spacing is finer. Used only within one lag of librosa's."""
    if len(beats) < MIN_BEATS or tempo <= 0:
        return tempo
    ibi = np.diff(beats) * HOP / SR
    ibi = ibi[np.abs(ibi - np.median(ibi)) <= 0.25 * np.median(ibi)]
    if ibi.size < MIN_BEATS - 1:
        return tempo
    refined = 60.0 / float(ibi.mean())
    lag = 60.0 * SR / HOP / tempo
    return refined if 60.0 * SR / HOP / (lag + 1) < refined < 60.0 * SR / HOP / max(lag - 1, 1e-6) else tempo


def _ramp(v: float, lo: float, hi: float) -> float:
    return float(np.clip((v - lo) / (hi - lo), 0.0, 1.0))


def speech_cues(spec: np.ndarray, loud: np.ndarray) -> dict[str, float]:
    """The raw speech cues from a magnitude STFT (n_fft 2048, hop HOP) over its non-silent frames."""
    freqs = np.fft.rfftfreq(2 * (spec.shape[0] - 1), d=1.0 / SR)
    band = (freqs >= VOICE_BAND_HZ[0]) & (freqs <= VOICE_BAND_HZ[1])
    power = spec**2
    n = min(power.shape[1], len(loud))
    keep = loud[:n]
    total = power[:, :n][:, keep].sum()
    share = float(power[band, :n][:, keep].sum() / total) if total > 0 else 0.0
    env = np.sqrt(power[band].sum(axis=0))
    env = (env - env.mean()) * np.hanning(len(env))
    mod = np.abs(np.fft.rfft(env)) ** 2
    mf = np.fft.rfftfreq(len(env), d=HOP / SR)
    whole = mod[(mf >= 0.5) & (mf <= 20)].sum()
    syllabic = float(mod[(mf >= 3) & (mf <= 8)].sum() / whole) if whole > 0 else 0.0
    return {"voice_band_share": share, "syllable_modulation": syllabic}


def speech_score(cues: dict[str, float]) -> float:
    share = _ramp(cues["voice_band_share"], *_SPEECH_CUES["voice_band_share"])
    return share * (0.5 + 0.5 * _ramp(cues["syllable_modulation"], *_SPEECH_CUES["syllable_modulation"]))


def _loudness_timeline(power: np.ndarray, frame_t: np.ndarray, duration_s: float) -> np.ndarray:
    """dBFS per bin over the video's duration (audio beyond the video's end is left out)."""
    nb = n_bins(duration_s)
    keep = frame_t < duration_s
    power, frame_t = power[keep], frame_t[keep]
    idx = np.clip((frame_t / TIMELINE_BIN_S).astype(np.int64), 0, nb - 1)
    sums = np.bincount(idx, weights=power, minlength=nb)
    counts = np.bincount(idx, minlength=nb)
    return np.where(counts > 0, _db(sums / np.maximum(counts, 1)), FLOOR_DBFS)
