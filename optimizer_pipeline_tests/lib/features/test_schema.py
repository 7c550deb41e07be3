"""The feature dictionary, pacing thresholds and timeline summaries (no media needed)."""

from __future__ import annotations

import numpy as np
import pytest

from optimizer_pipeline.lib.features import FEATURE_DICTIONARY, FEATURE_VERSION, feature_columns, pacing_label
from optimizer_pipeline.lib.features.dictionary import (
    PACING_FAST_MIN_CPS,
    PACING_SLOW_MAX_CPS,
    TIMELINE_WINDOWS,
    TIMELINES,
)
from optimizer_pipeline.lib.features.timelines import bin_means, event_density, fill_gaps, timeline_features

#: Names the sample-corpus generator plants effects on and the statistics step looks up.
CONTRACT_NAMES = [
    "hook_cut_count",
    "cuts_per_second",
    "has_text_hook",
    "text_share",
    "tempo_bpm",
    "brightness_mean",
    "colorfulness_mean",
    "motion_mean",
    "has_audio",
    "silence_ratio",
    "has_face",
    "duration_s",
]


def test_contract_names_and_version():
    cols = feature_columns()
    assert set(CONTRACT_NAMES) <= set(cols)
    assert cols[:2] == ["feature_version", "content_sha256"]
    assert isinstance(FEATURE_VERSION, str) and FEATURE_VERSION
    assert len(cols) == len(set(cols)) == len(FEATURE_DICTIONARY)


def test_every_column_is_documented():
    for name, spec in FEATURE_DICTIONARY.items():
        assert spec.name == name
        assert spec.unit and spec.measured and spec.phrase and spec.more, name
        assert spec.role in {"feature", "flag", "label", "meta"}, name
        if spec.role == "flag":
            assert spec.unit == "0/1", name
    assert FEATURE_DICTIONARY["hook_cut_count"].phrase == "cuts in the first 3 seconds"


def test_timeline_columns_are_fixed():
    per = 6 + TIMELINE_WINDOWS + 7
    for tl in TIMELINES:
        assert sum(1 for c in feature_columns() if c.startswith(f"tl_{tl}_")) == per
    for duration in (0.3, 4.0, 61.7):
        feats = timeline_features("motion", np.arange(int(np.ceil(duration / 0.5))), duration)
        assert list(feats) == [c for c in feature_columns() if c.startswith("tl_motion_")]
        assert all(np.isfinite(v) for v in feats.values())


def test_pacing_thresholds():
    assert pacing_label(PACING_FAST_MIN_CPS) == "fast"
    assert pacing_label(PACING_SLOW_MAX_CPS) == "medium"
    assert pacing_label(PACING_SLOW_MAX_CPS - 1e-9) == "slow"
    assert pacing_label(0.0) == "slow"


def test_timeline_key_moments():
    series = np.array([0.0, 1.0, 4.0, 2.0, 2.0, 0.5, 3.0, 3.0, 1.0, 1.0])  # 10 bins of 0.5 s = 5 s
    f = timeline_features("loudness", series, 5.0)
    assert f["tl_loudness_peak_value"] == 4.0 and f["tl_loudness_peak_time_s"] == pytest.approx(1.25)
    assert f["tl_loudness_valley_value"] == 0.0 and f["tl_loudness_valley_time_s"] == pytest.approx(0.25)
    assert f["tl_loudness_peak_time_ratio"] == pytest.approx(0.25)
    assert f["tl_loudness_opening_mean"] == pytest.approx(5.0 / 3)  # first 1.5 s = bins 0-2
    assert f["tl_loudness_closing_mean"] == pytest.approx(5.0 / 3)  # last 1.5 s = bins 7-9
    assert f["tl_loudness_w01"] == 0.0 and f["tl_loudness_w03"] == 4.0
    assert f["tl_loudness_mean"] == pytest.approx(series.mean())
    assert f["tl_loudness_range"] == 4.0 and f["tl_loudness_length_s"] == 5.0


def test_windows_of_a_short_video_interpolate():
    f = timeline_features("brightness", np.array([10.0, 30.0]), 1.0)  # two bins, ten windows
    assert [f[f"tl_brightness_w{k:02d}"] for k in range(1, 11)] == pytest.approx([10.0] * 5 + [30.0] * 5)


def test_bins_and_density():
    t = np.arange(0, 3, 0.1)
    means = bin_means(t, np.where(t < 1.0, np.nan, t), 3.0)
    assert np.isfinite(means).all() and means[0] == means[2]  # leading empty bins take the first value
    assert list(fill_gaps(np.array([np.nan, np.nan]))) == [0.0, 0.0]
    density = event_density([1.0, 1.2, 4.0], 6.0)
    assert density[2] == pytest.approx(1.0)  # bin centred on 1.25 s: two cuts in [0.25, 2.25)
    assert density[-1] == 0.0
