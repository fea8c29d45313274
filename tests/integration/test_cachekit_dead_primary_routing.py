"""A killed primary on the real lab costs the service only that shard's calls: the kit's calls go
to each node's own connections, so the dead node's connection errors neither make redis-py
re-read the whole slot map nor recycle the connections to the healthy nodes (measured on those
nodes as `total_connections_received`). Before, every such error did both, and under load the
re-reads cascaded: the load test's failover run spent its p95 there (docs/loadtest.md).

Only the kill is tested, not the promotion that follows (test_cachekit_replica_failover.py).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from cachekit import AsyncCacheAside, BreakerSettings, CacheOptions, async_cluster_client
from cachekit.keys import cache_key
from lab.cluster import LabNode, RedisLab, key_in_ranges

pytestmark = pytest.mark.integration

TIMEOUT = 0.25  # shared, slow test machines: a healthy call must not time out
ROUNDS = 40
LISTED_DEADLINE = 30.0


def keys_by_primary(lab: RedisLab, per_primary: int) -> dict[str, list[str]]:
    """`per_primary` keys served by each primary, by primary name."""
    found: dict[str, list[str]] = {}
    for index, primary in enumerate(lab.primaries_now()):
        ranges = lab.slots_of(primary)
        keys: list[str] = []
        number = 0
        while len(keys) < per_primary:
            key = cache_key("catalog", "product", f"p{index}-{number}")
            if key_in_ranges(key, ranges):
                keys.append(key)
            number += 1
        found[primary.name] = keys
    return found


def connections_received(clients: dict[str, Any]) -> dict[str, int]:
    return {name: int(c.info("stats")["total_connections_received"]) for name, c in clients.items()}


def wait_for_replicas_listed(lab: RedisLab, clients: dict[str, Any]) -> None:
    """Until CLUSTER SLOTS lists a replica for every range (Redis lists one only once its
    replication offset is non-zero): the kit's client then knows each shard's replica."""
    deadline = time.monotonic() + LISTED_DEADLINE
    while True:
        ranges: Any = next(iter(clients.values())).execute_command("CLUSTER SLOTS")
        if all(len(r) > 3 for r in ranges):
            return
        assert time.monotonic() < deadline, "replicas never appeared in CLUSTER SLOTS"
        time.sleep(0.2)


def test_a_dead_primary_does_not_recycle_the_healthy_nodes_connections(lab: RedisLab) -> None:
    primaries = lab.primaries_now()
    victim = primaries[0]
    healthy: list[LabNode] = primaries[1:]
    keys = keys_by_primary(lab, 5)
    admins: dict[str, Any] = {node.name: lab.node_client(node) for node in healthy}
    for node in healthy:
        admins[node.name].ping()
    writer: Any = lab.node_client(victim)
    for key in keys[victim.name]:
        writer.set(key, b"warm")  # a write reaches the replica: CLUSTER SLOTS then lists it
    writer.close()
    wait_for_replicas_listed(lab, admins)

    async def load(key: str) -> str:
        return f"loaded-{key}"

    async def scenario() -> tuple[dict[str, int], dict[str, int]]:
        first = next(n for n in lab.nodes if n.running)
        client = async_cluster_client(
            first.host, first.port, password=lab.password, timeout=TIMEOUT,
            address_remap=lambda address: (lab.address_of(address[0]), address[1]),
        )  # fmt: skip
        await client.initialize()
        # A breaker that opens late: many failed calls to the dead node, each of which used to
        # make the client re-read the cluster.
        options = CacheOptions(breaker=BreakerSettings(failure_threshold=ROUNDS, open_seconds=60))
        cache = AsyncCacheAside(
            client, service="catalog", registry=CollectorRegistry(), options=options
        )
        everything = [key for group in keys.values() for key in group]
        try:
            # Concurrent, as after the kill: the pools hold as many connections as it needs.
            for _ in range(2):
                await asyncio.gather(
                    *(cache.get_or_load(key, lambda key=key: load(key)) for key in everything)
                )
            before = connections_received(admins)
            lab.kill(victim)
            for _ in range(ROUNDS // 4):
                values = await asyncio.gather(
                    *(cache.get_or_load(key, lambda key=key: load(key)) for key in everything)
                )
                assert values == [f"loaded-{key}" for key in everything]
            return before, connections_received(admins)
        finally:
            await client.aclose()

    loop = asyncio.new_event_loop()
    try:
        before, after = loop.run_until_complete(scenario())
    finally:
        loop.close()
        for admin in admins.values():
            admin.close()
    # Each admin client's own INFO connection is already counted in `before`.
    grown = {name: after[name] - before[name] for name in before}
    assert all(growth <= 1 for growth in grown.values()), (
        f"the healthy primaries reconnected after the kill: {grown}"
    )
