"""The test loop's runtime assets through Dagster: inbox files → conversion_events → attributed_conversions →
pattern_posteriors → test_recommendations, checked against the sample generator's truth."""

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from scipy import stats

from optimizer_pipeline.cli.materialize import materialization_metadata
from optimizer_pipeline.defs.testloop import posteriors
from optimizer_pipeline.defs.testloop.conversions import attributed_conversions, conversion_events
from optimizer_pipeline.defs.testloop.inbox import RUNTIME_ASSETS, conversion_loop_job
from optimizer_pipeline.lib.sample.events import generate_events, write_inbox_batch
from optimizer_pipeline.partitions import CLIENT
from optimizer_pipeline.resources.inbox import ConversionInbox
from optimizer_pipeline.resources.parquet_io import ParquetIOManager
from optimizer_pipeline.resources.pii import PiiVault
from optimizer_pipeline.resources.registry import ClientRegistry

START = datetime(2026, 2, 2, tzinfo=UTC)
PATTERNS = [
    f"hook:{h}|emo:{e}|pace:medium|pain:{p}|cta:link_in_bio"
    for h in ("question", "pov", "tutorial", "story")
    for e in ("curiosity", "trust")
    for p in ("no_time", "budget")
]
REGISTRY = """
clients:
  - name: Acme
    hashtags: [fitness]
    test_loop: {{min_clicks: 100, min_days: 7, top_n: 3, seed: 11, attribution_window_days: 7{extra}}}
"""


def traffic_table(patterns: list[str] = PATTERNS, per_pattern: int = 3) -> pd.DataFrame:
    """The contract's traffic_sources columns, built by hand (the set-up part's asset is tested on its own)."""
    rows = []
    for i, p in enumerate(patterns):
        for j in range(per_pattern):
            utm = f"t{i:02d}{j}x7q"
            rows.append(
                {
                    "utm_id": utm,
                    "client": "acme",
                    "influencer": f"creator{i}{j}",
                    "creative_id": f"cr{i:02d}",
                    "pattern_hash": p,
                    "utm_link": f"https://acme.example/?utm_source=influencer&utm_id={utm}",
                    "status": "posted",
                    "assigned_at": pd.Timestamp("2026-01-20", tz="UTC"),
                }
            )
    return pd.DataFrame(rows)


def stub_traffic_sources(table: pd.DataFrame) -> dg.AssetsDefinition:
    @dg.asset(name="traffic_sources", partitions_def=CLIENT)
    def traffic_sources() -> pd.DataFrame:
        return table

    return traffic_sources


class Loop:
    """A home with a registry, an inbox and a Dagster instance that has the client partition."""

    def __init__(self, home: Path, instance: dg.DagsterInstance, traffic: pd.DataFrame, extra: str = ""):
        self.home, self.instance = home, instance
        (home / "clients.yaml").write_text(REGISTRY.format(extra=extra))
        self.inbox = home / "inbox" / "acme"
        self.resources = {
            "io_manager": ParquetIOManager(home=str(home)),
            "registry": ClientRegistry(path=str(home / "clients.yaml")),
            "inbox": ConversionInbox(home=str(home), settle_seconds=0),
            "pii": PiiVault(home=str(home)),
        }
        self.assets = [
            stub_traffic_sources(traffic),
            conversion_events,
            attributed_conversions,
            posteriors.pattern_posteriors,
            posteriors.test_recommendations,
        ]
        self.run(("traffic_sources",))

    def run(self, selection: tuple[str, ...] = RUNTIME_ASSETS) -> dict[str, dict]:
        result = dg.materialize(
            self.assets,
            selection=list(selection),
            partition_key="acme",
            instance=self.instance,
            resources=self.resources,
        )
        assert result.success
        return materialization_metadata(result)

    def table(self, asset: str) -> pd.DataFrame:
        return pd.read_parquet(self.path(asset))

    def path(self, asset: str) -> Path:
        return self.home / "data" / asset / "acme.parquet"


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions("client", ["acme"])
        yield inst


@pytest.fixture(scope="module")
def sample_loop(tmp_path_factory):
    """One generated inbox, materialised once; the tests only read it (the replay test re-runs it unchanged)."""
    with dg.instance_for_test() as inst:
        inst.add_dynamic_partitions("client", ["acme"])
        loop = Loop(tmp_path_factory.mktemp("loop"), inst, traffic_table())
        files, truth = generate_events(traffic_table(), seed=21, visitors_per_source=120, start=START, days=12)
        write_inbox_batch(loop.inbox, files)
        yield loop, truth, loop.run()


