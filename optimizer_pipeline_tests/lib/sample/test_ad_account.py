"""The sample ad account: canonical rows, deterministic per seed and per ad, planted truths visible in the aggregates
within their sampling error, over-dispersion as documented, and daily generic exports that read back unchanged."""

from __future__ import annotations

import dataclasses
import math
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from optimizer_pipeline.lib.ads.export_files import read_export_files
from optimizer_pipeline.lib.ads.export_schema import AD_PERFORMANCE_COLUMNS, AD_PERFORMANCE_DTYPES
from optimizer_pipeline.lib.decisions.experiment_registry import load_experiments, parse_experiments
from optimizer_pipeline.lib.decisions.overdispersion import between_day_vif
from optimizer_pipeline.lib.decisions.srm import srm_check
from optimizer_pipeline.lib.registry.clients import SAMPLE_CLIENTS_FILE
from optimizer_pipeline.lib.sample.ad_account import (
    BASE_CTR,
    BASE_CVR,
    DEFAULT_CTR_VIF,
    DEFAULT_DAILY_IMPRESSIONS,
    PLANTED_ARMS,
    AdAccountError,
    PlantedArm,
    day_noise_sigma,
    generate_ad_account,
    ground_truth,
    write_daily_exports,
)

SAMPLE = SAMPLE_CLIENTS_FILE.parent / "glowfuel_experiments.yaml"
EXPERIMENTS = load_experiments(SAMPLE)
START = date(2026, 11, 1)
LONG_DAYS = 728  # two years: enough conversions for the CPA ratio to sit within about 10 % (4 standard errors)
Z = 4.0  # tolerance in standard errors: a correct generator fails a check with probability about 6e-5


@pytest.fixture(scope="module")
def long_account() -> pd.DataFrame:
    return generate_ad_account(EXPERIMENTS, start=START, days=LONG_DAYS, seed=11)


def totals(frame: pd.DataFrame) -> pd.DataFrame:
    cols = ["impressions", "clicks", "conversions", "spend", "revenue"]
    return frame.groupby("ad_id")[cols].sum().astype(float)


def vif_of(frame: pd.DataFrame) -> float:
    return between_day_vif(frame, successes="clicks", trials="impressions").raw


def test_rows_columns_and_scale() -> None:
    frame = generate_ad_account(EXPERIMENTS, start=START, days=28, seed=3)
    assert list(frame.columns) == list(AD_PERFORMANCE_COLUMNS)
    assert {c: str(t) for c, t in frame.dtypes.items()} == dict(AD_PERFORMANCE_DTYPES)
    ads = [a for e in EXPERIMENTS for a in e.ad_ids]
    assert ads == [f"glowfuel-ad-{i:02d}" for i in range(1, 9)]
    expected = [(a, START + timedelta(days=d)) for a in sorted(ads) for d in range(28)]
    assert list(zip(frame["ad_id"], frame["date"], strict=True)) == expected
    assert set(frame["platform"]) == {"generic"} and set(frame["currency"]) == {"USD"}
    assert (
        frame.loc[frame["ad_id"] == "glowfuel-ad-02", "ad_name"].iloc[0] == "hook-question-vs-statement / question-hook"
    )
    # a small brand: a few thousand to about 20k impressions per ad and day, CPM about $8-12
    imp = frame["impressions"].astype(float)
    assert imp.min() > 3_000 and imp.quantile(0.99) < 25_000 and 10_000 < imp.median() < 14_000
    cpm = 1000 * frame["spend"].astype(float) / imp
    assert cpm.min() > 6 and cpm.max() < 15


def test_weekend_dip(long_account: pd.DataFrame) -> None:
    weekend = pd.Series([d.weekday() >= 5 for d in long_account["date"]])
    imp = long_account["impressions"].astype(float)
    ratio = imp[weekend].mean() / imp[~weekend].mean()
    # per-day volume noise is log-normal sigma 0.15 (CV 15 %); 208 weekend and 520 weekday days per ad, 8 ads, but
    # the arms of one experiment share it: 4 independent experiments
    se = 0.15 * math.sqrt(1 / (4 * 208) + 1 / (4 * 520))
    assert abs(math.log(ratio) - math.log(0.8)) < Z * se


