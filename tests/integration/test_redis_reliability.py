"""Reliability of the Redis Cluster on real redis-server processes, started and formed by the
pods' own scripts: failover, restarts, address changes, lost volumes, memory pressure, preStop.

Each test breaks its own fresh 3 + 3 lab built from the production redis.conf (node timeout
5000 ms, maxmemory overridden to the lab's size).
"""

from __future__ import annotations

import shutil
import signal
import threading
import time

import pytest

from lab.cluster import ClusterEntry, LabNode, RedisLab, acked_set, key_in_ranges
from tests.support.redis_lab import LabFactory

pytestmark = pytest.mark.integration


def write_keys(lab: RedisLab, prefix: str, count: int) -> dict[str, str]:
    """`count` keys spread over every slot, each acknowledged by a replica (WAIT 1)."""
    client = lab.client()
    written: dict[str, str] = {}
    for number in range(count):
        key, value = f"{prefix}:{number}", f"value-{number}"
        assert acked_set(client, key, value) == (True, True), key
        written[key] = value
    client.close()
    return written


def missing_keys(lab: RedisLab, expected: dict[str, str]) -> list[str]:
    client = lab.client()
    keys = list(expected)
    values: list[object] = []
    for start in range(0, len(keys), 200):
        values += [client.get(key) for key in keys[start : start + 200]]
    client.close()
    return [key for key, value in zip(keys, values, strict=True) if value != expected[key]]


def views_of(lab: RedisLab) -> dict[int, list[ClusterEntry]]:
    return {node.index: lab.cluster_nodes(node) for node in lab.nodes if node.running}


def wait_until(condition: object, timeout: float, what: str) -> None:
    assert callable(condition)
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def every_primary_has_a_replica(lab: RedisLab) -> bool:
    return all(lab.replicas_of(primary) for primary in lab.primaries_now())


def test_sigkill_of_a_primary_promotes_its_replica_without_losing_acknowledged_writes(
    lab: RedisLab,
) -> None:
    victim = lab.primaries_now()[0]
    successor = lab.replicas_of(victim)[0]
    victim_slots = lab.slots_of(victim)

    def in_victim_slots(key: str) -> bool:
        return key_in_ranges(key, victim_slots)

    acknowledged: dict[str, str] = {}
    killed = threading.Event()
    recovered = threading.Event()
    stop = threading.Event()
    failures: list[BaseException] = []

    def writer() -> None:
        client = lab.client()
        number = 0
        try:
            while not stop.is_set():
                key, value = f"failover:{number}", f"value-{number}"
                number += 1
                written, acked = acked_set(client, key, value, timeout_ms=300)
                if acked:
                    acknowledged[key] = value
                if killed.is_set() and written and in_victim_slots(key):
                    recovered.set()
        except BaseException as error:  # surfaced by the main thread
            failures.append(error)
        finally:
            client.close()

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        wait_until(lambda: len(acknowledged) >= 300, 30, "writes before the kill")
        lab.kill(victim)
        killed.set()
        assert recovered.wait(40), "no write to the killed primary's slots succeeded again"
    finally:
        stop.set()
        thread.join(10)
    assert not failures, failures

    assert lab.run_script("liveness.sh", victim).returncode == 1
    assert lab.run_script("readiness.sh", victim).returncode == 1
    lab.wait_cluster_ok(timeout=30)
    assert lab.role(successor) == "master"
    assert lab.node_id(successor) in {p_id for p_id in map(lab.node_id, lab.primaries_now())}
    assert len(acknowledged) > 300
    assert missing_keys(lab, acknowledged) == []


def test_full_restart_brings_every_key_back_on_the_same_or_new_addresses(lab: RedisLab) -> None:
    """Every node SIGTERMed and started again from its directory, first on the same addresses,
    then on new ones all at once. Without start.sh's nodes.conf repair the second restart would
    leave every node knowing only its peers' old addresses and the cluster down for good (the
    most reported failure of Redis Cluster on Kubernetes)."""
    expected = write_keys(lab, "restart", 500)
    ids_before = {node.index: lab.node_id(node) for node in lab.nodes}

    lab.restart_all()

    lab.wait_cluster_ok(timeout=30)
    assert {node.index: lab.node_id(node) for node in lab.nodes} == ids_before
    assert missing_keys(lab, expected) == []

    lab.restart_all(hosts=[f"127.0.0.{10 + node.index}" for node in lab.nodes])

    lab.wait_cluster_ok(timeout=30)
    addresses = {(e.ip, e.port) for view in views_of(lab).values() for e in view}
    assert addresses == {(node.host, node.port) for node in lab.nodes}
    assert {node.index: lab.node_id(node) for node in lab.nodes} == ids_before
    assert missing_keys(lab, expected) == []
    for node in lab.nodes:
        log = node.log_path.read_text()
        assert f"nodes.conf: {node.hostname} 127.0.0.1 -> {node.host}" in log, node.hostname


def test_a_node_restarted_on_a_new_address_rejoins(lab: RedisLab) -> None:
    expected = write_keys(lab, "moved", 200)
    moved = lab.primaries_now()[0]
    moved_id = lab.node_id(moved)

    lab.restart(moved, host="127.0.0.2")

    lab.wait_cluster_ok(timeout=30)
    wait_until(
        lambda: all(
            e.ip == "127.0.0.2"
            for view in views_of(lab).values()
            for e in view
            if e.node_id == moved_id
        ),
        15,
        "every node to see the new address",
    )
    assert missing_keys(lab, expected) == []


