"""Test doubles for the service kit's unit tests: a clock to step and an in-memory stand-in for
redis-py's cluster client (the integration tests use the real cluster)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, overload

import redis
from redis.crc import key_slot
from redis.exceptions import MovedError


class FakeClock:
    """Seconds that move only when a test says so."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class FakeNode:
    name: str

    @property
    def host(self) -> str:
        """The fake's nodes have names for addresses (a MOVED names `<name>:0`)."""
        return self.name

    @property
    def port(self) -> int:
        return 0


class FakePipeline:
    def __init__(self, cluster: FakeCluster) -> None:
        self.cluster = cluster
        self.keys: list[str] = []

    def get(self, key: str) -> FakePipeline:
        self.keys.append(key)
        return self

    def execute(self) -> list[Any]:
        self.cluster.pipelines.append(list(self.keys))
        return [self.cluster.get(key) for key in self.keys]


class FakeReplicaPipeline:
    """A pipeline on one node's connection, as `Redis.pipeline(transaction=False)`: a key's
    primary answers it; a replica only after READONLY, or it answers MOVED as a real one does."""

    def __init__(self, cluster: FakeCluster, node: str) -> None:
        self.cluster = cluster
        self.node = node
        self.commands: list[tuple[str, ...]] = []

    def execute_command(self, *args: str) -> FakeReplicaPipeline:
        self.commands.append(args)
        return self

    def get(self, key: str) -> FakeReplicaPipeline:
        return self.execute_command("GET", key)

    def execute(self) -> list[Any]:
        make_error = self.cluster.failing.get(self.node)
        if make_error is not None:
            raise make_error()
        readonly = False
        replies: list[Any] = []
        for command in self.commands:
            if command == ("READONLY",):
                readonly = True
                replies.append(b"OK")
                continue
            _, key = command
            if self.cluster.owns(self.node, key):
                replies.append(self.cluster.get(key))
                continue
            if not readonly:
                raise MovedError(f"{key_slot(key.encode())} 127.0.0.1:7000")
            self.cluster.calls.append(("replica-get", key))
            replies.append(self.cluster.replica_value(key))
        if any(command[0] == "GET" for command in self.commands) and not readonly:
            self.cluster.pipelines.append([command[1] for command in self.commands])
        return replies


class FakeConnection:
    def __init__(self, cluster: FakeCluster, node: str) -> None:
        self.cluster = cluster
        self.node = node

    def execute_command(self, *args: Any) -> Any:
        """ROLE on any node; GET, SET key value EX ttl and UNLINK on a key's primary (another
        node answers MOVED, as a real one does)."""
        make_error = self.cluster.failing.get(self.node)
        if make_error is not None:
            raise make_error()
        if args == ("ROLE",):
            self.cluster.calls.append(("role", self.node))
            return [b"master" if self.node in self.cluster.primaries.values() else b"slave"]
        command, key = str(args[0]).lower(), str(args[1])
        if not self.cluster.owns(self.node, key):
            raise MovedError(f"{key_slot(key.encode())} 127.0.0.1:7000")
        if command == "get":
            return self.cluster.get(key)
        if command == "set":
            assert args[3:4] == ("EX",), args
            return self.cluster.set(key, args[2], int(args[4]))
        assert command == "unlink", args
        return self.cluster.unlink(key)

    def pipeline(self, transaction: bool = True) -> FakeReplicaPipeline:
        return FakeReplicaPipeline(self.cluster, self.node)


class FakeNodesManager:
    """Counts slot-map refreshes; a refresh applies the promotions the cluster has made. A
    redirect (`move_slot`) makes its node the primary of the slot's shard, as redis-py's does."""

    def __init__(self, cluster: FakeCluster) -> None:
        self.cluster = cluster
        self.refreshes = 0
        self.moves = 0

    @property
    def slots_cache(self) -> dict[int, list[FakeNode]]:
        """Slot -> [primary, replica] as the client knows them; one list per shard, shared by
        its slots as redis-py shares one per slot range."""
        shards = {
            shard: [FakeNode(primary), FakeNode(self.cluster.known_replicas[shard])]
            for shard, primary in self.cluster.known_primaries.items()
        }
        return {slot: shards[slot % 3] for slot in range(16384)}

    def move_slot(self, redirect: MovedError) -> None:
        self.moves += 1
        shard = redirect.slot_id % 3
        old = self.cluster.known_primaries[shard]
        self.cluster.known_primaries[shard] = redirect.host
        self.cluster.known_replicas[shard] = old

    def initialize(self) -> None:
        self.refreshes += 1
        self.cluster.known_primaries = dict(self.cluster.primaries)
        self.cluster.known_replicas = dict(self.cluster.replicas)


