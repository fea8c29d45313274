"""All policies of the pack, importable without starting the policy server."""

from __future__ import annotations

from pulumi_policy import Policy, ResourceValidationPolicy, StackValidationPolicy

from policies.tagging import resources_require_environment_label

RESOURCE_POLICIES: list[ResourceValidationPolicy] = [
    resources_require_environment_label,
]
STACK_POLICIES: list[StackValidationPolicy] = []

ALL_POLICIES: list[Policy] = [
    *RESOURCE_POLICIES,
    *STACK_POLICIES,
]
