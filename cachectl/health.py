# pyright: strict, reportUnknownMemberType=false, reportMissingTypeStubs=false
"""`cachectl health`: ADR-011's validation checklist, checked against the running cluster.

`gather` reads what every member says (CLUSTER NODES from the seed; INFO and CLUSTER INFO from
each member); `evaluate` turns those plain reports into checks, so the rules are testable
without a server. A check passes, fails, is skipped when there is nothing to measure yet (a hit
rate before any lookup), or is unknown when what it needs could not be read (Prometheus down,
the cluster unreachable): the report still holds every check it could do, with the reason for
each unknown one, so the incident runbook's `cachectl health --json > health-<time>.json`
saves the Redis checklist even when Prometheus is down.

"Every primary has a replica on another host": Redis only knows the host a member announces.
By default the host of a member is its announced host name (the pod's DNS name in Kubernetes,
distinct for every pod) or, without one, its IP. That proves a replica is another process, not
that it sits on another machine. `--node-hosts FILE` gives the real placement: one
`<announced host name or IP> <host>` pair a line (in Kubernetes, pod name to node name from
`kubectl get pods -o wide`); with it, a primary whose only replica shares its host fails.
"""

from __future__ import annotations

import enum
import json
import math
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import redis

from cachectl.connection import (
    SLOT_COUNT,
    CachectlError,
    ClusterEntry,
    ClusterView,
    cluster_info,
    describe,
    info,
    keyspace_keys,
)
from cachectl.errors import UsageError
from stackconfig.thresholds import AlertThresholds

ADR_THRESHOLDS = AlertThresholds()
HIT_RATE_MIN = ADR_THRESHOLDS.hit_rate_warning
"""ADR-011 checklist: cache hit rate > 95 % for hot data."""
MEMORY_MAX = ADR_THRESHOLDS.memory_warning
"""ADR-011 checklist: memory usage within 80 % of allocated capacity."""


class Status(enum.StrEnum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"
    UNKNOWN = "unknown"


MARKS: Mapping[Status, str] = {
    Status.PASS: "✓",
    Status.FAIL: "✗",
    Status.SKIP: "–",
    Status.UNKNOWN: "?",
}


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    detail: str = ""

    @property
    def line(self) -> str:
        return f"{MARKS[self.status]} {self.name}" + (f": {self.detail}" if self.detail else "")


@dataclass(frozen=True)
class NodeReport:
    """What one member says about itself, and how the seed sees it."""

    entry: ClusterEntry
    error: str | None = None
    """Why the member could not be read; None when it answered."""
    cluster_state: str = ""
    used_memory: int = 0
    maxmemory: int = 0
    evicted_keys: int = 0
    keyspace_hits: int = 0
    keyspace_misses: int = 0
    keys: int = 0
    persistence: Mapping[str, str] = field(default_factory=dict[str, str])
    """rdb_last_bgsave_status, aof_last_write_status, aof_last_bgrewrite_status (when AOF is on)."""

    @property
    def reachable(self) -> bool:
        return self.error is None

    @property
    def name(self) -> str:
        return describe(self.entry)

    @property
    def memory_ratio(self) -> float | None:
        return self.used_memory / self.maxmemory if self.maxmemory else None


@dataclass(frozen=True)
class ServiceHitRate:
    service: str
    rate: float


@dataclass(frozen=True)
class HealthReport:
    seed: str
    nodes: Sequence[NodeReport]
    checks: Sequence[Check]
    host_source: str
    error: str | None = None
    """Why the cluster could not be read at all (every check is then unknown)."""

    @property
    def ok(self) -> bool:
        return all(check.status in (Status.PASS, Status.SKIP) for check in self.checks)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "error": self.error,
            "seed": self.seed,
            "hostSource": self.host_source,
            "checks": [
                {"name": c.name, "status": c.status.value, "detail": c.detail} for c in self.checks
            ],
            "nodes": [_node_json(node) for node in self.nodes],
        }


