"""maxclients comes from the capacity model (ADR-011's 100,000 concurrent users spread over the
primaries), and the connections alert reads it back from the exporter."""

from __future__ import annotations

import dataclasses

import pytest

from components.redis.conf import (
    CONNECTION_HEADROOM,
    RedisConfSpec,
    connections_per_node,
    parse_redis_conf,
    redis_conf_spec,
    render_redis_conf,
)
from stackconfig import adr
from stackconfig.config import RedisConfig

GIB = 1024**3


def maxclients(spec: RedisConfSpec) -> int:
    return int(parse_redis_conf(render_redis_conf(spec))["maxclients"][0])


def test_the_adr_stack_accepts_its_share_of_100000_users_per_node() -> None:
    spec = redis_conf_spec(RedisConfig())
    assert spec.concurrent_users == adr.CONCURRENT_USERS
    assert maxclients(spec) == 40_000  # 100,000 / 3 primaries x 1.2
    # Far above Redis's default of 10,000, which would refuse the ADR's peak.
    assert maxclients(spec) > 10_000


@pytest.mark.parametrize("primaries", [1, 3, 6, 7])
def test_more_primaries_share_the_users(primaries: int) -> None:
    spec = redis_conf_spec(RedisConfig(primaries=primaries))
    expected = connections_per_node(adr.CONCURRENT_USERS, primaries)
    assert maxclients(spec) == expected
    assert expected >= adr.CONCURRENT_USERS / primaries * CONNECTION_HEADROOM
    assert expected < adr.CONCURRENT_USERS / primaries * CONNECTION_HEADROOM + 1


def test_the_model_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="primaries"):
        connections_per_node(100_000, 0)
    with pytest.raises(ValueError, match="concurrent_users"):
        dataclasses.replace(RedisConfSpec(container_memory_bytes=8 * GIB), concurrent_users=0)
