"""redis.conf for the cluster's nodes, rendered from plain inputs (no Pulumi here).

The file is the same for every pod and is mounted read-only from a ConfigMap. Everything that
differs per pod or is secret is added by `scripts/start.sh` on the redis-server command line or in a
0600 include file: port, bind, dir, cluster-config-file, cluster-announce-*, requirepass and
masterauth. The rendered file therefore never holds a password.

Each directive carries a comment saying why it has its value, so the file reads as the record of the
decision in the pod as well as here. `parse_redis_conf` reads the file back; tests and the policy
pack use it to check what a stack would really run.
"""

from __future__ import annotations

import math
import shlex
from dataclasses import dataclass

from stackconfig import adr
from stackconfig.config import MAXMEMORY_PERCENT_RANGE, EvictionPolicy, RedisConfig
from stackconfig.quantity import quantity_bytes

RDB_SAVE_POINTS: tuple[tuple[int, int], ...] = ((3600, 1), (300, 100), (60, 10000))
"""RDB snapshot triggers as (seconds, changes): Redis's own defaults, an hourly floor under load."""

PER_NODE_DIRECTIVES = frozenset(
    {
        "dir",
        "cluster-config-file",
        "cluster-announce-hostname",
        "cluster-announce-ip",
        "cluster-announce-port",
        "cluster-announce-bus-port",
        "cluster-port",
        "requirepass",
        "masterauth",
    }
)
"""Directives start.sh sets per pod; the rendered file never contains them."""

SECRET_DIRECTIVES = frozenset({"requirepass", "masterauth", "masteruser", "user"})
"""Directives that would carry a credential."""

_MIB = 1024 * 1024

CONNECTION_HEADROOM = 1.2
"""maxclients above the modelled peak: keys do not hash perfectly evenly over the shards, and
pools reconnecting after a failover briefly hold old and new connections."""


def connections_per_node(concurrent_users: int, primaries: int) -> int:
    """Client connections one node must accept at the ADR's peak.

    The capacity model: each concurrent user has at most one request in flight, and a request
    holds one pooled connection to the primary that owns its key; keys spread evenly over the
    primaries (replicas serve no client reads). So a node sees users / primaries connections,
    plus CONNECTION_HEADROOM."""
    if concurrent_users < 1 or primaries < 1:
        raise ValueError(
            f"concurrent_users and primaries must be at least 1, got {concurrent_users}, "
            f"{primaries}"
        )
    return math.ceil(concurrent_users / primaries * CONNECTION_HEADROOM)


_STACK_DEFAULTS = RedisConfig()
"""The stack config's defaults: one source for the spec's defaults below."""


@dataclass(frozen=True)
class RedisConfSpec:
    """What a node's redis.conf is made from."""

    container_memory_bytes: int
    """Memory limit of the Redis container; maxmemory is a share of it."""
    maxmemory_percent: int = _STACK_DEFAULTS.maxmemory_percent
    """maxmemory as a percentage of `container_memory_bytes` (50-95)."""
    node_timeout_ms: int = _STACK_DEFAULTS.node_timeout_ms
    """cluster-node-timeout: failover takes about this plus 1-2 s."""
    appendonly: bool = True
    """AOF persistence with appendfsync everysec."""
    rdb: bool = True
    """RDB snapshots at `save_points`."""
    save_points: tuple[tuple[int, int], ...] = RDB_SAVE_POINTS
    """RDB triggers as (seconds, changes); ignored when `rdb` is false."""
    maxmemory_policy: str = EvictionPolicy.ALLKEYS_LRU.value
    """Eviction policy once maxmemory is reached."""
    port: int = 6379
    """Client port (the cluster bus is port + 10000)."""
    replicas_per_primary: int = 1
    """Replicas of each primary: a full sync starts once this many replicas wait for it."""
    repl_backlog_bytes: int = 128 * _MIB
    """Replication backlog: a replica back within it resyncs partially instead of in full."""
    primaries: int = _STACK_DEFAULTS.primaries
    """Shards the clients' connections spread over (maxclients)."""
    concurrent_users: int = adr.CONCURRENT_USERS
    """Users at the peak the tier is sized for (maxclients)."""

    def __post_init__(self) -> None:
        low, high = MAXMEMORY_PERCENT_RANGE
        problems: list[str] = []
        if self.container_memory_bytes <= 0:
            problems.append(
                f"container_memory_bytes must be positive, got {self.container_memory_bytes}"
            )
        if not low <= self.maxmemory_percent <= high:
            problems.append(
                f"maxmemory_percent must be between {low} and {high} (fork copy-on-write and "
                f"buffers need the rest of the container), got {self.maxmemory_percent}"
            )
        if self.node_timeout_ms < 100:
            problems.append(f"node_timeout_ms must be at least 100, got {self.node_timeout_ms}")
        if self.maxmemory_policy not in {policy.value for policy in EvictionPolicy}:
            allowed = ", ".join(policy.value for policy in EvictionPolicy)
            problems.append(
                f"maxmemory_policy must be one of {allowed}, got {self.maxmemory_policy!r}"
            )
        if not 1 <= self.port <= 55535:
            problems.append(f"port must be 1-55535 (the bus port is port + 10000), got {self.port}")
        if self.replicas_per_primary < 0:
            problems.append(
                f"replicas_per_primary must not be negative, got {self.replicas_per_primary}"
            )
        if self.repl_backlog_bytes < _MIB:
            problems.append(
                f"repl_backlog_bytes must be at least 1 MiB, got {self.repl_backlog_bytes}"
            )
        if self.primaries < 1 or self.concurrent_users < 1:
            problems.append(
                "primaries and concurrent_users must be at least 1, got "
                f"{self.primaries} and {self.concurrent_users}"
            )
        if any(seconds <= 0 or changes <= 0 for seconds, changes in self.save_points):
            problems.append(f"save_points must be positive pairs, got {self.save_points}")
        if self.rdb and not self.save_points:
            problems.append("save_points must not be empty when rdb is enabled")
        if problems:
            raise ValueError("; ".join(problems))


