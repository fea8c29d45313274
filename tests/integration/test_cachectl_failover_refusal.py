"""`cachectl failover` seconds after another failover of the same shard, on a real lab.

A -> B, B -> A, then A -> B again: B won an election seconds ago. Within 2 x node timeout of it,
Redis reuses that election's votes, B claims the slots with an older config epoch than A's and
turns back; between 2 x and 4 x, B starts no election and Redis gives up after 5 s. cachectl must
say so within seconds, in one line naming when to retry, instead of waiting out its --timeout.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import redis
from typer.testing import CliRunner

from cachectl.cli import app
from cachectl.connection import ClusterEntry, ClusterView, ConnectionSettings, Endpoint
from cachectl.failover import sync_problem
from lab.cluster import RedisLab
from tests.support.tools import free_port, require_tool

pytestmark = pytest.mark.integration


def run(redis_lab: RedisLab, *args: str) -> tuple[int, str, str]:
    env = {
        "CACHECTL_NODE": ",".join(node.address for node in redis_lab.nodes),
        "REDISCLI_AUTH": redis_lab.password or "",
        "REDIS_PASSWORD_FILE": "",
    }
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_a_failover_right_after_two_others_is_one_line_naming_when_to_retry(
    lab: RedisLab,
) -> None:
    primary = lab.primaries_now()[0]
    replica = lab.replicas_of(primary)[0]
    for _ in range(2):  # A -> B, then straight back B -> A
        code, out, err = run(lab, "failover", "--node", primary.address)
        assert code == 0, err

    code, out, err = run(lab, "failover", "--node", primary.address, "--retry-within", "0")
    assert code == 1, out
    (line,) = err.splitlines()
    assert line.startswith("error: Redis refused the failover of"), line
    # Which of Redis's refusals depends on how long the first two took (machine load): a stale
    # election within 2 x node timeout of B's, or none at all between 2 x and 4 x.
    assert "elected for this shard moments ago" in line or "started no election" in line, line
    assert "retry after" in line and line.endswith("UTC"), line
    lab.wait_cluster_ok()
    # A stale election flips the replica to primary and back (the newer epoch wins): the roles
    # settle a moment after the cluster is ok again.
    deadline = time.monotonic() + 20
    while (lab.role(primary), lab.role(replica)) != ("master", "slave"):
        if time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert lab.role(primary) == "master" and lab.role(replica) == "slave"


def test_a_replica_out_of_sync_is_refused_before_anything_is_asked(tmp_path: Path) -> None:
    """A replica whose link to its primary is down (here: a primary that does not exist) is
    named, with what to do, by the check `failover` runs before CLUSTER FAILOVER."""
    port = free_port()
    server = subprocess.Popen(
        [require_tool("redis-server"), "--port", str(port), "--bind", "127.0.0.1",
         "--save", "", "--dir", str(tmp_path), "--replicaof", "127.0.0.1", str(free_port())],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        client = redis.Redis(port=port)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        client.close()
        replica = ClusterEntry(
            node_id="b" * 40, ip="127.0.0.1", port=port, hostname="", flags=frozenset({"slave"}),
            primary_id="a" * 40, connected=True, slots=(),
        )  # fmt: skip
        view = ClusterView(
            ConnectionSettings(seeds=(Endpoint("127.0.0.1", port),)),
            Endpoint("127.0.0.1", port),
            [replica],
        )
        problem = sync_problem(view, replica)
        assert problem is not None and "master_link_status:down" in problem, problem
    finally:
        server.terminate()
        server.wait(timeout=10)
