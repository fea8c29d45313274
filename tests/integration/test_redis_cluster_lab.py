"""On one healthy lab, checks that leave it as they found it: bootstrap idempotence, probes, the
password's path, and the key convention's hash tags on a real cluster; and `make lab`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from redis.exceptions import ResponseError

from cachekit.keys import cache_key, invalidation_pattern
from lab.cluster import RedisLab
from tests.support import redis_lab
from tests.support.tools import require_tool

pytestmark = pytest.mark.integration


def topology(lab: RedisLab) -> dict[int, object]:
    """Everything CLUSTER NODES / CLUSTER INFO say about the layout, minus ping timestamps."""
    snapshot: dict[int, object] = {}
    for node in lab.nodes:
        lines = sorted(
            " ".join(fields[:4] + fields[6:])
            for fields in (line.split() for line in lab.cluster_nodes_text(node).splitlines())
            if fields
        )
        info = lab.cluster_info(node)
        epochs = (info["cluster_current_epoch"], info["cluster_my_epoch"])
        snapshot[node.index] = (lines, epochs, info["cluster_known_nodes"])
    return snapshot


def test_bootstrap_on_a_formed_cluster_changes_nothing(shared_lab: RedisLab) -> None:
    before = topology(shared_lab)

    output = shared_lab.bootstrap(timeout=30)

    assert "nothing to change" in output
    assert topology(shared_lab) == before


def test_probes_on_a_serving_node(shared_lab: RedisLab) -> None:
    node = shared_lab.nodes[0]
    for script in ("liveness.sh", "readiness.sh"):
        result = shared_lab.run_script(script, node)
        assert result.returncode == 0, (script, result.stdout, result.stderr)


def test_probes_fail_without_the_password(shared_lab: RedisLab) -> None:
    wrong = {"REDIS_PASSWORD_FILE": None, "REDISCLI_AUTH": "not-the-password"}
    readiness = shared_lab.run_script("readiness.sh", env_changes=wrong)
    liveness = shared_lab.run_script("liveness.sh", env_changes=wrong)
    assert (readiness.returncode, liveness.returncode) == (1, 1)
    assert "not serving" in readiness.stdout


def test_the_password_is_in_a_private_include_not_on_the_command_line(
    shared_lab: RedisLab,
) -> None:
    password = shared_lab.password
    assert password
    for node in shared_lab.nodes:
        assert node.pid is not None
        with open(f"/proc/{node.pid}/cmdline", "rb") as handle:
            assert password.encode() not in handle.read()
        include = node.runtime_dir / "auth.conf"
        assert oct(os.stat(include).st_mode & 0o777) == "0o600"
        assert shared_lab.conf_path.read_text().count(password) == 0


def test_hash_tagged_keys_of_one_entity_work_together_on_the_cluster(shared_lab: RedisLab) -> None:
    client = shared_lab.client()
    tagged = [cache_key("product", "catalog", "12345", f"v{n}", hash_tag=True) for n in (1, 2)]
    plain = [cache_key("product", "catalog", "12345", f"v{n}") for n in (1, 2, 3)]
    slots = {int(client.cluster_keyslot(key)) for key in tagged}
    assert len(slots) == 1

    node = client.get_node_from_key(tagged[0])
    assert node is not None
    owner = node.redis_connection
    assert owner is not None
    owner.mset({tagged[0]: "a", tagged[1]: "b"})
    assert owner.mget(tagged) == ["a", "b"]

    assert len({int(client.cluster_keyslot(key)) for key in plain}) > 1
    with pytest.raises(ResponseError, match=r"same slot|MOVED"):
        owner.mget(plain)
    client.close()


def test_invalidation_pattern_matches_exactly_its_keys_across_the_cluster(
    shared_lab: RedisLab,
) -> None:
    client = shared_lab.client()
    wanted = [cache_key("search", "results", f"shoes*{n}") for n in range(20)]
    others = [cache_key("search", "results", f"shoesX{n}") for n in range(20)]
    others.append(cache_key("search", "resultsx", "shoes*1"))
    for key in wanted + others:
        client.set(key, "1")

    found = set(client.scan_iter(match=invalidation_pattern("search", "results", "shoes*1")))
    assert found == {cache_key("search", "results", "shoes*1")}
    found_all = {
        key
        for key in client.scan_iter(match=invalidation_pattern("search", "results"))
        if key in set(wanted + others)
    }
    assert found_all == set(wanted + others[:-1])
    client.close()


def test_make_lab_runs_a_cluster_redis_cli_can_use_until_sigterm(tmp_path: Path) -> None:
    """`make lab` (`python -m lab run`): prints the nodes with their roles, serves until SIGTERM,
    then removes the lab."""
    redis_lab.require_redis_tools()
    redis_cli = require_tool("redis-cli")
    directory = tmp_path / "lab"
    command = [sys.executable, "-m", "lab", "run", "--stack", "dev", "--memory", "16mb"]
    process = subprocess.Popen(
        [*command, "--dir", str(directory)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        printed: list[str] = []
        for line in process.stdout:
            printed.append(line)
            if line.startswith("Stop:"):
                break
        text = "".join(printed)
        password_file = re.search(r'REDISCLI_AUTH="\$\(cat (\S+)\)"', text)
        connect = re.search(r"redis-cli -c -h (\S+) -p (\d+)", text)
        roles = re.findall(r"^  redis-\d+ +\S+ +(primary|replica) +pid \d+$", text, re.MULTILINE)
        assert sorted(roles) == ["primary"] * 3 + ["replica"] * 3, text
        assert password_file and connect, text
        password = Path(password_file[1]).read_text()
        assert password not in text

        def cli(*args: str) -> str:
            return subprocess.run(
                [redis_cli, "-c", "-h", connect[1], "-p", connect[2], *args],
                env={**os.environ, "REDISCLI_AUTH": password},
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout.strip()

        # Keys on every shard: redis-cli follows the redirects to the other nodes.
        for number in range(10):
            assert cli("set", f"cli:{number}", str(number)) == "OK"
        assert [cli("get", f"cli:{number}") for number in range(10)] == [
            str(number) for number in range(10)
        ]
    finally:
        process.send_signal(signal.SIGTERM)
        remaining, _ = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "stopping the lab" in remaining
    assert not directory.exists()
