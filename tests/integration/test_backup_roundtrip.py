"""Backup → S3 (moto) → restore → load, against real redis-server processes.

Each cluster here is a few standalone-started redis-server processes with the production
redis.conf (rendered by components.redis.conf, so the replication settings the backup depends
on are the real ones) plus per-node lines, formed without replicas by CLUSTER ADDSLOTSRANGE and
MEET, so that a cluster can have any number of primaries and any slot split.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import boto3
import pytest
import redis
from moto import mock_aws
from redis.cluster import RedisCluster
from redis.crc import key_slot
from typer.testing import CliRunner, Result

from cachectl import backup as lib
from cachectl.backup_cli import app
from components.redis.conf import RedisConfSpec, render_redis_conf
from tests.support.backup_sandbox import BUCKET, PREFIX, REGION, isolate_aws
from tests.support.tools import free_port, require_tool

pytestmark = pytest.mark.integration

SLOTS = 16384
BASE_CONF = render_redis_conf(
    RedisConfSpec(container_memory_bytes=256 * 1024**2, node_timeout_ms=1000)
)


def reply(client: redis.Redis, *command: str | int) -> bytes:
    return cast(bytes, client.execute_command(*command))


@dataclass
class LocalNode:
    port: int
    bus_port: int
    directory: Path
    process: subprocess.Popen[bytes]


@dataclass
class LocalCluster:
    """Primaries only, on 127.0.0.1; `split` gives each primary's first slot."""

    base: Path
    password: str
    split: list[int]
    nodes: list[LocalNode] = field(default_factory=list)

    def start(self) -> LocalCluster:
        server = require_tool("redis-server")
        for index in range(len(self.split)):
            port, bus_port = free_port(), free_port()
            directory = self.base / f"node-{index}"
            directory.mkdir(parents=True)
            overrides = [
                f"port {port}",
                f"cluster-port {bus_port}",
                "bind 127.0.0.1",
                f'dir "{directory}"',
                'logfile "redis.log"',
                # No hostname is announced here: clients must be sent to IPs.
                "cluster-preferred-endpoint-type ip",
                f'requirepass "{self.password}"',
                f'masterauth "{self.password}"',
                "maxmemory 64mb",
            ]
            process = subprocess.Popen(
                [server, "-"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, cwd=directory
            )
            assert process.stdin is not None
            process.stdin.write((BASE_CONF + "\n" + "\n".join(overrides) + "\n").encode())
            process.stdin.close()
            self.nodes.append(LocalNode(port, bus_port, directory, process))
        self._form()
        return self

    def node_client(self, node: LocalNode) -> redis.Redis:
        return redis.Redis(port=node.port, password=self.password, socket_timeout=10)

    def _wait(self, check: Callable[[], bool], what: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if check():
                    return
            except redis.RedisError:
                pass
            time.sleep(0.05)
        logs = {n.port: (n.directory / "redis.log").read_text()[-2000:] for n in self.nodes}
        raise AssertionError(f"timed out waiting for {what}; logs: {logs}")

    def _form(self) -> None:
        clients = [self.node_client(node) for node in self.nodes]
        for client in clients:
            self._wait(lambda c=client: bool(c.ping()), "redis-server to start")
        bounds = [*self.split, SLOTS]
        for index, client in enumerate(clients):
            client.execute_command("CLUSTER", "SET-CONFIG-EPOCH", index + 1)
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", bounds[index], bounds[index + 1] - 1)
        for node in self.nodes[1:]:
            clients[0].execute_command("CLUSTER", "MEET", "127.0.0.1", node.port, node.bus_port)

        def formed() -> bool:
            infos = [reply(c, "CLUSTER", "INFO").decode() for c in clients]
            count = f"cluster_known_nodes:{len(clients)}"
            return all("cluster_state:ok" in info and count in info for info in infos)

        self._wait(formed, "the cluster to form")

    @property
    def seed(self) -> str:
        return f"127.0.0.1:{self.nodes[0].port}"

    def client(self) -> RedisCluster:
        return RedisCluster(host="127.0.0.1", port=self.nodes[0].port, password=self.password)

    def node_ids(self) -> set[str]:
        return {reply(self.node_client(n), "CLUSTER", "MYID").decode() for n in self.nodes}

    def move_empty_slot(self, slot: int, to: int) -> None:
        """Give an empty slot to node `to`, the way resharding does (IMPORTING, MIGRATING,
        NODE on both), so the new owner's epoch wins."""
        clients = [self.node_client(n) for n in self.nodes]
        ids = [reply(c, "CLUSTER", "MYID").decode() for c in clients]
        owner = next(
            i for i, c in enumerate(clients) if any(a <= slot <= b for a, b in self._own_slots(c))
        )
        clients[to].execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", ids[owner])
        clients[owner].execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", ids[to])
        clients[to].execute_command("CLUSTER", "SETSLOT", slot, "NODE", ids[to])
        clients[owner].execute_command("CLUSTER", "SETSLOT", slot, "NODE", ids[to])

    @staticmethod
    def _own_slots(client: redis.Redis) -> list[tuple[int, int]]:
        for line in reply(client, "CLUSTER", "NODES").decode().splitlines():
            fields = line.split()
            if "myself" in fields[2]:
                return [
                    (int(r.partition("-")[0]), int(r.partition("-")[2] or r))
                    for r in fields[8:]
                    if not r.startswith("[")
                ]
        return []

    def flush(self) -> None:
        for node in self.nodes:
            self.node_client(node).flushall()

    def close(self) -> None:
        for node in self.nodes:
            if node.process.poll() is None:
                node.process.terminate()
        for node in self.nodes:
            try:
                node.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.process.wait()


ClusterFactory = Callable[..., LocalCluster]


@contextlib.contextmanager
def cluster_factory(base: Path) -> Iterator[ClusterFactory]:
    require_tool("redis-server")
    require_tool("redis-cli")
    clusters: list[LocalCluster] = []

    def make(split: list[int] | None = None) -> LocalCluster:
        cluster = LocalCluster(
            base=base / f"cluster-{len(clusters)}",
            password=secrets.token_urlsafe(16),
            split=split or [0, 5461, 10923],
        )
        clusters.append(cluster)
        return cluster.start()

    try:
        yield make
    finally:
        for cluster in clusters:
            cluster.close()


@pytest.fixture
def make_cluster(tmp_path: Path) -> Iterator[ClusterFactory]:
    with cluster_factory(tmp_path) as make:
        yield make


@pytest.fixture(scope="module")
def shared_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    """One 3-primary cluster for the tests that only write, back up and flush it."""
    with cluster_factory(tmp_path_factory.mktemp("backup-cluster")) as make:
        yield make()


@pytest.fixture
def cluster(shared_cluster: LocalCluster) -> LocalCluster:
    """The shared cluster, emptied."""
    shared_cluster.flush()
    return shared_cluster


@dataclass
class S3Sandbox:
    s3: Any
    kms_key_id: str


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Sandbox]:
    isolate_aws(monkeypatch)
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(
            Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION}
        )
        key_id = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["KeyId"]
        yield S3Sandbox(client, key_id)