def _node_json(node: NodeReport) -> dict[str, Any]:
    entry = node.entry
    return {
        "id": entry.node_id,
        "address": f"{entry.ip}:{entry.port}",
        "hostname": entry.hostname,
        "role": "primary" if entry.is_primary else "replica",
        "primaryId": entry.primary_id,
        "slots": entry.slot_count,
        "flags": sorted(entry.flags),
        "reachable": node.reachable,
        "error": node.error,
        "clusterState": node.cluster_state,
        "usedMemory": node.used_memory,
        "maxmemory": node.maxmemory,
        "evictedKeys": node.evicted_keys,
        "keyspaceHits": node.keyspace_hits,
        "keyspaceMisses": node.keyspace_misses,
        "keys": node.keys,
        "persistence": dict(node.persistence),
    }


def parse_node_hosts(text: str) -> dict[str, str]:
    """`--node-hosts` lines, `<announced host name or IP> <host>`; # starts a comment."""
    hosts: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.split()
        if len(fields) != 2:
            raise CachectlError(f"node hosts line {number}: expected '<node> <host>', got {raw!r}")
        hosts[fields[0]] = fields[1]
    return hosts


def host_of(entry: ClusterEntry, node_hosts: Mapping[str, str] | None) -> str:
    """The host a member runs on, as far as can be known (see the module's docstring)."""
    if node_hosts is not None:
        for name in (entry.hostname, entry.hostname.split(".", 1)[0], entry.ip):
            if name and name in node_hosts:
                return node_hosts[name]
        raise CachectlError(
            f"--node-hosts has no line for {describe(entry)}: list every member's host"
        )
    return entry.hostname or entry.ip


def _percent(ratio: float) -> str:
    return f"{ratio * 100:.1f} %"


def evaluate(
    nodes: Sequence[NodeReport],
    *,
    node_hosts: Mapping[str, str] | None = None,
    service_hit_rates: Sequence[ServiceHitRate] | str | None = None,
    hit_rate_min: float = HIT_RATE_MIN,
    memory_max: float = MEMORY_MAX,
) -> list[Check]:
    """The checklist for these member reports; `service_hit_rates` (from Prometheus) replaces
    the rate computed from the members' INFO counters; a string there is why Prometheus could
    not be read (the hit rate is then unknown, every other check still done)."""
    reachable = [node for node in nodes if node.reachable]
    slots = _slots(nodes)
    return [
        _cluster_state(nodes, slots),
        slots,
        _members(nodes),
        _replicas(nodes, node_hosts),
        _memory(reachable, memory_max),
        _evictions(reachable),
        _hit_rate(reachable, service_hit_rates, hit_rate_min),
        _persistence(reachable),
    ]


def _cluster_state(nodes: Sequence[NodeReport], slots: Check) -> Check:
    name = "cluster_state is ok on every reachable node"
    bad = [
        f"{node.name} says {node.cluster_state or '?'}"
        for node in nodes
        if node.reachable and node.cluster_state != "ok"
    ]
    if not any(node.reachable for node in nodes):
        return Check(name, Status.FAIL, "no node answered")
    if bad:
        return Check(name, Status.FAIL, "; ".join(bad))
    if slots.status is Status.FAIL:
        # cluster-require-full-coverage no: the surviving shards stay ok when one is lost.
        return Check(
            name,
            Status.PASS,
            "but not every slot is served (full coverage is not required): see the slots check",
        )
    return Check(name, Status.PASS)


def _serves(node: NodeReport) -> bool:
    return node.entry.is_primary and node.entry.healthy and node.reachable


def _slots(nodes: Sequence[NodeReport]) -> Check:
    name = f"all {SLOT_COUNT} slots served by a healthy primary"
    served = sum(node.entry.slot_count for node in nodes if _serves(node))
    if served == SLOT_COUNT:
        return Check(name, Status.PASS)
    down = [
        f"{node.name} ({node.entry.slot_count} slots)"
        for node in nodes
        if node.entry.is_primary and node.entry.slots and not _serves(node)
    ]
    detail = f"{served} of {SLOT_COUNT} served"
    return Check(name, Status.FAIL, detail + (f"; down: {', '.join(down)}" if down else ""))


def _members(nodes: Sequence[NodeReport]) -> Check:
    name = "every node reachable and seen healthy"
    problems: list[str] = []
    for node in nodes:
        if not node.reachable:
            problems.append(f"{node.name} unreachable ({node.error})")
        elif not node.entry.healthy:
            flags = ",".join(sorted(node.entry.flags - {"myself"}))
            problems.append(f"{node.name} flagged {flags}")
    return Check(name, Status.FAIL, "; ".join(problems)) if problems else Check(name, Status.PASS)


