"""The client overview: per hashtag and competitor, per duration bucket, what was selected and what was found.

Why a page of its own: the market assets are partitioned by client × hashtag × bucket, and the Dagster UI opens an
asset on its first partition, often the ``91-120s`` bucket of a competitor with "insufficient data". The overview
gathers one client's partitions into one Markdown page (and one row per source × bucket), built from tables the
pipeline already stores (``bucket_intelligence``, and ``pattern_posteriors`` / ``test_recommendations`` for the test
loop), so it restates results and computes no statistics of its own.

Statuses: ``ok`` and ``insufficient data`` come from ``bucket_intelligence``; ``not analysed`` means the bucket is
not in the registry's ``buckets`` for that source, or its ``bucket_intelligence`` partition is not materialised yet
(the page says which). Claims are STRONG + MODERATE rows; an EMERGING top pattern is a lead, not a claim, and is not
shown as the top claim.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from optimizer_pipeline.lib.core import markdown
from optimizer_pipeline.lib.core.buckets import DURATION_BUCKETS

NOT_ANALYSED = "not analysed"
CLAIM_LEVELS = ("STRONG", "MODERATE")
OVERVIEW_COLUMNS: tuple[str, ...] = (
    "source",
    "kind",
    "client_hashtag",
    "duration_bucket",
    "videos",
    "status",
    "claims",
    "top_claim",
    "note",
)


@dataclass(frozen=True)
class SourceResults:
    """One hashtag or competitor profile of the client and its stored ``bucket_intelligence`` (None: not stored)."""

    label: str  # "#nutrition" or "@greenbites"
    kind: str  # "hashtag" | "profile"
    key: str  # client_hashtag partition key
    buckets: tuple[str, ...]  # the buckets the registry analyses for it
    intelligence: pd.DataFrame | None


@dataclass(frozen=True)
class TestLoopStatus:
    """The test loop in three numbers and a winner; None fields mean "not materialised"."""

    __test__ = False  # not a pytest test class

    patterns: int
    clicks: int
    conversions: int
    best_pattern: str
    best_reason: str


def overview_rows(sources: Sequence[SourceResults]) -> pd.DataFrame:
    """One row per source × duration bucket (all five buckets, in order), :data:`OVERVIEW_COLUMNS`."""
    rows = []
    for src in sources:
        table = src.intelligence
        by_bucket = {} if table is None else {str(r["duration_bucket"]): r for _, r in table.iterrows()}
        for bucket in DURATION_BUCKETS:
            row = {"source": src.label, "kind": src.kind, "client_hashtag": src.key, "duration_bucket": bucket}
            found = by_bucket.get(bucket)
            if bucket not in src.buckets:
                row |= _empty("not in the registry's buckets for this source")
            elif table is None:
                row |= _empty("bucket_intelligence not materialised")
            elif found is None:
                row |= _empty("no video in this bucket")
            else:
                claims = int(sum(int(found.get(f"{level.lower()}_claims", 0) or 0) for level in CLAIM_LEVELS))
                top = str(found.get("top_pattern") or "")
                is_claim = str(found.get("top_pattern_evidence") or "") in CLAIM_LEVELS
                row |= {
                    "videos": int(found.get("videos", 0) or 0),
                    "status": str(found.get("status") or ""),
                    "claims": claims,
                    "top_claim": top if is_claim else "",
                    "note": str(found.get("verdict") or ""),
                }
            rows.append(row)
    return pd.DataFrame(rows, columns=list(OVERVIEW_COLUMNS)).astype({"videos": "Int64", "claims": "Int64"})


def _empty(note: str) -> dict:
    return {"videos": pd.NA, "status": NOT_ANALYSED, "claims": pd.NA, "top_claim": "", "note": note}


def summarise_test_loop(posteriors: pd.DataFrame | None, recommendations: pd.DataFrame | None) -> TestLoopStatus | None:
    """Patterns, clicks and the best pattern (rank 1 of the recommendations, else the highest posterior mean)."""
    if posteriors is None or posteriors.empty:
        return None
    best, reason = "", ""
    if recommendations is not None and len(recommendations) and "rank" in recommendations:
        top = recommendations.sort_values("rank", kind="stable").iloc[0]
        best, reason = str(top["pattern_hash"]), str(top.get("reason", "") or "")
    elif "mean" in posteriors:
        top = posteriors.sort_values("mean", ascending=False, kind="stable").iloc[0]
        best, reason = str(top["pattern_hash"]), f"highest posterior mean ({float(top['mean']):.2%})"
    return TestLoopStatus(
        patterns=int(posteriors["pattern_hash"].nunique()),
        clicks=int(pd.to_numeric(posteriors["clicks"], errors="coerce").fillna(0).sum()),
        conversions=int(pd.to_numeric(posteriors["conversions"], errors="coerce").fillna(0).sum()),
        best_pattern=best,
        best_reason=reason,
    )


def overview_markdown(client_name: str, client_slug: str, rows: pd.DataFrame, testloop: TestLoopStatus | None) -> str:
    """The page: a headline, one section per source (a bucket table, then its top claims in full), the test loop."""
    analysed = rows[rows["status"] != NOT_ANALYSED]
    with_claims = int((analysed["claims"].fillna(0) > 0).sum())
    lines = [
        f"# {client_name} (`{client_slug}`)",
        "",
        f"{len(analysed)} of {len(rows)} source × bucket partitions analysed, {with_claims} with claims "
        f"(STRONG/MODERATE patterns); {int(analysed['claims'].fillna(0).sum())} claims in all.",
    ]
    for (label, key), part in rows.groupby(["source", "client_hashtag"], sort=False):
        view = part[["duration_bucket", "videos", "status", "claims", "note"]].rename(
            columns={"duration_bucket": "bucket", "note": "verdict / why not"}
        )
        lines += ["", f"## {label} (`{key}`)", "", markdown.table(view, max_rows=None, missing="–", max_chars=None)]
        claims = part[part["top_claim"] != ""]
        if len(claims):
            lines += ["", "Top claim per bucket:", ""]
            lines += [f"- **{r.duration_bucket}**: {r.top_claim}" for r in claims.itertuples()]
    lines += ["", "## Test loop", ""]
    if testloop is None:
        lines.append("not materialised (no `pattern_posteriors` for this client yet)")
    else:
        lines += [
            f"- patterns: {testloop.patterns}",
            f"- clicks: {testloop.clicks:,}, conversions: {testloop.conversions:,}",
            f"- best pattern: `{testloop.best_pattern}`" + (f" ({testloop.best_reason})" * bool(testloop.best_reason)),
        ]
    return "\n".join(lines) + "\n"
