"""The ten creative reports on real-shaped evidence tables: ``bucket_patterns`` computed by the pattern code itself
from planted video features, plus bucket_videos, bucket_intelligence, cross_hashtag_patterns and pattern_posteriors
rows with the producers' columns."""

from __future__ import annotations

import json
import math
import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from optimizer_pipeline.lib.core.buckets import DURATION_BUCKETS
from optimizer_pipeline.lib.features.dictionary import FEATURE_DICTIONARY
from optimizer_pipeline.lib.patterns.cross_hashtag import CROSS_COLUMNS
from optimizer_pipeline.lib.patterns.evidence import bucket_patterns
from optimizer_pipeline.lib.patterns.intelligence import INTELLIGENCE_COLUMNS
from optimizer_pipeline.lib.reports.creative_reports import (
    FORMATS,
    NOT_ENOUGH,
    NOT_TESTED,
    REPORT_COLUMNS,
    REPORT_IDS,
    ReportInputs,
    build_reports,
    cited_videos,
    report_markdown,
    report_of,
    reports_table,
)
from optimizer_pipeline.lib.reports.plain_language import creator_recommendation
from optimizer_pipeline.lib.testloop.posteriors import POSTERIOR_COLUMNS
from optimizer_pipeline_tests.lib.reports.test_plain_language import DENYLIST, _technical_words

#: 16-30s: two or more cuts in the hook double engagement (planted STRONG); 31-60s: pure noise (no claim).
PLANTED, NOISE = "16-30s", "31-60s"


def _features(rng: np.random.Generator, n: int, effect: float, prefix: str) -> pd.DataFrame:
    hook_cuts = rng.integers(0, 5, n).astype(float)
    hook_type = rng.choice(["question", "pov", "story"], n)
    log_er = np.log(0.05) + np.log(effect) * (hook_cuts >= 2) + np.log(effect) / 2 * (hook_type == "question")
    frame = {
        "video_id": [f"{prefix}{i:03d}" for i in range(n)],
        "engagement_rate": np.exp(log_er + rng.normal(0, 0.3, n)),
        "hook_cut_count": hook_cuts,
        "hook_type": hook_type,
        "motion_mean": rng.uniform(0.2, 1.0, n),
        "brightness_mean": rng.lognormal(4, 0.3, n),
        "text_share": rng.uniform(0, 1, n),
    }
    return pd.DataFrame(frame)


@pytest.fixture(scope="module")
def tables() -> dict:
    rng = np.random.default_rng(11)
    frames = {PLANTED: _features(rng, 120, 3.0, "p"), NOISE: _features(rng, 120, 1.0, "n")}
    patterns = bucket_patterns(frames)
    videos = {}
    for bucket, frame in frames.items():
        v = frame[["video_id", "engagement_rate"]].sort_values("engagement_rate", ascending=False)
        v["url"] = [f"https://www.tiktok.com/@c/video/{vid}" for vid in v["video_id"]]
        v["performance_tier"] = ["top"] * 12 + ["middle"] * (len(v) - 12)
        videos[bucket] = v.reset_index(drop=True)
    intelligence = pd.DataFrame(
        [
            {c: None for c in INTELLIGENCE_COLUMNS}
            | {
                "rank": i + 1,
                "duration_bucket": b,
                "verdict": verdict,
                "recommended_share": share,
                "geo_mean_engagement_rate": gm,
                "ci_low": gm * 0.8,
                "ci_high": gm * 1.25,
                "ratio_to_rest": ratio,
                "p_adjusted": p,
                "videos_compared": 120,
                "verdict_reason": reason,
            }
            for i, (b, verdict, share, gm, ratio, p, reason) in enumerate(
                [
                    (PLANTED, "prioritise", 0.62, 0.0823, 1.91, 0.0012, "better than the rest"),
                    (NOISE, "deprioritise", 0.28, 0.0431, 0.52, 0.004, "worse than the rest"),
                    ("0-15s", "insufficient data", 0.05, 0.05, 1.0, 1.0, "4 videos compared (< 20)"),
                ]
            )
        ],
        columns=list(INTELLIGENCE_COLUMNS),
    )
    lead = patterns[PLANTED]
    lead = lead[(lead["evidence"] == "STRONG") & (lead["family_role"] == "lead")].iloc[0]
    cross = pd.DataFrame(
        [
            {
                "duration_bucket": PLANTED,
                "feature": lead["feature"],
                "level": "",
                "direction": lead["direction"],
                "hashtags_claimed": 2,
                "hashtags_analysed": 3,
                "share": 2 / 3,
                "scope": "hashtag-specific",
                "hashtags": "nutrition,mealprep",
                "best_evidence": "STRONG",
                "median_lift": 1.8,
                "sentence": "",
            }
        ],
        columns=list(CROSS_COLUMNS),
    )
    posteriors = pd.DataFrame(
        [
            {c: np.nan for c in POSTERIOR_COLUMNS}
            | {"pattern_hash": h, "mean": m, "ci_low": m / 2, "ci_high": m * 1.5, "clicks": clicks}
            for h, m, clicks in [("hook:question|emo:trust", 0.041, 812.0), ("hook:pov|emo:calm", 0.022, 400.0)]
        ],
        columns=list(POSTERIOR_COLUMNS),
    )
    inputs = ReportInputs(
        client="glowfuel",
        hashtag="nutrition",
        client_hashtag="glowfuel__nutrition",
        buckets=(PLANTED, NOISE, "0-15s"),
        patterns={PLANTED: patterns[PLANTED], NOISE: patterns[NOISE], "0-15s": None},
        videos=videos,
        intelligence=intelligence,
        cross=cross,
        posteriors=posteriors,
    )
    return {"inputs": inputs, "lead": lead, "reports": {r["report_id"]: r for r in build_reports(inputs)}}


