# pyright: strict, reportUnknownMemberType=false, reportMissingTypeStubs=false
"""How cachectl reaches the Redis Cluster: seed nodes, password, TLS, and the topology.

The cluster is discovered from any node (`--node host:port`, or CACHECTL_NODE with one or more
comma-separated nodes): CLUSTER NODES lists every member with its announced address and, with
Redis >= 7, its announced host name. A node is then reached by that host name when it resolves
(inside Kubernetes, the pod's DNS name: TLS certificates can name it) and by its announced IP
otherwise (the local lab's names end in `.invalid` on purpose).

The password never comes from a flag (flags show in `ps`): REDISCLI_AUTH, as redis-cli reads it,
or a file given by `--password-file` / REDIS_PASSWORD_FILE that no one else may read.
"""

from __future__ import annotations

import os
import socket
import stat
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from cachectl.topology import SLOT_COUNT, ClusterEntry, parse_cluster_nodes

__all__ = [
    "SLOT_COUNT",
    "CachectlError",
    "ClusterEntry",
    "ClusterView",
    "ConnectionSettings",
    "Endpoint",
    "connect",
    "parse_endpoint",
    "parse_endpoints",
    "read_password",
]

NODE_ENV = "CACHECTL_NODE"
PASSWORD_ENV = "REDISCLI_AUTH"
PASSWORD_FILE_ENV = "REDIS_PASSWORD_FILE"


class CachectlError(Exception):
    """A failure to report to the operator as one line; the message says what to do."""


@dataclass(frozen=True)
class Endpoint:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


def parse_endpoint(text: str) -> Endpoint:
    """`host:port` (IPv6 as `[::1]:6379`) as an Endpoint; CachectlError when malformed."""
    value = text.strip()
    host, separator, port = value.rpartition(":")
    host = host.strip("[]")
    if not separator or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise CachectlError(f"bad node address {text!r}: expected host:port, e.g. redis:6379")
    return Endpoint(host, int(port))


def parse_endpoints(text: str) -> list[Endpoint]:
    """Comma- or space-separated `host:port` addresses."""
    items = [item for item in text.replace(",", " ").split() if item]
    if not items:
        raise CachectlError(f"no node given: pass --node host:port or set {NODE_ENV}")
    return [parse_endpoint(item) for item in items]


def read_password(environ: Mapping[str, str], password_file: Path | None) -> str | None:
    """The cluster's password: the file when given, else REDISCLI_AUTH, else none.

    A file readable by group or others is refused: the password would not be a secret there.
    """
    if password_file is not None:
        try:
            mode = password_file.stat().st_mode
            if mode & (stat.S_IRWXG | stat.S_IRWXO):
                raise CachectlError(
                    f"{password_file} is readable by others (mode {stat.S_IMODE(mode):o}); "
                    f"run chmod 600 {password_file}"
                )
            password = password_file.read_text().strip()
        except OSError as error:
            raise CachectlError(f"cannot read the password file: {error.strerror}") from None
        if not password:
            raise CachectlError(f"{password_file} is empty")
        return password
    return environ.get(PASSWORD_ENV) or None


@dataclass(frozen=True)
class ConnectionSettings:
    seeds: tuple[Endpoint, ...]
    password: str | None = None
    username: str | None = None
    """An ACL user (components/redis/acl.py); None authenticates as `default`."""
    tls: bool = False
    tls_ca_file: Path | None = None
    socket_timeout: float = 5.0

    def client_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "username": self.username,
            "password": self.password,
            "socket_timeout": self.socket_timeout,
            "socket_connect_timeout": min(self.socket_timeout, 3.0),
            "decode_responses": True,
            # One quick retry: a member that refuses twice is down, and the operator waits.
            "retry": Retry(ExponentialBackoff(cap=0.5, base=0.1), 1),
        }
        if self.tls:
            options["ssl"] = True
            options["ssl_cert_reqs"] = "required"
            if self.tls_ca_file is not None:
                options["ssl_ca_certs"] = str(self.tls_ca_file)
        return options


@cache
def _resolves(hostname: str) -> bool:
    try:
        socket.getaddrinfo(hostname, None)
    except (OSError, UnicodeError):
        return False
    return True


def dial_host(entry: ClusterEntry) -> str:
    """The name or address to connect to a member by (see the module's docstring)."""
    if entry.hostname and _resolves(entry.hostname):
        return entry.hostname
    return entry.ip


def describe(entry: ClusterEntry) -> str:
    """`ip:port (hostname)`, how output names a member."""
    endpoint = f"{entry.ip}:{entry.port}"
    return f"{endpoint} ({entry.hostname})" if entry.hostname else endpoint