class FakeCluster:
    """Keys spread over three shards by slot; values expire on the clock; a node can be made to
    fail every call with a chosen exception. With `replicas`, each shard has a replica that
    holds what its primary holds (or the stale values a test puts in `replica_lag`), and a
    shard's replica can be promoted; the client sees the promotion after a slot-map refresh
    (`nodes_manager.initialize()`), as redis-py does."""

    def __init__(self, clock: FakeClock, *, replicas: bool = False) -> None:
        self.clock = clock
        self.data: dict[str, tuple[bytes, float | None]] = {}
        self.failing: dict[str, Callable[[], BaseException]] = {}
        self.calls: list[tuple[str, str]] = []
        self.pipelines: list[list[str]] = []
        self.ttls: dict[str, int] = {}
        self.has_replicas = replicas
        self.primaries = {shard: f"node-{shard}" for shard in range(3)}
        self.replicas = {shard: f"replica-{shard}" for shard in range(3)}
        self.known_primaries = dict(self.primaries)
        self.known_replicas = dict(self.replicas)
        self.replica_lag: dict[str, bytes | None] = {}
        self.nodes_manager = FakeNodesManager(self)

    @staticmethod
    def shard_of(key: str) -> int:
        return key_slot(key.encode()) % 3

    @overload
    def get_node_from_key(self, key: str, replica: Literal[False] = False) -> FakeNode: ...
    @overload
    def get_node_from_key(self, key: str, replica: bool) -> FakeNode | None: ...
    def get_node_from_key(self, key: str, replica: bool = False) -> FakeNode | None:
        shard = self.shard_of(key)
        if not replica:
            return FakeNode(self.known_primaries[shard])
        if not self.has_replicas:
            return None
        return FakeNode(self.known_replicas[shard])

    def owns(self, node: str, key: str) -> bool:
        """Whether `node` is `key`'s primary now (whatever the client's slot map says)."""
        return self.primaries[self.shard_of(key)] == node

    def get_redis_connection(self, node: FakeNode) -> FakeConnection:
        return FakeConnection(self, node.name)

    def promote_replica_of(self, key: str) -> str:
        """The replica of `key`'s shard becomes its primary (the old primary is gone); the
        client's slot map still names the old one until its next refresh."""
        shard = self.shard_of(key)
        self.primaries[shard] = self.replicas[shard]
        self.replicas[shard] = f"replica-{shard}-new"
        return self.primaries[shard]

    def replica_value(self, key: str) -> bytes | None:
        if key in self.replica_lag:
            return self.replica_lag[key]
        found = self.data.get(key)
        if found is None:
            return None
        value, expires = found
        return None if expires is not None and self.clock() >= expires else value

    def _check(self, command: str, key: str) -> None:
        self.calls.append((command, key))
        make_error = self.failing.get(self.known_primaries[self.shard_of(key)])
        if make_error is not None:
            raise make_error()

    def fail_node_of(self, key: str, error: Callable[[], BaseException]) -> str:
        node = self.known_primaries[self.shard_of(key)]
        self.failing[node] = error
        return node

    def heal(self) -> None:
        self.failing.clear()

    def get(self, key: str) -> bytes | None:
        self._check("get", key)
        found = self.data.get(key)
        if found is None:
            return None
        value, expires = found
        if expires is not None and self.clock() >= expires:
            del self.data[key]
            return None
        return value

    def set(self, key: str, value: bytes, ex: int | None = None) -> bool:
        self._check("set", key)
        self.data[key] = (value, None if ex is None else self.clock() + ex)
        if ex is not None:
            self.ttls[key] = ex
        return True

    def unlink(self, key: str) -> int:
        self._check("unlink", key)
        return 1 if self.data.pop(key, None) is not None else 0

    def pipeline(self, transaction: bool = False) -> FakePipeline:
        return FakePipeline(self)


def timeout() -> BaseException:
    return redis.TimeoutError("Timeout reading from socket")


def refused() -> BaseException:
    return redis.ConnectionError("Error 111 connecting to 127.0.0.1:7000. Connection refused.")