def replica_has_caught_up(lab: RedisLab, primary: LabNode, replica: LabNode) -> bool:
    """The replica has processed every byte of the primary's replication stream."""
    primary_client, replica_client = lab.node_client(primary), lab.node_client(replica)
    try:
        primary_offset = int(primary_client.info("replication")["master_repl_offset"])
        replication = replica_client.info("replication")
    finally:
        primary_client.close()
        replica_client.close()
    return (
        replication.get("master_link_status") == "up"
        and int(replication.get("slave_repl_offset", -1)) >= primary_offset
    )


def recreate_with_an_empty_volume(lab: RedisLab, node: LabNode, host: str) -> None:
    """What Kubernetes does to a pod whose volume was lost: the same name, a new pod IP, no data.

    The new address matters. A node that came back empty at its old address would be found by
    its replica, which reconnects to that address every second, asks for a partial resync,
    gets a full one and loads the empty dataset: the shard's keys are gone before any failover
    (measured: "Full resync from master ... keys loaded: 0" in the replica's log).
    """
    lab.kill(node, signal.SIGKILL)
    shutil.rmtree(node.data_dir)
    lab.start_node(node, host=host)


def test_a_wiped_primary_is_re_added_as_a_replica_by_bootstrap(lab: RedisLab) -> None:
    expected = write_keys(lab, "wiped", 300)
    wiped = lab.primaries_now()[0]
    old_id = lab.node_id(wiped)
    successor = lab.replicas_of(wiped)[0]
    # WAIT acknowledged every write; the whole stream must have reached the heir, too.
    wait_until(lambda: replica_has_caught_up(lab, wiped, successor), 15, "the replica's offset")

    recreate_with_an_empty_volume(lab, wiped, host="127.0.0.2")

    # Back empty and alone: alive for the liveness probe, not serving for readiness.
    assert lab.node_id(wiped) != old_id
    assert lab.cluster_info(wiped)["cluster_known_nodes"] == "1"
    assert lab.run_script("liveness.sh", wiped).returncode == 0
    assert lab.run_script("readiness.sh", wiped).returncode == 1

    output = lab.bootstrap(timeout=60)

    assert "came back empty" in output
    lab.wait_cluster_ok(timeout=30)
    assert lab.role(wiped) == "slave"
    assert lab.role(successor) == "master"
    wait_until(lambda: every_primary_has_a_replica(lab), 15, "a replica for every primary")
    assert len(lab.primaries_now()) == 3
    for index, view in views_of(lab).items():
        assert old_id not in {e.node_id for e in view}, f"node {index} still knows {old_id}"
    assert missing_keys(lab, expected) == []


def test_a_wiped_replica_is_re_added_by_bootstrap(lab: RedisLab) -> None:
    primary = lab.primaries_now()[1]
    wiped = lab.replicas_of(primary)[0]
    old_id = lab.node_id(wiped)

    lab.wipe(wiped)
    lab.bootstrap(timeout=60)

    lab.wait_cluster_ok(timeout=30)
    assert lab.role(wiped) == "slave"
    wait_until(lambda: every_primary_has_a_replica(lab), 15, "a replica for every primary")
    for view in views_of(lab).values():
        assert old_id not in {e.node_id for e in view}


def test_writing_past_maxmemory_evicts_and_keeps_accepting_writes(make_lab: LabFactory) -> None:
    lab = make_lab(memory="4mb")
    client = lab.client()
    value = "x" * 8192
    total = 3000  # ~24 MiB of values against 3 x 4 MiB of maxmemory
    pipe = client.pipeline()
    for number in range(total):
        pipe.set(f"pressure:{number}", value)
        if number % 200 == 199:
            assert all(reply is True for reply in pipe.execute())
    client.close()

    evicted = 0
    stored = 0
    for primary in lab.primaries_now():
        info = lab.node_client(primary).info()
        evicted += int(info["evicted_keys"])
        stored += int(info.get("db0", {"keys": 0})["keys"])
        assert int(info["used_memory"]) < 6 * 1024**2, f"node {primary.index} over maxmemory"
    assert evicted > 0
    assert stored < total
    assert lab.cluster_problems() == []


def test_prestop_hands_a_primary_over_to_its_replica(lab: RedisLab) -> None:
    primary = lab.primaries_now()[0]
    replica = lab.replicas_of(primary)[0]
    expected = write_keys(lab, "prestop", 200)

    on_replica = lab.run_script("prestop.sh", replica)
    assert on_replica.returncode == 0, on_replica.stderr
    assert "nothing to hand over" in on_replica.stderr
    assert (lab.role(primary), lab.role(replica)) == ("master", "slave")

    on_primary = lab.run_script("prestop.sh", primary)

    assert on_primary.returncode == 0, on_primary.stderr
    assert "handed over" in on_primary.stderr
    assert (lab.role(primary), lab.role(replica)) == ("slave", "master")
    lab.kill(primary)  # the pod then stops: nothing is lost, nobody waits for a failover
    lab.wait_cluster_ok(timeout=10)
    assert missing_keys(lab, expected) == []