def redis_conf_spec(settings: RedisConfig, port: int = 6379) -> RedisConfSpec:
    """The renderer's input for a `cache-platform:redis` config: what the pods, the lab, the
    benchmarks and the policy pack all render from."""
    return RedisConfSpec(
        container_memory_bytes=quantity_bytes(settings.memory),
        maxmemory_percent=settings.maxmemory_percent,
        node_timeout_ms=settings.node_timeout_ms,
        appendonly=settings.appendonly,
        rdb=settings.rdb,
        maxmemory_policy=settings.eviction_policy.value,
        port=port,
        replicas_per_primary=settings.replicas_per_primary,
        primaries=settings.primaries,
    )


def maxmemory_bytes(spec: RedisConfSpec) -> int:
    """The maxmemory of a node: `maxmemory_percent` of the container limit, in whole bytes."""
    return spec.container_memory_bytes * spec.maxmemory_percent // 100


def _yes(flag: bool) -> str:
    return "yes" if flag else "no"


def _save_line(spec: RedisConfSpec) -> str:
    if not spec.rdb:
        return 'save ""'
    return "save " + " ".join(f"{seconds} {changes}" for seconds, changes in spec.save_points)


def render_redis_conf(spec: RedisConfSpec) -> str:
    """The redis.conf text of every node of the cluster described by `spec`."""
    maxmemory = maxmemory_bytes(spec)
    low, high = MAXMEMORY_PERCENT_RANGE
    headroom_mib = (spec.container_memory_bytes - maxmemory) // _MIB
    sections: list[tuple[str, list[str]]] = [
        (
            "Network. start.sh overrides port and bind per pod and adds the announce settings.",
            [
                f"port {spec.port}",
                "bind * -::*",
                "# Refuses remote clients only when no password is set; start.sh always sets one.",
                "protected-mode yes",
                "tcp-backlog 511",
                "# Drop idle clients never (pools keep connections); detect dead peers in 60 s.",
                "timeout 0",
                "tcp-keepalive 60",
                f"# {spec.concurrent_users} concurrent users (ADR-011), one in-flight request "
                f"each, over {spec.primaries}",
                f"# primaries, plus {CONNECTION_HEADROOM:g}x headroom. Monitoring warns well "
                "before it is reached",
                "# (RedisConnectionsNearMaxclients); beyond it Redis refuses connections. Redis",
                "# lowers it to the open-files limit - 32 when that is lower (it logs so); the",
                "# alert reads the effective value from the exporter.",
                f"maxclients {connections_per_node(spec.concurrent_users, spec.primaries)}",
            ],
        ),
        (
            "Process: foreground, logs to stdout for `kubectl logs`.",
            [
                "daemonize no",
                "supervised no",
                "loglevel notice",
                'logfile ""',
                "always-show-logo no",
            ],
        ),
        (
            "Cluster.",
            [
                "cluster-enabled yes",
                f"# A primary is failed after {spec.node_timeout_ms} ms without the majority; its",
                "# replica's election adds 0.5-1.5 s, so failover takes about timeout + 1-2 s,",
                "# far inside ADR-011's 30 s.",
                f"cluster-node-timeout {spec.node_timeout_ms}",
                "# Clients are redirected to the pod's stable DNS name (its announced hostname),",
                "# not to an IP that changes whenever the pod is rescheduled.",
                "cluster-preferred-endpoint-type hostname",
                "# A cache serves the shards it still has: keys of a lost shard fail fast and the",
                "# application falls back to the origin, instead of the whole cache going down.",
                "cluster-require-full-coverage no",
                "# A node cut off from the majority refuses reads too: the majority side may have",
                "# replaced its value, and a cache miss is safe where a stale hit is not.",
                "cluster-allow-reads-when-down no",
                "# Any replica may take over, however long it was cut off: for a cache a slightly",
                "# stale shard is better than a shard that stays down.",
                "cluster-replica-validity-factor 0",
                "cluster-replica-no-failover no",
                "cluster-allow-replica-migration yes",
                "cluster-migration-barrier 1",
            ],
        ),
        (
            "Memory and eviction (ADR-011: LRU eviction with TTL expiry).",
            [
                f"# {spec.maxmemory_percent} % of the {spec.container_memory_bytes} byte container "
                f"limit ({headroom_mib} MiB left).",
                "# The rest is headroom for fork copy-on-write during BGSAVE and AOF rewrite (up",
                "# to the written share of the dataset again), the replication backlog, replica",
                "# and client output buffers and allocator fragmentation, none of which",
                f"# maxmemory counts. Kept between {low} and {high} % of the limit: above, the",
                "# kernel OOM-kills the pod during a snapshot; below, memory is paid for unused.",
                f"maxmemory {maxmemory}",
                f"maxmemory-policy {spec.maxmemory_policy}",
                "# More samples make the approximated LRU closer to true LRU for little CPU.",
                "maxmemory-samples 10",
                "# Eviction, expiry and deletes free large values in a background thread, so",
                "# evicting a big hash under pressure does not stall every client.",
                "lazyfree-lazy-eviction yes",
                "lazyfree-lazy-expire yes",
                "lazyfree-lazy-server-del yes",
                "lazyfree-lazy-user-del yes",
                "lazyfree-lazy-user-flush yes",
                "replica-lazy-flush yes",
                "activerehashing yes",
            ],
        ),
        (
            "Persistence (ADR-011: RDB snapshots + AOF).",
            [
                f"appendonly {_yes(spec.appendonly)}",
                "# At most one second of writes is lost on a crash, without a disk sync per write.",
                "appendfsync everysec",
                "no-appendfsync-on-rewrite no",
                "# Rewritten AOFs start with an RDB image: fast to load, small on disk.",
                "aof-use-rdb-preamble yes",
                "# A SIGKILLed node restarts from an AOF with a torn last write, not refusing it.",
                "aof-load-truncated yes",
                "auto-aof-rewrite-percentage 100",
                "auto-aof-rewrite-min-size 64mb",
                _save_line(spec),
                "rdbcompression yes",
                "rdbchecksum yes",
                'dbfilename "dump.rdb"',
                "# A cache keeps serving writes when a snapshot fails (say a full disk):",
                "# refusing them would turn a backup problem into an outage of every service,",
                "# and the data can be rebuilt from the origin. The failure is not silent:",
                "# rdb_last_bgsave_status raises RedisPersistenceFailing (warning). A failed AOF",
                "# write still stops writes (Redis always does) and pages.",
                "stop-writes-on-bgsave-error no",
            ],
        ),
        (
            "Replication.",
            [
                "replica-read-only yes",
                "replica-serve-stale-data yes",
                "# Full syncs stream the RDB over the socket instead of writing it to disk first,",
                "# and start as soon as all expected replicas wait (or after 5 s).",
                "repl-diskless-sync yes",
                "repl-diskless-sync-delay 5",
                f"repl-diskless-sync-max-replicas {spec.replicas_per_primary}",
                "repl-diskless-load disabled",
                "# Counts toward maxmemory (Redis 7 shares it with the replicas' output buffers);",
                "# a replica back from a restart within it resyncs partially, not in full.",
                f"repl-backlog-size {spec.repl_backlog_bytes}",
                "repl-timeout 60",
                "# A replica that falls behind by more than this during a full sync is cut off;",
                "# the headroom above maxmemory covers it.",
                "client-output-buffer-limit replica 512mb 128mb 60",
            ],
        ),
        (
            "Latency diagnostics, read by monitoring.",
            [
                "slowlog-log-slower-than 10000",
                "slowlog-max-len 128",
                "latency-monitor-threshold 100",
                "busy-reply-threshold 5000",
            ],
        ),
    ]
    lines = [
        "# redis.conf rendered by cache-platform (components/redis/conf.py): do not edit by hand.",
        "# Per-pod settings and the password are added by start.sh, never written here.",
    ]
    for title, body in sections:
        lines.extend(["", f"# --- {title}", *body])
    return "\n".join(lines) + "\n"


def parse_redis_conf(text: str) -> dict[str, list[str]]:
    """Directives of a redis.conf as {name: arguments}, names lower-cased.

    Reads the syntax the renderer writes: one directive per line, `#` comment lines, arguments
    split like a shell (so `""` is an empty argument). A directive given twice is an error, because
    Redis would silently keep only the last one.
    """
    directives: dict[str, list[str]] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            name, *arguments = shlex.split(line)
        except ValueError as error:
            raise ValueError(f"line {number}: cannot split {raw!r}: {error}") from error
        key = name.lower()
        if key in directives:
            raise ValueError(f"line {number}: directive {key!r} is given twice")
        directives[key] = arguments
    return directives


def save_points_of(directives: dict[str, list[str]]) -> tuple[tuple[int, int], ...]:
    """The RDB save points of parsed directives; empty when snapshots are off."""
    arguments = [argument for argument in directives.get("save", []) if argument]
    if len(arguments) % 2:
        raise ValueError(f"save needs (seconds, changes) pairs, got {arguments}")
    numbers = [int(argument) for argument in arguments]
    return tuple(zip(numbers[::2], numbers[1::2], strict=True))