def _replicas(nodes: Sequence[NodeReport], node_hosts: Mapping[str, str] | None) -> Check:
    name = "every primary has a healthy replica on another host"
    problems: list[str] = []
    for primary in nodes:
        if not (primary.entry.is_primary and primary.entry.slots):
            continue
        replicas = [
            node
            for node in nodes
            if node.entry.primary_id == primary.entry.node_id
            and node.entry.healthy
            and node.reachable
        ]
        if not replicas:
            problems.append(f"primary {primary.name} has no healthy replica")
            continue
        primary_host = host_of(primary.entry, node_hosts)
        if all(host_of(replica.entry, node_hosts) == primary_host for replica in replicas):
            problems.append(
                f"primary {primary.name} has its only healthy replicas on its own host "
                f"{primary_host}: " + ", ".join(replica.name for replica in replicas)
            )
    return Check(name, Status.FAIL, "; ".join(problems)) if problems else Check(name, Status.PASS)


def _memory(nodes: Sequence[NodeReport], memory_max: float) -> Check:
    name = f"memory below {memory_max * 100:.0f} % of maxmemory on every node"
    unset = [node.name for node in nodes if node.maxmemory == 0]
    over = [
        f"{node.name} at {_percent(ratio)}"
        for node in nodes
        if (ratio := node.memory_ratio) is not None and ratio >= memory_max
    ]
    problems = over + [f"{name_} has no maxmemory" for name_ in unset]
    if problems:
        return Check(name, Status.FAIL, "; ".join(problems))
    ratios = [(ratio, node.name) for node in nodes if (ratio := node.memory_ratio) is not None]
    if not ratios:
        return Check(name, Status.FAIL, "no node answered")
    highest, where = max(ratios)
    return Check(name, Status.PASS, f"highest {_percent(highest)} on {where}")


def _evictions(nodes: Sequence[NodeReport]) -> Check:
    name = "no evictions since the nodes started"
    evicting = [f"{node.name}: {node.evicted_keys}" for node in nodes if node.evicted_keys]
    if evicting:
        total = sum(node.evicted_keys for node in nodes)
        return Check(name, Status.FAIL, f"{total} keys evicted ({'; '.join(evicting)})")
    return Check(name, Status.PASS)


def _hit_rate(
    nodes: Sequence[NodeReport],
    service_hit_rates: Sequence[ServiceHitRate] | str | None,
    hit_rate_min: float,
) -> Check:
    name = f"cache hit rate above {hit_rate_min * 100:.0f} %"
    if isinstance(service_hit_rates, str):
        return Check(
            name,
            Status.UNKNOWN,
            f"{service_hit_rates}; rerun without --prometheus to judge the nodes' INFO counters",
        )
    if service_hit_rates is not None:
        if not service_hit_rates:
            return Check(name, Status.SKIP, "Prometheus has no cache_hit_rate sample yet")
        low = [r for r in service_hit_rates if math.isnan(r.rate) or r.rate <= hit_rate_min]
        listed = ", ".join(f"{r.service} {_percent(r.rate)}" for r in service_hit_rates)
        if low:
            lows = ", ".join(f"{r.service} {_percent(r.rate)}" for r in low)
            return Check(name, Status.FAIL, f"below in {lows} (cache_hit_rate)")
        return Check(name, Status.PASS, f"{listed} (cache_hit_rate)")
    hits = sum(node.keyspace_hits for node in nodes)
    misses = sum(node.keyspace_misses for node in nodes)
    if hits + misses == 0:
        return Check(name, Status.SKIP, "no lookups since the nodes started")
    rate = hits / (hits + misses)
    detail = f"{_percent(rate)} ({hits} hits, {misses} misses since start, INFO stats)"
    return Check(name, Status.PASS if rate > hit_rate_min else Status.FAIL, detail)


def _persistence(nodes: Sequence[NodeReport]) -> Check:
    name = "persistence ok (last RDB save, AOF write and rewrite)"
    bad = [
        f"{node.name} {field_}:{value}"
        for node in nodes
        for field_, value in sorted(node.persistence.items())
        if value != "ok"
    ]
    return Check(name, Status.FAIL, "; ".join(bad)) if bad else Check(name, Status.PASS)


