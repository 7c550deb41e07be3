"""CI runs the benchmarks only in quick mode: they must run and report their figures (timings are not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys

from optimizer_pipeline_tests.shared_data import REPO_ROOT, shared_data


def _run(script: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_features_benchmark_quick_reports_every_bar():
    shared_data("short_videos", "pyscenedetect", "testvideo.mp4")
    out = _run("features.py", "--quick", "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    bars = {b["bar"]: b for b in report["bars"]}
    assert {"extraction speed vs real time", "extraction speed / raw decode speed"} <= set(bars)
    assert report["cuts"]["ours_testvideo_cuts"] == [30, 180, 394]
    assert report["throughput"]["planted_cut_recall"] == 1.0


def test_events_benchmark_quick_matches_pandas_and_reports_every_bar():
    # small sizes: the run asserts identical results with the pandas implementation (a mismatch exits with a
    # traceback and no JSON); the timing bars are only reported (0 = all pass, 1 = a bar missed on this machine)
    out = _run("events.py", "--quick", "--events", "40000", "--small", "10000", "--json")
    assert out.returncode in (0, 1), out.stderr[-2000:]
    report = json.loads(out.stdout)
    checks = report["checks"]
    assert checks["identical_results"] is True
    assert {"faster_than_pandas", "peak_rss_le_2gb", "linear_le_1.25"} <= set(checks)
    assert any(k.startswith("duckdb_40000_le_") for k in checks)
    rows = {(r["events"], r["impl"]): r for r in report["rows"]}
    assert {impl for _, impl in rows} == {"duckdb", "pandas"} and len(rows) == 4
    for (_, impl), r in rows.items():  # both implementations attributed the same orders
        twin = rows[(r["events"], "pandas" if impl == "duckdb" else "duckdb")]
        assert (r["orders"], r["unattributed"]) == (twin["orders"], twin["unattributed"]) and r["orders"] > 0


def test_bandit_benchmark_quick_reports_every_bar():
    upworthy = shared_data("upworthy_exploratory", "upworthy_exploratory_packages.parquet")
    obd = shared_data("open_bandit_dataset_sample")
    out = _run("bandit.py", "--quick", "--json", "--upworthy", str(upworthy), "--obd", str(obd))
    assert out.returncode in (0, 1), out.stderr[-2000:]
    report = json.loads(out.stdout)
    assert {"regret_pct_of_oracle", "clicks_lost_vs_equal_split_pct", "ours_us_per_decision"} <= set(report)
    assert {"decision_us_le_100", "regret_lt_15pct", "lost_vs_equal_le_minus_30pct"} <= set(report["checks"])
    pol = report["upworthy"]["policies"]
    assert pol["equal_split"]["clicks_lost_vs_equal_split_pct"] == 0.0  # the reference of that column
    assert 0 < pol["thompson_ours_eb_prior"]["regret_pct_of_oracle"] < pol["equal_split"]["regret_pct_of_oracle"]
    assert report["upworthy"]["tests"] == 100 and report["upworthy"]["tests_available"] > 100
    assert set(report["obd_ope"]) == {"all", "men", "women"}
    for r in report["obd_ope"].values():
        assert 0 <= r["thompson_snips"] <= 1 and r["rows_eval"] > 0
    # ours is the reshaped Thompson sampler; the comparators are replayed on the same tests with the same seed
    assert report["regret_pct_of_oracle"] == pol["thompson_reshaped_eb_prior"]["regret_pct_of_oracle"]
    assert report["epsilon_greedy_regret_pct_of_oracle"] == pol["epsilon_greedy_0.1"]["regret_pct_of_oracle"]
    assert 0 < report["epsilon_greedy_regret_pct_of_oracle"] < pol["equal_split"]["regret_pct_of_oracle"]
    assert {"regret_le_epsilon_greedy", "regret_le_mabwiser"} <= set(report["checks"])
    assert "mabwiser_regret_pct_of_oracle" in report
    if report["mabwiser_regret_pct_of_oracle"] is None:
        assert report["checks"]["regret_le_mabwiser"] is None and "mabwiser_note" in report["upworthy"]
    else:
        assert report["mabwiser_regret_pct_of_oracle"] > 0 and report["mabwiser_tests"] == 20
    assert set(report["upworthy"]["sharpness"]["picked_per_fold"]) <= set(report["upworthy"]["sharpness"]["grid"])
    for key in ("drift_regret_pct_discounted", "drift_regret_pct_stationary"):
        assert 0 < report[key] < 100
    # creative fatigue: the discount is picked on training runs from its grid, and the bar is a checked pass/fail
    assert report["drift"]["discount"] in (0.995, 0.99, 0.98, 0.95)
    assert report["checks"]["drift_discounted_beats_stationary"] == report["drift_discounted_beats_stationary"]


def test_calibration_benchmark_quick_reports_every_figure():
    out = _run("calibration.py", "--quick", "--json")
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    keys = {
        "maturity_bias",
        "zero_conversion_coverage",
        "influencer_coverage",
        "bucket_null_verdict_rate",
        "beats_baseline_null_rate",
        "proxy_fdr",
    }
    assert keys <= set(report) and set(report["parts"]) == keys
    for key, part in report["parts"].items():
        assert part["key"] == key and isinstance(part["value"], float), part
        assert {"target", "passed", "before", "detail", "seconds"} <= set(part)
    # quick replicates carry more Monte-Carlo error than the full run, so these bars are looser than the targets
    assert abs(report["maturity_bias"]) <= 0.15
    assert report["zero_conversion_coverage"] >= 0.9
    assert report["influencer_coverage"] >= 0.9
    assert report["bucket_null_verdict_rate"] <= 0.1
    assert report["beats_baseline_null_rate"] <= 0.1
    assert report["proxy_fdr"] <= 0.15


def test_aa_benchmark_quick_reports_every_bar():
    from optimizer_pipeline_tests.shared_data import shared_data_root

    upworthy = shared_data_root() / "upworthy_exploratory" / "upworthy_exploratory_packages.parquet"
    hillstrom = shared_data_root() / "hillstrom_email_experiment" / "hillstrom.csv.gz"
    out = _run("aa.py", "--quick", "--json", "--upworthy", str(upworthy), "--hillstrom", str(hillstrom))
    assert out.returncode == 0, out.stderr[-2000:]  # quick only reports; a mismatch with compare_variants raises
    report = json.loads(out.stdout)
    bars = {b["bar"]: b for b in report["bars"]}
    assert len(bars) == 5 and all(set(b) == {"bar", "value", "target", "pass"} for b in bars.values())
    speed = report["decision_speed"]
    assert speed["experiments"] == 200 and speed["speedup_vs_replay"] > 1  # timing reported, not judged in CI
    # 300 quick simulations: MC SE about 1.3 points at 5 %, so the ranges are loose; the naive test peeks 120 times
    assert 0.0 <= report["aa_false_winner_rate"] <= 0.09 and 0.0 < report["aa_mc_se"] < 0.02
    assert report["aa_overdispersed_false_winner_rate"] <= 0.10
    assert report["aa_false_winner_rate_naive"] >= 0.2 and report["aa_overdispersed_false_winner_rate_naive"] >= 0.4
    for part in report["simulated_aa"].values():
        assert part["engine_checked_sims"] > 0  # vectorised decisions were replayed through compare_variants
    assert 1.0 < report["sample_size_ratio_for_80pct_power"] <= 1.6
    power = report["power_at_fixed_horizon_n"]
    assert 0.3 <= power["ours"] <= power["fixed"] <= 0.95
    assert report["median_time_to_correct_decision"]["days"] <= report["days"]
    upworthy_keys = ("upworthy_pairs", "upworthy_false_winner_rate", "upworthy_false_winner_rate_naive", "upworthy_vif")
    if not upworthy.exists():
        assert all(report[k] is None for k in upworthy_keys) and "skipped" in report["upworthy"]
    if not hillstrom.exists():
        assert report["hillstrom_ordering_found"] is None and "skipped" in report["hillstrom"]
    if not (upworthy.exists() and hillstrom.exists()):
        shared_data("upworthy_exploratory", "upworthy_exploratory_packages.parquet")  # skips, or fails when required
        shared_data("hillstrom_email_experiment", "hillstrom.csv.gz")
    assert report["upworthy_pairs"] == 120 and report["upworthy"]["pairs_available"] == 441
    assert report["upworthy_false_winner_rate"] <= 0.08 < 0.2 <= report["upworthy_false_winner_rate_naive"]
    assert all(1.5 <= v <= 3.5 for v in report["upworthy_vif"].values())
    assert report["hillstrom_ordering_found"] is True
