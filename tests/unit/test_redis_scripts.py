"""The lifecycle scripts' own logic, run by sh without a cluster: nodes.conf repair, refusals."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from lab.cluster import SCRIPTS_DIR
from tests.support.tools import free_port, require_tool

NODES_CONF = """\
aaaa 10.0.0.1:6379@16379,redis-0.redis-headless master - 0 1 1 connected 0-5460
bbbb 10.0.0.2:6379@16379,redis-1.redis-headless myself,master - 0 0 2 connected 5461-10922
cccc 10.0.0.3:6379@16379,redis-2.redis-headless,tls-port=0,shard-id=abc slave aaaa 0 1 1 connected
dddd 10.0.0.4:6379@16379,redis-3.unknown.invalid slave bbbb 0 1 2 connected
eeee 10.0.0.5:6379@16379 slave bbbb 0 1 2 connected
ffff :0@0,redis-4.redis-headless master,noaddr - 0 1 4 disconnected
vars currentEpoch 4 lastVoteEpoch 0
"""


def run_sh(script: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    sh = require_tool("sh")
    return subprocess.run(
        [sh, "-c", script, "sh", *args],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def repair(conf: Path, hosts: Path) -> subprocess.CompletedProcess[str]:
    return run_sh(
        f'. "{SCRIPTS_DIR}/common.sh"; repair_nodes_conf "$1"',
        {"REDIS_HOSTS_FILE": str(hosts)},
        str(conf),
    )


def test_repair_replaces_the_address_of_every_resolvable_hostname(tmp_path: Path) -> None:
    conf = tmp_path / "nodes.conf"
    conf.write_text(NODES_CONF)
    hosts = tmp_path / "hosts"
    hosts.write_text(
        "# lab\n"
        "10.1.0.1 redis-0.redis-headless\n"
        "10.1.0.2   redis-1.redis-headless alias\n"
        "10.1.0.3 redis-2.redis-headless\n"
        "10.1.0.9 redis-4.redis-headless\n"
    )

    result = repair(conf, hosts)

    assert result.returncode == 0, result.stderr
    lines = conf.read_text().splitlines()
    assert lines[0].split()[1] == "10.1.0.1:6379@16379,redis-0.redis-headless"
    assert lines[1].split()[1] == "10.1.0.2:6379@16379,redis-1.redis-headless"
    # Auxiliary fields (Redis 7.2) survive; the rest of each line is untouched.
    assert lines[2] == NODES_CONF.splitlines()[2].replace("10.0.0.3", "10.1.0.3")
    # Names that do not resolve and lines without a name keep their address.
    assert lines[3] == NODES_CONF.splitlines()[3]
    assert lines[4] == NODES_CONF.splitlines()[4]
    # An entry without an address has no port to combine with the new IP.
    assert lines[5] == NODES_CONF.splitlines()[5]
    assert lines[6] == "vars currentEpoch 4 lastVoteEpoch 0"
    assert "redis-3.unknown.invalid does not resolve" in result.stderr
    assert "redis-0.redis-headless 10.0.0.1 -> 10.1.0.1" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["hosts", "nodes.conf"]


def test_a_name_under_invalid_resolves_only_through_the_hosts_file(tmp_path: Path) -> None:
    # The lab's names end in .invalid (RFC 6761): the resolver is never asked, since a query
    # would only leave this machine. A getent that records its calls stands in for the resolver.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    asked = tmp_path / "asked"
    getent = bin_dir / "getent"
    getent.write_text(f'#!/bin/sh\necho "$2" >>"{asked}"\nexit 2\n')
    getent.chmod(0o755)
    hosts = tmp_path / "hosts"
    hosts.write_text("10.1.0.1 redis-0.redis-lab.invalid\n")
    script = f'. "{SCRIPTS_DIR}/common.sh"; for name; do echo "$name=$(resolve_host "$name")"; done'
    result = run_sh(
        script,
        {"REDIS_HOSTS_FILE": str(hosts), "PATH": f"{bin_dir}:{os.environ['PATH']}"},
        "redis-0.redis-lab.invalid",
        "redis-9.nowhere.invalid",
        "redis-9.nowhere.invalid.",
        "redis-9.example.com",
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "redis-0.redis-lab.invalid=10.1.0.1",
        "redis-9.nowhere.invalid=",
        "redis-9.nowhere.invalid.=",
        "redis-9.example.com=",
    ]
    assert asked.read_text().splitlines() == ["redis-9.example.com", "redis-9.example.com"]


def test_repair_leaves_a_current_file_untouched(tmp_path: Path) -> None:
    conf = tmp_path / "nodes.conf"
    conf.write_text(NODES_CONF)
    hosts = tmp_path / "hosts"
    hosts.write_text("10.0.0.1 redis-0.redis-headless\n")
    before = conf.stat().st_mtime_ns
    os.utime(conf, ns=(before - 10**9, before - 10**9))

    result = repair(conf, hosts)

    assert result.returncode == 0, result.stderr
    assert conf.read_text() == NODES_CONF
    assert conf.stat().st_mtime_ns == before - 10**9


def test_repair_of_a_missing_file_does_nothing(tmp_path: Path) -> None:
    result = repair(tmp_path / "nodes.conf", tmp_path / "hosts")
    assert result.returncode == 0
    assert not (tmp_path / "nodes.conf").exists()


def start_env(tmp_path: Path, **changes: str) -> dict[str, str]:
    conf = tmp_path / "redis.conf"
    conf.write_text("port 6379\n")
    (tmp_path / "data").mkdir(exist_ok=True)
    env = {
        "REDIS_CONF": str(conf),
        "REDIS_DATA_DIR": str(tmp_path / "data"),
        "REDIS_RUNTIME_DIR": str(tmp_path / "run"),
        "REDIS_ANNOUNCE_HOSTNAME": "redis-0.redis-headless",
        "REDISCLI_AUTH": "secret-value",
    }
    env.update(changes)
    return {name: value for name, value in env.items() if value}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"REDISCLI_AUTH": ""}, "no password"),
        ({"REDIS_ANNOUNCE_HOSTNAME": ""}, "REDIS_ANNOUNCE_HOSTNAME is required"),
        ({"REDIS_CONF": "/nonexistent/redis.conf"}, "is not readable"),
        ({"REDISCLI_AUTH": "two\nlines"}, "single line"),
    ],
)
def test_start_refuses_an_incomplete_environment(
    tmp_path: Path, changes: dict[str, str], message: str
) -> None:
    result = run_sh(f'exec sh "{SCRIPTS_DIR}/start.sh"', start_env(tmp_path, **changes))
    assert result.returncode == 1
    assert message in result.stderr
    assert "secret-value" not in result.stderr + result.stdout


def test_bootstrap_names_the_nodes_that_do_not_answer() -> None:
    require_tool("redis-cli")
    port = free_port()
    result = run_sh(
        f'exec sh "{SCRIPTS_DIR}/bootstrap.sh"',
        {
            "REDIS_NODES": f"127.0.0.1:{port} redis-9.nowhere.invalid:6379",
            # No time to wait: the survey asks each node once, then names the silent ones.
            "REDIS_BOOTSTRAP_TIMEOUT": "0",
            "REDISCLI_AUTH": "x",
        },
    )
    assert result.returncode == 1
    assert f"nodes not answering after 0s: 127.0.0.1:{port} redis-9.nowhere.invalid:6379" in (
        result.stderr
    )


def test_bootstrap_needs_nodes() -> None:
    result = run_sh(f'exec sh "{SCRIPTS_DIR}/bootstrap.sh"', {"REDISCLI_AUTH": "x"})
    assert result.returncode == 1
    assert "no nodes" in result.stderr
