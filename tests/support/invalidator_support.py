"""Shared pieces of the invalidator's tests: the small lab they run on, a fake Cloudflare purge
API whose answers a test scripts, and a fake clock whose sleeps advance it (rate limits checked
without waiting)."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cachectl.connection import ConnectionSettings, Endpoint
from cachectl.credentials import Credentials
from lab.cluster import RedisLab
from tests.support import redis_lab as redis_lab_fixtures
from tests.support.loopback_http import LoopbackServer, Reply, Request

ZONE = "023e105f4ecef8ad9ca31a8372d0c353"
TOKEN = "test-token-not-a-secret"


@contextmanager
def small_acl_lab(base_dir: Path) -> Iterator[RedisLab]:
    """Three primaries, no replicas, in the pods' ACL mode: the service connects as the
    `operator` user, `default` is off."""
    redis_lab_fixtures.require_redis_tools()
    lab = RedisLab(
        redis_lab_fixtures.lab_conf(), primaries=3, replicas=0, base_dir=base_dir, acl_users=True
    )
    try:
        yield lab.start()
    finally:
        lab.close()


def lab_connection(lab: RedisLab) -> ConnectionSettings:
    """How the service reaches the lab: its first node as the seed, the operator's password."""
    node = lab.nodes[0]
    return ConnectionSettings(
        seeds=(Endpoint(node.host, node.port),),
        credentials=Credentials(lab.username, lab.password),
    )


def _ok(number: int) -> Reply:
    return 200, {"success": True, "errors": [], "messages": [], "result": {"id": f"p-{number}"}}


def failure(status: int, message: str = "failure") -> Reply:
    return status, {
        "success": False,
        "errors": [{"code": 10000, "message": message}],
        "messages": [],
        "result": None,
    }


class FakeCloudflare(LoopbackServer):
    """Answers purge_cache with 200 unless a scripted answer is queued (`script`) or every
    answer is forced (`always`)."""

    def __init__(self) -> None:
        self.script: deque[Reply] = deque()
        self.always: Reply | None = None

        def respond(request: Request) -> Reply:
            if self.always is not None:
                return self.always
            if self.script:
                return self.script.popleft()
            return _ok(len(self.requests))

        super().__init__(respond)
        self.base_url = f"{self.url}/client/v4"

    @property
    def purge_bodies(self) -> list[Any]:
        return [r.json() for r in self.requests if r.path.endswith("/purge_cache")]


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
