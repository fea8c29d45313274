# pyright: strict, reportUnknownMemberType=false, reportMissingTypeStubs=false
"""Backups of the Redis Cluster's primaries to S3, restores from S3, and replays into any cluster.

Layout in the bucket, one "set" per backup run:

    s3://<bucket>/<prefix>/<set-id>/<node-id>.rdb     one RDB snapshot per primary
    s3://<bucket>/<prefix>/<set-id>/manifest.json     written LAST: the set is complete

A set id is the UTC start time plus a random suffix (`20250102T030000Z-3fa9c1`), so sets sort by
time and two runs in the same second cannot mix their files. A set without `manifest.json` is an
interrupted run: restores skip it when choosing by time and refuse it when it is named.

Every RDB object carries its SHA-256 (hex, in the manifest and in the object's `sha256`
metadata); uploads also ask S3 for its own SHA-256 checksum, so S3 rejects a part damaged in
transit. Objects are encrypted server-side with the KMS key given (`aws:kms`).

Restores are independent of the slot layout: `load_set` starts a throw-away standalone
redis-server on each restored RDB and copies every key into the target cluster with DUMP/RESTORE
through redis-py's cluster client, which sends each key to whichever node owns its slot now. The
target may have another number of primaries or another slot split than the cluster backed up.

This module has no side effects on import; `cachectl.backup_cli` is its command line.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, cast

import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import ClusterNode as RedisClusterNode
from redis.cluster import RedisCluster
from redis.exceptions import AskError, MovedError, TryAgainError
from redis.retry import Retry

from cachectl.topology import parse_cluster_nodes as parse_cluster_entries

SLOT_COUNT = 16384
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
DEFAULT_PREFIX = "redis"
DEFAULT_SNAPSHOT_TIMEOUT_SECONDS = 1800.0
DEFAULT_LOAD_TIMEOUT_SECONDS = 900.0
# S3 allows 10,000 parts: 64 MiB parts cover RDB files up to 625 GiB.
_PART_SIZE = 64 * 1024 * 1024
_SET_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
_SET_ID = re.compile(r"(?P<time>\d{8}T\d{6}Z)-(?P<suffix>[0-9a-f]{6})")
_NODE_ID = re.compile(r"[0-9a-f]{40}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# S3 caps all user metadata of an object at 2 KiB.
_SLOTS_METADATA_LIMIT = 1024
_FAILING_FLAGS = ("fail", "noaddr", "handshake")  # "fail" also matches "fail?"

SlotRange = tuple[int, int]


class BackupError(Exception):
    """A failure the operator can act on; its message is the one line the CLI prints."""


class RefusedSetError(BackupError):
    """A backup set that must not be restored: incomplete, corrupted or inconsistent."""


# --- inputs: node addresses and the password ---------------------------------------------------


@dataclass(frozen=True, order=True)
class Endpoint:
    """host:port of a Redis node."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_endpoint(text: str) -> Endpoint:
    """`host:port` or `[v6-address]:port` as an Endpoint; BackupError naming the bad value."""
    host, sep, port = text.strip().rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise BackupError(f"'{text}' is not a host:port address")
    return Endpoint(host, int(port))


def parse_endpoints(text: str) -> tuple[Endpoint, ...]:
    """Addresses separated by spaces or commas, as REDIS_NODES lists them."""
    return tuple(parse_endpoint(item) for item in re.split(r"[\s,]+", text) if item)


