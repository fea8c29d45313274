"""Pulumi mocks for component tests: every registration recorded, outputs awaited for real."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pulumi

from plan.mocks import PlanMocks, RecordingMonitor, ResourceRecord


def install_mocks(stack: str = "test") -> RecordingMonitor:
    """Fresh mocks for one test; returns the monitor whose `records` the test inspects."""
    mocks = PlanMocks()
    monitor = RecordingMonitor(mocks)
    pulumi.runtime.set_mocks(
        mocks, project="cache-platform", stack=stack, preview=False, monitor=monitor
    )
    return monitor


def _descendants(resource: pulumi.Resource) -> list[pulumi.Resource]:
    found: list[pulumi.Resource] = []
    for child in resource._childResources:  # pyright: ignore[reportPrivateUsage]
        found.append(child)
        found.extend(_descendants(child))
    return found


def when_registered(component: pulumi.Resource, check: Callable[[], Any]) -> pulumi.Output[Any]:
    """An Output that runs `check` once the component and all its descendants are registered.

    Return it from a `@pulumi.runtime.test` function so the check really runs.
    """
    urns = [component.urn, *(child.urn for child in _descendants(component))]
    return pulumi.Output.all(*urns).apply(lambda _: check())


def of_type(records: list[ResourceRecord], type_token: str) -> list[ResourceRecord]:
    return [r for r in records if r.type == type_token]


def one(records: list[ResourceRecord], type_token: str) -> ResourceRecord:
    found = of_type(records, type_token)
    assert len(found) == 1, f"expected one {type_token}, found {[r.urn for r in found]}"
    return found[0]
