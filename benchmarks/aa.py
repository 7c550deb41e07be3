"""A/A benchmark of the sequential decision (issue 13): false winners, power and real identical arms, all from one run.

    python benchmarks/aa.py [--upworthy PATH] [--hillstrom PATH] [--looks N] [--days D] [--sims S] [--json] [--quick]

Our method is the engine's own test, ``variant_comparison.compare_variants`` (metric "ctr", alpha 0.05, O'Brien-Fleming
spending over spend time look / looks, plans carried in ``SequentialState`` between looks); a winner is any look where
the variant is rejected at its boundary, in either direction. The naive test is the pooled two-proportion z-test at
fixed alpha 0.05 at every look. A look every 6 hours for 30 days (``--looks 120 --days 30``).

(a) Simulated A/A tests (CTR 2 %, 2,500 impressions per arm per look): false-winner rate with its Monte-Carlo standard
    error, binomial counts and over-dispersed counts (beta-binomial look increments, true VIF 2). Our method is given
    a VIF estimated per simulation from a separate simulated history (``between_day_vif``), as the engine does.
    Vectorised; a subset is replayed through ``compare_variants`` and must give identical decisions.
(b) Power on planted lifts (5, 10, 20 % on CTR 2 %). The fixed-horizon test is sized for 80 % power at a 10 % lift
    (``plan_proportions``); the sequential design's horizon (the sample of the 30-day test) is 1.5 x that n, and the
    1.2x and 2x horizons are shown too. ``sample_size_ratio_for_80pct_power`` = the per-arm sample by which ours has
    rejected (correct direction) in 80 % of simulations / the fixed test's n, at a 10 % lift (bar <= 1.6).
(c) Upworthy identical-arm pairs (same headline and image within a test, weeks 201325-201402 excluded), final counts
    split into looks by hypergeometric thinning; VIF per pair by cross-fitted empirical null over the other tests'
    within-test z-scores (never the pair itself). Bar: false-winner rate <= 5 %.
(d) Hillstrom e-mail test: conversion Mens > Womens > No E-Mail found by the fixed test with Holm and by ours.
(e) Speed: one look (``decide_look``) on 1,000 two-variant experiments with the previous look's stored state
    (``decide_1000_experiments_seconds``, bar <= 2 s), beside the same look with every earlier look replayed.

A full run exits 1 when a bar fails; ``--quick`` (CI) uses fewer simulations and the first 120 Upworthy pairs and only
reports. A missing data file skips its part ("skipped: <path> absent"); its bar is then not judged.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from aa_parts import real_data, simulated  # noqa: E402
from aa_parts.decision_speed import decision_speed  # noqa: E402

SHARED_DATA = HERE.parents[1] / "shared" / "data"  # ../shared/data beside the checkout
DEFAULT_UPWORTHY = SHARED_DATA / "upworthy_exploratory" / "upworthy_exploratory_packages.parquet"
DEFAULT_HILLSTROM = SHARED_DATA / "hillstrom_email_experiment" / "hillstrom.csv.gz"
SIMS, QUICK_SIMS = 10000, 300
ENGINE_CHECK, QUICK_ENGINE_CHECK = 40, 10
QUICK_PAIRS = 120
RATIO_BAR = 1.6
FALSE_WINNER_BAR = 0.05
EXPERIMENTS, QUICK_EXPERIMENTS = 1000, 200
SPEED_BAR = 2.0  # seconds for one look on a 1,000-experiment client


def run(args: argparse.Namespace) -> dict:
    """Every part's figures, the bars and the seconds each part took."""
    sims = args.sims or (QUICK_SIMS if args.quick else SIMS)
    check = QUICK_ENGINE_CHECK if args.quick else ENGINE_CHECK
    r: dict = {"quick": args.quick, "looks": args.looks, "days": args.days, "sims": sims, "seconds": {}}
    t0 = time.perf_counter()
    binom = simulated.aa_rates(sims, args.looks, args.days, 1, 1.0, check)
    over = simulated.aa_rates(sims, args.looks, args.days, 2, simulated.TRUE_VIF, check)
    r["seconds"]["simulated_aa"] = round(time.perf_counter() - t0, 1)
    r["simulated_aa"] = {"binomial": binom, "overdispersed": over}
    r.update(
        aa_false_winner_rate=binom["ours"],
        aa_false_winner_rate_naive=binom["naive"],
        aa_mc_se=binom["ours_mc_se"],
        aa_overdispersed_false_winner_rate=over["ours"],
        aa_overdispersed_false_winner_rate_naive=over["naive"],
    )
    t0 = time.perf_counter()
    pw = simulated.power(sims, args.looks, args.days, 3, check)
    r["seconds"]["power"] = round(time.perf_counter() - t0, 1)
    r["power"] = pw
    planned = pw["lifts"][f"{simulated.PLANNED_LIFT:g}"]
    r["power_at_fixed_horizon_n"] = {
        "ours": planned["ours_power_at_fixed_n"],
        "fixed": planned["fixed_power_simulated"],
        "fixed_planned": planned["fixed_power_planned"],
    }
    r["sample_size_ratio_for_80pct_power"] = pw["sample_size_ratio_for_80pct_power"]
    r["median_time_to_correct_decision"] = {
        "days": planned["ours_median_days_to_correct"],
        "sample_per_arm": planned["ours_median_sample_per_arm_to_correct"],
        "fixed_days": planned["fixed_days"],
        "fixed_sample_per_arm": pw["fixed_n_per_arm"],
    }
    t0 = time.perf_counter()
    if args.upworthy.exists():
        up = real_data.upworthy_replay(args.upworthy, args.looks, 4, QUICK_PAIRS if args.quick else None)
        r.update(
            upworthy_pairs=up["pairs"],
            upworthy_false_winner_rate=up["false_winner_rate"],
            upworthy_false_winner_rate_se=up["false_winner_rate_se"],
            upworthy_false_winner_rate_naive=up["false_winner_rate_naive"],
            upworthy_vif=up["vif_by_fold"],
        )
    else:
        up = {"skipped": f"skipped: {args.upworthy} absent"}
        r.update({k: None for k in ("upworthy_pairs", "upworthy_false_winner_rate", "upworthy_false_winner_rate_se",
                                    "upworthy_false_winner_rate_naive", "upworthy_vif")})  # fmt: skip
    r["upworthy"] = up
    r["seconds"]["upworthy"] = round(time.perf_counter() - t0, 1)
    t0 = time.perf_counter()
    if args.hillstrom.exists():
        hs = real_data.hillstrom(args.hillstrom, args.looks, 5)
        r["hillstrom_ordering_found"] = hs["ordering_found"]
    else:
        hs = {"skipped": f"skipped: {args.hillstrom} absent"}
        r["hillstrom_ordering_found"] = None
    r["hillstrom"] = hs
    r["seconds"]["hillstrom"] = round(time.perf_counter() - t0, 1)
    speed = decision_speed(QUICK_EXPERIMENTS if args.quick else EXPERIMENTS)
    r["decision_speed"] = speed
    r["decide_1000_experiments_seconds"] = speed["seconds"] * 1000 / speed["experiments"]
    r["bars"] = bars(r)
    r["all_passed"] = all(b["pass"] is not False for b in r["bars"])
    return r


