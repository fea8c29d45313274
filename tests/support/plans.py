"""The offline plan for tests: `python -m plan ...` without paying for the SDK imports each time.

`python -m plan` spends most of its time importing the provider SDKs (pulumi_cloudflare alone takes
seconds). Tests run the plan many times, so each run here calls the very `main()` of
`plan/__main__.py` in the test process, with the same arguments, its stdout and stderr captured,
its return value (or `SystemExit`) the exit status, and an uncaught exception printed as the
interpreter would print it with status 1. The test process imports the SDKs once; a worker that
plans builds components in-process anyway, so a separate process that imported them again (a
fork server, as here before) cost that worker seconds. Each run starts from a clean Pulumi runtime
(`plan.runner.run_program` resets it, as `pulumi.runtime.test` does). The tests of the command
line itself (argument errors, a missing stack file) still start a real process.
"""

from __future__ import annotations

import contextlib
import io
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from tests.support.documents import read_yaml

ROOT = Path(__file__).resolve().parents[2]
STACKS = ("dev", "prod")


@dataclass(frozen=True)
class PlanResult:
    """What `python -m plan` returned, printed and wrote."""

    returncode: int
    stdout: str
    stderr: str
    out: Path


def _exit_status(code: object) -> int:
    """The process exit status `sys.exit(code)` gives."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)
    return 1


def run_plan(
    stack: str,
    out: Path,
    stack_file: Path | None = None,
    policy_config: Path | None = None,
) -> PlanResult:
    """`python -m plan --stack S --out OUT [--stack-file F] [--policy-config P]`."""
    from plan.__main__ import main

    argv = ["--stack", stack, "--out", str(out)]
    if stack_file is not None:
        argv += ["--stack-file", str(stack_file)]
    if policy_config is not None:
        argv += ["--policy-config", str(policy_config)]
    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            returncode = main(argv)
        except SystemExit as exit_request:
            returncode = _exit_status(exit_request.code)
        except Exception:
            traceback.print_exc()
            returncode = 1
    return PlanResult(returncode, stdout.getvalue(), stderr.getvalue(), out)


StackPlans = Mapping[str, PlanResult]
"""The plan of each stack file of the repository, by stack name."""


def changed_stack_file(
    directory: Path, stack: str, change: Callable[[dict[str, Any]], None]
) -> Path:
    """A copy of `Pulumi.<stack>.yaml` in `directory` whose `config:` went through `change`."""
    document = read_yaml(ROOT / f"Pulumi.{stack}.yaml")
    change(document["config"])
    path = directory / f"Pulumi.{stack}.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


class _PlannedOnFirstUse(Mapping[str, PlanResult]):
    """Each stack is planned the first time a test asks for it, then kept: a test process that
    only needs prod (tests run on several workers) does not pay for dev."""

    def __init__(self, base: Path) -> None:
        self._base = base
        self._plans: dict[str, PlanResult] = {}

    def __getitem__(self, stack: str) -> PlanResult:
        if stack not in STACKS:
            raise KeyError(stack)
        if stack not in self._plans:
            self._plans[stack] = run_plan(stack, self._base / stack)
        return self._plans[stack]

    def __iter__(self) -> Iterator[str]:
        return iter(STACKS)

    def __len__(self) -> int:
        return len(STACKS)


def plan_each_stack(base: Path) -> StackPlans:
    """The plan of every stack file in the repository, each into `base/<stack>` when first used."""
    return _PlannedOnFirstUse(base)
