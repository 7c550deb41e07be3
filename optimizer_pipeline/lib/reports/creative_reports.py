"""The seed's ten creative strategy reports of one client × hashtag, built only from evidence tables.

Why: the evidence (``bucket_patterns``, ``bucket_intelligence``, ``cross_hashtag_patterns``, the test loop's
``pattern_posteriors``) is precise but technical; a marketer needs guidance a creator can act on, per duration bucket,
with the strength of the evidence beside each sentence. This module restates those tables and computes no statistic:

* every recommendation is one pattern family's lead (:func:`~optimizer_pipeline.lib.reports.plain_language.
  creator_recommendations`) in creator words, with its evidence label, the share of top and bottom videos that have
  it, the lift and the q-value, each a cell of ``bucket_patterns``; the exact threshold and unit stay in the appendix;
* a feature belongs to one report through the feature dictionary's ``group`` and the label fields
  (:func:`report_of`); the duration report reads ``bucket_intelligence``, trend-jacking ``cross_hashtag_patterns``,
  viral replication the STRONG leads of every bucket;
* "lower" rows (anti-patterns) are the don'ts; examples are the bucket's top-tier videos (``performance_tier`` "top"
  in ``bucket_videos``) with their links;
* a label pattern (hook, emotion, pacing, pain point, CTA) says how the test loop rates it, or "not yet tested";
* a bucket or a report with nothing to say says "not enough evidence" and gives no advice.

Reports are plain dicts (the JSON document); :func:`report_markdown` renders one, :func:`reports_table` is the asset's
one-row-per-report table. The files live under :func:`report_folder` (``<home>/reports/<client>/<hashtag>/``).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from optimizer_pipeline.lib.core.buckets import DURATION_BUCKETS
from optimizer_pipeline.lib.features.dictionary import FEATURE_DICTIONARY
from optimizer_pipeline.lib.reports.plain_language import creator_recommendation, creator_recommendations
from optimizer_pipeline.lib.testloop.pattern_hash import PATTERN_TAGS, parse_pattern

REPORTS_DIR = "reports"
NOT_ENOUGH = "not enough evidence"
NOT_TESTED = "not yet tested"
#: Formats of the seed's report set.
FORMATS = ("recipe", "pattern-based", "comparative", "element-focused", "narrative arc")


@dataclass(frozen=True)
class ReportSpec:
    """One of the ten reports: id, title, format and the question it answers (its lead sentence)."""

    id: str
    title: str
    format: str
    question: str


REPORT_SPECS: tuple[ReportSpec, ...] = (
    ReportSpec("hook_optimisation", "Hook optimisation", "recipe", "How should the first seconds look and sound?"),
    ReportSpec("cta_effectiveness", "CTA effectiveness", "element-focused", "Which call to action do top videos use?"),
    ReportSpec("pacing_rhythm", "Pacing & rhythm", "pattern-based", "How fast to cut, and what the sound does."),
    ReportSpec(
        "visual_coordination", "Visual element coordination", "element-focused", "Movement, light, colour, faces."
    ),
    ReportSpec("emotional_journey", "Emotional journey", "narrative arc", "Which tone and which viewer problem."),
    ReportSpec("text_overlay", "Text overlay", "element-focused", "When and how much text on screen."),
    ReportSpec("trend_jacking", "Trend-jacking", "pattern-based", "What travels across the client's hashtags."),
    ReportSpec("duration_tactics", "Duration-specific tactics", "comparative", "Which video lengths, how often."),
    ReportSpec("engagement_acceleration", "Engagement acceleration", "narrative arc", "How the video builds."),
    ReportSpec("viral_replication", "Viral replication framework", "recipe", "The strongest patterns per bucket."),
)
REPORT_IDS = tuple(s.id for s in REPORT_SPECS)
_SPEC = {s.id: s for s in REPORT_SPECS}
if not {s.format for s in REPORT_SPECS} <= set(FORMATS):
    raise RuntimeError("a report format is not one of the seed's formats")

#: Label fields → report (the dictionary's label ``pacing_label`` has group "pacing").
_LABEL_REPORT = {
    "hook_type": "hook_optimisation",
    "cta_type": "cta_effectiveness",
    "emotion": "emotional_journey",
    "pain_point": "emotional_journey",
}
#: Dictionary ``group`` → report.
_GROUP_REPORT = {
    "hook": "hook_optimisation",
    "pacing": "pacing_rhythm",
    "audio": "pacing_rhythm",
    "motion": "visual_coordination",
    "colour": "visual_coordination",
    "faces": "visual_coordination",
    "format": "visual_coordination",
    "text": "text_overlay",
    "timeline": "engagement_acceleration",
}
#: Label field → test-loop tag of a pattern hash (``pacing_label`` is ``pace``).
_TEST_TAG = {name: tag for name, tag in PATTERN_TAGS} | {"pacing_label": "pace"}
#: Reports built from a feature mapping (the others have their own sources).
FEATURE_REPORTS = tuple(sorted(set(_LABEL_REPORT.values()) | set(_GROUP_REPORT.values())))
EXAMPLES_PER_BUCKET = 3

REPORT_COLUMNS: tuple[str, ...] = (
    "report_id",
    "client",
    "hashtag",
    "client_hashtag",
    "title",
    "format",
    "n_recommendations",
    "evidence_summary",
    "markdown",
    "json",
)


def report_of(feature: str) -> str | None:
    """The report a feature's pattern belongs to (None for meta columns and unknown names); text features go to the
    text overlay report whatever their group (``has_text_hook`` is a hook feature about text)."""
    if feature in _LABEL_REPORT:
        return _LABEL_REPORT[feature]
    spec = FEATURE_DICTIONARY.get(feature)
    if spec is None or spec.role == "meta":
        return None
    if "text" in feature and spec.group != "timeline":
        return "text_overlay"
    return _GROUP_REPORT.get(spec.group)


@dataclass
class ReportInputs:
    """The evidence of one client × hashtag: per-bucket ``bucket_patterns`` and ``bucket_videos`` (None or absent:
    not materialised), its ``bucket_intelligence`` and the client's ``cross_hashtag_patterns`` and
    ``pattern_posteriors`` (None: not materialised)."""

    client: str
    hashtag: str
    client_hashtag: str
    buckets: tuple[str, ...] = DURATION_BUCKETS
    patterns: Mapping[str, pd.DataFrame | None] = field(default_factory=dict)
    videos: Mapping[str, pd.DataFrame | None] = field(default_factory=dict)
    intelligence: pd.DataFrame | None = None
    cross: pd.DataFrame | None = None
    posteriors: pd.DataFrame | None = None
    #: How the source is named in titles: "#mealprep" for a hashtag (default), "@handle" for a competitor profile.
    label: str = ""


# ------------------------------------------------------------------------------------------------------- numbers
def _finite(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _pct(x: float, decimals: int = 0) -> str:
    return f"{100 * x:.{decimals}f} %"


def _q(q: float) -> str:
    return f"{q:.2g}" if q >= 1e-4 else f"{q:.1e}"


# -------------------------------------------------------------------------------------------------- per bucket
def _examples(videos: pd.DataFrame | None) -> list[dict[str, Any]]:
    """The bucket's best top-tier videos: id, link and engagement rate (cells of ``bucket_videos``)."""
    if videos is None or videos.empty or "video_id" not in videos.columns:
        return []
    top = videos
    if "performance_tier" in videos.columns:
        top = videos[videos["performance_tier"].astype(str) == "top"]
    if "engagement_rate" in top.columns:
        top = top.sort_values(["engagement_rate", "video_id"], ascending=[False, True])
    out = []
    for row in top.head(EXAMPLES_PER_BUCKET).to_dict("records"):
        er = row.get("engagement_rate")
        out.append(
            {
                "video_id": str(row["video_id"]),
                "url": str(row["url"]) if isinstance(row.get("url"), str) and row.get("url") else None,
                "engagement_rate": float(er) if _finite(er) else None,
            }
        )
    return out


