"""`cachectl health`'s checklist rules, on plain member reports (no server)."""

from __future__ import annotations

import dataclasses

import pytest

from cachectl.connection import CachectlError, ClusterEntry
from cachectl.health import (
    NodeReport,
    ServiceHitRate,
    Status,
    evaluate,
    host_of,
    parse_node_hosts,
)

MIB = 2**20


def entry(index: int, primary_of: int | None = None, **changes: object) -> ClusterEntry:
    """Member `index` of a 3 + 3 layout: 0-2 primaries, 3-5 replicas of (index - 3)."""
    slots = ((0, 5460), (5461, 10922), (10923, 16383))
    is_primary = primary_of is None
    base = ClusterEntry(
        node_id=f"{index:040d}",
        ip="10.0.0.1",
        port=6379 + index,
        hostname=f"redis-{index}.redis-headless.cache.svc.cluster.local",
        flags=frozenset({"master"} if is_primary else {"slave"}),
        primary_id=None if is_primary else f"{primary_of:040d}",
        connected=True,
        slots=(slots[index],) if is_primary else (),
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def report(member: ClusterEntry, **changes: object) -> NodeReport:
    base = NodeReport(
        entry=member,
        cluster_state="ok",
        used_memory=10 * MIB,
        maxmemory=100 * MIB,
        persistence={"rdb_last_bgsave_status": "ok", "aof_last_write_status": "ok"},
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def healthy() -> list[NodeReport]:
    return [report(entry(i)) for i in range(3)] + [report(entry(i, i - 3)) for i in range(3, 6)]


def by_name(checks: list, fragment: str):  # type: ignore[type-arg]
    found = [check for check in checks if fragment in check.name]
    assert len(found) == 1, [check.name for check in checks]
    return found[0]


def test_a_healthy_cluster_passes_every_check_but_an_unmeasurable_hit_rate() -> None:
    checks = evaluate(healthy())
    assert [c.status for c in checks if "hit rate" not in c.name] == [Status.PASS] * 7
    assert by_name(checks, "hit rate").status is Status.SKIP


def test_an_unreachable_replica_fails_reachability_and_its_primarys_replica_check() -> None:
    nodes = healthy()
    nodes[4] = dataclasses.replace(nodes[4], error="Connection refused")
    checks = evaluate(nodes)
    reachable = by_name(checks, "reachable and")
    replicas = by_name(checks, "replica")
    assert reachable.status is Status.FAIL and "redis-4" in reachable.detail
    assert replicas.status is Status.FAIL
    assert "primary 10.0.0.1:6380 (redis-1" in replicas.detail
    assert "no healthy replica" in replicas.detail
    assert by_name(checks, "slots").status is Status.PASS


def test_a_replica_flagged_failing_by_the_seed_does_not_count() -> None:
    nodes = healthy()
    nodes[3] = report(entry(3, 0, flags=frozenset({"slave", "fail"})))
    checks = evaluate(nodes)
    assert "redis-0" in by_name(checks, "replica").detail
    assert "flagged fail,slave" in by_name(checks, "reachable and").detail


def test_a_down_primary_leaves_slots_unserved() -> None:
    nodes = healthy()
    nodes[2] = dataclasses.replace(nodes[2], error="timeout")
    check = by_name(evaluate(nodes), "slots")
    assert check.status is Status.FAIL
    assert check.detail.startswith("10923 of 16384 served")


def test_host_is_the_announced_name_unless_node_hosts_say_otherwise() -> None:
    member = entry(0)
    assert host_of(member, None) == member.hostname
    assert host_of(dataclasses.replace(member, hostname=""), None) == "10.0.0.1"
    assert host_of(member, {"redis-0": "node-a"}) == "node-a"
    assert host_of(member, {member.hostname: "node-b"}) == "node-b"
    with pytest.raises(CachectlError, match="no line for"):
        host_of(member, {"redis-9": "node-a"})


def test_a_replica_on_its_primarys_host_fails_only_with_node_hosts() -> None:
    # Primaries 0-2 on node-0..2; replica 3 + n (of primary n) on the next node.
    placement = {f"redis-{i}": f"node-{i % 3 if i < 3 else (i + 1) % 3}" for i in range(6)}
    assert by_name(evaluate(healthy(), node_hosts=placement), "replica").status is Status.PASS
    placement["redis-3"] = "node-0"  # redis-3 replicates redis-0
    check = by_name(evaluate(healthy(), node_hosts=placement), "replica")
    assert check.status is Status.FAIL
    assert "redis-0" in check.detail and "own host node-0" in check.detail


def test_memory_at_80_percent_or_without_maxmemory_fails() -> None:
    nodes = healthy()
    nodes[1] = dataclasses.replace(nodes[1], used_memory=80 * MIB)
    check = by_name(evaluate(nodes), "memory")
    assert check.status is Status.FAIL and "80.0 %" in check.detail
    nodes = healthy()
    nodes[5] = dataclasses.replace(nodes[5], maxmemory=0)
    assert "has no maxmemory" in by_name(evaluate(nodes), "memory").detail
    nodes = healthy()
    nodes[1] = dataclasses.replace(nodes[1], used_memory=79 * MIB)
    assert by_name(evaluate(nodes), "memory").status is Status.PASS


def test_any_eviction_fails() -> None:
    nodes = healthy()
    nodes[0] = dataclasses.replace(nodes[0], evicted_keys=3)
    check = by_name(evaluate(nodes), "evictions")
    assert check.status is Status.FAIL and check.detail.startswith("3 keys evicted")


@pytest.mark.parametrize(("hits", "misses", "status"), [(96, 4, "pass"), (95, 5, "fail")])
def test_hit_rate_from_info_must_exceed_95_percent(hits: int, misses: int, status: str) -> None:
    nodes = healthy()
    nodes[0] = dataclasses.replace(nodes[0], keyspace_hits=hits, keyspace_misses=misses)
    assert by_name(evaluate(nodes), "hit rate").status is Status(status)


def test_prometheus_rates_replace_info_and_name_the_low_service() -> None:
    nodes = healthy()
    nodes[0] = dataclasses.replace(nodes[0], keyspace_hits=1, keyspace_misses=99)
    rates = [ServiceHitRate("catalog", 0.99), ServiceHitRate("cart", 0.91)]
    check = by_name(evaluate(nodes, service_hit_rates=rates), "hit rate")
    assert check.status is Status.FAIL and "cart 91.0 %" in check.detail
    assert "catalog" not in check.detail
    good = [ServiceHitRate("catalog", 0.99)]
    assert by_name(evaluate(nodes, service_hit_rates=good), "hit rate").status is Status.PASS
    assert by_name(evaluate(nodes, service_hit_rates=[]), "hit rate").status is Status.SKIP


def test_a_failed_save_or_aof_write_fails_persistence() -> None:
    nodes = healthy()
    nodes[2] = dataclasses.replace(
        nodes[2], persistence={"rdb_last_bgsave_status": "err", "aof_last_write_status": "ok"}
    )
    check = by_name(evaluate(nodes), "persistence")
    assert check.status is Status.FAIL and "rdb_last_bgsave_status:err" in check.detail


def test_a_node_out_of_cluster_state_ok_fails() -> None:
    nodes = healthy()
    nodes[5] = dataclasses.replace(nodes[5], cluster_state="fail")
    check = by_name(evaluate(nodes), "cluster_state")
    assert check.status is Status.FAIL and "redis-5" in check.detail


def test_node_hosts_lines() -> None:
    text = "# pod node\nredis-0 ip-10-0-1-5\n\nredis-1   ip-10-0-2-7  # zone b\n"
    assert parse_node_hosts(text) == {"redis-0": "ip-10-0-1-5", "redis-1": "ip-10-0-2-7"}
    with pytest.raises(CachectlError, match="line 1"):
        parse_node_hosts("redis-0\n")
