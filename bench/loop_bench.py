"""Wall time of the mock and unit tests (`make test-fast`); goal <= 30 s on a 2-core machine.

Run: `.venv/bin/python -m bench.loop_bench [runs]`. Prints the wall time of each run and the
machine's load average before it: on a shared machine compare figures taken under the same load.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_SECONDS = 30.0
# The target itself, so the benchmark measures what `make test-fast` runs (its options and
# environment live in the Makefile only).
COMMAND = ["make", "-s", "test-fast"]


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    walls: list[float] = []
    for run in range(runs):
        load = os.getloadavg()[0]
        started = time.perf_counter()
        result = subprocess.run(
            COMMAND,
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - started
        if result.returncode != 0:
            raise SystemExit(f"test-fast failed:\n{result.stdout[-3000:]}{result.stderr[-2000:]}")
        walls.append(wall)
        print(f"test-fast run {run + 1}: {wall:.1f} s wall (load {load:.1f})")
    median = statistics.median(walls)
    verdict = "ok" if median <= GOAL_SECONDS else "OVER GOAL"
    print(f"test-fast wall time: median {median:.1f} s (goal <= {GOAL_SECONDS:.0f} s: {verdict})")


if __name__ == "__main__":
    main()