def cli_env(cluster: LocalCluster, sandbox: S3Sandbox) -> dict[str, str]:
    """The environment the backup CronJob gives the program."""
    return {
        "REDIS_NODES": cluster.seed,
        "REDISCLI_AUTH": cluster.password,
        "BACKUP_BUCKET": BUCKET,
        "BACKUP_PREFIX": PREFIX,
        "BACKUP_KMS_KEY_ID": sandbox.kms_key_id,
    }


def cli(cluster: LocalCluster, sandbox: S3Sandbox, *args: str) -> Result:
    return CliRunner().invoke(app, list(args), env=cli_env(cluster, sandbox))


# --- the data set ------------------------------------------------------------------------------

TTL_SECONDS = 3600


def write_dataset(client: RedisCluster) -> None:
    """Every data type, keys on every primary, some with expiries."""
    pipe = client.pipeline()
    for i in range(300):
        pipe.set(f"product:{i}", f"price-{i}", ex=TTL_SECONDS if i % 3 == 0 else None)
    pipe.execute()
    client.set("blob", bytes(range(256)) * 800)
    client.hset("cart:{user-42}", mapping={"sku-1": "2", "sku-2": "1"})
    client.expire("cart:{user-42}", 600)
    client.rpush("recent:{user-42}", *[f"p{i}" for i in range(50)])
    client.sadd("tags:popular", "red", "blue", "green")
    client.zadd("leaderboard", {"ann": 10.5, "bob": 7.0, "cy": 12.25})
    client.pexpire("leaderboard", 900_000)
    for i in range(20):
        client.xadd("events", {"type": "view", "n": str(i)}, id=f"1700000000000-{i}")


