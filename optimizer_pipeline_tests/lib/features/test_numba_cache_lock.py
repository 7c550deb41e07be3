"""librosa's numba cache is written under a machine-wide lock, so concurrent feature workers cannot corrupt it
(numba/numba#10128: mixed cache files segfault every later process)."""

from __future__ import annotations

import fcntl
import subprocess
import sys
import time

from optimizer_pipeline.lib.features import audio

WARM = "from optimizer_pipeline.lib.features import audio; audio.warm_up(); print('warm')"


def test_warm_up_waits_for_the_cache_lock() -> None:
    with open(audio.NUMBA_CACHE_LOCK, "a+b") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        proc = subprocess.Popen([sys.executable, "-c", WARM], stdout=subprocess.PIPE, text=True)
        try:
            time.sleep(8.0)  # imports take ~3 s; the warm-up must then block on the lock
            assert proc.poll() is None, "warm_up ran while another process held the numba cache lock"
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0 and out.strip() == "warm"