def bars(r: dict) -> list[dict]:
    """The issue's bars; ``pass`` None when the part was skipped (data absent)."""
    aa_target = FALSE_WINNER_BAR + 2 * r["aa_mc_se"]
    ratio = r["sample_size_ratio_for_80pct_power"]
    up = r["upworthy_false_winner_rate"]
    rows = [
        (f"simulated A/A false-winner rate ({r['looks']} looks)", r["aa_false_winner_rate"],
         f"<= 5 % + 2 MC SE = {aa_target:.4f}", r["aa_false_winner_rate"] <= aa_target),
        ("Upworthy identical pairs false-winner rate", up, "<= 0.05", None if up is None else up <= FALSE_WINNER_BAR),
        ("sample-size ratio for 80 % power (10 % lift)", ratio, f"<= {RATIO_BAR}",
         ratio is not None and ratio <= RATIO_BAR),
        ("Hillstrom ordering found", r["hillstrom_ordering_found"], "true", r["hillstrom_ordering_found"]),
        ("one look on a 1,000-experiment client (s)", r["decide_1000_experiments_seconds"], f"<= {SPEED_BAR}",
         r["decide_1000_experiments_seconds"] <= SPEED_BAR),
    ]  # fmt: skip
    return [{"bar": n, "value": v, "target": t, "pass": None if ok is None else bool(ok)} for n, v, t, ok in rows]


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:6.2f} %"