READERS: dict[bytes, Callable[[RedisCluster, bytes], object]] = {
    b"string": lambda client, key: client.get(key),
    b"hash": lambda client, key: client.hgetall(key),
    b"list": lambda client, key: client.lrange(key, 0, -1),
    b"set": lambda client, key: client.smembers(key),
    b"zset": lambda client, key: client.zrange(key, 0, -1, withscores=True),
    b"stream": lambda client, key: client.xrange(key),
}


def read_dataset(client: RedisCluster) -> dict[bytes, tuple[bytes, object, int]]:
    """key → (type, value, absolute expiry in ms or -1), read back with plain commands."""
    result: dict[bytes, tuple[bytes, object, int]] = {}
    for key in client.scan_iter(count=500):
        kind = cast(bytes, client.type(key))
        expires_at = int(client.execute_command("PEXPIRETIME", key))
        result[key] = (kind, READERS[kind](client, key), expires_at)
    return result


def total_keys(client: RedisCluster) -> int:
    return int(client.dbsize())


# --- tests -------------------------------------------------------------------------------------


def test_backup_wipe_restore_load_brings_every_key_back_with_its_expiry(
    cluster: LocalCluster, s3: S3Sandbox, tmp_path: Path
) -> None:
    client = cluster.client()
    write_dataset(client)
    before = read_dataset(client)
    assert len(before) == 306
    assert sum(1 for _, _, expiry in before.values() if expiry > 0) == 102

    backed_up = cli(cluster, s3, "backup")
    assert backed_up.exit_code == 0, backed_up.output
    set_id = backed_up.stdout.strip()
    manifest_key = f"{PREFIX}/{set_id}/manifest.json"
    manifest = json.loads(s3.s3.get_object(Bucket=BUCKET, Key=manifest_key)["Body"].read())
    assert {f["node_id"] for f in manifest["files"]} == cluster.node_ids()
    assert sum(f["keys"] for f in manifest["files"]) == len(before)
    assert all(f["redis_version"].startswith("7.") for f in manifest["files"])

    cluster.flush()
    assert total_keys(client) == 0

    restored = cli(cluster, s3, "restore", "--to", str(tmp_path / "restore"))
    assert restored.exit_code == 0, restored.output
    loaded = cli(
        cluster, s3, "load", "--from", str(tmp_path / "restore"), "--cluster", cluster.seed
    )
    assert loaded.exit_code == 0, loaded.output
    assert f"{len(before)} keys loaded" in loaded.stdout

    after = read_dataset(client)
    assert after == before, "every key, value and absolute expiry is back"
    assert all(client.ttl(key) > 0 for key, (_, _, exp) in before.items() if exp > 0)

    client.set("product:1", "changed")
    conflict = cli(
        cluster, s3, "load", "--from", str(tmp_path / "restore"), "--cluster", cluster.seed
    )
    assert conflict.exit_code == 1, "keys already in the target are a conflict"
    assert f"{len(before)} keys already existed" in conflict.stderr, conflict.stderr
    assert "--replace" in conflict.stderr
    assert client.get("product:1") == b"changed", "left unchanged without --replace"
    replaced = cli(
        cluster, s3, "load", "--from", str(tmp_path / "restore"), "--cluster", cluster.seed,
        "--replace",
    )  # fmt: skip
    assert replaced.exit_code == 0, replaced.output
    assert client.get("product:1") == b"price-1"


