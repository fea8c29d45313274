# pyright: strict, reportUnknownMemberType=false, reportMissingTypeStubs=false
"""Replaying a restored set into any cluster.

`load_set` starts a throw-away standalone redis-server on each restored RDB and copies every key
into the target cluster with DUMP/RESTORE through redis-py's cluster client, which sends each key
to whichever node owns its slot now: the target may have another number of primaries or another
slot split than the cluster backed up.
"""

from __future__ import annotations

import re
import secrets
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import redis
from redis.cluster import ClusterNode as RedisClusterNode
from redis.cluster import RedisCluster
from redis.exceptions import AskError, MovedError, TryAgainError

from cachectl.backup.manifest import Manifest, Reporter, SilentReporter, ignore_progress
from cachectl.backup.snapshot import connect, redis_failure, which
from cachectl.backup.store import read_restored_set
from cachectl.connection import Endpoint
from cachectl.credentials import Credentials
from cachectl.errors import BackupError

DEFAULT_LOAD_TIMEOUT_SECONDS = 900.0


def find_redis_server() -> str:
    """The redis-server binary, also when it is only installed as redis-check-rdb.

    Debian's redis-tools package ships the server binary under the name redis-check-rdb (the
    redis-server package only adds a `redis-server` symlink to it), and the binary chooses what
    to be from argv[0]: started as `redis-server` (see `_server_process`), it is the server.
    """
    found = which("redis-server") or which("redis-check-rdb")
    if found is None:
        raise BackupError(
            "redis-server is not installed; `load` needs it (apt-get install redis-tools)"
        )
    return found


def _server_process(
    binary: str,
    *args: str,
    stdin: int | None = None,
    stdout: int | None = None,
    stderr: int | None = None,
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        ["redis-server", *args], executable=binary, stdin=stdin, stdout=stdout, stderr=stderr
    )


def redis_server_version(binary: str) -> str:
    """`7.0.15` from `redis-server --version` (`Redis server v=7.0.15 sha=...`)."""
    process = _server_process(binary, "--version", stdout=subprocess.PIPE)
    output, _ = process.communicate(timeout=30)
    match = re.search(rb"v=(\d+(?:\.\d+)*)", output)
    if match is None:
        raise BackupError(f"{binary} --version printed no version: {output[:80]!r}")
    return match[1].decode()