def _row_numbers(row: Mapping[str, Any]) -> dict[str, Any]:
    keep = ("value_top", "value_bottom", "lift", "q_value", "n_videos")
    return {k: (float(row[k]) if _finite(row.get(k)) else None) for k in keep}


def _test_status(feature: str, level: Any, posteriors: pd.DataFrame | None) -> dict[str, Any]:
    """How the test loop rates a label pattern: the best-rated tested pattern hash that contains it, or "not yet
    tested" (no test loop, no matching pattern, a non-label feature)."""
    tag = _TEST_TAG.get(feature)
    if tag is None:
        return {"status": NOT_TESTED, "reason": "the test loop tests hook, tone, pacing, problem and CTA labels only"}
    if posteriors is None or posteriors.empty:
        return {"status": NOT_TESTED, "reason": "no test-loop results yet"}
    matches = []
    for row in posteriors.to_dict("records"):
        try:
            attrs = parse_pattern(str(row.get("pattern_hash", "")))
        except ValueError:
            continue
        if attrs.get(tag) == str(level) and _finite(row.get("clicks")) and row["clicks"] > 0:
            matches.append(row)
    if not matches:
        return {"status": NOT_TESTED, "reason": f"no tested pattern with {tag}:{level}"}
    best = max(matches, key=lambda r: (float(r["mean"]), str(r["pattern_hash"])))
    return {
        "status": "tested",
        "patterns": len(matches),
        "best_pattern": str(best["pattern_hash"]),
        "mean": float(best["mean"]),
        "ci_low": float(best["ci_low"]),
        "ci_high": float(best["ci_high"]),
        "clicks": float(best["clicks"]),
    }


