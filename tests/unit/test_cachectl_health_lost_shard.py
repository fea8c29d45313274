"""A shard that lost both nodes: cluster_state stays ok on the others (full coverage is not
required), and `cachectl health` says so beside the failing slots check."""

from __future__ import annotations

import dataclasses

from cachectl.connection import ClusterEntry
from cachectl.health import NodeReport, Status, evaluate

SLOTS = ((0, 5460), (5461, 10922), (10923, 16383))


def member(index: int) -> NodeReport:
    is_primary = index < 3
    entry = ClusterEntry(
        node_id=f"{index:040d}",
        ip="10.0.0.1",
        port=6379 + index,
        hostname=f"redis-{index}.redis-headless.cache.svc.cluster.local",
        flags=frozenset({"master"} if is_primary else {"slave"}),
        primary_id=None if is_primary else f"{index - 3:040d}",
        connected=True,
        slots=(SLOTS[index],) if is_primary else (),
    )
    return NodeReport(entry=entry, cluster_state="ok", used_memory=1, maxmemory=100)


def test_a_lost_shard_is_not_a_plain_tick_for_cluster_state() -> None:
    nodes = [member(i) for i in range(6)]
    for lost in (2, 5):  # redis-2 and its replica redis-5
        nodes[lost] = dataclasses.replace(nodes[lost], error="Connection refused")
    checks = {check.name: check for check in evaluate(nodes)}
    state = next(c for name, c in checks.items() if name.startswith("cluster_state"))
    slots = next(c for name, c in checks.items() if "slots served" in name)
    assert slots.status is Status.FAIL and "10923 of 16384" in slots.detail
    assert state.status is Status.PASS
    assert "not every slot is served" in state.line


def test_a_whole_cluster_keeps_a_plain_tick() -> None:
    state = evaluate([member(i) for i in range(6)])[0]
    assert state.status is Status.PASS and state.detail == ""