def _version(text: str) -> tuple[int, ...] | None:
    match = re.fullmatch(r"(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    return None if match is None else tuple(int(part or 0) for part in match.groups())


def check_server_can_load(server_version: str, manifest: Manifest) -> None:
    """Refuse, before starting anything, when the local redis-server is older than the Redis
    that wrote the snapshots: RDB formats only load forwards (7.2 writes format 11, which 7.0
    refuses)."""
    local = _version(server_version)
    newest = max(
        (e.redis_version for e in manifest.entries if _version(e.redis_version)),
        key=lambda v: _version(v) or (),
        default=None,
    )
    if local is None or newest is None:
        return
    if local < (_version(newest) or ()):
        raise BackupError(
            f"the local redis-server is {server_version} but the snapshots were written by "
            f"Redis {newest}; run `load` where redis-server is {newest} or newer"
        )


# --- load: replay RDB files into a cluster ---------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


class TemporaryRedis:
    """A standalone redis-server on 127.0.0.1 serving one RDB file, removed on exit.

    It has a random password, saves nothing and writes no AOF: it only serves the keys the RDB
    holds. The configuration goes through stdin so the password never shows in `ps`.
    """

    def __init__(
        self,
        rdb: Path,
        *,
        server: str | None = None,
        timeout: float = DEFAULT_LOAD_TIMEOUT_SECONDS,
    ) -> None:
        self.rdb = rdb.resolve()
        self.server = server
        self.timeout = timeout
        self.password = secrets.token_urlsafe(24)
        self.port = 0
        self._dir: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> redis.Redis:
        self._dir = tempfile.TemporaryDirectory(prefix="redis-load-")
        work = Path(self._dir.name)
        (work / "dump.rdb").symlink_to(self.rdb)
        try:
            return self._start(work)
        except BaseException:
            self.close()
            raise

    def _start(self, work: Path) -> redis.Redis:
        server = self.server or find_redis_server()
        for _attempt in range(3):
            self.port = _free_port()
            config = "\n".join(
                [
                    f"port {self.port}",
                    "bind 127.0.0.1",
                    f"dir {_quote(str(work))}",
                    "dbfilename dump.rdb",
                    'save ""',
                    "appendonly no",
                    "daemonize no",
                    f"logfile {_quote(str(work / 'redis.log'))}",
                    f"requirepass {_quote(self.password)}",
                    "",
                ]
            )
            self._process = _server_process(
                server, "-", stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            assert self._process.stdin is not None
            self._process.stdin.write(config.encode())
            self._process.stdin.close()
            client = self._wait_ready(work)
            if client is not None:
                return client
            # Exited early: most likely another process took the port in between; retry.
        log = _tail(work / "redis.log")
        raise BackupError(f"redis-server could not load {self.rdb.name}: {log}")

    def _wait_ready(self, work: Path) -> redis.Redis | None:
        assert self._process is not None
        client = connect(Endpoint("127.0.0.1", self.port), Credentials(None, self.password))
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                return None
            try:
                client.ping()
                return client
            except (redis.ConnectionError, redis.BusyLoadingError):
                time.sleep(0.05)
        raise BackupError(
            f"redis-server did not load {self.rdb.name} within {self.timeout:.0f} s: "
            f"{_tail(work / 'redis.log')}"
        )

    def close(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


def _tail(path: Path, lines: int = 3) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " | ".join(line.strip() for line in text[-lines:])


@dataclass
class LoadCounts:
    """What a load did, key by key."""

    restored: int = 0
    expired: int = 0
    """Gone from the snapshot before they could be copied (their TTL ran out)."""
    existing: int = 0
    """Already present in the target and left alone (no --replace)."""

    def add(self, other: LoadCounts) -> None:
        self.restored += other.restored
        self.expired += other.expired
        self.existing += other.existing


def copy_keys(
    source: redis.Redis,
    target: RedisCluster,
    *,
    replace: bool = False,
    batch: int = 500,
    progress: Callable[[int], None] = ignore_progress,
) -> LoadCounts:
    """Copy every key of `source` into `target` with DUMP/RESTORE, keeping each expiry.

    Expiries travel as absolute times (PEXPIRETIME, RESTORE ... ABSTTL): a key keeps the moment
    it expires, however long the copy takes. Without `replace`, a key already in the target is
    left alone and counted. (SCAN returns a key twice only when the table is resized during the
    scan; the temporary server takes no writes, so that needs most keys to expire meanwhile.)
    """
    counts = LoadCounts()
    cursor = 0
    while True:
        cursor, keys = cast(tuple[int, list[bytes]], source.scan(cursor=cursor, count=batch))
        if keys:
            counts.add(_copy_batch(source, target, keys, replace))
            progress(len(keys))
        if cursor == 0:
            return counts


# One call per batch instead of two commands per key: the client's per-command cost (packing,
# parsing) is what limits a copy, not the servers.
_READ_BATCH = """
local replies = {}
for i, key in ipairs(KEYS) do
    replies[2 * i - 1] = redis.call('DUMP', key)
    replies[2 * i] = redis.call('PEXPIRETIME', key)
end
return replies
"""
_REDIRECTS = (AskError, MovedError, TryAgainError)


def _copy_batch(
    source: redis.Redis, target: RedisCluster, keys: Sequence[bytes], replace: bool
) -> LoadCounts:
    counts = LoadCounts()
    replies = cast(list[Any], source.eval(_READ_BATCH, len(keys), *keys))
    items: list[tuple[bytes, bytes, int]] = []
    for index, key in enumerate(keys):
        payload = cast(bytes | None, replies[2 * index])
        expires_at = int(replies[2 * index + 1])
        if payload is None or expires_at == -2:
            counts.expired += 1
            continue
        items.append((key, payload, max(expires_at, 0)))
    for (key, _, _), result in zip(items, _restore_all(target, items, replace), strict=True):
        if not isinstance(result, Exception):
            counts.restored += 1
        elif "BUSYKEY" in str(result):
            counts.existing += 1
        else:
            raise BackupError(f"RESTORE of key {key[:60]!r} failed: {result}")
    return counts


def _restore_all(
    target: RedisCluster, items: Sequence[tuple[bytes, bytes, int]], replace: bool
) -> list[Any]:
    """RESTORE every item; one plain pipeline per primary, as the client's slot map says.

    redis-py's cluster pipeline works out the node of each command on its own, which cost about
    half of the copy's time; with this and the batched read, a load copies about twice as many
    keys per second. A key whose slot moved meanwhile is answered with a redirect and sent
    again through the cluster client, which follows it and refreshes its slot map.
    """
    by_node: dict[str, tuple[RedisClusterNode, list[int]]] = {}
    for index, (key, _, _) in enumerate(items):
        node = target.get_node_from_key(key)
        if node is None:
            raise BackupError(f"no primary of the target serves the slot of key {key[:60]!r}")
        by_node.setdefault(node.name, (node, []))[1].append(index)
    results: list[Any] = [None] * len(items)
    for node, indexes in by_node.values():
        pipe = target.get_redis_connection(node).pipeline(transaction=False)
        for index in indexes:
            key, payload, expires_at = items[index]
            pipe.restore(key, expires_at, payload, replace=replace, absttl=expires_at > 0)
        for index, result in zip(indexes, pipe.execute(raise_on_error=False), strict=True):
            results[index] = result
    for index, result in enumerate(results):
        if isinstance(result, _REDIRECTS):
            key, payload, expires_at = items[index]
            try:
                results[index] = target.restore(
                    key, expires_at, payload, replace=replace, absttl=expires_at > 0
                )
            except redis.ResponseError as error:
                results[index] = error
    return results


def connect_cluster(seed: Endpoint, credentials: Credentials) -> RedisCluster:
    try:
        return RedisCluster(
            host=seed.host,
            port=seed.port,
            username=credentials.user,
            password=credentials.password,
            socket_timeout=30.0,
            socket_connect_timeout=10.0,
        )
    except redis.RedisError as error:
        raise redis_failure(seed, error, credentials) from None


def load_set(
    directory: Path,
    target: RedisCluster,
    *,
    replace: bool = False,
    reporter: Reporter | None = None,
    timeout: float = DEFAULT_LOAD_TIMEOUT_SECONDS,
) -> LoadCounts:
    """Replay every RDB of a restored set into `target`, one temporary server at a time."""
    reporter = reporter or SilentReporter()
    manifest = read_restored_set(directory)
    server = find_redis_server()
    check_server_can_load(redis_server_version(server), manifest)
    total = LoadCounts()
    for entry in manifest.entries:
        with TemporaryRedis(directory / entry.file, server=server, timeout=timeout) as source:
            keys = source.dbsize()
            with reporter.transfer(f"load {entry.node_id[:8]}", keys, "keys") as advance:
                counts = copy_keys(source, target, replace=replace, progress=advance)
        reporter.info(
            f"{entry.file}: {counts.restored} keys restored, {counts.expired} expired, "
            f"{counts.existing} already present"
        )
        total.add(counts)
    return total
