"""CI runs the benchmarks only in quick mode: they must run and report their figures (timings are not asserted)."""

from __future__ import annotations

import json
import subprocess
import sys

from optimizer_pipeline_tests.shared_data import REPO_ROOT, shared_data


def test_features_benchmark_quick_reports_every_bar():
    shared_data("short_videos", "pyscenedetect", "testvideo.mp4")
    out = subprocess.run(
        [sys.executable, str(REPO_ROOT / "benchmarks" / "features.py"), "--quick", "--json"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    report = json.loads(out.stdout)
    bars = {b["bar"]: b for b in report["bars"]}
    assert {"extraction speed vs real time", "extraction speed / raw decode speed"} <= set(bars)
    assert report["cuts"]["ours_testvideo_cuts"] == [30, 180, 394]
    assert report["throughput"]["planted_cut_recall"] == 1.0