def test_ten_reports_in_the_seed_formats(tables):
    reports = tables["reports"]
    assert tuple(reports) == REPORT_IDS and len(REPORT_IDS) == 10
    assert {r["format"] for r in reports.values()} <= set(FORMATS)
    table = reports_table(list(reports.values()))
    assert list(table.columns) == list(REPORT_COLUMNS) and len(table) == 10
    for row in table.itertuples():
        doc = json.loads(row.json)
        assert doc["report_id"] == row.report_id and doc["n_recommendations"] == row.n_recommendations


def test_every_creative_feature_maps_to_one_report():
    for name, spec in FEATURE_DICTIONARY.items():
        target = report_of(name)
        assert (target is None) == (spec.role == "meta"), name
    assert report_of("hook_type") == "hook_optimisation" and report_of("cta_type") == "cta_effectiveness"
    assert report_of("emotion") == "emotional_journey" and report_of("has_text_hook") == "text_overlay"
    assert report_of("pacing_label") == "pacing_rhythm" and report_of("motion_mean") == "visual_coordination"
    assert report_of("tl_cut_density_opening_mean") == "engagement_acceleration"


def test_planted_strong_lead_gives_a_recommendation_with_its_number_and_label(tables):
    lead, reports = tables["lead"], tables["reports"]
    target = report_of(lead["feature"])
    section = next(s for s in reports[target]["sections"] if s["bucket"] == PLANTED)
    rec = next(r for r in section["recommendations"] if r["feature"] == lead["feature"])
    assert rec["evidence"] == "STRONG" and rec["stars"] == 3
    assert rec["text"] == creator_recommendation(lead.to_dict(), bucket=PLANTED)["text"]
    md = report_markdown(reports[target])
    assert rec["text"] in md and "**STRONG**" in md
    assert f"{100 * lead['value_top']:.0f} % of top videos" in md and f"lift {lead['lift']:.2f}" in md
    # the viral-replication recipe carries the STRONG lead too, and its examples are top-tier videos of the bucket
    viral = next(s for s in reports["viral_replication"]["sections"] if s["bucket"] == PLANTED)
    assert lead["feature"] in {r["feature"] for r in viral["recommendations"]}
    top = set(tables["inputs"].videos[PLANTED].query("performance_tier == 'top'")["video_id"])
    assert viral["examples"] and {e["video_id"] for e in viral["examples"]} <= top
    assert all(e["url"].endswith(e["video_id"]) for e in viral["examples"])
    # trend-jacking: the pattern holds in 2 of 3 hashtags
    trend = next(s for s in reports["trend_jacking"]["sections"] if s["bucket"] == PLANTED)
    assert trend["status"] == "ok" and "holds in 2 of 3 hashtags" in report_markdown(reports["trend_jacking"])


