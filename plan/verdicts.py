"""Cost and policy verdicts of a plan, computed by the same functions the policy pack runs."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from cost.model import estimate_cost
from plan.mocks import ResourceRecord
from policies.evaluate import ResourceInput, Violation, evaluate
from policies.registry import ALL_POLICIES


def policy_inputs(records: Sequence[ResourceRecord]) -> list[ResourceInput]:
    return [ResourceInput(r.urn, r.type, r.name, r.inputs, r.parent) for r in records]


def judge(records: Sequence[ResourceRecord], pack_config: Mapping[str, Any]) -> list[Violation]:
    return evaluate(policy_inputs(records), pack_config)


def cost_of(records: Sequence[ResourceRecord]) -> dict[str, Any]:
    return estimate_cost([(r.type, r.inputs) for r in records]).as_json()


def policy_schemas() -> dict[str, Mapping[str, Any]]:
    """Each policy's name -> its config schema's properties (what the pack config may set)."""
    return {
        policy.name: dict(policy.config_schema.properties) if policy.config_schema else {}
        for policy in ALL_POLICIES
    }


DASHBOARD_COST_TOLERANCE = 0.05
"""How far the Business dashboard's monthly cost may lag the estimate before the plan says so."""


def dashboard_cost_note(configured: float | None, estimate: float, ceiling: float) -> str | None:
    """What to change so the Business dashboard's cost per request uses this estimate; None when
    `cache-platform:monitoring.monthlyCostUsd` already matches it."""
    if configured is None:
        return (
            f"the Business dashboard prices requests at the ADR ceiling (${ceiling:,.2f}/month); "
            f"set cache-platform:monitoring.monthlyCostUsd to this estimate, {estimate:.2f}"
        )
    if abs(configured - estimate) > DASHBOARD_COST_TOLERANCE * max(estimate, 1.0):
        return (
            f"cache-platform:monitoring.monthlyCostUsd is {configured:.2f} but the estimate is "
            f"{estimate:.2f}: update it so the Business dashboard's cost per request is right"
        )
    return None