def test_accounting_equals_the_planted_truth(sample_loop):
    loop, truth, meta = sample_loop
    ev = meta["conversion_events"]
    e = truth["events"]
    assert [ev[k] for k in ("read", "accepted", "rejected", "duplicates", "ignored")] == [
        e["read"],
        e["accepted"],
        e["rejected"],
        e["duplicates"],
        e["ignored"],
    ]
    assert ev["files"] == len(truth["files"]) and ev["status"] == "ok; 5 malformed lines quarantined"
    assert "user_id_hash" not in ev["preview"] and "anonymous_id" not in ev["preview"]
    # malformed lines are quarantined with file, line and reason, and without personal data in clear
    rejected = loop.table("conversion_events_rejected")
    assert rejected["reason"].value_counts().to_dict() == truth["rejected_reasons"]
    assert (rejected["file"] == sorted(truth["files"])[0]).all() and rejected["line"].tolist() == [4, 5, 6, 7, 8]
    raw = " ".join(rejected["raw"])
    assert "leak-42" not in raw and "jane" not in raw.lower() and "hmac:" in raw
    # attribution: orders and clicks per traffic source
    att = meta["attributed_conversions"]
    assert att["attributed_orders"] == truth["orders"]["attributed"]
    assert att["unattributed_orders"] == truth["orders"]["unattributed"]
    assert att["orders"] == truth["orders"]["attributed"] + truth["orders"]["unattributed"]
    daily = loop.table("attributed_conversions")
    per_source = daily.groupby("utm_id")[["clicks", "page_views", "converters", "orders"]].sum().to_dict("index")
    assert per_source == truth["sources"]
    # patterns: observed counts are the truth's
    post = loop.table("pattern_posteriors").set_index("pattern_hash")
    for p, t in truth["patterns"].items():
        assert (post.loc[p, "clicks_observed"], post.loc[p, "conversions_observed"]) == (t["clicks"], t["converters"])
        assert post.loc[p, "traffic_sources"] == 3
    assert meta["pattern_posteriors"]["unknown_utm_ids"] == 0


def test_posteriors_are_the_closed_form_and_recover_the_planted_rates(sample_loop):
    loop, truth, meta = sample_loop
    m = meta["pattern_posteriors"]
    post = loop.table("pattern_posteriors")
    assert {"pattern_hash", "alpha", "beta", "mean", "ci_low", "ci_high", "clicks", "conversions", "p_best"} <= set(
        post.columns
    )
    a0, b0 = m["prior_alpha"], m["prior_beta"]  # rounded for display (4 significant digits)
    assert m["prior_method"] == "empirical_bayes" and 2 <= a0 + b0 <= 200
    # the prior is exact in the table: alpha - effective conversions (cluster-deflated mature counts) is alpha0
    a0_exact = float((post["alpha"] - post["effective_conversions"]).iloc[0])
    assert a0 == pytest.approx(a0_exact, rel=1e-3)
    b0_exact = float((post["beta"] - post["effective_clicks"] + post["effective_conversions"]).iloc[0])
    assert b0 == pytest.approx(b0_exact, rel=1e-3)
    a = a0_exact + post["effective_conversions"]
    b = b0_exact + post["effective_clicks"] - post["effective_conversions"]
    pd.testing.assert_series_equal(post["alpha"], a, check_names=False)
    pd.testing.assert_series_equal(post["beta"], b, check_names=False)
    pd.testing.assert_series_equal(post["ci_low"], pd.Series(stats.beta.ppf(0.025, a, b)), check_names=False)
    pd.testing.assert_series_equal(post["ci_high"], pd.Series(stats.beta.ppf(0.975, a, b)), check_names=False)
    assert post["p_best"].sum() == pytest.approx(1.0)
    # each 95 % interval misses with probability ~5-7 % (lib test: 6.7 % over 40 seeds), so misses among 16
    # patterns are ~Binomial(16, 0.07): P(misses >= 4) = 2 %; this seed must miss at most 3
    rate = post["pattern_hash"].map(truth["rates"])
    misses = int(((rate < post["ci_low"]) | (rate > post["ci_high"])).sum())
    assert misses <= 3, post.assign(rate=rate)[["pattern_hash", "ci_low", "ci_high", "rate"]]
    assert m["loo_patterns"] == 16 and 0 < m["loo_mae"] < 0.05 and 0.5 <= m["loo_hit_rate"] <= 1
    assert "data:image/png;base64," in m["posterior_plot"]
    # recommendations: top 3 by Thompson share, nothing in the zone (360 clicks, 12 days each), seed recorded
    rec = loop.table("test_recommendations")
    r = meta["test_recommendations"]
    assert len(rec) == 3 and rec["rank"].tolist() == [1, 2, 3] and (rec["seed"] == 11).all() and r["seed"] == 11
    assert not rec["in_ignorance_zone"].any() and rec["budget_share"].sum() == pytest.approx(1.0)
    best = post.sort_values("p_best").iloc[-1]["pattern_hash"]
    assert rec.iloc[0]["pattern_hash"] == best
    # Thompson selection frequency (10,000 decisions) estimates P(best) (40,000 joint draws): standard errors are
    # <= 0.005 and <= 0.0025, so the two agree within 0.02 (> 3.5 combined standard errors)
    p_best = post.set_index("pattern_hash")["p_best"]
    assert (rec["win_share"] - rec["pattern_hash"].map(p_best)).abs().max() < 0.02
    assert json.loads(json.dumps(r["budget_split"])) == dict(
        zip(rec["pattern_hash"], rec["budget_share"].round(4), strict=True)
    )


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_replaying_the_same_inbox_three_times_is_bit_identical(sample_loop):
    loop, _, _ = sample_loop
    assets = ["conversion_events", "attributed_conversions", "pattern_posteriors", "test_recommendations"]
    first = {a: sha(loop.path(a)) for a in assets}
    for _ in range(2):
        loop.run()
        assert {a: sha(loop.path(a)) for a in assets} == first
    # the same files delivered again under the same names (touched, re-written) change nothing either
    for p in sorted(loop.inbox.iterdir()):
        p.write_bytes(p.read_bytes())
    job = dg.Definitions(assets=loop.assets, jobs=[conversion_loop_job], resources=loop.resources)
    result = job.resolve_job_def("conversion_loop_job").execute_in_process(partition_key="acme", instance=loop.instance)
    assert result.success
    assert {a: sha(loop.path(a)) for a in assets} == first


