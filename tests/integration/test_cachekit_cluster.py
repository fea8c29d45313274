"""The service kit against a real Redis Cluster (the lab): hits and misses, TTLs per tier,
single-flight, the async twin, and a primary paused then killed mid-run.

The kit's client gets a 250 ms timeout instead of the default 50 ms: the machines running the
tests are shared and slow, and a healthy call timing out would make the counts flaky.
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence

import pytest
from prometheus_client import CollectorRegistry
from redis.cluster import RedisCluster

from cachekit import (
    AsyncCacheAside,
    BreakerSettings,
    BreakerState,
    CacheAside,
    CacheOptions,
    async_cluster_client,
    cluster_client,
)
from cachekit.keys import cache_key
from lab.cluster import RedisLab, key_in_ranges
from stackconfig.tiers import DEFAULT_TIERS

pytestmark = pytest.mark.integration

TIMEOUT = 0.25


def kit_client(lab: RedisLab) -> RedisCluster:
    node = next(n for n in lab.nodes if n.running)
    return cluster_client(
        node.host,
        node.port,
        password=lab.password,
        timeout=TIMEOUT,
        address_remap=lambda address: (lab.address_of(address[0]), address[1]),
    )


def counts(registry: CollectorRegistry, service: str) -> dict[str, float]:
    def value(name: str, **labels: str) -> float:
        found = registry.get_sample_value(name, {"service": service, **labels})
        assert found is not None, name
        return found

    return {
        "hits": value("cache_hits_total"),
        "misses": value("cache_misses_total"),
        "timeout": value("cache_errors_total", kind="timeout"),
        "connection": value("cache_errors_total", kind="connection"),
        "other": value("cache_errors_total", kind="other"),
    }


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def cache(shared_lab: RedisLab, registry: CollectorRegistry) -> Iterator[CacheAside]:
    client = kit_client(shared_lab)
    yield CacheAside(client, service="catalog", registry=registry)
    client.close()


def test_hits_misses_and_the_ttl_of_each_tier(
    cache: CacheAside, registry: CollectorRegistry
) -> None:
    jitter = CacheOptions().jitter
    for tier in ("short", "medium", "long"):
        keys = [cache_key("product", "catalog", f"{tier}-{n}") for n in range(30)]
        for key in keys:
            assert cache.get_or_load(key, lambda key=key: {"key": key}, tier=tier) == {"key": key}
        for key in keys:
            assert cache.get_or_load(key, lambda: pytest.fail("a hit must not load")) == {
                "key": key
            }
        edge = DEFAULT_TIERS[tier].edge_ttl
        ttls = [int(cache.client.ttl(key)) for key in keys]  # pyright: ignore[reportArgumentType]
        assert all(edge * (1 - jitter) - 2 <= ttl <= edge for ttl in ttls), (tier, ttls)
        assert len(set(ttls)) > 1, f"{tier}: no jitter in {ttls}"
    assert counts(registry, "catalog") == {
        "hits": 90,
        "misses": 90,
        "timeout": 0,
        "connection": 0,
        "other": 0,
    }


def test_get_many_and_invalidate_on_the_cluster(cache: CacheAside) -> None:
    keys = [cache_key("product", "catalog", f"many-{n}") for n in range(50)]
    cache.get_or_load(keys[0], lambda: "early")
    result = cache.get_many_or_load(keys, lambda missing: {k: f"v-{k}" for k in missing})
    assert result[keys[0]] == "early"
    assert all(result[k] == f"v-{k}" for k in keys[1:])
    assert cache.get_many_or_load(keys, lambda missing: pytest.fail(f"loaded {missing}")) == result
    assert cache.invalidate(*keys[:10])
    assert cache.client.exists(*keys[:10]) == 0  # pyright: ignore[reportArgumentType]


def test_one_hundred_concurrent_callers_load_once(cache: CacheAside) -> None:
    key = cache_key("product", "catalog", "stampede")
    loads = 0
    lock = threading.Lock()

    def slow_loader() -> str:
        nonlocal loads
        with lock:
            loads += 1
        time.sleep(1.0)  # long enough for every caller to miss and join the flight
        return "loaded"

    start = threading.Barrier(100)
    results: list[str] = []

    def caller() -> None:
        start.wait()
        results.append(cache.get_or_load(key, slow_loader))

    threads = [threading.Thread(target=caller) for _ in range(100)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert results == ["loaded"] * 100
    assert loads == 1


def test_the_async_twin_on_the_cluster(shared_lab: RedisLab, registry: CollectorRegistry) -> None:
    node = next(n for n in shared_lab.nodes if n.running)
    loads = 0

    async def loader() -> list[int]:
        nonlocal loads
        loads += 1
        await asyncio.sleep(1.0)  # long enough for every caller to miss and join the flight
        return [1, 2, 3]

    async def scenario() -> list[list[int]]:
        client = async_cluster_client(
            node.host,
            node.port,
            password=shared_lab.password,
            timeout=TIMEOUT,
            address_remap=lambda address: (shared_lab.address_of(address[0]), address[1]),
        )
        await client.initialize()  # a service connects at start-up, before its first request
        cache = AsyncCacheAside(client, service="catalog", registry=registry)
        key = cache_key("product", "catalog", "async")
        try:
            first = await asyncio.gather(*(cache.get_or_load(key, loader) for _ in range(100)))
            second = await cache.get_or_load(key, loader)
            many_keys = [cache_key("product", "catalog", f"async-many-{n}") for n in range(30)]

            async def load_many(missing: Sequence[str]) -> dict[str, str]:
                return {k: f"v-{k}" for k in missing}

            many = await cache.get_many_or_load(many_keys, load_many)
            again = await cache.get_many_or_load(many_keys, load_many)
            assert many == again == {k: f"v-{k}" for k in many_keys}
        finally:
            await client.aclose()
        return [*first, second]

    loop = asyncio.new_event_loop()
    try:
        results = loop.run_until_complete(scenario())
    finally:
        loop.close()
    assert results == [[1, 2, 3]] * 101
    assert loads == 1, counts(registry, "catalog")
    assert counts(registry, "catalog")["hits"] == 1 + 30


def run_until(
    condition: Callable[[], bool], work: Callable[[], None], timeout: float, what: str
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        work()
        time.sleep(0.02)


def test_a_paused_then_killed_primary_never_fails_a_call(lab: RedisLab) -> None:
    """Paused (SIGSTOP): timeouts, the breaker opens, and closes once the node answers again.
    Killed (SIGKILL): connection errors, the breaker opens, the replica takes over and the
    cache serves again. Every call of both returns the loader's value."""
    registry = CollectorRegistry()
    client = kit_client(lab)
    cache = CacheAside(
        client,
        service="catalog",
        registry=registry,
        # The breaker path alone: replica reads would serve the victim's key before the
        # promotion (test_cachekit_replica_failover.py covers them).
        options=CacheOptions(
            breaker=BreakerSettings(failure_threshold=2, open_seconds=0.5), replica_reads=False
        ),
    )
    victim = lab.primaries_now()[0]
    victim_key = lab.key_in_slots_of(victim, prefix="catalog:product")
    other_keys = [cache_key("product", "catalog", f"other-{n}") for n in range(20)]
    keys = [victim_key, *other_keys]
    wrong: list[tuple[str, object]] = []

    def call_all() -> None:
        for key in keys:
            value = cache.get_or_load(key, lambda key=key: f"value-{key}")
            if value != f"value-{key}":
                wrong.append((key, value))

    def victim_breaker() -> BreakerState | None:
        node = client.get_node_from_key(victim_key)
        return cache.breaker_states().get(str(node.name)) if node is not None else None

    try:
        call_all()
        assert victim_breaker() is BreakerState.CLOSED

        # Phase 1: the primary hangs (shorter than the node timeout: no failover).
        assert victim.pid is not None
        os.kill(victim.pid, signal.SIGSTOP)
        try:
            run_until(
                lambda: victim_breaker() is BreakerState.OPEN, call_all, 10, "breaker to open"
            )
            assert counts(registry, "catalog")["timeout"] >= 2
        finally:
            os.kill(victim.pid, signal.SIGCONT)
        run_until(lambda: victim_breaker() is BreakerState.CLOSED, call_all, 10, "breaker to close")

        # Phase 2: the primary serving the key now (on a slow machine the pause may have
        # outlasted the node timeout and promoted the replica) dies; its replica takes over.
        serving = next(p for p in lab.primaries_now() if key_in_ranges(victim_key, lab.slots_of(p)))
        before = counts(registry, "catalog")
        lab.kill(serving)
        run_until(
            lambda: (
                counts(registry, "catalog")["connection"] > before["connection"]
                or counts(registry, "catalog")["timeout"] > before["timeout"]
            ),
            call_all,
            10,
            "errors to be counted",
        )
        run_until(lambda: victim_breaker() is BreakerState.OPEN, call_all, 10, "breaker to reopen")
        served_again = threading.Event()

        def victim_key_served() -> bool:
            hits = counts(registry, "catalog")["hits"]
            call_all()
            if counts(registry, "catalog")["hits"] >= hits + len(keys):
                served_again.set()
            return served_again.is_set()

        run_until(victim_key_served, lambda: None, 60, "the cache to serve every key again")
        assert victim_breaker() is BreakerState.CLOSED  # the promoted replica's
    finally:
        client.close()
    assert wrong == []