def test_deterministic_for_a_seed() -> None:
    a = generate_ad_account(EXPERIMENTS, start=START, days=14, seed=5)
    b = generate_ad_account(EXPERIMENTS, start=START, days=14, seed=5)
    pd.testing.assert_frame_equal(a, b)
    c = generate_ad_account(EXPERIMENTS, start=START, days=14, seed=6)
    assert not a["clicks"].equals(c["clicks"])


def test_rows_depend_only_on_their_ad_experiment_and_date() -> None:
    full = generate_ad_account(EXPERIMENTS, start=START, days=21, seed=9)
    alone = generate_ad_account(EXPERIMENTS[2:3], start=START, days=21, seed=9)
    pd.testing.assert_frame_equal(alone, full[full["ad_id"].isin(EXPERIMENTS[2].ad_ids)].reset_index(drop=True))
    shorter = generate_ad_account(EXPERIMENTS, start=START + timedelta(days=5), days=7, seed=9)
    window = full[[START + timedelta(days=5) <= d < START + timedelta(days=12) for d in full["date"]]]
    pd.testing.assert_frame_equal(shorter, window.reset_index(drop=True))


def test_no_impossible_values(long_account: pd.DataFrame) -> None:
    f = long_account
    assert not f[list(AD_PERFORMANCE_COLUMNS)].drop(columns="frequency").isna().any().any()
    for c in ("impressions", "reach", "clicks", "conversions", "spend", "revenue"):
        assert (f[c] >= 0).all(), c
    assert (f["clicks"] <= f["impressions"]).all()
    assert (f["conversions"] <= f["clicks"]).all()
    assert (f["reach"] <= f["impressions"]).all() and (f["reach"] >= 1).all()
    assert f["frequency"].between(1.09, 1.81).all()
    assert ((f["revenue"] > 0) == (f["conversions"] > 0)).all()
    for c in ("spend", "revenue"):  # whole cents
        cents = f[c].astype(float) * 100
        assert np.allclose(cents, np.rint(cents), atol=1e-6), c


def log_ratio_se(a: pd.Series, b: pd.Series, numerator: str, denominator: str, vif: float = 1.0) -> float:
    """se of log((num_b/den_b) / (num_a/den_a)) for binomial counts inflated by vif (delta method)."""
    pa, pb = a[numerator] / a[denominator], b[numerator] / b[denominator]
    return math.sqrt(vif * ((1 - pa) / a[numerator] + (1 - pb) / b[numerator]))


def test_planted_ctr_winner_and_aa_pair(long_account: pd.DataFrame) -> None:
    t = totals(long_account)
    for control, variant, truth in (("01", "02", 1.30), ("03", "04", 1.0), ("07", "08", 1.20)):
        a, b = t.loc[f"glowfuel-ad-{control}"], t.loc[f"glowfuel-ad-{variant}"]
        pair = long_account[long_account["ad_id"].isin([a.name, b.name])]
        se = log_ratio_se(a, b, "clicks", "impressions", vif_of(pair))
        ratio = (b["clicks"] / b["impressions"]) / (a["clicks"] / a["impressions"])
        assert abs(math.log(ratio) - math.log(truth)) < Z * se, (control, variant, ratio)
    base = t.loc["glowfuel-ad-01"]
    ctr_se = math.sqrt(vif_of(long_account[long_account["ad_id"] == "glowfuel-ad-01"]) / base["clicks"])
    assert abs(math.log(base["clicks"] / base["impressions"] / BASE_CTR)) < Z * ctr_se