def read_password(environ: Mapping[str, str]) -> str | None:
    """The cluster's password: REDISCLI_AUTH, else the file named by REDIS_PASSWORD_FILE.

    Never a command-line flag: flags show in `ps` and in shell history. The file must not be
    accessible to group or others (like ssh keys), so a mistaken 0644 fails loudly.
    """
    if environ.get("REDISCLI_AUTH"):
        return environ["REDISCLI_AUTH"]
    path_text = environ.get("REDIS_PASSWORD_FILE", "")
    if not path_text:
        return None
    path = Path(path_text)
    try:
        mode = path.stat().st_mode & 0o777
        if mode & 0o077:
            raise BackupError(
                f"REDIS_PASSWORD_FILE {path} has mode {mode:04o}; "
                "it must not be readable by group or others (chmod 600)"
            )
        password = path.read_text().strip("\r\n")
    except OSError as error:
        raise BackupError(f"REDIS_PASSWORD_FILE {path}: {error.strerror}") from None
    if not password:
        raise BackupError(f"REDIS_PASSWORD_FILE {path} is empty")
    return password


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
        if self.hostname and _resolves(self.hostname):
            return Endpoint(self.hostname, self.port)
        return Endpoint(self.ip, self.port)


def _resolves(hostname: str) -> bool:
    try:
        socket.getaddrinfo(hostname, None)
    except OSError:
        return False
    return True


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


def format_slot_ranges(ranges: Iterable[SlotRange]) -> str:
    """`0-5460,5461-10922` (a single slot as `7`)."""
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in sorted(ranges))


def uncovered_slots(ranges: Iterable[SlotRange]) -> list[SlotRange]:
    """Slot ranges of 0..16383 that no range covers."""
    missing: list[SlotRange] = []
    next_slot = 0
    for first, last in sorted(ranges):
        if first > next_slot:
            missing.append((next_slot, first - 1))
        next_slot = max(next_slot, last + 1)
    if next_slot < SLOT_COUNT:
        missing.append((next_slot, SLOT_COUNT - 1))
    return missing


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


def connect(endpoint: Endpoint, password: str | None, *, timeout: float = 30.0) -> redis.Redis:
    """A plain (non-cluster) connection that returns bytes.

    Two quick retries: redis-py's default backs off for seconds and counts a wrong password
    as a connection error worth retrying; the CronJob retries the whole run anyway.
    """
    return redis.Redis(
        host=endpoint.host,
        port=endpoint.port,
        password=password,
        socket_timeout=timeout,
        socket_connect_timeout=min(timeout, 10.0),
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.1), 2),
    )


def _redis_failure(endpoint: Endpoint, error: redis.RedisError) -> BackupError:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    if text.startswith(("NOAUTH", "HELLO must be called with the client already authenticated")):
        text = "authentication required"
    if isinstance(error, redis.AuthenticationError) or text == "authentication required":
        text += " (set REDISCLI_AUTH or REDIS_PASSWORD_FILE to the cluster's password)"
    return BackupError(f"{endpoint}: {text}")


def discover_primaries(seeds: Sequence[Endpoint], password: str | None) -> list[ClusterNode]:
    """The primaries to back up, as the first seed that answers CLUSTER NODES sees them."""
    if not seeds:
        raise BackupError("no Redis nodes given: set REDIS_NODES or pass --nodes host:port")
    problems: list[str] = []
    for seed in seeds:
        try:
            with contextlib.closing(connect(seed, password)) as client:
                reply = cast(bytes, client.execute_command("CLUSTER", "NODES"))
        except redis.RedisError as error:
            problems.append(str(_redis_failure(seed, error)))
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


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def check_rdb_header(path: Path) -> None:
    """Refuse a file that is not an RDB (`REDIS` and a 4-digit version)."""
    with path.open("rb") as stream:
        header = stream.read(9)
    if len(header) < 9 or not header.startswith(b"REDIS") or not header[5:].isdigit():
        raise BackupError(f"{path.name} is not an RDB file (header {header[:9]!r})")


