"""Calibration of the statistics users are told: each figure from a simulation with known truth, next to its target.

    python benchmarks/calibration.py [--quick] [--json] [--only KEY[,KEY...]]

Figures (top-level JSON keys, a stable interface; what each means is in the README's statistics section):

* ``maturity_bias``: the largest signed relative bias of a pattern's posterior mean at 3, 7 and 14 days in test,
  with the sample generator's click-to-order delays (target within +-0.10);
* ``zero_conversion_coverage``: 95 % interval coverage of the patterns' true rates when no conversion has been seen
  anywhere, i.e. under the fallback prior (target >= 0.93);
* ``influencer_coverage``: 95 % interval coverage of a pattern's mean rate with influencer heterogeneity (log-rate
  sd 0.5, 3 influencers per pattern; target >= 0.93);
* ``bucket_null_verdict_rate``: share of hashtags whose duration buckets are all alike (creators clustered) that
  still get a prioritise / deprioritise verdict (target <= 0.05);
* ``beats_baseline_null_rate``: share of buckets of pure-noise features whose model "beats the baseline"
  (target <= 0.05);
* ``proxy_fdr``: share of STRONG/MODERATE claims that are false, counting a proxy of a planted effect as true only
  through its family (target <= 0.10).

Every simulation has fixed seeds, so a run reproduces. ``--quick`` (CI) uses fewer replicates: its figures carry a
larger Monte-Carlo error and are reported, not enforced; the full run enforces the targets (exit status 1 when one
is missed). Each entry also reports ``before``: the same simulation under the behaviour the statistical audit of
issue 12 found, where it is cheap to reproduce.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))

from calibration_sims import PARTS  # noqa: E402


def run(quick: bool, only: set[str] | None = None) -> dict:
    """Every part's figure (``only``: a subset of the JSON keys), with its time, target and verdict."""
    report: dict = {"quick": quick, "parts": {}}
    for module, key in PARTS:
        if only and key not in only:
            continue
        t0 = time.perf_counter()
        part = importlib.import_module(f"calibration_sims.{module}").measure(quick=quick)
        if part["key"] != key:
            raise RuntimeError(f"calibration_sims.{module} reports key {part['key']!r}, expected {key!r}")
        part["seconds"] = round(time.perf_counter() - t0, 2)
        report[key] = part["value"]
        report["parts"][key] = part
    report["all_passed"] = all(bool(p["passed"]) for p in report["parts"].values())
    return report


def _fmt(x: object) -> str:
    return "n/a" if x is None else f"{x:.4g}" if isinstance(x, float) else str(x)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer replicates (CI): figures reported, not enforced")
    ap.add_argument("--json", action="store_true", help="print the report as JSON")
    ap.add_argument("--only", default="", help="comma-separated JSON keys to run (default: all)")
    args = ap.parse_args(argv)
    only = {k.strip() for k in args.only.split(",") if k.strip()} or None
    unknown = (only or set()) - {key for _, key in PARTS}
    if unknown:
        ap.error(f"unknown key(s) {sorted(unknown)}; known: {[key for _, key in PARTS]}")
    report = run(args.quick, only)
    if args.json:
        print(json.dumps(report, indent=2, default=float))
    else:
        print(f"{'figure':<28} {'value':>9} {'before':>9}  {'target':<26} {'ok':<4} seconds")
        for key, part in report["parts"].items():
            ok = "yes" if part["passed"] else "NO"
            print(
                f"{key:<28} {_fmt(part['value']):>9} {_fmt(part.get('before')):>9}  {part['target']:<26} {ok:<4} "
                f"{part['seconds']}"
            )
    if args.quick:
        return 0
    return 0 if report["all_passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