def test_planted_sample_ratio_mismatch_with_equal_rates(long_account: pd.DataFrame) -> None:
    t = totals(long_account)
    a, b = t.loc["glowfuel-ad-05"], t.loc["glowfuel-ad-06"]
    n = a["impressions"] + b["impressions"]
    share = a["impressions"] / n
    assert abs(share - 0.65) < Z * math.sqrt(0.65 * 0.35 / n)
    # equal rates: CVR (the primary metric) and CTR
    assert abs(math.log((b["conversions"] / b["clicks"]) / (a["conversions"] / a["clicks"]))) < Z * log_ratio_se(
        a, b, "conversions", "clicks"
    )
    pair = long_account[long_account["ad_id"].isin([a.name, b.name])]
    ctr_se = log_ratio_se(a, b, "clicks", "impressions", vif_of(pair))
    assert abs(math.log((b["clicks"] / b["impressions"]) / (a["clicks"] / a["impressions"]))) < Z * ctr_se
    # the project's SRM check flags it within 4 weeks; healthy splits pass it even after two years
    four_weeks = totals(generate_ad_account(EXPERIMENTS, start=START, days=28, seed=11))
    srm = srm_check(four_weeks.loc[["glowfuel-ad-05", "glowfuel-ad-06"], "impressions"].tolist(), [0.5, 0.5])
    assert srm.mismatch
    for pair_ids in (("01", "02"), ("03", "04"), ("07", "08")):
        counts = t.loc[[f"glowfuel-ad-{i}" for i in pair_ids], "impressions"].tolist()
        assert not srm_check(counts, [0.5, 0.5]).mismatch, pair_ids
    reach = long_account.groupby("ad_id")["reach"].sum().astype(float)
    reach_share = reach["glowfuel-ad-05"] / (reach["glowfuel-ad-05"] + reach["glowfuel-ad-06"])
    assert abs(reach_share - share) < 1e-3  # one frequency per experiment and day: reach splits as impressions do


def test_planted_guardrail_breach(long_account: pd.DataFrame) -> None:
    t = totals(long_account)
    a, b = t.loc["glowfuel-ad-07"], t.loc["glowfuel-ad-08"]
    cpa_ratio = (b["spend"] / b["conversions"]) / (a["spend"] / a["conversions"])
    # conversions per impression ~ binomial with p ~ 5e-4 (the CVR's day noise adds under 1 %), so the log CPA ratio
    # has se ~ sqrt(1/c_a + 1/c_b); the spend ratio is nearly exact (one CPM per experiment and day)
    se = math.sqrt(1 / a["conversions"] + 1 / b["conversions"])
    assert abs(math.log(cpa_ratio) - math.log(1 / (1.2 * 0.6))) < Z * se, cpa_ratio
    cpm = 1000 * t["spend"] / t["impressions"]
    assert abs(cpm["glowfuel-ad-08"] / cpm["glowfuel-ad-07"] - 1) < 0.002  # the same cost per impression
    cvr_ratio = (b["conversions"] / b["clicks"]) / (a["conversions"] / a["clicks"])
    assert abs(math.log(cvr_ratio) - math.log(0.6)) < Z * log_ratio_se(a, b, "conversions", "clicks")
    aov = t["revenue"].sum() / t["conversions"].sum()
    assert abs(aov / 45 - 1) < Z * math.sqrt(math.expm1(0.4**2) / t["conversions"].sum())


def test_day_noise_sigma_gives_the_target_vif_at_typical_volume() -> None:
    """Simulation of the mixture the generator draws from, at a constant typical volume: between_day_vif ~ 2."""
    sigma = day_noise_sigma(DEFAULT_CTR_VIF, DEFAULT_DAILY_IMPRESSIONS)
    assert sigma == pytest.approx(0.0743, abs=5e-4)
    rng = np.random.default_rng(2)
    days = 6000
    rate = BASE_CTR * np.exp(sigma * rng.standard_normal(days) - sigma**2 / 2)
    clicks = rng.binomial(DEFAULT_DAILY_IMPRESSIONS, rate)
    daily = pd.DataFrame({"ad_id": "a", "successes": clicks, "trials": DEFAULT_DAILY_IMPRESSIONS})
    vif = between_day_vif(daily).raw
    assert abs(vif - DEFAULT_CTR_VIF) < Z * DEFAULT_CTR_VIF * math.sqrt(2 / (days - 1))
    assert day_noise_sigma(1.0, 5000) == 0.0