def _which(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/usr/local/bin")


def find_tool(name: str) -> str:
    found = _which(name)
    if found is None:
        raise BackupError(f"'{name}' is not installed (Debian package redis-tools)")
    return found


def find_redis_server() -> str:
    """The redis-server binary, also when it is only installed as redis-check-rdb.

    Debian's redis-tools package ships the server binary under the name redis-check-rdb (the
    redis-server package only adds a `redis-server` symlink to it), and the binary chooses what
    to be from argv[0]: started as `redis-server` (see `_server_process`), it is the server.
    """
    found = _which("redis-server") or _which("redis-check-rdb")
    if found is None:
        raise BackupError("redis-server is not installed; `load` needs it (Debian redis-tools)")
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


def take_snapshot(
    node: ClusterNode,
    work_dir: Path,
    password: str | None,
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
        with contextlib.closing(connect(endpoint, password)) as client:
            role = cast(list[Any], client.execute_command("ROLE"))
            if role[0] not in (b"master", "master"):
                raise BackupError(f"{endpoint} ({node.node_id[:8]}) is no longer a primary")
            server = client.info("server")
            keys = client.dbsize()
    except redis.RedisError as error:
        raise _redis_failure(endpoint, error) from None
    path = work_dir / f"{node.node_id}.rdb"
    environment = {k: v for k, v in os.environ.items() if k != "REDISCLI_AUTH"}
    if password is not None:
        environment["REDISCLI_AUTH"] = password
    command = [find_tool("redis-cli"), "--no-auth-warning", "-h", endpoint.host]
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


# --- set ids, manifests ----------------------------------------------------------------------


def iso(moment: datetime) -> str:
    """UTC, second precision, with a `Z`: `2025-01-02T03:00:00Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """An ISO-8601 time; without a zone it is taken as UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BackupError(
            f"'{text}' is not an ISO-8601 time (example: 2025-01-02T03:00:00Z)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def new_set_id(started_at: datetime, suffix: str | None = None) -> str:
    suffix = secrets.token_hex(3) if suffix is None else suffix
    return f"{started_at.astimezone(UTC).strftime(_SET_TIME_FORMAT)}-{suffix}"


def set_time(set_id: str) -> datetime | None:
    """When the set was started, from its id; None for names that are not set ids."""
    match = _SET_ID.fullmatch(set_id)
    if match is None:
        return None
    return datetime.strptime(match["time"], _SET_TIME_FORMAT).replace(tzinfo=UTC)


@dataclass(frozen=True)
class ManifestEntry:
    """One primary's snapshot in a set."""

    node_id: str
    address: str
    slots: tuple[SlotRange, ...]
    file: str
    key: str
    size: int
    sha256: str
    redis_version: str
    keys: int
    taken_at: str


@dataclass(frozen=True)
class Manifest:
    """The index of a complete set; its presence in S3 is what makes the set complete."""

    set_id: str
    prefix: str
    started_at: str
    completed_at: str
    entries: tuple[ManifestEntry, ...]
    format: int = MANIFEST_FORMAT

    def to_json(self) -> str:
        document = {
            "format": self.format,
            "set_id": self.set_id,
            "prefix": self.prefix,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
            "slot_count": sum(b - a + 1 for e in self.entries for a, b in e.slots),
            "files": [
                {
                    "node_id": e.node_id,
                    "address": e.address,
                    "slots": [list(r) for r in e.slots],
                    "file": e.file,
                    "key": e.key,
                    "size": e.size,
                    "sha256": e.sha256,
                    "redis_version": e.redis_version,
                    "keys": e.keys,
                    "taken_at": e.taken_at,
                }
                for e in self.entries
            ],
        }
        return json.dumps(document, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes, *, expected_set_id: str | None = None) -> Manifest:
        """Parse and validate; RefusedSetError says what is wrong with it."""
        try:
            document = json.loads(text)
            manifest = cls._from_document(cast(dict[str, Any], document))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise RefusedSetError(f"{MANIFEST_NAME} is unreadable: {error}") from None
        name = expected_set_id or manifest.set_id
        if manifest.format != MANIFEST_FORMAT:
            raise RefusedSetError(f"set {name}: unknown manifest format {manifest.format}")
        if expected_set_id is not None and manifest.set_id != expected_set_id:
            raise RefusedSetError(f"set {name}: its manifest names set {manifest.set_id}")
        if not manifest.entries:
            raise RefusedSetError(f"set {name}: the manifest lists no files")
        for entry in manifest.entries:
            if not _NODE_ID.fullmatch(entry.node_id) or entry.file != f"{entry.node_id}.rdb":
                raise RefusedSetError(f"set {name}: bad node id or file name '{entry.file}'")
            if not _SHA256_HEX.fullmatch(entry.sha256) or entry.size < 0:
                raise RefusedSetError(f"set {name}: bad checksum or size for {entry.file}")
            if any(not 0 <= a <= b < SLOT_COUNT for a, b in entry.slots):
                raise RefusedSetError(f"set {name}: bad slot range in {entry.file}")
        slots = [r for e in manifest.entries for r in e.slots]
        missing = uncovered_slots(slots)
        if missing or sum(b - a + 1 for a, b in slots) != SLOT_COUNT:
            raise RefusedSetError(
                f"set {name}: its files do not cover every slot exactly once "
                f"(missing: {format_slot_ranges(missing) or 'none'})"
            )
        return manifest

    @classmethod
    def _from_document(cls, document: dict[str, Any]) -> Manifest:
        entries = tuple(
            ManifestEntry(
                node_id=str(item["node_id"]),
                address=str(item["address"]),
                slots=tuple((int(r[0]), int(r[1])) for r in item["slots"]),
                file=str(item["file"]),
                key=str(item["key"]),
                size=int(item["size"]),
                sha256=str(item["sha256"]),
                redis_version=str(item["redis_version"]),
                keys=int(item["keys"]),
                taken_at=str(item["taken_at"]),
            )
            for item in cast(list[dict[str, Any]], document["files"])
        )
        return cls(
            set_id=str(document["set_id"]),
            prefix=str(document["prefix"]),
            started_at=str(document["started_at"]),
            completed_at=str(document["completed_at"]),
            entries=entries,
            format=int(document["format"]),
        )


# --- progress --------------------------------------------------------------------------------


class Reporter(Protocol):
    """Where the library reports what it does; the CLI shows it with rich."""

    def info(self, message: str) -> None: ...

    def transfer(
        self, description: str, total: int, unit: str = "bytes"
    ) -> AbstractContextManager[Callable[[int], None]]:
        """A progress task of `total` units; the callable advances it by a number of units."""
        ...


class SilentReporter:
    def info(self, message: str) -> None:
        del message

    def transfer(
        self, description: str, total: int, unit: str = "bytes"
    ) -> AbstractContextManager[Callable[[int], None]]:
        del description, total, unit
        return contextlib.nullcontext(_ignore)


def _ignore(amount: int) -> None:
    del amount


# --- S3 --------------------------------------------------------------------------------------


class S3Client(Protocol):
    """The part of boto3's S3 client this module uses (boto3 ships no type hints)."""

    def upload_file(
        self,
        Filename: str,
        Bucket: str,
        Key: str,
        ExtraArgs: dict[str, Any] | None = None,
        Callback: Callable[[int], None] | None = None,
        Config: Any = None,
    ) -> None: ...

    def download_file(
        self,
        Bucket: str,
        Key: str,
        Filename: str,
        ExtraArgs: dict[str, Any] | None = None,
        Callback: Callable[[int], None] | None = None,
        Config: Any = None,
    ) -> None: ...

    def put_object(self, **kwargs: Any) -> dict[str, Any]: ...

    def get_object(self, **kwargs: Any) -> dict[str, Any]: ...

    def head_object(self, **kwargs: Any) -> dict[str, Any]: ...

    def get_paginator(self, operation_name: str) -> Any: ...


def make_s3_client(region: str | None) -> S3Client:
    """The one place the S3 client is built (tests point it at moto by mocking boto3).

    Credentials come from boto3's default chain: IRSA's web identity in Kubernetes, a profile or
    environment variables elsewhere. AWS_ENDPOINT_URL_S3 points it at an S3-compatible store.
    """
    import boto3  # slow to import; only commands that talk to S3 pay for it
    from botocore.config import Config

    config = Config(retries={"max_attempts": 10, "mode": "adaptive"})
    return cast(S3Client, boto3.client("s3", region_name=region or None, config=config))


def _transfer_config() -> Any:
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(
        multipart_threshold=_PART_SIZE, multipart_chunksize=_PART_SIZE, max_concurrency=4
    )


def _client_error_code(error: Exception) -> str:
    response = cast(dict[str, Any], getattr(error, "response", None) or {})
    return str(response.get("Error", {}).get("Code", ""))


def _is_missing(error: Exception) -> bool:
    return _client_error_code(error) in ("404", "NoSuchKey", "NotFound")


@dataclass(frozen=True)
class SetSummary:
    """A set as listed in the bucket."""

    set_id: str
    started_at: datetime
    complete: bool
    files: int
    size: int


@dataclass
class BackupStore:
    """A bucket and prefix holding backup sets."""

    client: S3Client
    bucket: str
    prefix: str = DEFAULT_PREFIX
    transfer_config: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.prefix = self.prefix.strip("/")
        if not self.bucket:
            raise BackupError("no bucket: pass --bucket or set BACKUP_BUCKET")

    def key(self, set_id: str, name: str) -> str:
        return "/".join(part for part in (self.prefix, set_id, name) if part)

    def url(self, set_id: str, name: str = "") -> str:
        return f"s3://{self.bucket}/{self.key(set_id, name)}"

    def _config(self) -> Any:
        if self.transfer_config is None:
            self.transfer_config = _transfer_config()
        return self.transfer_config

    def upload_snapshot(
        self,
        set_id: str,
        snapshot: Snapshot,
        kms_key_id: str,
        progress: Callable[[int], None] = _ignore,
    ) -> ManifestEntry:
        node = snapshot.node
        name = f"{node.node_id}.rdb"
        key = self.key(set_id, name)
        slots = format_slot_ranges(node.slots)
        if len(slots) > _SLOTS_METADATA_LIMIT:
            slots = f"{len(node.slots)} ranges, see {MANIFEST_NAME}"
        extra = {
            **_encryption(kms_key_id),
            # S3 checks a SHA-256 of every part it receives; `sha256` below is the whole file's.
            "ChecksumAlgorithm": "SHA256",
            "ContentType": "application/octet-stream",
            "Metadata": {
                "sha256": snapshot.sha256,
                "node-id": node.node_id,
                "slots": slots,
                "set-id": set_id,
                "redis-version": snapshot.redis_version,
                "taken-at": iso(snapshot.taken_at),
            },
        }
        self.client.upload_file(
            str(snapshot.path), self.bucket, key, ExtraArgs=extra, Callback=progress,
            Config=self._config(),
        )  # fmt: skip
        return ManifestEntry(
            node_id=node.node_id,
            address=f"{node.ip}:{node.port}",
            slots=node.slots,
            file=name,
            key=key,
            size=snapshot.size,
            sha256=snapshot.sha256,
            redis_version=snapshot.redis_version,
            keys=snapshot.keys,
            taken_at=iso(snapshot.taken_at),
        )

    def put_manifest(self, manifest: Manifest, kms_key_id: str) -> None:
        body = manifest.to_json().encode()
        self.client.put_object(
            Bucket=self.bucket,
            Key=self.key(manifest.set_id, MANIFEST_NAME),
            Body=body,
            ContentType="application/json",
            ChecksumSHA256=base64.b64encode(hashlib.sha256(body).digest()).decode(),
            **_encryption(kms_key_id),
        )

    def list_sets(self) -> list[SetSummary]:
        """Every set under the prefix, oldest first; other names there are ignored."""
        found: dict[str, list[tuple[str, int]]] = {}
        base = f"{self.prefix}/" if self.prefix else ""
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=base):
            for item in cast(list[dict[str, Any]], page.get("Contents", [])):
                set_id, _, name = str(item["Key"])[len(base) :].partition("/")
                if name and "/" not in name and set_time(set_id) is not None:
                    found.setdefault(set_id, []).append((name, int(item.get("Size", 0))))
        summaries = [
            SetSummary(
                set_id=set_id,
                started_at=cast(datetime, set_time(set_id)),
                complete=any(name == MANIFEST_NAME for name, _ in files),
                files=sum(1 for name, _ in files if name.endswith(".rdb")),
                size=sum(size for name, size in files if name.endswith(".rdb")),
            )
            for set_id, files in found.items()
        ]
        return sorted(summaries, key=lambda s: (s.started_at, s.set_id))

    def fetch_manifest(self, set_id: str) -> Manifest:
        if set_time(set_id) is None:
            raise BackupError(f"'{set_id}' is not a set id (like 20250102T030000Z-3fa9c1)")
        try:
            response = self.client.get_object(
                Bucket=self.bucket, Key=self.key(set_id, MANIFEST_NAME)
            )
        except Exception as error:
            if _is_missing(error):
                raise RefusedSetError(
                    f"set {set_id} is incomplete: {self.url(set_id, MANIFEST_NAME)} does not "
                    "exist (the backup did not finish); restore another set"
                ) from None
            raise
        return Manifest.from_json(response["Body"].read(), expected_set_id=set_id)

    def verify_object(self, set_id: str, entry: ManifestEntry) -> None:
        """Size and recorded checksum of the object against the manifest, before downloading."""
        key = self.key(set_id, entry.file)
        if entry.key != key:
            raise RefusedSetError(f"set {set_id}: manifest key {entry.key} is not {key}")
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except Exception as error:
            if _is_missing(error):
                raise RefusedSetError(
                    f"set {set_id} is corrupted: {self.url(set_id, entry.file)} is missing"
                ) from None
            raise
        size = int(head.get("ContentLength", -1))
        recorded = cast(dict[str, str], head.get("Metadata", {})).get("sha256")
        if size != entry.size or recorded != entry.sha256:
            raise RefusedSetError(
                f"set {set_id} is corrupted: {entry.file} is {size} bytes with sha256 "
                f"{recorded}, the manifest says {entry.size} bytes with {entry.sha256}"
            )

    def download(
        self, set_id: str, entry: ManifestEntry, path: Path, progress: Callable[[int], None]
    ) -> None:
        self.client.download_file(
            self.bucket, self.key(set_id, entry.file), str(path), Callback=progress,
            Config=self._config(),
        )  # fmt: skip


def _encryption(kms_key_id: str) -> dict[str, str]:
    return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id}


# --- backup ----------------------------------------------------------------------------------


def run_backup(
    store: BackupStore,
    primaries: Sequence[ClusterNode],
    snapshot: Callable[[ClusterNode, Path], Snapshot],
    *,
    kms_key_id: str,
    work_dir: Path | None = None,
    reporter: Reporter | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Manifest:
    """Snapshot and upload each primary in turn, then write the manifest.

    One primary at a time: one fork in the cluster at any moment and one RDB on local disk, at
    the price of shards snapshotted a few seconds or minutes apart (each file records its own
    `taken_at`; a cache does not need a cross-shard consistent cut). Any exception leaves the
    set without a manifest, i.e. incomplete, and propagates.
    """
    if not kms_key_id:
        raise BackupError("no KMS key: pass --kms-key-id or set BACKUP_KMS_KEY_ID")
    if not primaries:
        raise BackupError("no primary to back up")
    reporter = reporter or SilentReporter()
    started_at = clock()
    set_id = new_set_id(started_at)
    reporter.info(f"backup set {set_id}: {len(primaries)} primaries -> {store.url(set_id)}")
    entries: list[ManifestEntry] = []
    with tempfile.TemporaryDirectory(prefix="redis-backup-", dir=work_dir) as scratch:
        for node in primaries:
            taken = snapshot(node, Path(scratch))
            try:
                with reporter.transfer(f"upload {node.node_id[:8]}", taken.size) as advance:
                    entries.append(store.upload_snapshot(set_id, taken, kms_key_id, advance))
            finally:
                taken.path.unlink(missing_ok=True)
            reporter.info(
                f"{node.node_id[:8]} slots {format_slot_ranges(node.slots)}: "
                f"{taken.keys} keys, {taken.size} bytes, sha256 {taken.sha256[:12]}..."
            )
    manifest = Manifest(
        set_id=set_id,
        prefix=store.prefix,
        started_at=iso(started_at),
        completed_at=iso(clock()),
        entries=tuple(entries),
    )
    store.put_manifest(manifest, kms_key_id)
    reporter.info(f"backup set {set_id} complete: {store.url(set_id, MANIFEST_NAME)}")
    return manifest


# --- restore ---------------------------------------------------------------------------------


def choose_set(sets: Sequence[SetSummary], at: datetime | None = None) -> SetSummary:
    """The newest complete set started at or before `at` (now when None)."""
    eligible = [s for s in sets if at is None or s.started_at <= at]
    complete = [s for s in eligible if s.complete]
    when = f"at or before {iso(at)}" if at is not None else "in the bucket"
    if not complete:
        skipped = len(eligible)
        detail = f" ({skipped} incomplete set(s) skipped)" if skipped else ""
        raise BackupError(f"no complete backup set {when}{detail}")
    return max(complete, key=lambda s: (s.started_at, s.set_id))


def restore_set(
    store: BackupStore, set_id: str, destination: Path, reporter: Reporter | None = None
) -> Manifest:
    """Download every file of a complete set into `destination`, verifying each checksum.

    The files land as `.part` first and are renamed only once all of them verified, and the
    manifest is written last: a refused set leaves no RDB and no manifest behind.
    """
    reporter = reporter or SilentReporter()
    manifest = store.fetch_manifest(set_id)
    if destination.exists() and any(destination.iterdir()):
        raise BackupError(f"{destination} is not empty; restore into a new directory")
    for entry in manifest.entries:
        store.verify_object(set_id, entry)
    # The files hold the cache's data (carts, sessions...): readable by their owner only.
    destination.mkdir(mode=0o700, parents=True, exist_ok=True)
    parts: list[tuple[Path, Path]] = []
    try:
        for entry in manifest.entries:
            part = destination / f".{entry.file}.part"
            parts.append((part, destination / entry.file))
            with reporter.transfer(f"download {entry.node_id[:8]}", entry.size) as advance:
                store.download(set_id, entry, part, advance)
            actual = sha256_of(part)
            if actual != entry.sha256:
                raise RefusedSetError(
                    f"set {set_id} is corrupted: {entry.file} has sha256 {actual}, "
                    f"the manifest says {entry.sha256}"
                )
        for part, final in parts:
            part.rename(final)
    finally:
        for part, _ in parts:
            part.unlink(missing_ok=True)
    (destination / MANIFEST_NAME).write_text(manifest.to_json())
    reporter.info(f"restored set {set_id} ({len(manifest.entries)} files) into {destination}")
    return manifest


def read_restored_set(directory: Path) -> Manifest:
    """The manifest of a restored directory, with every file checked against it again."""
    manifest_path = directory / MANIFEST_NAME
    if not manifest_path.is_file():
        raise BackupError(f"{manifest_path} not found; run `restore --to {directory}` first")
    manifest = Manifest.from_json(manifest_path.read_bytes())
    for entry in manifest.entries:
        path = directory / entry.file
        if not path.is_file():
            raise RefusedSetError(f"{path} is missing")
        if sha256_of(path) != entry.sha256:
            raise RefusedSetError(f"{path} does not match the sha256 in {MANIFEST_NAME}")
    return manifest


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
        client = connect(Endpoint("127.0.0.1", self.port), self.password)
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
    progress: Callable[[int], None] = _ignore,
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


def connect_cluster(seed: Endpoint, password: str | None) -> RedisCluster:
    try:
        return RedisCluster(
            host=seed.host,
            port=seed.port,
            password=password,
            socket_timeout=30.0,
            socket_connect_timeout=10.0,
        )
    except redis.RedisError as error:
        raise _redis_failure(seed, error) from None


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
