"""While a shard has no reachable primary, the kit reads eventual keys from its replica
(READONLY), writes nothing to that shard, and follows the promotion as soon as the slot map
shows it instead of waiting out the breaker's open time."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

import pytest
from prometheus_client import CollectorRegistry

from cachekit import BreakerSettings, BreakerState, CacheAside, CacheOptions, Consistency
from cachekit.breaker import CircuitBreaker
from tests.support.cachekit_fakes import FakeClock, FakeCluster, refused, timeout

KEY = "product:catalog:12345:v1"
BREAKER = BreakerSettings(failure_threshold=2, open_seconds=5.0)


def make(
    *, replica_reads: bool = True
) -> tuple[CacheAside, FakeCluster, FakeClock, CollectorRegistry]:
    clock = FakeClock()
    cluster = FakeCluster(clock, replicas=True)
    registry = CollectorRegistry()
    cache = CacheAside(
        cast(Any, cluster),
        service="catalog",
        registry=registry,
        options=CacheOptions(breaker=BREAKER, replica_reads=replica_reads),
        clock=clock,
        monotonic=clock,
        rng=lambda: 0.5,
    )
    return cache, cluster, clock, registry


def sample(registry: CollectorRegistry, name: str, **labels: str) -> float:
    value = registry.get_sample_value(name, {"service": "catalog", **labels})
    assert value is not None, f"{name}{labels} is not exposed"
    return value


class Source:
    def __init__(self, value: str) -> None:
        self.value = value
        self.calls = 0

    def __call__(self) -> str:
        self.calls += 1
        return self.value


def fail(what: str) -> Any:
    def loader(*_: object) -> Any:
        pytest.fail(f"{what}: the loader was called")

    return loader


def test_a_dead_primary_s_keys_are_served_from_its_replica_with_readonly() -> None:
    cache, cluster, _, registry = make()
    assert cache.get_or_load(KEY, lambda: "cached") == "cached"
    dead = cluster.fail_node_of(KEY, refused)
    for _ in range(5):  # failing calls, then the open breaker: every read is a replica hit
        assert cache.get_or_load(KEY, fail("replica hit")) == "cached"
    assert cache.breaker_states()[dead] is BreakerState.OPEN
    assert cluster.calls.count(("replica-get", KEY)) == 5
    assert sample(registry, "cache_hits_total") == 5
    assert sample(registry, "cache_misses_total") == 1  # the first load only


def test_a_replica_miss_loads_and_writes_nothing_to_the_shard() -> None:
    cache, cluster, _, registry = make()
    cluster.fail_node_of(KEY, refused)
    for _ in range(3):
        assert cache.get_or_load(KEY, lambda: "loaded") == "loaded"
    assert [call for call in cluster.calls if call[0] == "set"] == []
    assert KEY not in cluster.data
    assert sample(registry, "cache_misses_total") == 3


@pytest.mark.parametrize("consistency", [Consistency.READ_YOUR_WRITES, Consistency.CAUSAL])
def test_only_eventual_keys_are_read_from_a_replica(consistency: Consistency) -> None:
    cache, cluster, _, _ = make()
    cache.get_or_load(KEY, lambda: "old", tier="short", consistency=consistency)
    cluster.fail_node_of(KEY, refused)
    loaded = cache.get_or_load(KEY, lambda: "new", tier="short", consistency=consistency)
    assert loaded == "new"
    assert ("replica-get", KEY) not in cluster.calls


def test_replica_reads_can_be_turned_off() -> None:
    cache, cluster, _, registry = make(replica_reads=False)
    cache.get_or_load(KEY, lambda: "cached")
    cluster.fail_node_of(KEY, refused)
    source = Source("loaded")
    assert cache.get_or_load(KEY, source) == "loaded"
    assert source.calls == 1
    assert ("replica-get", KEY) not in cluster.calls
    assert sample(registry, "cache_hits_total") == 0


def test_a_lagging_replica_serves_what_it_has() -> None:
    """The trade-off documented for eventual data: the replica has not seen the last write."""
    cache, cluster, _, _ = make()
    cache.get_or_load(KEY, lambda: "old")
    stale = cluster.data[KEY][0]
    cache.put(KEY, "new")
    cluster.replica_lag[KEY] = stale
    cluster.fail_node_of(KEY, refused)
    assert cache.get_or_load(KEY, fail("replica hit")) == "old"


def test_primary_and_replica_both_down_degrade_to_the_source() -> None:
    cache, cluster, _, registry = make()
    cache.get_or_load(KEY, lambda: "cached")
    cluster.fail_node_of(KEY, timeout)
    cluster.failing[cluster.replicas[cluster.shard_of(KEY)]] = refused
    source = Source("loaded")
    for _ in range(4):
        assert cache.get_or_load(KEY, source) == "loaded"
    assert source.calls == 4
    assert sample(registry, "cache_hits_total") == 0
    assert sample(registry, "cache_errors_total", kind="connection") >= 2


def test_the_promoted_replica_is_used_before_the_breaker_s_open_time_ends() -> None:
    cache, cluster, clock, _ = make()
    cache.get_or_load(KEY, lambda: "cached")
    dead = cluster.fail_node_of(KEY, refused)
    for _ in range(3):
        cache.get_or_load(KEY, fail("replica hit"))
    assert cache.breaker_states()[dead] is BreakerState.OPEN
    promoted = cluster.promote_replica_of(KEY)
    clock.advance(1.0)  # well inside the 5 s open time
    assert cache.get_or_load(KEY, fail("hit on the new primary")) == "cached"
    assert cluster.calls[-1] == ("get", KEY)  # the new primary's own GET, no replica read
    assert cluster.known_primaries[cluster.shard_of(KEY)] == promoted
    assert cache.breaker_states()[dead] is BreakerState.HALF_OPEN
    # Writes resume on the new primary.
    cache.invalidate(KEY)
    assert cache.get_or_load(KEY, lambda: "reloaded") == "reloaded"
    assert [call for call in cluster.calls if call[0] == "set"][-1] == ("set", KEY)


def test_the_replica_s_role_is_checked_once_per_interval_and_the_map_patched_on_promotion() -> None:
    cache, cluster, clock, _ = make()
    cache.get_or_load(KEY, lambda: "cached")
    cluster.fail_node_of(KEY, refused)
    for _ in range(20):
        cache.get_or_load(KEY, fail("replica hit"))
    assert [call for call in cluster.calls if call[0] == "role"] == [
        ("role", cluster.replicas[cluster.shard_of(KEY)])
    ]
    assert cluster.nodes_manager.refreshes == 0  # still a replica: no re-read of the map
    clock.advance(CacheOptions().topology_refresh_seconds)
    cache.get_or_load(KEY, fail("replica hit"))
    assert len([call for call in cluster.calls if call[0] == "role"]) == 2
    promoted = cluster.promote_replica_of(KEY)
    clock.advance(CacheOptions().topology_refresh_seconds)
    cache.get_or_load(KEY, fail("hit on the new primary"))
    # The shard's slots are redirected to the promoted replica (one MOVED for the shard's one
    # slot range), as redis-py follows a MOVED: no re-read of the whole map, which would
    # recycle every connection to every node.
    assert cluster.nodes_manager.refreshes == 0
    assert cluster.nodes_manager.moves == 1
    assert cluster.known_primaries[cluster.shard_of(KEY)] == promoted


def test_the_map_is_re_read_when_no_replica_can_say_whether_it_was_promoted() -> None:
    cache, cluster, _, _ = make()
    cache.get_or_load(KEY, lambda: "cached")
    cluster.fail_node_of(KEY, refused)
    cluster.failing[cluster.replicas[cluster.shard_of(KEY)]] = refused
    cache.get_or_load(KEY, lambda: "loaded")
    assert cluster.nodes_manager.refreshes == 1
    assert cluster.nodes_manager.moves == 0


def test_get_many_reads_a_dead_shard_from_its_replica_and_stores_only_elsewhere() -> None:
    cache, cluster, _, _ = make()
    keys = [f"product:catalog:{n}:v1" for n in range(30)]
    cached = keys[::2]
    cache.get_many_or_load(cached, lambda missing: {k: f"v-{k}" for k in missing})
    dead = cluster.fail_node_of(KEY, refused)
    dead_shard = cluster.shard_of(KEY)
    loaded: list[str] = []

    def loader(missing: Sequence[str]) -> dict[str, str]:
        loaded.extend(missing)
        return {k: f"v-{k}" for k in missing}

    cluster.calls.clear()
    result = cache.get_many_or_load(keys, loader)
    assert result == {k: f"v-{k}" for k in keys}
    assert sorted(loaded) == sorted(set(keys) - set(cached))
    replica_read = {key for command, key in cluster.calls if command == "replica-get"}
    assert replica_read == {k for k in keys if cluster.shard_of(k) == dead_shard}
    stored = {key for command, key in cluster.calls if command == "set"}
    assert stored == {k for k in loaded if cluster.shard_of(k) != dead_shard}
    assert dead in cache.breaker_states()


def test_a_bad_refresh_interval_is_refused() -> None:
    with pytest.raises(ValueError, match="topology_refresh_seconds"):
        CacheOptions(topology_refresh_seconds=0)


def test_probe_now_half_opens_only_an_open_breaker() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(BREAKER, clock)
    breaker.probe_now()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    breaker.probe_now()
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()
    assert not breaker.allow()  # one probe at a time