def _recommendations(
    rows: pd.DataFrame, bucket: str, report: str | None, posteriors: pd.DataFrame | None, *, strong_only: bool = False
) -> list[dict[str, Any]]:
    """The bucket's recommendations of one report (None: every report), each with its numbers and test status."""
    by_feature = {str(r["feature"]): r for r in rows.to_dict("records")}
    out = []
    for rec in creator_recommendations(rows, bucket=bucket):
        if report is not None and report_of(rec["feature"]) != report:
            continue
        if strong_only and rec["evidence"] != "STRONG":
            continue
        row = by_feature[rec["feature"]]
        rec = dict(rec) | {
            "report": report_of(rec["feature"]),
            "numbers": _row_numbers(row),
            "test_loop": _test_status(rec["feature"], row.get("threshold"), posteriors),
        }
        out.append(rec)
    return out


def _analysed(rows: pd.DataFrame | None) -> tuple[bool, str]:
    if rows is None:
        return False, "bucket_patterns not materialised for this bucket"
    if rows.empty:
        return False, "too few videos in this bucket for a pattern analysis"
    return True, ""


def _bucket_section(
    inputs: ReportInputs, bucket: str, report: str | None, *, strong_only: bool = False
) -> dict[str, Any]:
    rows = inputs.patterns.get(bucket)
    ok, why = _analysed(rows)
    section: dict[str, Any] = {"bucket": bucket, "status": NOT_ENOUGH, "reason": why, "recommendations": []}
    if not ok:
        return section
    assert rows is not None
    recs = _recommendations(rows, bucket, report, inputs.posteriors, strong_only=strong_only)
    if not recs:
        what = "STRONG pattern" if strong_only else "pattern on this topic"
        section["reason"] = f"no {what} reaches an evidence label in this bucket"
        return section
    section |= {"status": "ok", "reason": "", "recommendations": recs, "examples": _examples(inputs.videos.get(bucket))}
    return section


