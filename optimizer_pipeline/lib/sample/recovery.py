"""Score ``bucket_patterns`` against the sample corpus's ground truth: are the planted effects found, and is nothing
else claimed beyond the FDR?

Definitions (the sample corpus is a test oracle, see :mod:`optimizer_pipeline.lib.sample.corpus`):

- a planted effect is one (hashtag, duration bucket, feature) of ``ground_truth["effects"]``; it is **recovered**
  when that bucket's row for the feature has evidence STRONG or MODERATE in the planted direction;
- a **claim** is a row the report states as a finding (evidence STRONG or MODERATE: q < 0.1 and at least three of
  the five signals) on one of the corpus's design features (the features the generator controls, so truth is known
  for each); it is **false** when the feature is in ``ground_truth["null_features"]`` for that hashtag and bucket
  (no planted effect there). Every row at ``q_value < CLAIM_Q``, labelled or not, is counted too (``q10_rows`` /
  ``q10_false``), so the looser figure is visible. Other extracted columns are re-expressions of the design (a
  cut-density window moves with the hook cuts): their truth is not defined and they are not scored.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import pandas as pd

RECOVERED_EVIDENCE = ("STRONG", "MODERATE")
CLAIM_Q = 0.1


@dataclass
class RecoveryReport:
    planted: int = 0
    recovered: int = 0
    claims: int = 0
    false_claims: int = 0
    q10_rows: int = 0
    q10_false: int = 0
    rows: list[dict] = field(default_factory=list)  # one per planted effect
    false: list[dict] = field(default_factory=list)  # one per false claim

    @property
    def recall(self) -> float:
        return self.recovered / self.planted if self.planted else 0.0

    @property
    def false_claim_share(self) -> float:
        return self.false_claims / self.claims if self.claims else 0.0

    def summary(self) -> str:
        return (
            f"planted effects recovered (STRONG/MODERATE, right direction): {self.recovered}/{self.planted} "
            f"(recall {self.recall:.2f}); STRONG/MODERATE claims on design features: {self.claims}, of which "
            f"{self.false_claims} on features with no planted effect ({self.false_claim_share:.0%}); rows at "
            f"q < {CLAIM_Q}: {self.q10_rows}, {self.q10_false} of them on such features"
        )


def score_recovery(patterns: Mapping[tuple[str, str], pd.DataFrame], truth: dict) -> RecoveryReport:
    """``patterns``: (hashtag, bucket) -> that bucket's ``bucket_patterns`` rows. Buckets missing from ``patterns``
    (insufficient data) are not scored."""
    report = RecoveryReport()
    design = set(truth["design_features"])
    for (hashtag, bucket), rows in sorted(patterns.items()):
        effects = [e for e in truth["effects"] if e["duration_bucket"] == bucket and hashtag in e["hashtags"]]
        by_feature = {r["feature"]: r for r in rows.to_dict("records")} if len(rows) else {}
        for e in effects:
            row = by_feature.get(e["feature"], {})
            ok = row.get("evidence") in RECOVERED_EVIDENCE and row.get("direction") == e["direction"]
            report.planted += 1
            report.recovered += int(ok)
            report.rows.append(
                {
                    "hashtag": hashtag,
                    "duration_bucket": bucket,
                    "feature": e["feature"],
                    "direction": e["direction"],
                    "evidence": row.get("evidence", "not tested"),
                    "found_direction": row.get("direction", ""),
                    "q_value": row.get("q_value", float("nan")),
                    "recovered": bool(ok),
                }
            )
        nulls = set(truth["null_features"].get(hashtag, {}).get(bucket, []))
        for row in by_feature.values():
            if row["feature"] not in design:
                continue
            null = row["feature"] in nulls
            if row["q_value"] < CLAIM_Q:
                report.q10_rows += 1
                report.q10_false += int(null)
            if row["evidence"] in RECOVERED_EVIDENCE:
                report.claims += 1
                if null:
                    report.false_claims += 1
                    report.false.append(
                        {"hashtag": hashtag, "duration_bucket": bucket, "feature": row["feature"], "q": row["q_value"]}
                    )
    return report


def design_frames(truth: dict) -> dict[tuple[str, str], pd.DataFrame]:
    """(hashtag, bucket) -> a table of the generator's design values and engagement rates for the normal videos:
    the statistics' input with no measurement error, for recovery checks that need no rendering."""
    out: dict[tuple[str, str], list[dict]] = {}
    for v in truth["videos"]:
        if v.get("role") != "normal":
            continue
        row = {"video_id": v["video_id"], "engagement_rate": v["engagement_rate"], **v["design"]}
        out.setdefault((v["hashtag"], v["duration_bucket"]), []).append(row)
    return {k: pd.DataFrame(rows) for k, rows in out.items()}
