# pyright: strict, reportUnknownMemberType=false, reportMissingTypeStubs=false
"""How cachectl reaches the Redis Cluster: seed nodes, password, TLS, and the topology.

The cluster is discovered from any node (`--node host:port`, or CACHECTL_NODE with one or more
comma-separated nodes): CLUSTER NODES lists every member with its announced address and, with
Redis >= 7, its announced host name. A node is then reached by that host name when it resolves
(inside Kubernetes, the pod's DNS name: TLS certificates can name it) and by its announced IP
otherwise (the local lab's names end in `.invalid` on purpose).

Credentials come from the one reader, `cachectl.credentials` (its docstring has the precedence);
addresses from the one parser here, `parse_endpoint`, which the backup program uses too.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

import redis
from redis.backoff import ExponentialBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from cachectl.credentials import Credentials, read_credentials
from cachectl.errors import CachectlError, UsageError, redis_auth_message
from cachectl.topology import ClusterEntry, parse_cluster_nodes
from stackconfig.sharding import SLOT_COUNT

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
]

NODE_ENV = "CACHECTL_NODE"
NO_CREDENTIALS = Credentials(None, None)


@dataclass(frozen=True, order=True)
class Endpoint:
    """host:port of a Redis node."""

    host: str
    port: int

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_endpoint(text: str) -> Endpoint:
    """`host:port` (IPv6 as `[::1]:6379`) as an Endpoint; UsageError (exit 2) when malformed."""
    value = text.strip()
    host, separator, port = value.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if (
        not separator
        or not host
        or any(character.isspace() or not character.isprintable() for character in host)
        or not port.isascii()
        or not port.isdigit()
        or len(port) > 5
        or not 0 < int(port) < 65536
    ):
        raise UsageError(f"bad node address {text!r}: expected host:port, e.g. redis:6379")
    return Endpoint(host, int(port))


def parse_endpoints(text: str) -> list[Endpoint]:
    """Addresses separated by commas or whitespace; none for an empty text."""
    return [parse_endpoint(item) for item in text.replace(",", " ").split() if item]


@dataclass(frozen=True)
class ConnectionSettings:
    seeds: tuple[Endpoint, ...]
    credentials: Credentials = NO_CREDENTIALS
    tls: bool = False
    tls_ca_file: Path | None = None
    socket_timeout: float = 5.0

    def client_options(self) -> dict[str, Any]:
        options: dict[str, Any] = {
            "username": self.credentials.user,
            "password": self.credentials.password,
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
    # RFC 6761: no name under .invalid ever resolves, so asking would only send a DNS query out
    # (the lab announces such names).
    if hostname.rstrip(".").lower().endswith(".invalid"):
        return False
    try:
        socket.getaddrinfo(hostname, None)
    except (OSError, UnicodeError):
        return False
    return True


def dial_address(hostname: str, ip: str) -> str:
    """The name or address to connect to a member by (see the module's docstring)."""
    return hostname if hostname and _resolves(hostname) else ip


def dial_host(entry: ClusterEntry) -> str:
    return dial_address(entry.hostname, entry.ip)


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
        except redis.RedisError as error:
            credentials = settings.credentials
            refusal = redis_auth_message(error, credentials.source, credentials.user)
            if refusal is not None:
                # The same answer from every seed: the others would only repeat it.
                raise CachectlError(f"{seed}: {refusal}") from None
            if not isinstance(error, redis.ResponseError):
                failures.append(f"{seed}: {error}")
                continue
            failures.append(f"{seed}: {error} (is it a cluster node?)")
            continue
        except OSError as error:
            failures.append(f"{seed}: {error}")
            continue
        finally:
            client.close()
        if not entries:
            failures.append(f"{seed}: CLUSTER NODES listed no member")
            continue
        return ClusterView(settings, seed, entries)
    raise CachectlError(
        "cannot reach the cluster: " + "; ".join(failures) + "; check --node / CACHECTL_NODE "
        "and that the nodes are up"
    )


def settings_from(
    nodes: str | None,
    password_file: Path | None,
    tls: bool,
    tls_ca_file: Path | None,
    environ: Mapping[str, str] | None = None,
    extra_seeds: Sequence[Endpoint] = (),
    *,
    user: str | None = None,
    user_file: Path | None = None,
) -> ConnectionSettings:
    """Settings from the command line's values (a flag wins over its variable)."""
    env = os.environ if environ is None else environ
    text = nodes or env.get(NODE_ENV, "")
    seeds = [*extra_seeds, *parse_endpoints(text)]
    if not seeds:
        raise CachectlError(f"no node given: pass --node host:port or set {NODE_ENV}")
    return ConnectionSettings(
        seeds=tuple(seeds),
        credentials=read_credentials(
            env, password_file=password_file, user=user, user_file=user_file
        ),
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