def test_bucket_without_claims_says_not_enough_evidence_without_filler(tables):
    inputs, reports = tables["inputs"], tables["reports"]
    claimed = inputs.patterns[NOISE]
    claimed = claimed[claimed["evidence"] != "none"]
    for report in reports.values():
        for s in report["sections"]:
            if s["bucket"] == "0-15s" and report["report_id"] != "duration_tactics":
                assert s["status"] == NOT_ENOUGH and not s["recommendations"] and not s.get("examples")
            if s["bucket"] == NOISE and report["report_id"] == "viral_replication":
                assert s["status"] == NOT_ENOUGH or set(claimed["evidence"]) & {"STRONG"}
    md = report_markdown(reports["hook_optimisation"])
    noise_part = md.split(f"## {NOISE}")[1].split("## ")[0]
    if claimed.empty:
        assert NOT_ENOUGH.capitalize() in noise_part and "Do**" not in noise_part and "Example" not in noise_part
    zero = report_markdown(reports["cta_effectiveness"])  # no CTA label in the features: nothing to say anywhere
    assert reports["cta_effectiveness"]["n_recommendations"] == 0 and "no bucket has evidence" in zero
    assert "Examples" not in zero and "Do**" not in zero
    # duration: the insufficient bucket is honest, the deprioritised one is a don't
    dur = {s["bucket"]: s for s in reports["duration_tactics"]["sections"]}
    assert dur["0-15s"]["status"] == NOT_ENOUGH and "4 videos compared" in dur["0-15s"]["reason"]
    assert dur[NOISE]["recommendations"][0]["action"] == "avoid"


def test_nothing_materialised_gives_ten_honest_reports():
    empty = ReportInputs(client="c", hashtag="h", client_hashtag="c__h")
    for report in build_reports(empty):
        assert report["n_recommendations"] == 0 and report["status"] == NOT_ENOUGH
        assert all(s["status"] == NOT_ENOUGH and s["reason"] for s in report["sections"])
        assert "Examples" not in report_markdown(report)


def test_test_loop_status_or_not_yet_tested(tables):
    """The planted question hook is tested in the loop (best pattern hook:question|emo:trust); a feature the loop
    does not test says "not yet tested"; without posteriors the hook says so too."""
    reports = tables["reports"]
    hook = next(
        r for s in reports["hook_optimisation"]["sections"] for r in s["recommendations"] if r["feature"] == "hook_type"
    )
    assert hook["text"] == "Use a question hook." and hook["test_loop"]["status"] == "tested"
    assert hook["test_loop"]["best_pattern"] == "hook:question|emo:trust" and hook["test_loop"]["patterns"] == 1
    md = report_markdown(reports["hook_optimisation"])
    assert "`hook:question|emo:trust` converts 4.1 % of clicks" in md and "812 clicks" in md
    cuts = next(
        r
        for s in reports["hook_optimisation"]["sections"]
        for r in s["recommendations"]
        if r["feature"] == "hook_cut_count"
    )
    assert cuts["test_loop"]["status"] == NOT_TESTED
    untested = build_reports(replace(tables["inputs"], posteriors=None))
    hook = next(r for s in untested[0]["sections"] for r in s["recommendations"] if r["feature"] == "hook_type")
    assert hook["test_loop"] == {"status": NOT_TESTED, "reason": "no test-loop results yet"}
    assert f"Test loop: {NOT_TESTED} (no test-loop results yet)" in report_markdown(untested[0])


def test_creator_text_has_no_technical_unit(tables):
    for report in tables["reports"].values():
        md = report_markdown(report)
        creator = md.split("## Appendix")[0]
        for line in creator.splitlines():
            if line.startswith("- ") and "Evidence:" not in line and "Test loop" not in line and "](" not in line:
                assert _technical_words(line) == [], (report["report_id"], line)
        assert "luma" not in creator and ">=" not in creator
    assert DENYLIST  # the denylist of the plain-language tests is the one used here


_NUMBER = re.compile(r"(?<![\w.:/-])(-?\d+(?:\.\d+)?(?:e[-+]?\d+)?)(?![\w])( ?%)?")