def show(r: dict) -> None:
    """Plain-text report."""
    print(
        f"A look every {24 * r['days'] / r['looks']:g} h for {r['days']:g} days ({r['looks']} looks), {r['sims']} sims"
    )
    print("(a) simulated A/A: false-winner rate (any look, either direction)")
    for name, a in r["simulated_aa"].items():
        print(
            f"    {name:14s} true VIF {a['true_vif']:g}: ours {_pct(a['ours'])} +- {100 * a['ours_mc_se']:.2f} "
            f"(VIF est. mean {a['vif_estimated_mean']:.2f}; given the true VIF {_pct(a['ours_true_vif'])}, "
            f"VIF 1 {_pct(a['ours_vif_1'])})   naive "
            f"{_pct(a['naive'])}   naive at the last look only {_pct(a['naive_at_final_look_only'])}   "
            f"[{a['engine_checked_sims']} sims identical to compare_variants]"
        )
    pw = r["power"]
    print(
        f"(b) power, CTR {pw['ctr']:.0%}; fixed test sized for {pw['planned_lift']:.0%}: n = {pw['fixed_n_per_arm']:,} "
        f"per arm; sequential horizon {pw['chosen_horizon']}x that n ({r['days']:g} days)"
    )
    print(f"    {'lift':>5} {'ours@horizon':>13} {'ours@fixed n':>13} {'fixed (sim)':>12} {'fixed (plan)':>13} "
          f"{'median days':>12} {'median n/arm':>13} {'fixed days':>11}")  # fmt: skip
    for lift, x in pw["lifts"].items():
        days, n = x["ours_median_days_to_correct"], x["ours_median_sample_per_arm_to_correct"]
        print(
            f"    {float(lift):>5.0%} {_pct(x['ours_power_at_horizon']):>13} {_pct(x['ours_power_at_fixed_n']):>13} "
            f"{_pct(x['fixed_power_simulated']):>12} {_pct(x['fixed_power_planned']):>13} "
            f"{'n/a' if days is None else f'{days:.1f}':>12} {'n/a' if n is None else f'{n:,.0f}':>13} "
            f"{x['fixed_days']:>11.1f}"
        )
    print("    horizon (x fixed n)   power at horizon   n for 80 % / fixed n   (10 % lift)")
    for h in pw["horizons"]:
        ratio = h["ratio_n80_to_fixed_n"]
        print(f"    {h['horizon_x_fixed_n']:>19g} {_pct(h['power_at_horizon']):>18} "
              f"{'never' if ratio is None else f'{ratio:.3f}':>22}")  # fmt: skip
    up = r["upworthy"]
    if "skipped" in up:
        print(f"(c) Upworthy: {up['skipped']}")
    else:
        vifs = ", ".join(f"{v:.2f}" for v in up["vif_by_fold"].values())
        print(
            f"(c) Upworthy identical pairs: {up['pairs']} of {up['pairs_available']} ({up['tests_kept']} tests kept), "
            f"VIF by fold {vifs}\n    ours {_pct(up['false_winner_rate'])} +- {100 * up['false_winner_rate_se']:.2f}"
            f"   naive {_pct(up['false_winner_rate_naive'])}   naive at the last look only "
            f"{_pct(up['naive_at_final_look_only'])}   (the pairs' own mean z^2, not used: "
            f"{up['identical_pairs_own_vif_not_used']:.2f})"
        )
    hs = r["hillstrom"]
    if "skipped" in hs:
        print(f"(d) Hillstrom: {hs['skipped']}")
    else:
        rates = ", ".join(f"{s} {100 * a['rate']:.3f} %" for s, a in hs["arms"].items())
        print(f"(d) Hillstrom conversion: {rates}")
        for p in hs["pairs"]:
            print(
                f"    {p['pair']:30s} lift {p['lift']:+.1%} [{p['lift_ci'][0]:+.1%}, {p['lift_ci'][1]:+.1%}]  "
                f"p {p['p_value']:.2g}  Holm {p['p_holm']:.2g}  sequential rejected {p['sequential_rejected']} "
                f"(first at look {p['sequential_first_look']})"
            )
    sp = r["decision_speed"]
    print(
        f"(e) one look on {sp['experiments']:,} experiments with stored state: {sp['seconds']:.2f} s "
        f"({r['decide_1000_experiments_seconds']:.2f} s per 1,000); with every earlier look replayed instead: "
        f"{sp['replay_seconds']:.2f} s ({sp['speedup_vs_replay']:g}x)"
    )
    for b in r["bars"]:
        mark = "skip" if b["pass"] is None else ("PASS" if b["pass"] else "FAIL")
        print(f"{mark}  {b['bar']}: {b['value']} (target {b['target']})")
    print("seconds: " + ", ".join(f"{k} {v}" for k, v in r["seconds"].items()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--upworthy", type=Path, default=DEFAULT_UPWORTHY)
    ap.add_argument("--hillstrom", type=Path, default=DEFAULT_HILLSTROM)
    ap.add_argument("--looks", type=int, default=120, help="looks over the planned duration (default 120)")
    ap.add_argument("--days", type=float, default=30.0, help="planned duration in days (default 30)")
    ap.add_argument("--sims", type=int, default=None, help=f"simulations per case (default {SIMS}, quick {QUICK_SIMS})")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    ap.add_argument("--quick", action="store_true", help="fewer simulations and pairs (CI): reported, not enforced")
    args = ap.parse_args(argv)
    if args.looks < 1 or args.days <= 0 or (args.sims is not None and args.sims < 20):
        ap.error("need --looks >= 1, --days > 0 and --sims >= 20")
    report = run(args)
    if args.json:
        print(json.dumps(report, indent=2, default=float))
    else:
        show(report)
    if args.quick:
        return 0
    return 0 if report["all_passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
