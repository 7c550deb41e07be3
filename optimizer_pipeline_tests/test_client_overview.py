"""``client_overview``: one page per client from what is stored, with "not analysed" where nothing is."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pandas as pd

from optimizer_pipeline.defs.overview.assets import client_overview
from optimizer_pipeline.lib.core.atomic_files import write_parquet_atomic
from optimizer_pipeline.lib.overview.client_page import (
    NOT_ANALYSED,
    SourceResults,
    overview_markdown,
    overview_rows,
    summarise_test_loop,
)
from optimizer_pipeline.lib.registry.clients import SAMPLE_CLIENTS_FILE
from optimizer_pipeline.resources.parquet_io import ParquetIOManager, asset_path, read_asset
from optimizer_pipeline.resources.registry import ClientRegistry

TEXT_HOOK = "A text hook in the first 3 seconds: 100% of top videos vs 42% of average ones (2.2x lift, q < 0.001)"


def intelligence() -> pd.DataFrame:
    """``bucket_intelligence`` of a hashtag with three buckets with videos (the columns the overview reads)."""
    return pd.DataFrame(
        {
            "duration_bucket": ["16-30s", "0-15s", "91-120s"],
            "verdict": ["prioritise", "maintain", "insufficient data"],
            "status": ["ok", "ok", "insufficient data"],
            "videos": [56, 64, 4],
            "strong_claims": [2, 0, 0],
            "moderate_claims": [1, 0, 0],
            "emerging_claims": [0, 1, 0],
            "top_pattern": [TEXT_HOOK, "Fast cuts (emerging)", ""],
            "top_pattern_evidence": ["STRONG", "EMERGING", ""],
        }
    )


def posteriors() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "pattern_hash": ["hook:question|pace:fast", "hook:text|pace:slow"],
            "mean": [0.04, 0.02],
            "clicks": [120, 80],
            "conversions": [5, 2],
        }
    )


def test_rows_give_every_bucket_a_status() -> None:
    table = intelligence()
    sources = [
        SourceResults("#nutrition", "hashtag", "acme__nutrition", ("0-15s", "16-30s", "31-60s", "91-120s"), table),
        SourceResults("@rival", "profile", "acme__at-rival", ("0-15s", "16-30s"), None),
    ]
    rows = overview_rows(sources)
    assert len(rows) == 10 and list(rows["duration_bucket"][:5]) == ["0-15s", "16-30s", "31-60s", "61-90s", "91-120s"]
    nutrition = rows[rows["source"] == "#nutrition"].set_index("duration_bucket")
    assert list(nutrition["status"]) == ["ok", "ok", NOT_ANALYSED, NOT_ANALYSED, "insufficient data"]
    assert list(nutrition["claims"].fillna(-1)) == [0, 3, -1, -1, 0]
    assert nutrition.loc["16-30s", "top_claim"] == TEXT_HOOK and nutrition.loc["16-30s", "videos"] == 56
    assert nutrition.loc["0-15s", "top_claim"] == ""  # an EMERGING lead is not a claim
    assert nutrition.loc["31-60s", "note"] == "no video in this bucket"
    assert nutrition.loc["61-90s", "note"] == "not in the registry's buckets for this source"
    rival = rows[rows["source"] == "@rival"]
    assert set(rival["status"]) == {NOT_ANALYSED}
    assert list(rival["note"][:2]) == ["bucket_intelligence not materialised"] * 2


def test_testloop_status_prefers_the_recommendations_rank_one() -> None:
    assert summarise_test_loop(None, None) is None
    plain = summarise_test_loop(posteriors(), None)
    assert (plain.patterns, plain.clicks, plain.conversions) == (2, 200, 7)
    assert plain.best_pattern == "hook:question|pace:fast" and plain.best_reason == "highest posterior mean (4.00%)"
    recs = pd.DataFrame({"pattern_hash": ["hook:text|pace:slow"], "rank": [1], "reason": ["promising (n = 80)"]})
    ranked = summarise_test_loop(posteriors(), recs)
    assert (ranked.best_pattern, ranked.best_reason) == ("hook:text|pace:slow", "promising (n = 80)")


def test_markdown_page_has_a_headline_sections_full_sentences_and_the_test_loop() -> None:
    rows = overview_rows([SourceResults("#nutrition", "hashtag", "acme__nutrition", ("16-30s",), intelligence())])
    page = overview_markdown("Acme", "acme", rows, None)
    assert page.startswith("# Acme (`acme`)\n\n1 of 5 source × bucket partitions analysed, 1 with claims")
    assert "## #nutrition (`acme__nutrition`)" in page and f"- **16-30s**: {TEXT_HOOK}" in page
    assert "not materialised (no `pattern_posteriors` for this client yet)" in page
    page = overview_markdown("Acme", "acme", rows, summarise_test_loop(posteriors(), None))
    assert "- clicks: 200, conversions: 7" in page and "- best pattern: `hook:question|pace:fast`" in page


def test_asset_reads_the_stored_partitions_of_its_client(tmp_path: Path, instance: dg.DagsterInstance) -> None:
    home = tmp_path / "home"
    write_parquet_atomic(intelligence(), asset_path(home, "bucket_intelligence", "glowfuel__nutrition"))
    write_parquet_atomic(intelligence().head(0), asset_path(home, "bucket_intelligence", "glowfuel__mealprep"))
    write_parquet_atomic(posteriors(), asset_path(home, "pattern_posteriors", "glowfuel"))
    result = dg.materialize(
        [client_overview],
        partition_key="glowfuel",
        instance=instance,
        resources={
            "registry": ClientRegistry(path=str(SAMPLE_CLIENTS_FILE)),
            "io_manager": ParquetIOManager(home=str(home)),
        },
    )
    assert result.success
    [event] = result.asset_materializations_for_node("client_overview")
    meta = {k: v.value for k, v in event.metadata.items()}
    assert meta["sources"] == 4  # two hashtags, two competitors
    assert meta["buckets_analysed"] == 3 and meta["buckets_with_claims"] == 1 and meta["claims"] == 3
    assert meta["not_materialised"] == "glowfuel__at-greenbites, glowfuel__at-preppro"
    assert meta["test_loop"] == "2 patterns" and "- clicks: 200, conversions: 7" in meta["overview"]
    assert TEXT_HOOK in meta["overview"]
    stored = read_asset(home, "client_overview", "glowfuel")
    assert len(stored) == 20 and set(stored["client_hashtag"]) == {
        "glowfuel__nutrition",
        "glowfuel__mealprep",
        "glowfuel__at-greenbites",
        "glowfuel__at-preppro",
    }