# ---------------------------------------------------------------------------------------------- special reports
def _duration_sections(inputs: ReportInputs) -> list[dict[str, Any]]:
    """One section per bucket from ``bucket_intelligence``: verdict, share of the content mix, engagement."""
    table = inputs.intelligence
    if table is None or table.empty:
        return [
            {"bucket": b, "status": NOT_ENOUGH, "reason": "bucket_intelligence not materialised", "recommendations": []}
            for b in inputs.buckets
        ]
    by_bucket = {str(r["duration_bucket"]): r for r in table.to_dict("records")}
    out = []
    for bucket in inputs.buckets:
        row = by_bucket.get(bucket)
        if row is None or str(row.get("verdict")) == "insufficient data":
            reason = str(row.get("verdict_reason", "")) if row else "no bucket_intelligence row"
            out.append({"bucket": bucket, "status": NOT_ENOUGH, "reason": reason, "recommendations": []})
            continue
        verdict = str(row["verdict"])
        action = {"prioritise": "do", "deprioritise": "avoid"}.get(verdict, "test")
        share = float(row["recommended_share"])
        text = {
            "do": f"Make more {bucket} videos: about {_pct(share)} of what you post.",
            "avoid": f"Make fewer {bucket} videos: about {_pct(share)} of what you post.",
        }.get(action, f"Keep {bucket} videos at about {_pct(share)} of what you post and keep testing them.")
        rec = {
            "feature": "duration_bucket",
            "family": bucket,
            "bucket": bucket,
            "action": action,
            "text": text,
            "instead": None,
            "evidence": verdict,
            "evidence_words": str(row.get("verdict_reason", "")),
            "stars": 0,
            "numbers": {
                k: (float(row[k]) if _finite(row.get(k)) else None)
                for k in (
                    "recommended_share",
                    "geo_mean_engagement_rate",
                    "ci_low",
                    "ci_high",
                    "ratio_to_rest",
                    "p_adjusted",
                    "videos_compared",
                )
            },
            "test_loop": {"status": NOT_TESTED, "reason": "the test loop does not test video lengths"},
            "technical": "",
        }
        section = {"bucket": bucket, "status": "ok", "reason": "", "recommendations": [rec]}
        section["examples"] = _examples(inputs.videos.get(bucket)) if action == "do" else []
        out.append(section)
    return out


def _trend_sections(inputs: ReportInputs) -> list[dict[str, Any]]:
    """Patterns of this hashtag that hold in other hashtags of the client too (``cross_hashtag_patterns``), worded
    from this hashtag's own ``bucket_patterns`` row."""
    cross = inputs.cross
    out = []
    for bucket in inputs.buckets:
        rows = inputs.patterns.get(bucket)
        section: dict[str, Any] = {"bucket": bucket, "status": NOT_ENOUGH, "recommendations": []}
        if cross is None:
            out.append(section | {"reason": "cross_hashtag_patterns not materialised"})
            continue
        ok, why = _analysed(rows)
        if not ok:
            out.append(section | {"reason": why})
            continue
        assert rows is not None
        mine = cross[
            (cross["duration_bucket"].astype(str) == bucket)
            & (pd.to_numeric(cross["hashtags_claimed"], errors="coerce") >= 2)
            & cross["hashtags"].astype(str).map(lambda s: inputs.hashtag in [p.strip() for p in s.split(",")])
        ]
        by_feature = {(str(r["feature"]), str(r["direction"])): r for r in rows.to_dict("records")}
        recs = []
        for c in mine.to_dict("records"):
            row = by_feature.get((str(c["feature"]), str(c["direction"])))
            rec = creator_recommendation(row, bucket=bucket) if row is not None else None
            if rec is None:
                continue
            rec = dict(rec) | {
                "report": "trend_jacking",
                "numbers": _row_numbers(row)
                | {
                    "hashtags_claimed": float(c["hashtags_claimed"]),
                    "hashtags_analysed": float(c["hashtags_analysed"]),
                },
                "scope": str(c["scope"]),
                "hashtags": str(c["hashtags"]),
                "test_loop": _test_status(rec["feature"], row.get("threshold"), inputs.posteriors),
            }
            recs.append(rec)
        if not recs:
            out.append(section | {"reason": "no pattern of this hashtag is claimed in another hashtag of the client"})
            continue
        out.append(
            section
            | {"status": "ok", "reason": "", "recommendations": recs, "examples": _examples(inputs.videos.get(bucket))}
        )
    return out


