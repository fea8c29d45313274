"""Least privilege on a real cluster: the pods' ACL users, started through start.sh (issue 14).

One lab in ACL mode (`default` off, one user per kind of client, passwords in files): the
application user is refused every forbidden command and can do its work; the exporter exports as
the monitoring user; replication and failover work through `masteruser`; the backup user streams
an RDB. The user × command matrix is printed (`pytest -s`) and compared with what each user must
and must not run.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
import requests

from components.redis.acl import APP, BACKUP, MONITOR, OPERATOR, REPLICATION, USERS
from lab.cluster import RedisLab
from tests.support.redis_lab import lab_conf, require_redis_tools
from tests.support.tools import free_port, require_tool

pytestmark = pytest.mark.integration

# Command (as ACL DRYRUN takes it) -> users that may run it. Everything else must be refused.
EXPECTED: dict[tuple[str, ...], set[str]] = {
    ("GET", "k"): {APP.name, OPERATOR.name},
    ("SET", "k", "v"): {APP.name, OPERATOR.name},
    ("DEL", "k"): {APP.name, OPERATOR.name},
    ("EXPIRE", "k", "60"): {APP.name, OPERATOR.name},
    ("HSET", "h", "f", "v"): {APP.name, OPERATOR.name},
    ("INCR", "n"): {APP.name, OPERATOR.name},
    ("EVAL", "return 1", "0"): {APP.name, OPERATOR.name},
    ("SCAN", "0"): {APP.name, OPERATOR.name},
    ("UNLINK", "k"): {APP.name, OPERATOR.name},
    ("CLUSTER", "SLOTS"): {APP.name, OPERATOR.name, MONITOR.name, BACKUP.name},
    ("CLUSTER", "NODES"): {APP.name, OPERATOR.name, MONITOR.name, BACKUP.name},
    ("KEYS", "*"): {OPERATOR.name},
    ("INFO",): {OPERATOR.name, MONITOR.name, BACKUP.name},
    ("ROLE",): {OPERATOR.name, MONITOR.name, BACKUP.name},
    ("CONFIG", "GET", "requirepass"): {OPERATOR.name},
    ("CONFIG", "SET", "maxmemory", "1"): set(),
    ("FLUSHALL",): set(),
    ("FLUSHDB",): set(),
    ("CLUSTER", "RESET"): {OPERATOR.name},
    ("CLUSTER", "FAILOVER"): {OPERATOR.name},
    ("CLUSTER", "ADDSLOTS", "1"): {OPERATOR.name},
    ("CLUSTER", "FORGET", "x"): {OPERATOR.name},
    ("SHUTDOWN",): set(),
    ("DEBUG", "SLEEP", "0"): set(),
    ("MONITOR",): set(),
    ("ACL", "SETUSER", "x"): set(),
    ("REPLICAOF", "NO", "ONE"): {OPERATOR.name},
    ("CLIENT", "KILL", "ID", "1"): {OPERATOR.name},
    ("CLIENT", "LIST"): {OPERATOR.name, MONITOR.name},
    ("SLOWLOG", "GET"): {OPERATOR.name, MONITOR.name},
    ("SYNC",): {OPERATOR.name, BACKUP.name},
    ("PSYNC", "?", "-1"): {OPERATOR.name, BACKUP.name, REPLICATION.name},
    ("REPLCONF", "listening-port", "1"): {OPERATOR.name, BACKUP.name, REPLICATION.name},
}

FORBIDDEN_FOR_THE_APPLICATION = [
    ("CONFIG", "GET", "requirepass"),
    ("CONFIG", "SET", "maxmemory", "1"),
    ("FLUSHALL",),
    ("FLUSHDB",),
    ("CLUSTER", "RESET"),
    ("CLUSTER", "FAILOVER"),
    ("CLUSTER", "ADDSLOTS", "1"),
    ("CLUSTER", "MEET", "127.0.0.1", "1"),
    ("SHUTDOWN",),
    ("DEBUG", "SLEEP", "0"),
    ("KEYS", "*"),
    ("ACL", "LIST"),
    ("REPLICAOF", "NO", "ONE"),
    ("SYNC",),
    ("CLIENT", "KILL", "ID", "1"),
]


@pytest.fixture(scope="module")
def acl_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisLab]:
    require_redis_tools()
    lab = RedisLab(
        lab_conf(),
        primaries=3,
        replicas=1,
        acl_users=True,
        base_dir=tmp_path_factory.mktemp("acl-lab"),
    )
    try:
        yield lab.start()
    finally:
        lab.close()


def as_user(lab: RedisLab, user: str, node_index: int = 0) -> redis.Redis:
    node = lab.nodes[node_index]
    return redis.Redis(
        host=node.host,
        port=node.port,
        username=user,
        password=lab.user_password(user),
        socket_timeout=5,
        decode_responses=True,
    )


def acl_matrix(lab: RedisLab) -> dict[str, dict[tuple[str, ...], bool]]:
    """user -> command -> allowed, by ACL DRYRUN on a real node (asked as the operator)."""
    operator = lab.node_client(lab.nodes[0])
    matrix: dict[str, dict[tuple[str, ...], bool]] = {}
    try:
        for user in ("default", *(u.name for u in USERS)):
            matrix[user] = {}
            for command in EXPECTED:
                try:
                    reply = operator.execute_command("ACL", "DRYRUN", user, *command)
                    allowed = reply in ("OK", b"OK")
                except redis.ResponseError:
                    allowed = False
                matrix[user][command] = allowed
    finally:
        operator.close()
    return matrix


def test_the_acl_matrix_is_least_privilege(acl_lab: RedisLab) -> None:
    matrix = acl_matrix(acl_lab)
    users = list(matrix)
    width = max(len(" ".join(command)) for command in EXPECTED)
    lines = ["ACL matrix (ACL DRYRUN on redis-server): + allowed, - refused"]
    lines.append(" " * width + " | " + " | ".join(users))
    for command in EXPECTED:
        cells = [("+" if matrix[user][command] else "-").center(len(user)) for user in users]
        lines.append(" ".join(command).ljust(width) + " | " + " | ".join(cells))
    print("\n" + "\n".join(lines))
    wrong = [
        f"{user}: {' '.join(command)} is {'allowed' if allowed else 'refused'}"
        for user, row in matrix.items()
        for command, allowed in row.items()
        if allowed != (user in EXPECTED[command])
    ]
    assert not wrong, "\n".join(wrong)


@pytest.mark.parametrize("command", FORBIDDEN_FOR_THE_APPLICATION, ids=" ".join)
def test_the_application_user_is_refused(acl_lab: RedisLab, command: tuple[str, ...]) -> None:
    client = as_user(acl_lab, APP.name)
    try:
        # DEBUG is refused before the ACL (enable-debug-command no); the matrix shows the ACL.
        with pytest.raises(redis.ResponseError, match=r"no permissions|DEBUG command not allowed"):
            client.execute_command(*command)
    finally:
        client.close()
    assert acl_lab.cluster_problems() == []


def test_the_application_user_does_its_work_through_a_cluster_client(acl_lab: RedisLab) -> None:
    node = acl_lab.nodes[0]
    app = redis.RedisCluster(
        host=node.host,
        port=node.port,
        username=APP.name,
        password=acl_lab.user_password(APP.name),
        address_remap=acl_lab._remap,  # pyright: ignore[reportPrivateUsage]
        decode_responses=True,
    )
    try:
        for number in range(30):  # keys on every shard
            app.set(f"catalog:product:{number}:v1", "x", ex=60)
        assert app.get("catalog:product:7:v1") == "x"
        assert app.hset("cart:{42}", mapping={"sku": "1"}) == 1
        assert app.incr("counter:{42}") == 1
        assert app.delete("cart:{42}", "counter:{42}") == 2
    finally:
        app.close()


def test_the_default_user_is_off(acl_lab: RedisLab) -> None:
    node = acl_lab.nodes[0]
    anonymous = redis.Redis(host=node.host, port=node.port, socket_timeout=5)
    try:
        with pytest.raises(redis.AuthenticationError):
            anonymous.get("k")
    finally:
        anonymous.close()
    guess = redis.Redis(host=node.host, port=node.port, password=acl_lab.password, socket_timeout=5)
    try:
        with pytest.raises(redis.AuthenticationError):
            guess.ping()
    finally:
        guess.close()


def test_no_password_in_the_config_only_hashes(acl_lab: RedisLab) -> None:
    node = acl_lab.nodes[0]
    auth_conf = node.runtime_dir / "auth.conf"
    assert oct(auth_conf.stat().st_mode & 0o777) == "0o600"
    text = auth_conf.read_text()
    for user in USERS:
        if user is not REPLICATION:  # masterauth must be the password itself
            assert acl_lab.user_password(user.name) not in text
    operator = acl_lab.node_client(node)
    try:
        rules: list[str] = operator.acl_list()  # pyright: ignore[reportAssignmentType]
        listing = "\n".join(rules)
    finally:
        operator.close()
    assert "user default off" in listing
    assert all(acl_lab.user_password(u.name) not in listing for u in USERS)


def test_the_exporter_exports_as_the_monitoring_user(acl_lab: RedisLab, tmp_path: Path) -> None:
    exporter = require_tool("prometheus-redis-exporter")
    node = acl_lab.nodes[0]
    address = f"redis://{node.host}:{node.port}"
    password_file = tmp_path / "exporter-passwords.json"
    password_file.write_text(json.dumps({address: acl_lab.user_password(MONITOR.name)}))
    password_file.chmod(0o600)
    port = free_port()
    process = subprocess.Popen(
        [exporter, "-redis.addr", address, "-redis.user", MONITOR.name,
         "-redis.password-file", str(password_file), "-is-cluster",
         "-web.listen-address", f"127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        text = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                text = requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            except requests.ConnectionError:
                text = ""
            if "redis_up 1" in text:
                break
            time.sleep(0.3)
        for metric in (
            "redis_up 1",
            "redis_connected_clients",
            "redis_memory_used_bytes",
            "redis_cluster_state 1",
            "redis_instance_info",
        ):
            assert metric in text, metric
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)


def test_the_backup_user_streams_an_rdb(acl_lab: RedisLab, tmp_path: Path) -> None:
    node = acl_lab.primaries_now()[0]
    target = tmp_path / "dump.rdb"
    result = subprocess.run(
        [require_tool("redis-cli"), "--user", BACKUP.name, "--no-auth-warning",
         "-h", node.host, "-p", str(node.port), "--rdb", str(target)],
        env={**os.environ, "REDISCLI_AUTH": acl_lab.user_password(BACKUP.name)},
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert target.read_bytes().startswith(b"REDIS")


def test_failover_and_rejoin_replicate_through_masteruser(acl_lab: RedisLab) -> None:
    primary = acl_lab.primaries_now()[0]
    key = acl_lab.key_in_slots_of(primary, "acl-failover")
    writer = acl_lab.client()
    try:
        writer.set(key, "kept")
        writer.execute_command("WAIT", 1, 5000, target_nodes=writer.get_node_from_key(key))
    finally:
        writer.close()
    replica = acl_lab.replicas_of(primary)[0]
    acl_lab.kill(primary)
    deadline = time.monotonic() + 60
    while acl_lab.role(replica) != "master":
        assert time.monotonic() < deadline, "the replica was never promoted"
        time.sleep(0.2)
    acl_lab.wait_cluster_ok(timeout=60)
    acl_lab.start_node(primary)
    acl_lab.wait_cluster_ok(timeout=60)
    deadline = time.monotonic() + 30
    link = ""
    while time.monotonic() < deadline and link != "up":
        client = acl_lab.node_client(primary)
        try:
            link = str(client.info("replication").get("master_link_status"))
        finally:
            client.close()
        time.sleep(0.2)
    assert link == "up", "the rejoined node must sync from its new primary as `replication`"
    reader = acl_lab.client()
    try:
        assert reader.get(key) == "kept"
    finally:
        reader.close()


@pytest.mark.parametrize("acl_users", [True, False], ids=["acl-users", "single-password"])
def test_auth_conf_is_private_whatever_was_there_before(tmp_path: Path, acl_users: bool) -> None:
    """A pre-existing world-readable `auth.conf.new` used to keep its mode when rewritten."""
    require_redis_tools()
    lab = RedisLab(lab_conf(), primaries=3, replicas=0, acl_users=acl_users, base_dir=tmp_path)
    runtime = lab.nodes[0].runtime_dir
    runtime.mkdir(parents=True)
    leftover = runtime / "auth.conf.new"
    leftover.write_text("stale\n")
    leftover.chmod(0o644)
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("not yours\n")
    (runtime / "auth.conf").symlink_to(elsewhere)
    with lab:
        auth_conf = runtime / "auth.conf"
        assert not auth_conf.is_symlink()
        assert oct(auth_conf.stat().st_mode & 0o777) == "0o600"
        assert not leftover.exists()
        assert elsewhere.read_text() == "not yours\n"
