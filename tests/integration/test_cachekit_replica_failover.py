"""A primary killed on the real lab: while its shard has no primary the kit serves that shard's
keys from the replica (hits, no loader call), then follows the promotion long before the
breaker's open time ends and writes to the new primary again. Sync and asyncio clients, one
primary each.

Redis lists a replica in CLUSTER SLOTS only once its replication offset is non-zero, as the
primary's first writes reach it; a client that read the map of a just-started, empty cluster has
no replica for a slot until it refreshes. A service running under load has one; the tests
refresh the map until it shows the victim's replica before they kill the primary.

The breaker stays open 60 s: far longer than a failover, so writes resuming within the test's
deadline prove the slot-map refresh, not the breaker's own probe, brought the shard back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis
from prometheus_client import CollectorRegistry
from redis.cluster import RedisCluster

from cachekit import (
    AsyncCacheAside,
    BreakerSettings,
    CacheAside,
    CacheOptions,
    async_cluster_client,
    cluster_client,
)
from cachekit.keys import cache_key
from lab.cluster import LabNode, RedisLab, key_in_ranges

pytestmark = pytest.mark.integration

TIMEOUT = 0.25  # shared, slow test machines: a healthy call must not time out
OPTIONS = CacheOptions(breaker=BreakerSettings(failure_threshold=2, open_seconds=60))
FAILOVER_DEADLINE = 40.0


def keys_of(lab: RedisLab, primary: LabNode, label: str, count: int) -> list[str]:
    ranges = lab.slots_of(primary)
    found: list[str] = []
    number = 0
    while len(found) < count:
        key = cache_key("product", "catalog", f"{label}-{number}")
        if key_in_ranges(key, ranges):
            found.append(key)
        number += 1
    return found


def promoted(lab: RedisLab, key: str, victim: LabNode) -> bool:
    return any(p is not victim and key_in_ranges(key, lab.slots_of(p)) for p in lab.primaries_now())


def wait_for_replica_listed(lab: RedisLab, slot: int) -> None:
    """Until every running node's CLUSTER SLOTS lists a replica for `slot` (whichever node the
    client asks after the kill must name it)."""
    deadline = time.monotonic() + FAILOVER_DEADLINE

    def listed(node: LabNode) -> bool:
        with redis.Redis(host=node.host, port=node.port, password=lab.password) as plain:
            ranges: Any = plain.execute_command("CLUSTER SLOTS")  # pyright: ignore[reportUnknownMemberType]
        return any(int(r[0]) <= slot <= int(r[1]) and len(r) > 3 for r in ranges)

    while not all(listed(node) for node in lab.nodes if node.running):
        assert time.monotonic() < deadline, "the replica never appeared in CLUSTER SLOTS"
        time.sleep(0.2)


def stored(client: RedisCluster, key: str) -> bool:
    try:
        return client.get(key) is not None
    except redis.ConnectionError:  # this raw read still routed to the dead primary
        return False


def errors(registry: CollectorRegistry) -> str:
    found = {
        sample.labels["kind"]: sample.value
        for metric in registry.collect()
        for sample in metric.samples
        if sample.name == "cache_errors_total"
    }
    return f"reads of the dead primary's keys reached the source; cache errors: {found}"


class Loads:
    def __init__(self) -> None:
        self.keys: list[str] = []

    def value(self, key: str) -> str:
        self.keys.append(key)
        return f"value-{key}"


def test_a_killed_primary_s_keys_stay_cached_through_the_failover(lab: RedisLab) -> None:
    node = next(n for n in lab.nodes if n.running)
    client = cluster_client(
        node.host,
        node.port,
        password=lab.password,
        timeout=TIMEOUT,
        address_remap=lambda address: (lab.address_of(address[0]), address[1]),
    )
    registry = CollectorRegistry()
    cache = CacheAside(client, service="catalog", registry=registry, options=OPTIONS)
    victim = lab.primaries_now()[0]
    cached = keys_of(lab, victim, "cached", 10)
    fresh = keys_of(lab, victim, "fresh", 1)[0]
    loads = Loads()
    try:
        for key in cached:
            assert cache.get_or_load(key, lambda key=key: loads.value(key)) == f"value-{key}"
        assert len(loads.keys) == len(cached)
        loads.keys.clear()
        wait_for_replica_listed(lab, client.keyslot(cached[0]))
        client.nodes_manager.initialize()

        lab.kill(victim)
        deadline = time.monotonic() + FAILOVER_DEADLINE
        while not promoted(lab, cached[0], victim):
            assert time.monotonic() < deadline, "the replica was never promoted"
            for key in cached:
                assert cache.get_or_load(key, lambda key=key: loads.value(key)) == f"value-{key}"
            time.sleep(0.05)
        assert loads.keys == [], errors(registry)

        # After the promotion (the breaker of the dead primary is still open for a minute):
        # a new key of that shard is loaded once, stored on the new primary, then a hit.
        while True:
            assert time.monotonic() < deadline, "writes never resumed on the new primary"
            cache.get_or_load(fresh, lambda: loads.value(fresh))
            if stored(client, fresh):
                break
            time.sleep(0.1)
        before = len(loads.keys)
        assert cache.get_or_load(fresh, lambda: loads.value(fresh)) == f"value-{fresh}"
        assert len(loads.keys) == before
    finally:
        client.close()


def test_the_async_twin_reads_the_replica_through_the_failover(lab: RedisLab) -> None:
    node = next(n for n in lab.nodes if n.running)
    victim = lab.primaries_now()[1]
    cached = keys_of(lab, victim, "async", 10)
    loads = Loads()

    def loader(key: str) -> Callable[[], Awaitable[str]]:
        async def load() -> str:
            return loads.value(key)

        return load

    async def scenario() -> None:
        client = async_cluster_client(
            node.host,
            node.port,
            password=lab.password,
            timeout=TIMEOUT,
            address_remap=lambda address: (lab.address_of(address[0]), address[1]),
        )
        await client.initialize()
        cache = AsyncCacheAside(
            client, service="catalog", registry=CollectorRegistry(), options=OPTIONS
        )
        try:
            for key in cached:
                await cache.get_or_load(key, loader(key))
            loads.keys.clear()
            wait_for_replica_listed(lab, client.keyslot(cached[0]))
            await client.nodes_manager.initialize()
            lab.kill(victim)
            deadline = time.monotonic() + FAILOVER_DEADLINE
            while not promoted(lab, cached[0], victim):
                assert time.monotonic() < deadline, "the replica was never promoted"
                values = [await cache.get_or_load(key, loader(key)) for key in cached]
                assert values == [f"value-{key}" for key in cached]
                await asyncio.sleep(0.05)
            assert loads.keys == [], "reads of the dead primary's keys reached the source"
            many = await cache.get_many_or_load(cached, lambda missing: _fail_many(missing))
            assert many == {key: f"value-{key}" for key in cached}
        finally:
            await client.aclose()

    loop = asyncio.new_event_loop()
    try:
        loop.run_until_complete(scenario())
    finally:
        loop.close()


async def _fail_many(missing: object) -> dict[str, str]:
    pytest.fail(f"get_many loaded {missing}")
