"""``markdown.table`` rendered by a CommonMark parser with GFM tables: every cell reads back as the value behind it
(pattern ids with ``|``, Markdown-active text, line breaks, edge spaces), numbers rounded for display."""

from __future__ import annotations

import math
import random

import numpy as np
import pandas as pd
import pytest

from optimizer_pipeline.lib.core import markdown
from optimizer_pipeline.lib.core.display_rounding import MISSING, number_text, rounded
from optimizer_pipeline.lib.patterns.evidence import PATTERN_COLUMNS
from optimizer_pipeline_tests.markdown_tables import assert_frame_shown, rendered_tables

PATTERNS = [
    "hook:question|emo:curiosity|pace:medium|pain:budget|cta:link_in_bio",
    "hook:before_after|emo:inspiration|pace:medium|pain:health_worry|cta:link_in_bio",  # 79 characters
    "hook:pov|pace:fast",
]


def test_pattern_ids_with_pipes_stay_in_their_column():
    """The posteriors preview: before the fix, "pain:budget" was read under ``mean`` and ids were cut at 60."""
    frame = pd.DataFrame(
        {
            "pattern_hash": PATTERNS,
            "clicks_observed": [1200, 340, 0],
            "conversions_observed": [61, 9, 0],
            "mean": [0.050812345678901234, 0.026470588235294117, np.nan],
            "ci_low": [0.0391234, 0.01234567, np.nan],
            "ci_high": [0.06498765, 0.0456789, np.nan],
            "p_best": [0.9876543, 0.0123457, 0.0],
        }
    )
    text = markdown.table(frame)
    assert_frame_shown(text, frame)
    assert "0.050812345678901234" not in text and "0.05081" in text


def test_bucket_patterns_frame_round_trips():
    """A ``bucket_patterns``-shaped frame (every column of the contract), with the effect's reference."""
    rng = np.random.default_rng(3)
    n = 6
    frame = pd.DataFrame({c: rng.normal(size=n) for c in PATTERN_COLUMNS})
    text_columns = {
        "feature": ["has_text_hook", "hook_cut_count", "pacing_label", "_lead_", "a*b*c", "tl_loudness_w04"],
        "duration_bucket": ["0-15s"] * n,
        "kind": ["binary", "continuous", "categorical", "binary", "binary", "continuous"],
        "direction": ["higher", "lower"] * 3,
        "evidence": ["STRONG", "MODERATE", "EMERGING", "none", "none", "none"],
        "effect_from": ["bottom vs middle", "top vs middle"] * 3,
        "sentence": ["Peak motion ≥ 0.814 luma/frame: 40% of top vs 12% (3.3x lift, q < 0.01) | `x` [y](z)"] * n,
        "threshold": ["0.814", "fast", "1", "<b>", "&amp;", "~~x~~"],
        "signals": ["significant, effect_ci", "", "lift", "", "", ""],
    }
    for column, values in text_columns.items():
        frame[column] = values
    frame["n_videos"] = [40, 41, 42, 43, 44, 45]
    frame["model_driver"] = [True, False] * 3
    frame.loc[2, "q_value"] = np.nan
    assert_frame_shown(markdown.table(frame, max_rows=None), frame)


@pytest.mark.parametrize("seed", [0, 1])
def test_any_text_renders_as_itself(seed):
    """Random strings over the characters Markdown reads (escapes, emphasis, code, links, HTML, entities,
    strikethrough, tables, line breaks, edge spaces) come back unchanged, line breaks as spaces."""
    alphabet = "ab_ 1|\\`*[]()<>&#;!~:.-+=\n\r\t" + "é"
    rng = random.Random(seed)
    values = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 25))) for _ in range(300)]
    values += [
        "&amp;",
        "&#32;",
        "\\|",
        "a\\",
        "\\",
        "|",
        "||",
        " lead",
        "trail ",
        "  ",
        "_x_",
        "**b**",
        "`c`",
        "[l](u)",
    ]
    frame = pd.DataFrame({"text": values, "n": range(len(values))})
    text = markdown.table(frame, max_rows=None)
    tables = rendered_tables(text)
    assert len(tables) == 1
    cells = [row[0] for row in tables[0][1:]]
    expected = [v.replace("\r\n", " ").replace("\r", " ").replace("\n", " ") for v in values]
    assert cells == expected
    assert [int(row[1]) for row in tables[0][1:]] == list(range(len(values)))


def test_header_lists_and_long_text():
    frame = pd.DataFrame(
        {
            "a|b": [[0.123456, "x|y"], np.array([1, 2])],
            "long": ["z" * 400, "ok"],
        }
    )
    header, first, second = rendered_tables(markdown.table(frame))[0]
    assert header == ["a|b", "long"]
    assert first == ["0.1235, x|y", "z" * (markdown.MAX_CHARS - 1) + "…"] and second == ["1, 2", "ok"]


def test_counts_keys_with_pipes_and_more_rows_note():
    text = markdown.counts({PATTERNS[0]: 3, PATTERNS[2]: 1.23456789}, key="pattern", value="creatives")
    assert rendered_tables(text)[0] == [["pattern", "creatives"], [PATTERNS[0], "3"], [PATTERNS[2], "1.235"]]
    assert markdown.counts({}) == "_(none)_" and markdown.table(pd.DataFrame()) == "_(no rows)_"
    text = markdown.table(pd.DataFrame({"x": range(12)}), max_rows=10)
    assert len(rendered_tables(text)[0]) == 11 and text.endswith("_… 2 more rows_")


def test_missing_values_and_custom_placeholder():
    frame = pd.DataFrame({"v": [np.nan, None, 1.5], "t": [pd.NaT, pd.Timestamp("2026-02-02", tz="UTC"), pd.NaT]})
    rows = rendered_tables(markdown.table(frame))[0][1:]
    assert rows == [["n/a", "n/a"], ["n/a", "2026-02-02 00:00:00+00:00"], ["1.5", "n/a"]]
    rows = rendered_tables(markdown.table(frame, missing="–"))[0][1:]
    assert rows[0] == ["–", "–"]


@pytest.mark.parametrize(
    ("value", "text", "number"),
    [
        (0.041234567890123456, "0.04123", 0.04123),
        (12345.678, "12346", 12346.0),
        (9999.96, "10000", 10000.0),
        (1234.5678, "1235", 1235.0),
        (3.0, "3", 3.0),
        (-0.0, "0", 0.0),
        (1.23456e-7, "1.235e-07", 1.235e-07),
        (-0.4234567, "-0.4235", -0.4235),
        (float("inf"), "inf", float("inf")),
    ],
)
def test_display_rounding(value, text, number):
    assert number_text(value) == text
    assert rounded(value) == number


def test_integers_stay_integers():
    assert number_text(np.int64(123456789)) == "123456789" and number_text(7) == "7"
    assert number_text(True) == "True" and number_text(np.bool_(False)) == "False"
    assert math.isnan(rounded(float("nan"))) and number_text(float("nan")) == MISSING
