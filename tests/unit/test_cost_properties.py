"""Cost monotonicity (cost/model.py): more primaries, replicas or memory never cost less."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cost.model import estimate_cost
from tests.support.policy_fixtures import (
    as_cost_input,
    happy_stack,
    redis_bootstrap_job,
    redis_statefulset,
    replace,
)

primaries = st.integers(min_value=3, max_value=12)
replicas = st.integers(min_value=0, max_value=2)
memory_gib = st.sampled_from([1, 2, 4, 8, 12, 16, 24, 32, 48, 64])


def redis_usd(primaries: int, replicas_per_primary: int, memory_gib: int) -> float:
    stack = replace(
        happy_stack(),
        "redis",
        redis_statefulset(primaries, replicas_per_primary, memory=f"{memory_gib}Gi"),
    )
    pods = primaries * (1 + replicas_per_primary)
    stack = replace(stack, "redis-bootstrap", redis_bootstrap_job(pods, replicas_per_primary))
    estimate = estimate_cost(as_cost_input(stack))
    assert not estimate.problems, estimate.problems
    return estimate.component_usd("redis")


@given(primaries, primaries, replicas, memory_gib)
def test_more_primaries_never_cost_less(a: int, b: int, replicas: int, memory: int) -> None:
    fewer, more = sorted((a, b))
    assert redis_usd(fewer, replicas, memory) <= redis_usd(more, replicas, memory)


@given(primaries, replicas, replicas, memory_gib)
def test_more_replicas_never_cost_less(primaries: int, a: int, b: int, memory: int) -> None:
    fewer, more = sorted((a, b))
    assert redis_usd(primaries, fewer, memory) <= redis_usd(primaries, more, memory)


@given(primaries, replicas, memory_gib, memory_gib)
def test_more_memory_never_costs_less(primaries: int, replicas: int, a: int, b: int) -> None:
    less, more = sorted((a, b))
    assert redis_usd(primaries, replicas, less) <= redis_usd(primaries, replicas, more)


@given(primaries, replicas, memory_gib)
def test_the_redis_cost_is_positive_and_part_of_the_total(
    primaries: int, replicas: int, memory: int
) -> None:
    assert redis_usd(primaries, replicas, memory) > 0