class ClusterView:
    """The members as one node lists them, and clients to reach them."""

    def __init__(self, settings: ConnectionSettings, seed: Endpoint, entries: list[ClusterEntry]):
        self.settings = settings
        self.seed = seed
        self.entries = entries

    @property
    def primaries(self) -> list[ClusterEntry]:
        """Members flagged master that serve slots (a primary without slots holds no keys)."""
        return [entry for entry in self.entries if entry.is_primary and entry.slots]

    def replicas_of(self, primary: ClusterEntry) -> list[ClusterEntry]:
        return [entry for entry in self.entries if entry.primary_id == primary.node_id]

    def by_id(self, node_id: str) -> ClusterEntry | None:
        return next((entry for entry in self.entries if entry.node_id == node_id), None)

    def find(self, endpoint: Endpoint) -> ClusterEntry:
        """The member at `endpoint`, given by announced IP or host name; CachectlError if none."""
        for entry in self.entries:
            if entry.port == endpoint.port and endpoint.host in (entry.ip, entry.hostname):
                return entry
        known = ", ".join(f"{entry.ip}:{entry.port}" for entry in self.entries)
        raise CachectlError(f"no node {endpoint} in the cluster (members: {known})")

    def node_client(self, entry: ClusterEntry) -> redis.Redis:
        return redis.Redis(host=dial_host(entry), port=entry.port, **self.settings.client_options())

    def cluster_client(self) -> RedisCluster:
        """A cluster client that follows redirects; announced names that do not resolve here
        are mapped to the announced IPs."""
        addresses = {entry.hostname: entry.ip for entry in self.entries if entry.hostname}

        def remap(address: tuple[str, int]) -> tuple[str, int]:
            host, port = address
            if host in addresses and not _resolves(host):
                return addresses[host], port
            return host, port

        return RedisCluster(
            host=self.seed.host,
            port=self.seed.port,
            address_remap=remap,
            **self.settings.client_options(),
        )


def cluster_nodes_text(client: redis.Redis) -> str:
    untyped: Any = client
    reply: object = untyped.execute_command("CLUSTER", "NODES")
    return reply.decode() if isinstance(reply, bytes) else str(reply)


def connect(settings: ConnectionSettings) -> ClusterView:
    """The topology from the first seed that answers; CachectlError naming every failure."""
    failures: list[str] = []
    for seed in settings.seeds:
        client = redis.Redis(host=seed.host, port=seed.port, **settings.client_options())
        try:
            entries = parse_cluster_nodes(cluster_nodes_text(client))
        except redis.AuthenticationError as error:
            failures.append(f"{seed}: authentication failed ({error}); check {PASSWORD_ENV}")
            continue
        except redis.ResponseError as error:
            failures.append(f"{seed}: {error} (is it a cluster node?)")
            continue
        except (redis.RedisError, OSError) as error:
            failures.append(f"{seed}: {error}")
            continue
        finally:
            client.close()
        if not entries:
            failures.append(f"{seed}: CLUSTER NODES listed no member")
            continue
        return ClusterView(settings, seed, entries)
    raise CachectlError("cannot reach the cluster: " + "; ".join(failures))


def settings_from(
    nodes: str | None,
    password_file: Path | None,
    tls: bool,
    tls_ca_file: Path | None,
    environ: Mapping[str, str] | None = None,
    extra_seeds: Sequence[Endpoint] = (),
) -> ConnectionSettings:
    """Settings from the command line's values (a flag wins over its variable)."""
    env = os.environ if environ is None else environ
    text = nodes or env.get(NODE_ENV, "")
    seeds = [*extra_seeds, *parse_endpoints(text)] if text else list(extra_seeds)
    if not seeds:
        raise CachectlError(f"no node given: pass --node host:port or set {NODE_ENV}")
    if password_file is None and env.get(PASSWORD_FILE_ENV):
        password_file = Path(env[PASSWORD_FILE_ENV])
    return ConnectionSettings(
        seeds=tuple(seeds),
        password=read_password(env, password_file),
        tls=tls or tls_ca_file is not None,
        tls_ca_file=tls_ca_file,
    )


def info(client: redis.Redis, section: str | None = None) -> dict[str, Any]:
    """INFO as redis-py parses it (numbers as numbers)."""
    untyped: Any = client
    reply: dict[str, Any] = untyped.info(section) if section else untyped.info()
    return reply


def keyspace_keys(details: Mapping[str, Any]) -> int:
    """Keys in every database of an INFO reply (its `db0: {keys: ...}` entries)."""
    total = 0
    for name, value in details.items():
        if name.startswith("db") and isinstance(value, dict):
            database = cast(dict[str, Any], value)
            total += int(database.get("keys", 0))
    return total


def cluster_info(client: redis.Redis) -> dict[str, str]:
    untyped: Any = client
    reply: object = untyped.execute_command("CLUSTER", "INFO")
    text = reply.decode() if isinstance(reply, bytes) else str(reply)
    pairs = (line.split(":", 1) for line in text.splitlines() if ":" in line)
    return {name: value.strip() for name, value in pairs}