def read_node(view: ClusterView, entry: ClusterEntry) -> NodeReport:
    """One member's report; an unreachable member gives a report with the error."""
    client = view.node_client(entry)
    try:
        details = info(client)
        state = cluster_info(client).get("cluster_state", "")
    except (redis.RedisError, OSError) as error:
        return NodeReport(entry=entry, error=str(error) or type(error).__name__)
    finally:
        client.close()
    persistence = {"rdb_last_bgsave_status": str(details.get("rdb_last_bgsave_status", "?"))}
    if int(details.get("aof_enabled", 0)):
        for name in ("aof_last_write_status", "aof_last_bgrewrite_status"):
            persistence[name] = str(details.get(name, "?"))
    keys = keyspace_keys(details)
    return NodeReport(
        entry=entry,
        cluster_state=state,
        used_memory=int(details.get("used_memory", 0)),
        maxmemory=int(details.get("maxmemory", 0)),
        evicted_keys=int(details.get("evicted_keys", 0)),
        keyspace_hits=int(details.get("keyspace_hits", 0)),
        keyspace_misses=int(details.get("keyspace_misses", 0)),
        keys=keys,
        persistence=persistence,
    )


def gather(view: ClusterView) -> list[NodeReport]:
    """Every member's report, primaries first, each followed by its replicas."""
    ordered: list[ClusterEntry] = []
    for primary in sorted(view.primaries, key=lambda e: e.slots[0] if e.slots else (0, 0)):
        ordered += [primary, *sorted(view.replicas_of(primary), key=lambda e: (e.ip, e.port))]
    ordered += [entry for entry in view.entries if entry not in ordered]
    return [read_node(view, entry) for entry in ordered]


def prometheus_hit_rates(base_url: str, timeout: float = 10.0) -> list[ServiceHitRate]:
    """`cache_hit_rate` per service from Prometheus's HTTP API (the recording rule's name)."""
    query = urllib.parse.urlencode({"query": "cache_hit_rate"})
    url = f"{base_url.rstrip('/')}/api/v1/query?{query}"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            body: Any = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as error:
        raise CachectlError(f"Prometheus at {base_url} is unreachable: {error}") from None
    document: Any = cast(dict[str, Any], body) if isinstance(body, dict) else {}
    if document.get("status") != "success":
        raise CachectlError(f"Prometheus at {base_url} did not answer the query: {body!r:.200}")
    rates: list[ServiceHitRate] = []
    try:
        samples: list[dict[str, Any]] = document["data"]["result"]
        for sample in samples:
            labels: dict[str, str] = sample.get("metric", {})
            value: str = sample["value"][1]
            service = labels.get("service", "(no service label)")
            rates.append(ServiceHitRate(service, float(value)))
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise CachectlError(f"Prometheus at {base_url}: unexpected answer ({error!r})") from None
    return sorted(rates, key=lambda r: r.service)


def check_health(
    view: ClusterView,
    *,
    node_hosts_file: Path | None = None,
    prometheus_url: str | None = None,
) -> HealthReport:
    node_hosts = None
    host_source = "announced host name (or IP)"
    if node_hosts_file is not None:
        try:
            node_hosts = parse_node_hosts(node_hosts_file.read_text(encoding="utf-8"))
        except OSError as error:
            raise CachectlError(f"cannot read {node_hosts_file}: {error.strerror}") from None
        except UnicodeDecodeError:
            raise UsageError(f"{node_hosts_file} is not UTF-8 text; save it as UTF-8") from None
        host_source = f"hosts from {node_hosts_file}"
    rates: list[ServiceHitRate] | str | None = None
    if prometheus_url:
        try:
            rates = prometheus_hit_rates(prometheus_url)
        except CachectlError as error:
            rates = str(error)
    nodes = gather(view)
    checks = evaluate(nodes, node_hosts=node_hosts, service_hit_rates=rates)
    return HealthReport(seed=str(view.seed), nodes=nodes, checks=checks, host_source=host_source)


def unreachable_report(seed: str, reason: str) -> HealthReport:
    """The checklist when no member could be read: every check unknown, with the reason."""
    checks = [Check(check.name, Status.UNKNOWN, reason) for check in evaluate([])]
    return HealthReport(
        seed=seed, nodes=[], checks=checks, host_source="(cluster not reached)", error=reason
    )
