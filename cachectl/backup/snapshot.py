# pyright: strict, reportUnknownMemberType=false, reportMissingTypeStubs=false
"""The cluster side of a backup: which primaries to back up, and one primary's RDB snapshot.

Every RDB is taken with `redis-cli --rdb` (see `take_snapshot`) and checked to be an RDB.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from cachectl.backup.manifest import SlotRange, format_slot_ranges, sha256_of, uncovered_slots
from cachectl.connection import Endpoint, dial_address
from cachectl.credentials import PASSWORD_ENV, Credentials
from cachectl.errors import BackupError, redis_auth_message
from cachectl.topology import parse_cluster_nodes as parse_cluster_entries

DEFAULT_SNAPSHOT_TIMEOUT_SECONDS = 1800.0
_FAILING_FLAGS = ("fail", "noaddr", "handshake")  # "fail" also matches "fail?"


# --- the cluster's topology ------------------------------------------------------------------


@dataclass(frozen=True)
class ClusterNode:
    """One line of CLUSTER NODES."""

    node_id: str
    ip: str
    port: int
    hostname: str
    flags: frozenset[str]
    slots: tuple[SlotRange, ...]

    @property
    def is_primary(self) -> bool:
        return "master" in self.flags

    @property
    def failing(self) -> bool:
        return any(flag.startswith(_FAILING_FLAGS) for flag in self.flags)

    @property
    def endpoint(self) -> Endpoint:
        """Where to reach the node: the hostname it announces (a pod's stable DNS name in
        Kubernetes) when that resolves, else its IP."""
        return Endpoint(dial_address(self.hostname, self.ip), self.port)


def parse_cluster_nodes(text: str) -> list[ClusterNode]:
    """CLUSTER NODES output as nodes; slots being migrated (`[...]`) belong to their owner."""
    # One parser of CLUSTER NODES for the lab, cachectl and the backups.
    return [
        ClusterNode(
            node_id=entry.node_id,
            ip=entry.ip,
            port=entry.port,
            hostname=entry.hostname,
            flags=entry.flags,
            slots=entry.slots,
        )
        for entry in parse_cluster_entries(text)
    ]


def primaries_to_back_up(nodes: Sequence[ClusterNode]) -> list[ClusterNode]:
    """The primaries that own slots, ordered by their first slot.

    Refuses a cluster that a backup could not represent whole: a failing primary, or slots
    without an owner. The job then fails, which is what should page someone.
    """
    owners = [node for node in nodes if node.is_primary and node.slots]
    failing = [node for node in owners if node.failing]
    if failing:
        names = ", ".join(f"{n.node_id[:8]} ({n.ip}:{n.port})" for n in failing)
        raise BackupError(f"primaries in failure state: {names}; back up a healthy cluster")
    missing = uncovered_slots(slot for node in owners for slot in node.slots)
    if missing:
        raise BackupError(
            f"slots {format_slot_ranges(missing)} have no primary; a backup would miss them"
        )
    return sorted(owners, key=lambda node: node.slots[0])


# --- Redis connections -----------------------------------------------------------------------


def connect(endpoint: Endpoint, credentials: Credentials, *, timeout: float = 30.0) -> redis.Redis:
    """A plain (non-cluster) connection that returns bytes.

    Two quick retries: redis-py's default backs off for seconds and counts a wrong password
    as a connection error worth retrying; the CronJob retries the whole run anyway.
    """
    return redis.Redis(
        host=endpoint.host,
        port=endpoint.port,
        username=credentials.user,
        password=credentials.password,
        socket_timeout=timeout,
        socket_connect_timeout=min(timeout, 10.0),
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.1), 2),
    )


def redis_failure(
    endpoint: Endpoint, error: redis.RedisError, credentials: Credentials
) -> BackupError:
    """One line naming the node; an authentication refusal names where the password came from."""
    text = redis_auth_message(error, credentials.source, credentials.user)
    if text is None:
        first = str(error).splitlines()[0] if str(error) else type(error).__name__
        text = f"{first}; check the address and that the node is up"
    return BackupError(f"{endpoint}: {text}")


def discover_primaries(seeds: Sequence[Endpoint], credentials: Credentials) -> list[ClusterNode]:
    """The primaries to back up, as the first seed that answers CLUSTER NODES sees them."""
    if not seeds:
        raise BackupError("no Redis nodes given: set REDIS_NODES or pass --nodes host:port")
    problems: list[str] = []
    for seed in seeds:
        try:
            with contextlib.closing(connect(seed, credentials)) as client:
                reply = cast(bytes, client.execute_command("CLUSTER", "NODES"))
        except redis.RedisError as error:
            problems.append(str(redis_failure(seed, error, credentials)))
            continue
        return primaries_to_back_up(parse_cluster_nodes(reply.decode()))
    raise BackupError("no node answered CLUSTER NODES: " + "; ".join(problems))


# --- snapshots -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """An RDB file taken from one primary, on local disk."""

    node: ClusterNode
    path: Path
    size: int
    sha256: str
    redis_version: str
    keys: int
    taken_at: datetime


def check_rdb_header(path: Path) -> None:
    """Refuse a file that is not an RDB (`REDIS` and a 4-digit version)."""
    with path.open("rb") as stream:
        header = stream.read(9)
    if len(header) < 9 or not header.startswith(b"REDIS") or not header[5:].isdigit():
        raise BackupError(f"{path.name} is not an RDB file (header {header[:9]!r})")


def which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/usr/local/bin")


def find_tool(name: str) -> str:
    found = which(name)
    if found is None:
        raise BackupError(f"'{name}' is not installed (apt-get install redis-tools)")
    return found


def take_snapshot(
    node: ClusterNode,
    work_dir: Path,
    credentials: Credentials,
    *,
    timeout: float = DEFAULT_SNAPSHOT_TIMEOUT_SECONDS,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Snapshot:
    """A fresh RDB of `node`, streamed over the network into `work_dir/<node-id>.rdb`.

    Why `redis-cli --rdb` and not BGSAVE: the job runs in its own pod and cannot read the
    primaries' volumes, where BGSAVE writes its file. `redis-cli --rdb` sends SYNC (with
    `REPLCONF rdb-only`), and the primary answers like it answers a new replica: it forks and
    streams a point-in-time RDB of its memory — the same fork-based snapshot BGSAVE makes, taken
    now, delivered to us. Running BGSAVE as well would fork a second time for a file nobody can
    read, doubling the copy-on-write memory the fork costs (up to the dataset's written share).
    If a BGSAVE or AOF rewrite is already running, Redis makes the SYNC wait for it, so nothing
    has to be polled here; `timeout` bounds the whole transfer.
    """
    endpoint = node.endpoint
    try:
        with contextlib.closing(connect(endpoint, credentials)) as client:
            role = cast(list[Any], client.execute_command("ROLE"))
            if role[0] not in (b"master", "master"):
                raise BackupError(f"{endpoint} ({node.node_id[:8]}) is no longer a primary")
            server = client.info("server")
            keys = client.dbsize()
    except redis.RedisError as error:
        raise redis_failure(endpoint, error, credentials) from None
    path = work_dir / f"{node.node_id}.rdb"
    # The password reaches redis-cli through its environment, never its command line (`ps`).
    environment = {k: v for k, v in os.environ.items() if k != PASSWORD_ENV}
    if credentials.password is not None:
        environment[PASSWORD_ENV] = credentials.password
    command = [find_tool("redis-cli"), "--no-auth-warning", "-h", endpoint.host]
    if credentials.user:
        command += ["--user", credentials.user]
    command += ["-p", str(endpoint.port), "--rdb", str(path)]
    taken_at = clock()
    try:
        result = subprocess.run(
            command, env=environment, capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        path.unlink(missing_ok=True)
        raise BackupError(f"snapshot of {endpoint} took longer than {timeout:.0f} s") from None
    if result.returncode != 0 or not path.is_file():
        path.unlink(missing_ok=True)
        output = result.stderr.strip().splitlines() or result.stdout.strip().splitlines()
        reason = output[-1] if output else f"redis-cli exited with {result.returncode}"
        raise BackupError(f"snapshot of {endpoint} failed: {reason}")
    check_rdb_header(path)
    return Snapshot(
        node=node,
        path=path,
        size=path.stat().st_size,
        sha256=sha256_of(path),
        redis_version=str(server.get("redis_version", "unknown")),
        keys=keys,
        taken_at=taken_at,
    )