def test_a_set_loads_into_a_cluster_with_another_slot_layout(
    cluster: LocalCluster, make_cluster: ClusterFactory, s3: S3Sandbox, tmp_path: Path
) -> None:
    source = cluster
    write_dataset(source.client())
    before = read_dataset(source.client())
    assert cli(source, s3, "backup").exit_code == 0
    assert cli(source, s3, "restore", "--to", str(tmp_path / "restore")).exit_code == 0

    target = make_cluster(split=[0, 12000])
    stale = target.client()
    moved = key_slot(b"product:1")
    owner = stale.get_node_from_key(b"product:1")
    assert owner is not None
    target.move_empty_slot(moved, to=1 if owner.port == target.nodes[0].port else 0)
    # `stale` still maps the slot to its old owner: the load meets a MOVED and must follow it.
    counts = lib.load_set(tmp_path / "restore", stale)
    assert counts == lib.LoadCounts(restored=len(before))
    assert read_dataset(target.client()) == before


def test_a_corrupted_object_is_refused(
    cluster: LocalCluster, s3: S3Sandbox, tmp_path: Path
) -> None:
    cluster.client().set("product:1", "price-1")
    backed_up = cli(cluster, s3, "backup")
    assert backed_up.exit_code == 0, backed_up.output
    set_id = backed_up.stdout.strip()
    listing = s3.s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{PREFIX}/{set_id}/")
    rdb_key = next(item["Key"] for item in listing["Contents"] if item["Key"].endswith(".rdb"))
    original = s3.s3.get_object(Bucket=BUCKET, Key=rdb_key)
    content = original["Body"].read()
    damaged = content[:20] + bytes([content[20] ^ 0x01]) + content[21:]
    s3.s3.put_object(Bucket=BUCKET, Key=rdb_key, Body=damaged, Metadata=original["Metadata"])

    refused = cli(cluster, s3, "restore", "--to", str(tmp_path / "restore"))
    assert refused.exit_code == 1
    assert refused.stderr.startswith(f"error: set {set_id} is corrupted: ")
    assert "Traceback" not in refused.output
    assert not list((tmp_path / "restore").glob("*"))


def test_backup_refuses_a_cluster_with_a_failed_primary(
    make_cluster: ClusterFactory, s3: S3Sandbox
) -> None:
    cluster = make_cluster()
    victim = cluster.nodes[2]
    victim.process.kill()
    victim.process.wait()
    seed = cluster.node_client(cluster.nodes[0])

    def flagged_failed() -> bool:
        return b"master,fail " in reply(seed, "CLUSTER", "NODES")

    deadline = time.monotonic() + 15
    while not flagged_failed() and time.monotonic() < deadline:
        time.sleep(0.1)
    refused = cli(cluster, s3, "backup")
    assert refused.exit_code == 1
    assert "primaries in failure state" in refused.stderr
    assert "Contents" not in s3.s3.list_objects_v2(Bucket=BUCKET)


@pytest.mark.parametrize(
    ("password", "message"),
    [("not-the-password", "refused the password from REDISCLI_AUTH"), ("", "no password given")],
)
def test_a_wrong_or_missing_password_is_one_line_that_names_the_variable(
    cluster: LocalCluster, s3: S3Sandbox, password: str, message: str
) -> None:
    env = {**cli_env(cluster, s3), "REDISCLI_AUTH": password, "REDIS_PASSWORD_FILE": ""}
    refused = CliRunner().invoke(app, ["backup"], env=env)
    assert refused.exit_code == 1
    (line,) = refused.stderr.splitlines()
    assert message in line and "REDISCLI_AUTH" in line, line
    assert "not-the-password" not in refused.output


def test_the_server_binary_also_runs_under_its_debian_redis_tools_name(tmp_path: Path) -> None:
    """The tools image may only have redis-tools, whose server binary is redis-check-rdb."""
    binary = require_tool("redis-check-rdb")
    assert lib.redis_server_version(binary).startswith("7.")
    with lib.TemporaryRedis(tmp_path / "absent.rdb", server=binary, timeout=10) as server:
        assert server.ping() and server.dbsize() == 0
