"""Wall time of `make plan STACK=prod` (the offline plan); goal ≤ 5 s.

Run: `.venv/bin/python -m bench.plan_bench [runs]`. Each run is a fresh process, as in CI.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_SECONDS = 5.0


def time_plan(stack: str, out: Path) -> float:
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, "-m", "plan", "--stack", stack, "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if result.returncode not in (0, 1):
        raise SystemExit(f"plan failed ({result.returncode}): {result.stderr}")
    return elapsed


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    with tempfile.TemporaryDirectory() as scratch:
        times = [time_plan("prod", Path(scratch) / f"run{i}") for i in range(runs)]
    median = statistics.median(times)
    verdict = "ok" if median <= GOAL_SECONDS else "OVER GOAL"
    print(
        f"plan STACK=prod wall time over {runs} runs: median {median:.2f} s, "
        f"min {min(times):.2f} s, max {max(times):.2f} s (goal <= {GOAL_SECONDS:.0f} s: {verdict})"
    )


if __name__ == "__main__":
    main()
