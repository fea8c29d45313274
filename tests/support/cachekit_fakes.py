"""Test doubles for the service kit's unit tests: a clock to step and an in-memory stand-in for
redis-py's cluster client (the integration tests use the real cluster)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import redis
from redis.crc import key_slot


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


class FakeCluster:
    """Keys spread over three "nodes" by slot; values expire on the clock; a node can be made to
    fail every call with a chosen exception."""

    def __init__(self, clock: FakeClock) -> None:
        self.clock = clock
        self.data: dict[str, tuple[bytes, float | None]] = {}
        self.failing: dict[str, Callable[[], BaseException]] = {}
        self.calls: list[tuple[str, str]] = []
        self.pipelines: list[list[str]] = []
        self.ttls: dict[str, int] = {}

    def get_node_from_key(self, key: str) -> FakeNode:
        return FakeNode(f"node-{key_slot(key.encode()) % 3}")

    def _check(self, command: str, key: str) -> None:
        self.calls.append((command, key))
        make_error = self.failing.get(self.get_node_from_key(key).name)
        if make_error is not None:
            raise make_error()

    def fail_node_of(self, key: str, error: Callable[[], BaseException]) -> str:
        node = self.get_node_from_key(key).name
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