def expected_between_day_vif(frame: pd.DataFrame, sigma: float) -> float:
    """Pooled E[Pearson chi^2 / df] of the generator's model: per ad, (D - 1) + sum_d (n_d - 1) p kappa / (1 - p)
    x (1 - 2 n_d / N + sum n^2 / N^2), the extra term the day multiplier adds around the ad's own pooled rate."""
    kappa = math.expm1(sigma**2)
    ctr = {f"glowfuel-ad-{i:02d}": BASE_CTR for i in range(1, 9)} | {
        "glowfuel-ad-02": BASE_CTR * 1.3,
        "glowfuel-ad-08": BASE_CTR * 1.2,
    }
    chi2, df = 0.0, 0
    for ad, rows in frame.groupby("ad_id"):
        n = rows["impressions"].to_numpy(dtype=float)
        total, p = n.sum(), ctr[ad]
        chi2 += (
            len(n) - 1 + p * kappa / (1 - p) * float(np.sum((n - 1) * (1 - 2 * n / total + np.sum(n**2) / total**2)))
        )
        df += len(n) - 1
    return chi2 / df


def test_between_day_vif_of_the_account_matches_the_model(long_account: pd.DataFrame) -> None:
    expected = expected_between_day_vif(long_account, day_noise_sigma(DEFAULT_CTR_VIF, DEFAULT_DAILY_IMPRESSIONS))
    assert 2.0 < expected < 2.15  # busier and higher-CTR arms push the account a little above the target 2
    measured = between_day_vif(long_account, successes="clicks", trials="impressions")
    assert abs(measured.raw - expected) < Z * expected * math.sqrt(2 / measured.df), (measured.raw, expected)


def test_ground_truth_of_the_sample() -> None:
    truth = ground_truth(EXPERIMENTS)
    assert list(truth.columns) == ["experiment_id", "primary_metric", "expected_decision", "why"]
    assert dict(zip(truth["experiment_id"], truth["expected_decision"], strict=True)) == {
        "hook-question-vs-statement": "promote question-hook",
        "aa-same-creative": "no winner",
        "cta-shop-vs-learn": "blocked-srm",
        "price-anchor-offer": "blocked-guardrail",
    }
    assert "1.39" in truth.loc[3, "why"] and "65%" in truth.loc[2, "why"]


UNKNOWN = """
experiments:
  - id: new-thumbnail
    hypothesis: A brighter thumbnail lifts CTR.
    variants:
      - {name: control, ad_ids: ["x-1"], control: true}
      - {name: bright, ad_ids: ["x-2", "x-3"]}
    primary_metric: ctr
    start: 2026-11-01T00:00:00Z
    status: running
"""


def test_unknown_experiment_gets_neutral_arms() -> None:
    experiments = parse_experiments(yaml.safe_load(UNKNOWN), "test")
    frame = generate_ad_account(experiments, start=START, days=364, seed=4)
    t = totals(frame)
    n = t["impressions"].sum()
    share = t.loc["x-1", "impressions"] / n  # the variant's half is shared by its two ads
    assert abs(share - 0.5) < Z * math.sqrt(0.25 / n)
    assert abs(t.loc["x-2", "impressions"] / n - 0.25) < Z * math.sqrt(0.25 * 0.75 / n)
    ctr = t["clicks"] / t["impressions"]
    se = math.sqrt(vif_of(frame) / t["clicks"].min())
    assert (np.abs(np.log(ctr / BASE_CTR)) < Z * se).all()
    cvr = t["conversions"] / t["clicks"]
    assert (np.abs(np.log(cvr / BASE_CVR)) < Z / np.sqrt(t["conversions"])).all()
    assert ground_truth(experiments)["expected_decision"].tolist() == ["no winner"]


