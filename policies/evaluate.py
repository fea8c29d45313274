"""Run the pack's policies outside the Pulumi engine: the offline plan and the tests use this.

The policy objects are the very ones the pack serves; only the argument bags are built here, from
recorded registrations, and enforcement is read from the same `policies/config/<stack>.json` that
`pulumi up --policy-pack-config` takes.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from pulumi_policy import (
    Policy,
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from policies.registry import ALL_POLICIES

DEFAULT_ENFORCEMENT = "advisory"


@dataclass(frozen=True)
class Violation:
    policy: str
    enforcement: str
    resource: str | None
    message: str

    def as_json(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "enforcement": self.enforcement,
            "resource": self.resource,
            "message": self.message,
        }


@dataclass(frozen=True)
class ResourceInput:
    """What a policy sees of one resource."""

    urn: str
    type: str
    name: str
    props: Mapping[str, Any]
    parent: str | None = None


def enforcement_for(policy_name: str, pack_config: Mapping[str, Any], default: str) -> str:
    """The enforcement level of a policy per the pack config ("all" first, then the policy)."""
    level = default
    for key in ("all", policy_name):
        entry = pack_config.get(key)
        if isinstance(entry, str):
            level = entry
        elif isinstance(entry, Mapping):
            found = cast(Mapping[str, Any], entry).get("enforcementLevel")
            if isinstance(found, str):
                level = found
    return level


def policy_config_for(policy: Policy, pack_config: Mapping[str, Any]) -> dict[str, Any]:
    """The policy's config: its schema's defaults overlaid by the pack config's entry."""
    values: dict[str, Any] = {}
    schema = policy.config_schema
    if schema is not None:
        for name, spec in schema.properties.items():
            if "default" in spec:
                values[name] = spec["default"]
    entry = pack_config.get(policy.name)
    if isinstance(entry, Mapping):
        values.update(
            {k: v for k, v in cast(Mapping[str, Any], entry).items() if k != "enforcementLevel"}
        )
    return values


def _options() -> PolicyResourceOptions:
    return PolicyResourceOptions(
        protect=False,
        ignore_changes=[],
        delete_before_replace=None,
        aliases=[],
        custom_timeouts=PolicyCustomTimeouts(0, 0, 0),
        additional_secret_outputs=[],
    )


def _run(result: Any) -> None:
    if inspect.isawaitable(result):
        asyncio.run(cast(Any, result))


def evaluate(
    resources: Sequence[ResourceInput],
    pack_config: Mapping[str, Any],
    policies: Iterable[Policy] = ALL_POLICIES,
) -> list[Violation]:
    """Every violation of `policies` by `resources`, with its configured enforcement level."""
    violations: list[Violation] = []
    for policy in policies:
        default = (
            policy.enforcement_level.value if policy.enforcement_level else DEFAULT_ENFORCEMENT
        )
        level = enforcement_for(policy.name, pack_config, default)
        if level == "disabled":
            continue
        config = policy_config_for(policy, pack_config)

        def report(
            message: str, urn: str | None = None, *, _policy: str = policy.name, _level: str = level
        ) -> None:
            violations.append(Violation(_policy, _level, urn, message))

        if isinstance(policy, ResourceValidationPolicy):
            for resource in resources:
                args = ResourceValidationArgs(
                    resource.type,
                    resource.props,
                    resource.urn,
                    resource.name,
                    _options(),
                    None,
                    config,
                )

                def report_resource(
                    message: str, urn: str | None = None, _urn: str = resource.urn
                ) -> None:
                    report(message, urn or _urn)

                _run(policy.validate(args, report_resource))  # pyright: ignore[reportUnknownMemberType]
        elif isinstance(policy, StackValidationPolicy):
            stack_resources = [
                PolicyResource(r.type, r.props, r.urn, r.name, _options(), None, None, [], {})
                for r in resources
            ]
            stack_args = StackValidationArgs(stack_resources, config)
            _run(policy.validate(stack_args, report))  # pyright: ignore[reportUnknownMemberType]
    return violations


def mandatory(violations: Iterable[Violation]) -> list[Violation]:
    return [v for v in violations if v.enforcement == "mandatory"]
