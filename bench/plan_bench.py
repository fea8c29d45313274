"""`make plan STACK=prod` against the bare import of the provider SDKs it uses, in the same run.

Goal: the plan costs at most 1.3 times the import of the provider SDK modules it loads (the part
no program of ours can avoid), wall and CPU time, median of fresh processes, run alternately so
both see the same machine load. Also prints the plan's absolute wall time (goal <= 5 s).

Run: `.venv/bin/python -m bench.plan_bench [runs]`.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GOAL_SECONDS = 5.0
GOAL_RATIO = 1.3
PROVIDER_SDKS = ("pulumi_aws", "pulumi_cloudflare", "pulumi_kubernetes", "pulumi_random")

# Runs the plan in-process, then prints the provider-SDK modules it loaded (lazily loaded
# submodules such as pulumi_kubernetes.core.v1 included), one JSON list on the last line.
_LIST_SDK_MODULES = f"""
import json, sys
from plan.__main__ import main
main(sys.argv[1:])
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in {PROVIDER_SDKS!r})))
"""

_IMPORT_MODULES = """
import importlib, json, sys
for name in json.load(open(sys.argv[1])):
    importlib.import_module(name)
"""


@dataclass(frozen=True)
class Timing:
    wall: float
    cpu: float


def _timed(command: list[str]) -> Timing:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    before = os.times()
    started = time.perf_counter()
    result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = os.times()
    if result.returncode not in (0, 1):
        raise SystemExit(f"{' '.join(command)} failed ({result.returncode}): {result.stderr}")
    cpu = (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )
    return Timing(wall, cpu)


def sdk_modules(scratch: Path) -> list[str]:
    out = scratch / "discover"
    result = subprocess.run(
        [sys.executable, "-c", _LIST_SDK_MODULES, "--stack", "prod", "--out", str(out)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode not in (0, 1):
        raise SystemExit(f"plan failed ({result.returncode}): {result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    plans: list[Timing] = []
    imports: list[Timing] = []
    with tempfile.TemporaryDirectory() as directory:
        scratch = Path(directory)
        modules = sdk_modules(scratch)
        module_list = scratch / "modules.json"
        module_list.write_text(json.dumps(modules))
        for run in range(runs):
            out = scratch / f"run{run}"
            plans.append(
                _timed([sys.executable, "-m", "plan", "--stack", "prod", "--out", str(out)])
            )
            imports.append(_timed([sys.executable, "-c", _IMPORT_MODULES, str(module_list)]))

    def median(timings: list[Timing], field: str) -> float:
        return statistics.median(getattr(t, field) for t in timings)

    plan_wall, import_wall = median(plans, "wall"), median(imports, "wall")
    plan_cpu, import_cpu = median(plans, "cpu"), median(imports, "cpu")
    wall_ratio, cpu_ratio = plan_wall / import_wall, plan_cpu / import_cpu
    print(
        f"plan STACK=prod wall time over {runs} runs: median {plan_wall:.2f} s, "
        f"min {min(t.wall for t in plans):.2f} s, max {max(t.wall for t in plans):.2f} s "
        f"(goal <= {GOAL_SECONDS:.0f} s: {'ok' if plan_wall <= GOAL_SECONDS else 'OVER GOAL'})"
    )
    print(
        f"import of the {len(modules)} provider SDK modules the plan loads "
        f"({', '.join(PROVIDER_SDKS)}): median {import_wall:.2f} s wall, {import_cpu:.2f} s CPU"
    )
    verdict = "ok" if max(wall_ratio, cpu_ratio) <= GOAL_RATIO else "OVER GOAL"
    print(
        f"plan / SDK import: {wall_ratio:.2f}x wall ({plan_wall:.2f} / {import_wall:.2f} s), "
        f"{cpu_ratio:.2f}x CPU ({plan_cpu:.2f} / {import_cpu:.2f} s) "
        f"(goal <= {GOAL_RATIO}x: {verdict})"
    )


if __name__ == "__main__":
    main()