def _cells(inputs: ReportInputs) -> np.ndarray:
    """Every number of the input tables: numeric cells and the numbers written inside text cells (a verdict reason
    such as "4 videos compared (< 20)" is quoted as it is)."""
    frames = [*inputs.patterns.values(), *inputs.videos.values(), inputs.intelligence, inputs.cross, inputs.posteriors]
    out: list[float] = []
    for df in frames:
        if df is None:
            continue
        for value in df.to_numpy().ravel():
            if isinstance(value, str):
                out += [float(m[0]) for m in _NUMBER.findall(value)]
                continue
            try:
                x = float(value)
            except (TypeError, ValueError):
                continue
            if math.isfinite(x):
                out.append(x)
    return np.array(out)


def _traceable(token: str, percent: bool, cells: np.ndarray) -> bool:
    """A number rounds from a cell (a percentage from 100 x a cell) at the precision it is written with."""
    x = float(token)
    mantissa, _, exponent = token.partition("e")
    decimals = len(mantissa.split(".")[1]) if "." in mantissa else 0
    tol = 10.0 ** (-decimals) * 10.0 ** int(exponent or 0) / 2 + 1e-12
    return bool(np.any(np.abs((100 * cells if percent else cells) - x) <= tol))


def _untraced(md: str, report: dict, cells: np.ndarray) -> list[str]:
    texts = [t for s in report["sections"] for r in s["recommendations"] for t in (r["text"], r.get("instead")) if t]
    units = sorted({s.unit for s in FEATURE_DICTIONARY.values() if any(ch.isdigit() for ch in s.unit)}, key=len)
    bad = []
    for line in md.splitlines():
        if line.startswith("# "):
            continue
        for t in sorted(texts, key=len, reverse=True):
            line = line.replace(t, "")  # creator words of an input row (plain_language, checked above)
        line = re.sub(r"\]\([^)]*\)", "]", line)  # links
        line = re.sub(r"`[^`]*`", "", line)  # pattern hashes
        for bucket in DURATION_BUCKETS:
            line = line.replace(bucket, "")
        for unit in reversed(units):
            line = line.replace(unit, "")
        bad += [token for token, pct in _NUMBER.findall(line) if not _traceable(token, bool(pct), cells)]
    return bad


def test_every_number_in_the_markdown_is_a_cell_of_the_inputs(tables):
    """Creator sentences are plain_language's words for an input row (tested there); every other number (shares,
    lifts, q-values, engagement rates, intervals, counts, video ids) must round from a cell of the inputs."""
    inputs, reports = tables["inputs"], tables["reports"]
    cells = _cells(inputs)
    checked = 0
    for report in reports.values():
        md = report_markdown(report)
        assert _untraced(md, report, cells) == [], report["report_id"]
        checked += len(_NUMBER.findall(md))
    assert checked > 30
    # the check can fail: an invented share and lift are caught
    hook = reports["hook_optimisation"]
    invented = report_markdown(hook) + "\n- Evidence: 87.3 % of top videos; lift 9.871.\n"
    assert set(_untraced(invented, hook, cells)) == {"87.3", "9.871"}


def test_reports_cite_only_the_hashtags_own_videos(tables):
    inputs, reports = tables["inputs"], tables["reports"]
    own = {v for df in inputs.videos.values() for v in df["video_id"]}
    cited = [v for r in reports.values() for v in cited_videos(r)]
    assert cited and set(cited) <= own


def test_rerun_is_identical(tables):
    again = build_reports(tables["inputs"])
    pd.testing.assert_frame_equal(reports_table(again), reports_table(list(tables["reports"].values())))


def test_viral_replication_names_families_strong_in_several_buckets(tables):
    rows, lead = tables["inputs"].patterns[PLANTED], tables["lead"]
    twin = rows.assign(duration_bucket="61-90s")
    inputs = replace(tables["inputs"], buckets=(PLANTED, "61-90s"), patterns={PLANTED: rows, "61-90s": twin})
    viral = build_reports(inputs)[REPORT_IDS.index("viral_replication")]
    across = {a["family"]: a for a in viral["across_buckets"]}
    assert across[lead["family"]]["buckets"] == [PLANTED, "61-90s"]
    assert "## Across buckets" in report_markdown(viral)
    alone = tables["reports"]["viral_replication"]  # STRONG in one bucket only: no cross-bucket claim
    assert alone["across_buckets"] == [] and "## Across buckets" not in report_markdown(alone)
