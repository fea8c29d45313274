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