# ------------------------------------------------------------------------------------------------------ reports
def build_reports(inputs: ReportInputs) -> list[dict[str, Any]]:
    """The ten reports (JSON-able dicts, :data:`REPORT_SPECS` order) of one client × hashtag."""
    out = []
    for spec in REPORT_SPECS:
        if spec.id == "duration_tactics":
            sections = _duration_sections(inputs)
        elif spec.id == "trend_jacking":
            sections = _trend_sections(inputs)
        elif spec.id == "viral_replication":
            sections = [_bucket_section(inputs, b, None, strong_only=True) for b in inputs.buckets]
        else:
            sections = [_bucket_section(inputs, b, spec.id) for b in inputs.buckets]
        n = sum(len(s["recommendations"]) for s in sections)
        across = _across_buckets(sections) if spec.id == "viral_replication" else []
        out.append(
            {
                "report_id": spec.id,
                "title": spec.title,
                "format": spec.format,
                "question": spec.question,
                "client": inputs.client,
                "hashtag": inputs.hashtag,
                "label": inputs.label or f"#{inputs.hashtag}",
                "client_hashtag": inputs.client_hashtag,
                "status": "ok" if n else NOT_ENOUGH,
                "n_recommendations": n,
                "sections": sections,
                "across_buckets": across,
                "evidence_summary": _summary(sections),
            }
        )
    return out


