"""Scaling a live lab cluster through the pods' bootstrap.sh, as the reconcile and drain Jobs run
it: 3 -> 4 -> 3 primaries under a steady write load acknowledged with WAIT 1, and the refusals
that protect data (no room at the current memory use, a shard with no live copy).

The full proof with figures (3 -> 4 -> 3 and 3 -> 5 -> 3) is bench/scaling_bench.py.
"""

from __future__ import annotations

import time

import pytest
from typer.testing import CliRunner

from cachectl.cli import app
from lab.cluster import LabError, RedisLab
from lab.scaling import AckedWriter, run_bootstrap, scale, slot_owners
from stackconfig.sharding import SLOT_COUNT
from tests.support.redis_lab import LabFactory

pytestmark = pytest.mark.integration

EVEN = SLOT_COUNT // 100
"""max - min slots per primary allowed after a step: 1 % of the slots."""


def machines_of(lab: RedisLab, count: int) -> dict[int, str]:
    """Nodes i and i + count share a machine, so placement has something to avoid."""
    return {node.index: f"machine-{node.index % count}" for node in lab.nodes}


def check_shape(lab: RedisLab, primaries: int, replicas: int, machines: dict[int, str]) -> None:
    lab.wait_cluster_ok(timeout=60)
    serving = lab.primaries_now()
    assert len(serving) == primaries
    counts = [sum(b - a + 1 for a, b in lab.slots_of(p)) for p in serving]
    assert sum(counts) == SLOT_COUNT
    assert max(counts) - min(counts) <= EVEN, counts
    for primary in serving:
        followers = lab.replicas_of(primary)
        assert len(followers) == replicas, (primary.index, [f.index for f in followers])
        for replica in followers:
            assert machines[replica.index] != machines[primary.index], (primary, replica)


def test_scale_out_and_back_under_acknowledged_writes_loses_no_key(make_lab: LabFactory) -> None:
    lab = make_lab(primaries=3, replicas=1)
    machines = {index: f"machine-{index % 4}" for index in range(8)}
    with AckedWriter(lab.client(socket_timeout=5.0), pause=0.005) as writer:
        time.sleep(0.5)
        out = scale(lab, 4, machines=machines)
        check_shape(lab, 4, 1, machines)
        assert len(lab.nodes) == 8
        back = scale(lab, 3, machines=machines)
        check_shape(lab, 3, 1, machines)
        assert len(lab.nodes) == 6
    assert writer.errors == []
    assert len(writer.acknowledged) > 100
    assert writer.lost() == []
    assert out.slots_moved >= SLOT_COUNT // 4 - EVEN
    assert back.slots_moved >= SLOT_COUNT // 4 - EVEN
    # Every removed member is forgotten by every node that stays.
    known = {len(lab.cluster_nodes(node)) for node in lab.nodes}
    assert known == {6}
    # Converged: running the reconcile again changes nothing.
    assert "nothing to change" in lab.bootstrap(timeout=60)


def test_a_scale_in_without_room_for_the_data_is_refused(make_lab: LabFactory) -> None:
    lab = make_lab(primaries=3, replicas=0, memory="8mb")
    cluster = lab.client()
    value = "x" * 10_000
    for number in range(900):  # about 9 MB: 3 MB a primary, more than 80 % of 8 MB for one
        cluster.set(f"fill:{number}", value)
    before = slot_owners(lab)
    env = {
        "CACHECTL_NODE": lab.nodes[0].address,
        "REDISCLI_AUTH": lab.password or "",
        "REDIS_PASSWORD_FILE": "",
    }

    def cachectl(*args: str) -> tuple[int, str]:
        result = CliRunner().invoke(app, list(args), env=env)
        return result.exit_code, result.output

    # The runbook's checks see what the script will refuse.
    assert cachectl("scale", "slots")[0] == 0
    code, output = cachectl("scale", "check-in", "--primaries", "1")
    assert code == 1 and "does NOT fit" in output, output
    code, output = cachectl("scale", "check-in", "--primaries", "2")
    assert code == 0 and "fits" in output and "5462 slots move" in output, output

    with pytest.raises(LabError, match="refusing to scale in") as refusal:
        scale(lab, 1, 0)

    assert "maxmemory" in str(refusal.value)
    assert slot_owners(lab) == before
    assert len(lab.nodes) == 3 and lab.primaries == 3
    assert sum(1 for n in range(900) if cluster.get(f"fill:{n}") == value) == 900


def test_a_shard_with_no_live_copy_stops_the_drain(make_lab: LabFactory) -> None:
    lab = make_lab(primaries=3, replicas=1)
    victim = lab.primaries_now()[0]
    for node in [victim, *lab.replicas_of(victim)]:
        lab.kill(node)
    deadline = time.monotonic() + 60
    while not any("slots served" in problem for problem in lab.cluster_problems()):
        assert time.monotonic() < deadline, "the cluster never noticed the dead shard"
        time.sleep(0.5)
    time.sleep(1)

    with pytest.raises(LabError, match="no live copy"):
        run_bootstrap(lab, lab.nodes[:4], "drain", timeout=20)


def test_a_half_moved_slot_is_finished_and_the_repair_cronjob_never_reshapes(
    make_lab: LabFactory,
) -> None:
    lab = make_lab(primaries=3, replicas=0)
    cluster = lab.client()
    source, target = lab.primaries_now()[:2]
    key = lab.key_in_slots_of(source, prefix="moving")
    cluster.set(key, "kept")
    slot = cluster.keyslot(key)
    # An interrupted move: the slot is IMPORTING on the target and MIGRATING on the source.
    target_client, source_client = lab.node_client(target), lab.node_client(source)
    try:
        target_id, source_id = lab.node_id(target), lab.node_id(source)
        target_client.execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", source_id)
        source_client.execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", target_id)
    finally:
        target_client.close()
        source_client.close()

    # The repair CronJob with an older REDIS_NODES (two members) leaves the change to the Jobs.
    repair = lab.run_script(
        "bootstrap.sh",
        env_changes={
            "REDIS_NODES": " ".join(node.name for node in lab.nodes[:2]),
            "REDIS_PRIMARIES": "2",
            "REDIS_RECONCILE_MODE": "repair",
            "REDIS_BOOTSTRAP_TIMEOUT": "20",
        },
    )
    assert repair.returncode == 0, repair.stderr
    assert "left to the reconcile Job" in repair.stderr
    assert len(lab.primaries_now()) == 3

    converge = run_bootstrap(lab, lab.nodes, "converge", timeout=60)
    assert "finishing them with --cluster fix" in converge
    for node in lab.nodes:
        assert "[" not in lab.cluster_nodes_text(node), f"node {node.index} has an open slot"
    assert cluster.get(key) == "kept"
