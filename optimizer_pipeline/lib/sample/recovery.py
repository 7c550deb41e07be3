"""Score ``bucket_patterns`` against the sample corpus's ground truth: are the planted effects found, and is nothing
else claimed beyond the FDR?

Definitions (the sample corpus is a test oracle, see :mod:`optimizer_pipeline.lib.sample.corpus`), per hashtag and
duration bucket, with pattern families (:mod:`optimizer_pipeline.lib.patterns.families`):

- a planted effect is one (hashtag, duration bucket, feature) of ``ground_truth["effects"]``; it is **recovered**
  when its family's lead is claimed (evidence STRONG or MODERATE) in the planted direction, read through the sign of
  the planted feature's rho with the lead (a negatively correlated lead claims the opposite direction). Rows without
  family columns are their own family;
- a **claim** is every row the report states as a finding: evidence STRONG or MODERATE (q < 0.1 and at least three
  of the five signals) on a family lead, whatever the feature (design feature or any extracted column). It is
  **false** when its family holds no planted feature of that bucket and it is correlated ``|rho| <``
  :data:`PROXY_RHO` (Spearman, over the bucket's videos) with every planted feature of that bucket. Without the
  bucket's feature table (``frames``) the correlation clause cannot be checked and only the family clause counts;
- every row at ``q_value < CLAIM_Q`` (labelled or not, proxies and explained rows included) is counted too
  (``q10_rows`` / ``q10_false``, same rule), so the looser figure stays visible.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from optimizer_pipeline.lib.patterns.families import feature_correlations, pattern_values

RECOVERED_EVIDENCE = ("STRONG", "MODERATE")
CLAIM_Q = 0.1
PROXY_RHO = 0.5


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
            f"planted effects recovered (family lead STRONG/MODERATE, right direction): {self.recovered}/"
            f"{self.planted} (recall {self.recall:.2f}); STRONG/MODERATE claims: {self.claims}, of which "
            f"{self.false_claims} false (no planted feature in the family, |rho| < {PROXY_RHO} with every planted "
            f"one: {self.false_claim_share:.0%}); rows at q < {CLAIM_Q}: {self.q10_rows}, {self.q10_false} of them "
            "false by the same rule"
        )


def _planted_rho(rows: pd.DataFrame, frame: pd.DataFrame | None, planted: list[str]) -> pd.DataFrame | None:
    """|rho| of every tested feature with every planted one (None without a feature table)."""
    if frame is None or not planted or rows.empty:
        return None
    tested = rows[rows["feature"].isin(frame.columns)]
    if tested.empty:
        return None
    rho = feature_correlations(pattern_values(frame.reset_index(drop=True), tested)).abs()
    return rho.reindex(columns=planted)


def score_recovery(
    patterns: Mapping[tuple[str, str], pd.DataFrame],
    truth: dict,
    frames: Mapping[tuple[str, str], pd.DataFrame] | None = None,
) -> RecoveryReport:
    """``patterns``: (hashtag, bucket) -> that bucket's ``bucket_patterns`` rows; ``frames``: the same keys -> the
    feature table the patterns were computed from (for the proxy clause). Buckets missing from ``patterns``
    (insufficient data) are not scored."""
    report = RecoveryReport()
    for (hashtag, bucket), rows in sorted(patterns.items()):
        effects = [e for e in truth["effects"] if e["duration_bucket"] == bucket and hashtag in e["hashtags"]]
        planted = sorted({e["feature"] for e in effects})
        records = rows.to_dict("records") if len(rows) else []
        by_feature = {str(r["feature"]): r for r in records}
        family = {f: str(r.get("family") or f) for f, r in by_feature.items()}
        planted_families = {family[f] for f in planted if f in family}
        rho = _planted_rho(rows, (frames or {}).get((hashtag, bucket)), [f for f in planted if f in by_feature])
        for e in effects:
            row = by_feature.get(e["feature"], {})
            lead = by_feature.get(family.get(e["feature"], e["feature"]), row)
            sign = float(row.get("family_rho", 1.0)) if row else 1.0
            expected = e["direction"] if sign >= 0 else {"higher": "lower", "lower": "higher"}[e["direction"]]
            ok = bool(row) and lead.get("evidence") in RECOVERED_EVIDENCE and lead.get("direction") == expected
            report.planted += 1
            report.recovered += int(ok)
            report.rows.append(
                {
                    "hashtag": hashtag,
                    "duration_bucket": bucket,
                    "feature": e["feature"],
                    "direction": e["direction"],
                    "family": family.get(e["feature"], ""),
                    "evidence": row.get("evidence", "not tested"),
                    "family_evidence": lead.get("evidence", "not tested"),
                    "found_direction": lead.get("direction", ""),
                    "q_value": row.get("q_value", float("nan")),
                    "recovered": ok,
                }
            )
        for f, row in by_feature.items():
            nearest = float(rho.loc[f].max()) if rho is not None and f in rho.index else float("nan")
            near_planted = bool(np.isfinite(nearest) and nearest >= PROXY_RHO)
            false = family[f] not in planted_families and not near_planted
            if float(row["q_value"]) < CLAIM_Q:
                report.q10_rows += 1
                report.q10_false += int(false)
            is_claim = row["evidence"] in RECOVERED_EVIDENCE and row.get("family_role", "lead") == "lead"
            if is_claim:
                report.claims += 1
                if false:
                    report.false_claims += 1
                    report.false.append(
                        {
                            "hashtag": hashtag,
                            "duration_bucket": bucket,
                            "feature": f,
                            "q": row["q_value"],
                            "max_rho_planted": nearest,
                        }
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