def _across_buckets(sections: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Families whose lead is STRONG in two or more buckets, same action: the core of a replicable formula."""
    seen: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for s in sections:
        for r in s["recommendations"]:
            seen.setdefault((r["family"], r["action"]), []).append(r)
    return [
        {"family": family, "action": action, "buckets": [r["bucket"] for r in recs], "text": recs[0]["text"]}
        for (family, action), recs in seen.items()
        if len(recs) >= 2
    ]


def _summary(sections: list[dict[str, Any]]) -> str:
    recs = [r for s in sections for r in s["recommendations"]]
    if not recs:
        return f"{NOT_ENOUGH} in any bucket"
    labels: dict[str, int] = {}
    for r in recs:
        labels[r["evidence"]] = labels.get(r["evidence"], 0) + 1
    ok = [s["bucket"] for s in sections if s["status"] == "ok"]
    thin = [s["bucket"] for s in sections if s["status"] != "ok"]
    text = f"{len(recs)} recommendation(s) ({', '.join(f'{k} {v}' for k, v in labels.items())}) in {', '.join(ok)}"
    return text + (f"; {NOT_ENOUGH} in {', '.join(thin)}" if thin else "")


def cited_videos(report: Mapping[str, Any]) -> list[str]:
    """Every video id a report cites as an example."""
    return [e["video_id"] for s in report["sections"] for e in s.get("examples", [])]


# ------------------------------------------------------------------------------------------------------ Markdown
def _stars(n: int) -> str:
    return "★" * n + "☆" * (3 - n) if n else ""


def _evidence_line(rec: Mapping[str, Any]) -> str:
    n = rec["numbers"]
    if rec["feature"] == "duration_bucket":
        parts = [f"verdict **{rec['evidence']}**"]
        if n.get("geo_mean_engagement_rate") is not None:
            ci = f" (interval {_pct(n['ci_low'], 1)} to {_pct(n['ci_high'], 1)})" if n.get("ci_low") is not None else ""
            parts.append(f"typical engagement rate {_pct(n['geo_mean_engagement_rate'], 1)}{ci}")
        if n.get("ratio_to_rest") is not None:
            parts.append(f"{n['ratio_to_rest']:.2f}× the rest of the hashtag")
        if n.get("p_adjusted") is not None:
            parts.append(f"adjusted p = {_q(n['p_adjusted'])}")
        if n.get("videos_compared") is not None:
            parts.append(f"{n['videos_compared']:.0f} videos compared")
        return "; ".join(parts)
    parts = [f"{_stars(rec['stars'])} **{rec['evidence']}** ({rec['evidence_words']})"]
    if n.get("value_top") is not None and n.get("value_bottom") is not None:
        parts.append(f"{_pct(n['value_top'])} of top videos vs {_pct(n['value_bottom'])} of bottom videos")
    if n.get("lift") is not None:
        parts.append(f"lift {n['lift']:.2f}")
    if n.get("q_value") is not None:
        parts.append(f"q = {_q(n['q_value'])}")
    if n.get("hashtags_claimed") is not None:
        parts.append(f"holds in {n['hashtags_claimed']:.0f} of {n['hashtags_analysed']:.0f} hashtags ({rec['scope']})")
    return "; ".join(parts)


def _test_line(test: Mapping[str, Any]) -> str:
    if test["status"] != "tested":
        return f"Test loop: {NOT_TESTED} ({test['reason']})."
    return (
        f"Test loop: best tested pattern `{test['best_pattern']}` converts {_pct(test['mean'], 1)} of clicks "
        f"(credible interval {_pct(test['ci_low'], 1)} to {_pct(test['ci_high'], 1)}, {test['clicks']:.0f} clicks)."
    )


def report_markdown(report: Mapping[str, Any]) -> str:
    """One report as Markdown: the question, a section per bucket (do's, don'ts, evidence, test-loop status,
    examples) or "not enough evidence", then the technical appendix."""
    lines = [
        f"# {report['title']}: {report.get('label') or '#' + report['hashtag']}",
        "",
        f"_{report['question']}_ Format: {report['format']}. Client: {report['client']}.",
        "",
    ]
    if report["status"] != "ok":
        lines += [f"**{NOT_ENOUGH.capitalize()}**: no bucket has evidence for this report, so it gives no advice.", ""]
    if report.get("across_buckets"):
        lines += ["## Across buckets", ""]
        for a in report["across_buckets"]:
            lines.append(f"- {a['text']} STRONG in {', '.join(a['buckets'])} (wording of {a['buckets'][0]}).")
        lines.append("")
    appendix = []
    for s in report["sections"]:
        lines.append(f"## {s['bucket']}")
        lines.append("")
        if s["status"] != "ok":
            lines += [f"_{NOT_ENOUGH.capitalize()}_: {s['reason']}.", ""]
            continue
        dos = [r for r in s["recommendations"] if r["action"] != "avoid"]
        donts = [r for r in s["recommendations"] if r["action"] == "avoid"]
        for heading, recs in (("Do", dos), ("Don't", donts)):
            if not recs:
                continue
            lines.append(f"**{heading}**")
            lines.append("")
            for r in recs:
                lines.append(f"- {r['text']}" + (f" {r['instead']}" if r.get("instead") else ""))
                lines.append(f"  - Evidence: {_evidence_line(r)}.")
                lines.append(f"  - {_test_line(r['test_loop'])}")
                if r.get("technical"):
                    appendix.append(f"- {s['bucket']}: {r['technical']}")
            lines.append("")
        if s.get("examples"):
            lines.append("**Examples from top performers**")
            lines.append("")
            for e in s["examples"]:
                link = f"[{e['video_id']}]({e['url']})" if e["url"] else f"`{e['video_id']}`"
                er = f" (engagement rate {_pct(e['engagement_rate'], 1)})" if e["engagement_rate"] is not None else ""
                lines.append(f"- {link}{er}")
            lines.append("")
    if appendix:
        lines += ["## Appendix: technical notes", "", *appendix, ""]
    return "\n".join(lines).rstrip() + "\n"


def report_json(report: Mapping[str, Any]) -> str:
    """The report as stable JSON (sorted keys), for the file and the table."""
    return json.dumps(report, sort_keys=True, indent=2, ensure_ascii=False)


def reports_table(reports: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per report (:data:`REPORT_COLUMNS`)."""
    rows = [
        {
            "report_id": r["report_id"],
            "client": r["client"],
            "hashtag": r["hashtag"],
            "client_hashtag": r["client_hashtag"],
            "title": r["title"],
            "format": r["format"],
            "n_recommendations": int(r["n_recommendations"]),
            "evidence_summary": r["evidence_summary"],
            "markdown": report_markdown(r),
            "json": report_json(r),
        }
        for r in reports
    ]
    return pd.DataFrame(rows, columns=list(REPORT_COLUMNS)).astype({"n_recommendations": "int64"})


def report_folder(home: str | Path, client: str, hashtag: str) -> Path:
    """Where the reports of one client × hashtag are written: ``<home>/reports/<client>/<hashtag>/``."""
    return Path(home) / REPORTS_DIR / client / hashtag


__all__ = [
    "FORMATS",
    "NOT_ENOUGH",
    "NOT_TESTED",
    "REPORT_COLUMNS",
    "REPORT_IDS",
    "REPORT_SPECS",
    "ReportInputs",
    "build_reports",
    "cited_videos",
    "report_folder",
    "report_json",
    "report_markdown",
    "report_of",
    "reports_table",
]