def test_same_event_in_two_files_counts_once_and_unknown_sources_are_shown(tmp_path, instance):
    loop = Loop(tmp_path, instance, traffic_table(PATTERNS[:2], per_pattern=1))
    known = traffic_table(PATTERNS[:2], per_pattern=1)["utm_id"].iloc[0]
    view = {
        "messageId": "m-1",
        "type": "page",
        "anonymousId": "a1",
        "timestamp": "2026-02-03T10:00:00Z",
        "context": {"campaign": {"id": known}},
    }
    stray = {
        "messageId": "m-2",
        "type": "page",
        "anonymousId": "a2",
        "timestamp": "2026-02-03T11:00:00Z",
        "properties": {"utm_id": "not-a-source"},
    }
    loop.inbox.mkdir(parents=True)
    (loop.inbox / "a.jsonl").write_text(json.dumps(view) + "\n")
    (loop.inbox / "b.jsonl").write_text(json.dumps(view) + "\n" + json.dumps(stray) + "\n")
    meta = loop.run()
    ev = meta["conversion_events"]
    assert (ev["read"], ev["accepted"], ev["duplicates"], ev["rejected"]) == (3, 2, 1, 0)
    assert meta["attributed_conversions"]["clicks"] == 2
    m = meta["pattern_posteriors"]
    assert (m["unknown_utm_ids"], m["unknown_clicks"]) == (1, 1) and "not-a-source" in m["unknown_sources"]
    assert "1 unknown utm_id(s)" in m["status"]
    post = loop.table("pattern_posteriors").set_index("pattern_hash")
    assert post["clicks_observed"].to_dict() == {PATTERNS[0]: 1, PATTERNS[1]: 0}  # the stray click is not a pattern's


def test_empty_inbox_and_decay(tmp_path, instance):
    loop = Loop(tmp_path, instance, traffic_table(PATTERNS[:4], per_pattern=1), extra=", decay: 0.8")
    meta = loop.run()
    assert meta["conversion_events"]["status"].startswith("no event files in ")
    assert meta["attributed_conversions"]["status"] == "no orders yet"
    assert meta["pattern_posteriors"]["status"] == "no clicks yet: every posterior is the prior"
    rec = loop.table("test_recommendations")
    assert len(rec) == 4 and rec["in_ignorance_zone"].all()  # nothing tested yet: everything stays in the zone
    assert rec["reason"].str.startswith("under-explored (n = 0").all()

    files, _ = generate_events(
        traffic_table(PATTERNS[:4], per_pattern=1), seed=2, visitors_per_source=150, start=START, days=10
    )
    write_inbox_batch(loop.inbox, files)
    meta = loop.run()
    post = loop.table("pattern_posteriors")
    assert meta["pattern_posteriors"]["decay_per_day"] == 0.8
    assert (post["clicks"] < post["clicks_observed"]).all()  # old days count less
    assert post["alpha"].tolist() == pytest.approx(
        meta["pattern_posteriors"]["prior_alpha"] + post["effective_conversions"], rel=1e-3
    )
