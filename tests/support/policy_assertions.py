"""One-line verdicts for policy tests, in the spirit of awsguard's test utilities:

    assert_has_violation(REPLICAS, replace(happy_stack(), "redis", no_replicas), "replicas")
    assert_no_violations(REPLICAS, happy_stack())

Each runs one registered policy (mandatory, as in prod) over a stack from policy_fixtures and says
in its failure which policy, and what it did or did not report.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from policies.evaluate import ResourceInput, Violation
from tests.support.policy_fixtures import messages, violations_of


def assert_has_violation(
    policy: str,
    stack: list[ResourceInput],
    *containing: str,
    config: Mapping[str, Any] | None = None,
    count: int | None = None,
) -> list[Violation]:
    """`policy` reports a violation whose message contains every one of `containing` (and exactly
    `count` violations when given); returns them for further checks."""
    found = violations_of(policy, stack, config)
    assert found, f"{policy} reported no violation; expected one containing {containing!r}"
    if count is not None:
        assert len(found) == count, f"{policy}: {len(found)} violations, not {count}:\n" + messages(
            found
        )
    assert any(all(text in v.message for text in containing) for v in found), (
        f"{policy}: no violation contains {containing!r}:\n{messages(found)}"
    )
    return found


def assert_no_violations(
    policy: str, stack: list[ResourceInput], config: Mapping[str, Any] | None = None
) -> None:
    """`policy` reports nothing for `stack`."""
    found = violations_of(policy, stack, config)
    assert not found, f"{policy} reported:\n{messages(found)}"
