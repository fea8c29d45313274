"""The offline plan for tests: `python -m plan ...` without paying for the SDK imports each time.

`python -m plan` spends most of its time importing the provider SDKs (pulumi_cloudflare alone takes
seconds). Tests run the plan many times, so each run here is a fork of one process that has
imported them already (multiprocessing's forkserver with the modules preloaded): the child runs
the very `main()` of `plan/__main__.py` with the same arguments, its stdout and stderr go to files,
and its exit status is the plan's. Nothing else differs from a fresh `python -m plan`; the tests of
the command line itself (argument errors, a missing stack file) still start a real process.
"""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from multiprocessing.context import ForkServerContext
from pathlib import Path
from typing import Any

import yaml

from tests.support.documents import read_yaml

ROOT = Path(__file__).resolve().parents[2]
STACKS = ("dev", "prod")

# Imported once by the fork server. Only speed depends on this list: a module missing here is
# imported by each plan run instead.
PRELOAD = (
    "plan.__main__",
    "plan.runner",
    "plan.report",
    "plan.artifacts",
    "plan.verdicts",
    "components.capacity",
    "components.redis.cluster",
    "components.cdn.edge",
    "components.monitoring.observability",
    "components.backups.component",
    # pulumi_kubernetes and pulumi_aws import these lazily, on first use by a component.
    "pulumi_kubernetes.core.v1",
    "pulumi_kubernetes.meta.v1",
    "pulumi_kubernetes.apps.v1",
    "pulumi_kubernetes.batch.v1",
    "pulumi_kubernetes.networking.v1",
    "pulumi_kubernetes.policy.v1",
    "pulumi_kubernetes.helm.v3",
    "pulumi_kubernetes.apiextensions",
    "pulumi_aws.s3",
    "pulumi_aws.iam",
    "pulumi_aws.kms",
)


@dataclass(frozen=True)
class PlanResult:
    """What `python -m plan` returned, printed and wrote."""

    returncode: int
    stdout: str
    stderr: str
    out: Path


def _context() -> ForkServerContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(list(PRELOAD))
    return context


def _plan_in_child(argv: list[str], stdout_path: str, stderr_path: str) -> None:
    """Runs in the forked child: `python -m plan <argv>` with its output in two files."""
    with open(stdout_path, "wb") as stdout, open(stderr_path, "wb") as stderr:
        os.dup2(stdout.fileno(), 1)
        os.dup2(stderr.fileno(), 2)
    sys.argv = ["python -m plan", *argv]
    from plan.__main__ import main

    status = main(argv)
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(status)


def run_plan(
    stack: str,
    out: Path,
    stack_file: Path | None = None,
    policy_config: Path | None = None,
    timeout: float = 180,
) -> PlanResult:
    """`python -m plan --stack S --out OUT [--stack-file F] [--policy-config P]`."""
    argv = ["--stack", stack, "--out", str(out)]
    if stack_file is not None:
        argv += ["--stack-file", str(stack_file)]
    if policy_config is not None:
        argv += ["--policy-config", str(policy_config)]
    logs = out.parent / f".{out.name}-plan-output"
    logs.mkdir(parents=True, exist_ok=True)
    stdout_path, stderr_path = logs / "stdout", logs / "stderr"
    process = _context().Process(
        target=_plan_in_child, args=(argv, str(stdout_path), str(stderr_path)), daemon=True
    )
    process.start()
    process.join(timeout)
    if process.exitcode is None:
        process.kill()
        process.join()
        raise TimeoutError(f"python -m plan {' '.join(argv)} did not finish in {timeout} s")
    return PlanResult(
        returncode=process.exitcode,
        stdout=stdout_path.read_text(),
        stderr=stderr_path.read_text(),
        out=out,
    )


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