def test_daily_exports_round_trip_and_rerun(tmp_path: Path) -> None:
    frame = generate_ad_account(EXPERIMENTS, start=START, days=10, seed=8)
    paths = write_daily_exports(frame, tmp_path / "inbox")
    assert [p.name for p in paths] == [f"ads-{START + timedelta(days=d)}.csv" for d in range(10)]
    assert sorted(p.name for p in (tmp_path / "inbox").iterdir()) == [p.name for p in paths]  # no temp files left
    assert paths[0].read_text().splitlines()[0] == ",".join(c for c in AD_PERFORMANCE_COLUMNS if c != "platform")
    read = read_export_files(paths)
    assert read.rejected.empty
    assert set(read.files["export_format"]) == {"generic"}
    pd.testing.assert_frame_equal(read.rows[list(AD_PERFORMANCE_COLUMNS)], frame)
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in paths}
    again = write_daily_exports(frame, tmp_path / "inbox")
    assert again == paths
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in again} == before  # identical bytes, not rewritten
    other = write_daily_exports(frame, tmp_path / "other", prefix="glowfuel")
    assert [p.read_bytes() for p in other] == [b for b, _ in before.values()]


def test_changed_day_is_rewritten(tmp_path: Path) -> None:
    frame = generate_ad_account(EXPERIMENTS, start=START, days=2, seed=8)
    first = write_daily_exports(frame, tmp_path)
    revised = frame.copy()
    revised.loc[revised["date"] == START, "spend"] += 1.0
    write_daily_exports(revised, tmp_path)
    read = read_export_files(first)
    pd.testing.assert_frame_equal(read.rows[list(AD_PERFORMANCE_COLUMNS)], revised)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"days": 0}, "days must be"),
        ({"experiments": []}, "at least one experiment"),
        ({"ctr_vif": 0.5}, "ctr_vif"),
        ({"daily_impressions": 0}, "daily_impressions"),
        ({"experiments": EXPERIMENTS + EXPERIMENTS[:1]}, "one ad, one test"),
        ({"planted": {("cta-shop-vs-learn", "control"): PlantedArm(delivered_share=0.6)}}, "set all or none"),
        (
            {"planted": {("aa-same-creative", n): PlantedArm(delivered_share=0.7) for n in ("control", "copy")}},
            "sum to 1",
        ),
        ({"planted": {("aa-same-creative", "copy"): PlantedArm(ctr=0.0)}}, "multipliers"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    args = {"experiments": EXPERIMENTS, "start": START, "days": 3, "seed": 1} | kwargs
    experiments = args.pop("experiments")
    with pytest.raises(AdAccountError, match=message):
        generate_ad_account(experiments, **args)


def test_bad_exports(tmp_path: Path) -> None:
    frame = generate_ad_account(EXPERIMENTS[:1], start=START, days=1, seed=1)
    with pytest.raises(AdAccountError, match="lacks ad_performance column"):
        write_daily_exports(frame.drop(columns="clicks"), tmp_path)
    for prefix in ("", ".hidden", "a/b"):
        with pytest.raises(AdAccountError, match="prefix"):
            write_daily_exports(frame, tmp_path, prefix=prefix)
    with pytest.raises(AdAccountError, match=r"datetime\.date"):
        write_daily_exports(frame.assign(date="2026-11-01"), tmp_path)


def test_planted_table_is_keyed_by_the_sample_registry() -> None:
    variants = {(e.id, v.name) for e in EXPERIMENTS for v in e.variants}
    assert set(PLANTED_ARMS) <= variants  # no stale key: a renamed experiment or variant fails here
    assert dataclasses.asdict(PLANTED_ARMS[("price-anchor-offer", "anchored-price")]) == {
        "ctr": 1.2,
        "cvr": 0.6,
        "delivered_share": None,
    }
