"""CacheAside on an in-memory cluster stand-in and a fake clock: reads, misses, TTL tiers,
degrading to the source, breakers, single-flight, batches, early refresh, the async twin."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, cast

import pytest
import redis
from prometheus_client import CollectorRegistry
from redis.exceptions import ClusterDownError

from cachekit import BreakerSettings, BreakerState, CacheAside, CacheOptions, Format
from cachekit.aside import AsyncCacheAside, error_kind
from cachekit.codec import decode
from cachekit.metrics import ErrorKind
from stackconfig.adr import TIER_RANGES
from stackconfig.tiers import DEFAULT_TIERS
from tests.support.cachekit_fakes import FakeClock, FakeCluster, FakeNode, refused, timeout

KEY = "product:catalog:12345:v1"
LONG_SHORT_TIER = dataclasses.replace(DEFAULT_TIERS["short"], edge_ttl=86400)


class Source:
    """A loader that counts its calls."""

    def __init__(self, value: object = "from-db") -> None:
        self.value = value
        self.calls = 0

    def __call__(self) -> object:
        self.calls += 1
        return self.value


def make(
    options: CacheOptions | None = None, rng: float = 0.5
) -> tuple[CacheAside, FakeCluster, FakeClock, CollectorRegistry]:
    clock = FakeClock()
    cluster = FakeCluster(clock)
    registry = CollectorRegistry()
    cache = CacheAside(
        cast(Any, cluster),
        service="catalog",
        registry=registry,
        options=options,
        clock=clock,
        monotonic=clock,
        rng=lambda: rng,
    )
    return cache, cluster, clock, registry


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, {"service": "catalog", **labels})
    assert value is not None, f"{name}{labels} is not exposed"
    return value


def test_a_miss_loads_and_stores_then_a_hit_reads_without_the_loader() -> None:
    cache, cluster, _, registry = make()
    source = Source({"id": 12345})
    assert cache.get_or_load(KEY, source) == {"id": 12345}
    assert cache.get_or_load(KEY, source) == {"id": 12345}
    assert source.calls == 1
    assert sample(registry, "cache_misses_total") == 1
    assert sample(registry, "cache_hits_total") == 1
    stored = decode(cluster.data[KEY][0])
    assert stored is not None and stored.value == {"id": 12345}


@pytest.mark.parametrize("tier", ["short", "medium", "long"])
def test_ttl_is_the_edge_tier_shortened_by_at_most_the_jitter(tier: str) -> None:
    edge = DEFAULT_TIERS[tier].edge_ttl
    for rng, expected in ((0.0, edge), (1.0, round(edge * 0.9)), (0.5, round(edge * 0.95))):
        cache, cluster, _, _ = make(rng=rng)
        cache.get_or_load(KEY, Source(), tier=tier)
        assert cluster.ttls[KEY] == expected
        assert cluster.ttls[KEY] <= TIER_RANGES[tier][1]


def test_a_value_expires_with_its_ttl() -> None:
    cache, _, clock, _ = make(rng=0.0)
    source = Source()
    cache.get_or_load(KEY, source, tier="short")
    clock.advance(DEFAULT_TIERS["short"].edge_ttl - 1)
    cache.get_or_load(KEY, source, tier="short")
    assert source.calls == 1
    clock.advance(1)
    cache.get_or_load(KEY, source, tier="short")
    assert source.calls == 2


def test_an_unknown_tier_is_refused() -> None:
    cache, _, _, _ = make()
    with pytest.raises(ValueError, match="unknown tier 'forever'"):
        cache.get_or_load(KEY, Source(), tier="forever")


@pytest.mark.parametrize(
    ("error", "kind"),
    [(timeout, "timeout"), (refused, "connection"), (lambda: redis.ResponseError("OOM"), "other")],
)
def test_a_redis_failure_returns_the_loaders_value_and_counts_its_kind(
    error: Any, kind: str
) -> None:
    cache, cluster, _, registry = make()
    cluster.fail_node_of(KEY, error)
    assert cache.get_or_load(KEY, Source("fresh")) == "fresh"
    assert sample(registry, "cache_errors_total", kind=kind) == 1
    assert sample(registry, "cache_misses_total") == 0


def test_error_kinds() -> None:
    assert error_kind(redis.TimeoutError()) is ErrorKind.TIMEOUT
    assert error_kind(redis.ConnectionError()) is ErrorKind.CONNECTION
    assert error_kind(ClusterDownError("CLUSTERDOWN")) is ErrorKind.CONNECTION
    assert error_kind(redis.ResponseError("WRONGTYPE")) is ErrorKind.OTHER


def test_a_failed_write_after_the_load_does_not_fail_the_request() -> None:
    cache, cluster, _, registry = make()

    def loader() -> str:
        cluster.fail_node_of(KEY, timeout)  # Redis dies between the read and the write
        return "fresh"

    assert cache.get_or_load(KEY, loader) == "fresh"
    assert sample(registry, "cache_errors_total", kind="timeout") == 1
    assert KEY not in cluster.data


def test_the_loaders_own_error_reaches_the_caller_and_nothing_is_cached() -> None:
    cache, cluster, _, _ = make()

    def broken() -> str:
        raise LookupError("no such product")

    with pytest.raises(LookupError):
        cache.get_or_load(KEY, broken)
    assert KEY not in cluster.data


def test_the_breaker_opens_skips_the_node_and_closes_after_a_good_probe() -> None:
    options = CacheOptions(breaker=BreakerSettings(failure_threshold=3, open_seconds=5))
    cache, cluster, clock, registry = make(options)
    node = cluster.fail_node_of(KEY, timeout)
    for _ in range(3):
        assert cache.get_or_load(KEY, Source("v")) == "v"
    assert cache.breaker_states()[node] is BreakerState.OPEN
    calls_before = len(cluster.calls)
    for _ in range(20):
        assert cache.get_or_load(KEY, Source("v")) == "v"
    assert len(cluster.calls) == calls_before, "an open breaker must not touch Redis"
    assert sample(registry, "cache_errors_total", kind="timeout") == 3

    cluster.heal()
    clock.advance(5)
    assert cache.breaker_states()[node] is BreakerState.HALF_OPEN
    assert cache.get_or_load(KEY, Source("v")) == "v"  # the probe, a miss that stores
    assert cache.breaker_states()[node] is BreakerState.CLOSED
    source = Source("other")
    assert cache.get_or_load(KEY, source) == "v" and source.calls == 0


def test_an_open_breaker_on_one_node_leaves_the_others_alone() -> None:
    options = CacheOptions(breaker=BreakerSettings(failure_threshold=1))
    cache, cluster, _, _ = make(options)
    other = next(
        k
        for k in (f"product:catalog:{n}:v1" for n in range(100))
        if cluster.get_node_from_key(k).name != cluster.get_node_from_key(KEY).name
    )
    cluster.fail_node_of(KEY, refused)
    cache.get_or_load(KEY, Source())
    source = Source()
    cache.get_or_load(other, source)
    cache.get_or_load(other, source)
    assert source.calls == 1


def test_concurrent_misses_of_one_key_call_the_loader_once() -> None:
    cache, _, _, _ = make()
    calls = 0
    release = threading.Event()
    start = threading.Barrier(50)

    def slow_loader() -> str:
        nonlocal calls
        calls += 1
        release.wait(5)
        return "once"

    results: list[str] = []

    def caller() -> None:
        start.wait()
        results.append(cache.get_or_load(KEY, slow_loader))

    threads = [threading.Thread(target=caller) for _ in range(50)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 5
    while len(cache._flights) == 0 and time.monotonic() < deadline:  # pyright: ignore[reportPrivateUsage]
        time.sleep(0.01)
    time.sleep(0.2)  # let the other callers reach the flight
    release.set()
    for t in threads:
        t.join(5)
    assert results == ["once"] * 50
    assert calls == 1


def test_followers_get_the_leaders_error() -> None:
    cache, _, _, _ = make()
    gate = threading.Event()
    errors: list[BaseException] = []

    def failing() -> str:
        gate.wait(5)
        raise LookupError("db down")

    def caller() -> None:
        try:
            cache.get_or_load(KEY, failing)
        except LookupError as error:
            errors.append(error)

    threads = [threading.Thread(target=caller) for _ in range(5)]
    for t in threads:
        t.start()
    time.sleep(0.2)
    gate.set()
    for t in threads:
        t.join(5)
    assert len(errors) == 5


def test_get_many_reads_in_one_pipeline_per_node_and_loads_only_the_missing() -> None:
    cache, cluster, _, registry = make()
    keys = [f"product:catalog:{n}:v1" for n in range(12)]
    cache.put(keys[0], "cached-0")
    cache.put(keys[1], "cached-1")
    asked: list[Sequence[str]] = []

    def loader(missing: Sequence[str]) -> Mapping[str, str]:
        asked.append(list(missing))
        return {k: f"loaded-{k}" for k in missing if k != keys[11]}

    result = cache.get_many_or_load(keys, loader)
    assert result[keys[0]] == "cached-0" and result[keys[1]] == "cached-1"
    assert result[keys[2]] == f"loaded-{keys[2]}"
    assert keys[11] not in result
    assert sorted(asked[0]) == sorted(keys[2:])
    nodes = {cluster.get_node_from_key(k).name for k in keys}
    assert len(cluster.pipelines) == len(nodes)
    for batch in cluster.pipelines:
        assert len({cluster.get_node_from_key(k).name for k in batch}) == 1
    assert sample(registry, "cache_hits_total") == 2
    assert sample(registry, "cache_misses_total") == 10
    again = cache.get_many_or_load(keys, loader)
    assert len(asked) == 2 and asked[1] == [keys[11]]
    assert again == result


def test_get_many_skips_a_failing_node_and_loads_its_keys() -> None:
    cache, cluster, _, registry = make()
    keys = [f"product:catalog:{n}:v1" for n in range(12)]
    cluster.fail_node_of(keys[0], refused)
    result = cache.get_many_or_load(keys, lambda missing: {k: "v" for k in missing})
    assert result == {k: "v" for k in keys}
    assert sample(registry, "cache_errors_total", kind="connection") >= 1


def test_invalidate_removes_and_reports_an_unconfirmed_removal() -> None:
    cache, cluster, _, _ = make()
    cache.put(KEY, "x")
    assert cache.invalidate(KEY)
    assert KEY not in cluster.data
    cluster.fail_node_of(KEY, refused)
    assert cache.invalidate(KEY) is False


def test_early_refresh_reloads_near_expiry_only() -> None:
    options = CacheOptions(early_refresh=1.0, jitter=0)
    # U = 0.01: the head start is -ln(0.01) x 1.0 x the load's duration, about 4.6 x 10 s = 46 s.
    cache, cluster, clock, _ = make(options, rng=0.01)

    def slow() -> str:
        clock.advance(10)
        return "old"

    cache.get_or_load(KEY, slow, tier="short")
    envelope = decode(cluster.data[KEY][0])
    assert envelope is not None and envelope.load_ms == 10_000

    ttl = DEFAULT_TIERS["short"].edge_ttl
    clock.advance(ttl - 10 - 100)  # 100 s before expiry: beyond the head start
    assert cache.get_or_load(KEY, Source("new")) == "old"
    clock.advance(70)  # 30 s before expiry: inside it
    assert cache.get_or_load(KEY, Source("new")) == "new"


def test_early_refresh_is_off_by_default() -> None:
    cache, _, clock, _ = make(CacheOptions(jitter=0), rng=0.000001)
    cache.get_or_load(KEY, Source("old"), tier="short")
    clock.advance(DEFAULT_TIERS["short"].edge_ttl - 1)
    assert cache.get_or_load(KEY, Source("new"), tier="short") == "old"


def test_values_written_as_msgpack_are_read_by_a_json_writer() -> None:
    cache, cluster, clock, _ = make(CacheOptions(format=Format.MSGPACK))
    cache.put(KEY, {"a": [1, 2]})
    reader = CacheAside(cast(Any, cluster), service="catalog", registry=CollectorRegistry())
    assert reader.get_or_load(KEY, Source()) == {"a": [1, 2]}
    del clock


@pytest.mark.parametrize(
    "options",
    [
        {"jitter": 1.0},
        {"jitter": -0.1},
        {"early_refresh": -1.0},
        {"compress_above": -1},
        {"tiers": {"short": DEFAULT_TIERS["short"]}},
        # One source of tier rules with the edge: a 1-day short tier breaks ADR-011.
        {
            "tiers": {
                **DEFAULT_TIERS,
                "short": dataclasses.replace(DEFAULT_TIERS["short"], edge_ttl=86400),
            }
        },
    ],
)
def test_bad_options_are_refused(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        CacheOptions(**options)


class AsyncFakeNode:
    """The async face of a FakeCluster node (redis-py's asyncio `ClusterNode`)."""

    def __init__(self, cluster: FakeCluster, name: str) -> None:
        self.name = name
        self.connection = cluster.get_redis_connection(FakeNode(name))

    async def execute_command(self, *args: Any) -> Any:
        await asyncio.sleep(0)
        return self.connection.execute_command(*args)


class AsyncFakeCluster:
    """The async face of FakeCluster."""

    def __init__(self, cluster: FakeCluster) -> None:
        self.cluster = cluster

    def get_node_from_key(self, key: str) -> Any:
        return AsyncFakeNode(self.cluster, self.cluster.get_node_from_key(key).name)

    async def get(self, key: str) -> bytes | None:
        await asyncio.sleep(0)
        return self.cluster.get(key)

    async def set(self, key: str, value: bytes, ex: int | None = None) -> bool:
        return self.cluster.set(key, value, ex)

    async def unlink(self, key: str) -> int:
        return self.cluster.unlink(key)


def test_the_async_twin_single_flights_and_degrades() -> None:
    clock = FakeClock()
    cluster = FakeCluster(clock)
    registry = CollectorRegistry()
    cache = AsyncCacheAside(
        cast(Any, AsyncFakeCluster(cluster)), service="catalog", registry=registry, clock=clock
    )
    calls = 0

    async def loader() -> str:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return "async"

    async def scenario() -> list[str]:
        first = await asyncio.gather(*(cache.get_or_load(KEY, loader) for _ in range(100)))
        cluster.fail_node_of(KEY, timeout)
        degraded = await cache.get_or_load(KEY, loader)
        return [*first, degraded]

    # Not asyncio.run: it unsets the thread's event loop, which the Pulumi mock tests in the
    # same worker rely on.
    loop = asyncio.new_event_loop()
    try:
        results = loop.run_until_complete(scenario())
    finally:
        loop.close()
    assert results == ["async"] * 101
    assert calls == 2
    assert sample(registry, "cache_errors_total", kind="timeout") == 1


def test_strong_reads_never_touch_the_cache() -> None:
    from cachekit import Consistency

    cache, cluster, _, registry = make()
    source = Source("ledger")
    for _ in range(3):
        assert cache.get_or_load(KEY, source, consistency=Consistency.STRONG) == "ledger"
    assert source.calls == 3
    assert cluster.calls == []
    assert sample(registry, "cache_hits_total") + sample(registry, "cache_misses_total") == 0


@pytest.mark.parametrize(
    ("consistency", "tier"),
    [("causal", "medium"), ("causal", "long"), ("read_your_writes", "long")],
)
def test_a_tier_longer_than_the_class_allows_is_refused(consistency: str, tier: str) -> None:
    from cachekit import Consistency

    cache, _, _, _ = make()
    with pytest.raises(ValueError, match=f"may be cached on .*not '{tier}'"):
        cache.get_or_load(KEY, Source(), tier=tier, consistency=Consistency(consistency))


def test_causal_and_session_reads_are_cached_on_their_tiers() -> None:
    from cachekit import Consistency

    cache, _, _, _ = make()
    source = Source()
    cache.get_or_load(KEY, source, tier="short", consistency=Consistency.CAUSAL)
    cache.get_or_load(KEY, source, tier="short", consistency=Consistency.CAUSAL)
    assert source.calls == 1
    session = "user:session:abc123:v1"
    cache.put(session, {"user": 7}, tier="medium")
    assert cache.get_or_load(
        session, Source(), tier="medium", consistency=Consistency.READ_YOUR_WRITES
    ) == {"user": 7}
