"""The project's own stacks run once per test process under mocks (each run takes seconds)."""

from __future__ import annotations

import functools
from pathlib import Path

from plan.runner import PlanRun, run_program

ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def stack_plan(stack: str) -> PlanRun:
    """`Pulumi.<stack>.yaml` run under mocks; callers must not mutate the records."""
    return run_program(stack, ROOT / f"Pulumi.{stack}.yaml")
