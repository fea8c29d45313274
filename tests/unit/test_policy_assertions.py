"""The one-line policy verdicts fail when they should, naming the policy and what it said."""

from __future__ import annotations

import pytest

from policies.evaluate import ResourceInput
from tests.support.policy_assertions import assert_has_violation, assert_no_violations
from tests.support.policy_fixtures import happy_stack, redis_statefulset, replace

REPLICAS = "redis-cluster-require-replicas"


def no_replicas() -> list[ResourceInput]:
    return replace(happy_stack(), "redis", redis_statefulset(replicas_per_primary=0))


def test_a_violation_is_found_and_returned() -> None:
    found = assert_has_violation(REPLICAS, no_replicas(), "0 replicas per primary", count=1)
    assert found[0].policy == REPLICAS


def test_a_compliant_stack_fails_assert_has_violation() -> None:
    with pytest.raises(AssertionError, match=f"{REPLICAS} reported no violation"):
        assert_has_violation(REPLICAS, happy_stack())


def test_a_message_without_the_text_fails_assert_has_violation() -> None:
    with pytest.raises(AssertionError, match="no violation contains"):
        assert_has_violation(REPLICAS, no_replicas(), "something else entirely")


def test_a_wrong_count_fails_assert_has_violation() -> None:
    with pytest.raises(AssertionError, match="1 violations, not 2"):
        assert_has_violation(REPLICAS, no_replicas(), count=2)


def test_a_violation_fails_assert_no_violations_with_its_message() -> None:
    with pytest.raises(AssertionError, match="0 replicas per primary"):
        assert_no_violations(REPLICAS, no_replicas())


def test_an_unknown_policy_is_refused() -> None:
    with pytest.raises(AssertionError, match="no policy named"):
        assert_no_violations("no-such-policy", happy_stack())
