"""SLA policies: the topology, persistence, failover, TTL, alerting and capacity ADR-011 decided.

Each policy reads what the engine shows it — the StatefulSet, the redis.conf in its ConfigMap, the
PodDisruptionBudget, the cache Ruleset, the PrometheusRules, the sizing ConfigMap — and reports
nothing when the thing it checks is not deployed.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, cast

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)

from components.redis.conf import parse_redis_conf
from cost.inventory import (
    CLOUDFLARE_RULESET,
    CLOUDFLARE_WORKERS_SCRIPT,
    CONFIGMAP,
    HELM_RELEASE,
    PDB,
    PROMETHEUS_RULE,
    REDIS_CONF_KEY,
    STATEFULSET,
    RedisCluster,
    ResourceProps,
    containers,
    is_redis_container,
    namespace_of,
    of_type,
    redis_clusters,
    sizing,
)
from policies.props import (
    as_list,
    as_mapping,
    as_number,
    as_str,
    get_path,
    plain,
    stack_props,
)
from stackconfig import adr
from stackconfig.thresholds import threshold_problems
from stackconfig.tiers import CacheTier, tier_violations

ADR_MIN_PRIMARIES = adr.MIN_PRIMARIES
ADR_MIN_REPLICAS_PER_PRIMARY = adr.MIN_REPLICAS_PER_PRIMARY
ADR_MAX_FAILOVER_SECONDS = adr.MAX_FAILOVER_SECONDS
ELECTION_SECONDS = 2.0
"""After the node timeout a replica waits 500 ms + 0-500 ms + rank × 1 s before its election."""
LRU_POLICIES = frozenset({"allkeys-lru", "volatile-lru"})
HOSTNAME_TOPOLOGY = "kubernetes.io/hostname"
REQUIRED_TERMS = "requiredDuringSchedulingIgnoredDuringExecution"
DEFAULT_OPS_PER_PRIMARY = 75_000
"""GET/SET per second one primary serves: one Redis 7.0 instance did 72-80k/s with 512 B values,
50 clients and no pipelining on a 2-core test machine whose benchmark client took a core."""
DEFAULT_CACHE_OPS_PER_REQUEST = 2
DEFAULT_HEADROOM_FACTOR = 1.25
"""Demand is multiplied by this before it is compared: a single-threaded server's latency climbs
steeply near saturation, and fork (BGSAVE, AOF rewrite) and replication take CPU at any time."""


def tier_ranges() -> Mapping[str, tuple[int, int]]:
    """ADR-011's TTL range of each tier (seconds)."""
    return adr.TIER_RANGES


def _config(args: StackValidationArgs | ResourceValidationArgs) -> Mapping[str, Any]:
    return args.get_config() or {}


def _number(config: Mapping[str, Any], key: str, default: float) -> float:
    value = as_number(config.get(key))
    return default if value is None else value


# --- topology --------------------------------------------------------------------------------


def _validate_primaries(args: StackValidationArgs, report: ReportViolation) -> None:
    minimum = int(_number(_config(args), "minPrimaries", ADR_MIN_PRIMARIES))
    for cluster in redis_clusters(stack_props(args.resources)):
        if cluster.pods is None or cluster.replicas_per_primary is None:
            report(
                f"Redis cluster '{cluster.name}' does not show its shape: set spec.replicas on the "
                "StatefulSet and REDIS_REPLICAS_PER_PRIMARY in its pods' or bootstrap Job's env.",
                None,
            )
            continue
        if cluster.primaries is None:
            report(
                f"Redis cluster '{cluster.name}' runs {cluster.pods} pods, not a multiple of 1 + "
                f"{cluster.replicas_per_primary} replicas per primary; set the StatefulSet's "
                "replicas to primaries × (1 + replicasPerPrimary).",
                None,
            )
            continue
        if cluster.primaries < minimum:
            report(
                f"Redis cluster '{cluster.name}' has {cluster.primaries} primaries; ADR-011 needs "
                f"at least {minimum} so the cluster keeps a majority when one fails: set "
                f"redis.primaries to {minimum} or more.",
                None,
            )
        if cluster.node_addresses is not None and cluster.node_addresses != cluster.pods:
            report(
                f"Redis cluster '{cluster.name}' runs {cluster.pods} pods but its bootstrap forms "
                f"the cluster from {cluster.node_addresses} addresses (REDIS_NODES); derive both "
                "from the same primaries and replicas settings.",
                None,
            )


redis_cluster_require_primaries = StackValidationPolicy(
    name="redis-cluster-require-primaries",
    description=(
        "Each Redis cluster has at least three primaries (ADR-011: 3 primaries + 3 replicas), "
        "its StatefulSet runs primaries × (1 + replicas per primary) pods and its bootstrap forms "
        "the cluster from exactly those pods."
    ),
    validate=_validate_primaries,
    enforcement_level=EnforcementLevel.ADVISORY,
    config_schema=PolicyConfigSchema(
        properties={"minPrimaries": {"type": "integer", "default": ADR_MIN_PRIMARIES}}
    ),
)


def _validate_replicas(args: StackValidationArgs, report: ReportViolation) -> None:
    minimum = int(_number(_config(args), "minReplicasPerPrimary", ADR_MIN_REPLICAS_PER_PRIMARY))
    for cluster in redis_clusters(stack_props(args.resources)):
        replicas = cluster.replicas_per_primary
        if replicas is not None and replicas < minimum:
            report(
                f"Redis cluster '{cluster.name}' has {replicas} replicas per primary; ADR-011 "
                f"needs at least {minimum} replica per primary so a failed primary fails over "
                f"instead of losing its shard: set redis.replicasPerPrimary to {minimum} or more.",
                None,
            )


redis_cluster_require_replicas = StackValidationPolicy(
    name="redis-cluster-require-replicas",
    description=(
        "Each Redis primary has at least one replica (read from the pods' or the bootstrap "
        "Job's REDIS_REPLICAS_PER_PRIMARY), so a primary's failure is an automatic failover."
    ),
    validate=_validate_replicas,
    enforcement_level=EnforcementLevel.ADVISORY,
    config_schema=PolicyConfigSchema(
        properties={
            "minReplicasPerPrimary": {"type": "integer", "default": ADR_MIN_REPLICAS_PER_PRIMARY}
        }
    ),
)


# --- redis.conf ------------------------------------------------------------------------------


def _redis_conf_check(
    check: Callable[[dict[str, list[str]], Mapping[str, Any], str, ReportViolation], None],
) -> Callable[[ResourceValidationArgs, ReportViolation], None]:
    """A resource validation running `check` on every ConfigMap that carries a redis.conf."""

    def validate(args: ResourceValidationArgs, report: ReportViolation) -> None:
        if args.resource_type != CONFIGMAP:
            return
        text = get_path(args.props, "data", REDIS_CONF_KEY)
        if not isinstance(text, str):
            return
        try:
            directives = parse_redis_conf(text)
        except ValueError as error:
            report(f"redis.conf of ConfigMap '{args.name}' cannot be read ({error}); fix it.", None)
            return
        check(directives, _config(args), args.name, report)

    return validate


def _first(directives: Mapping[str, list[str]], name: str) -> str | None:
    values = directives.get(name)
    return values[0] if values else None


def _check_persistence(
    directives: dict[str, list[str]], _: Mapping[str, Any], name: str, report: ReportViolation
) -> None:
    if (_first(directives, "appendonly") or "no").lower() != "yes":
        report(
            f"redis.conf of ConfigMap '{name}' has AOF off; ADR-011 requires RDB + AOF: set "
            "redis.appendonly to true (appendonly yes).",
            None,
        )
    save = [argument for argument in directives.get("save", []) if argument]
    if not save:
        report(
            f"redis.conf of ConfigMap '{name}' takes no RDB snapshots (no save points); ADR-011 "
            "requires RDB + AOF: set redis.rdb to true.",
            None,
        )


redis_persistence_require_aof_and_rdb = ResourceValidationPolicy(
    name="redis-persistence-require-aof-and-rdb",
    description=(
        "Every redis.conf the stack ships turns on both AOF (appendonly yes) and RDB snapshots "
        "(at least one save point), ADR-011's persistence."
    ),
    validate=_redis_conf_check(_check_persistence),
    enforcement_level=EnforcementLevel.ADVISORY,
)


def _check_eviction(
    directives: dict[str, list[str]], _: Mapping[str, Any], name: str, report: ReportViolation
) -> None:
    policy = (_first(directives, "maxmemory-policy") or "noeviction").lower()
    if policy not in LRU_POLICIES:
        report(
            f"redis.conf of ConfigMap '{name}' evicts with '{policy}'; ADR-011 requires LRU "
            "eviction: set redis.evictionPolicy to allkeys-lru.",
            None,
        )
    maxmemory = as_number(_first(directives, "maxmemory"))
    if not maxmemory:
        report(
            f"redis.conf of ConfigMap '{name}' sets no maxmemory, so nothing is ever evicted and "
            "the pod is OOM-killed instead: render maxmemory from redis.maxmemoryPercent.",
            None,
        )


redis_eviction_require_lru = ResourceValidationPolicy(
    name="redis-eviction-require-lru",
    description=(
        "Every redis.conf the stack ships sets a maxmemory and an LRU maxmemory-policy "
        "(allkeys-lru or volatile-lru), ADR-011's eviction."
    ),
    validate=_redis_conf_check(_check_eviction),
    enforcement_level=EnforcementLevel.ADVISORY,
)


def _check_failover(
    directives: dict[str, list[str]],
    config: Mapping[str, Any],
    name: str,
    report: ReportViolation,
) -> None:
    limit = _number(config, "maxFailoverSeconds", ADR_MAX_FAILOVER_SECONDS)
    if (_first(directives, "cluster-enabled") or "no").lower() != "yes":
        report(
            f"redis.conf of ConfigMap '{name}' does not enable cluster mode, so no replica ever "
            "takes over a failed primary: set cluster-enabled yes.",
            None,
        )
        return
    timeout_ms = as_number(_first(directives, "cluster-node-timeout")) or 15000.0
    failover = timeout_ms / 1000 + ELECTION_SECONDS
    if failover > limit:
        report(
            f"redis.conf of ConfigMap '{name}' has cluster-node-timeout {timeout_ms:g} ms, so a "
            f"failover takes about {failover:g} s (timeout + {ELECTION_SECONDS:g} s election), "
            f"over ADR-011's {limit:g} s: set redis.nodeTimeoutMs to at most "
            f"{int((limit - ELECTION_SECONDS) * 1000)}.",
            None,
        )


redis_failover_limit_node_timeout = ResourceValidationPolicy(
    name="redis-failover-limit-node-timeout",
    description=(
        "Every redis.conf the stack ships runs cluster mode with a cluster-node-timeout short "
        "enough that failover (node timeout + 2 s of replica election) completes within "
        "ADR-011's 30 seconds; Redis's default of 15 s counts when the directive is absent."
    ),
    validate=_redis_conf_check(_check_failover),
    enforcement_level=EnforcementLevel.ADVISORY,
    config_schema=PolicyConfigSchema(
        properties={"maxFailoverSeconds": {"type": "number", "default": ADR_MAX_FAILOVER_SECONDS}}
    ),
)


# --- scheduling ------------------------------------------------------------------------------


def _selects(selector: Mapping[str, Any], labels: Mapping[str, Any]) -> bool:
    """Whether a label selector's matchLabels select pods carrying `labels` (non-empty)."""
    wanted = as_mapping(selector.get("matchLabels"))
    return bool(wanted) and all(labels.get(k) == v for k, v in wanted.items())


def _validate_anti_affinity(args: ResourceValidationArgs, report: ReportViolation) -> None:
    if args.resource_type != STATEFULSET:
        return
    template = as_mapping(get_path(args.props, "spec", "template"))
    spec = as_mapping(template.get("spec"))
    if not any(is_redis_container(c) for c in containers(spec)):
        return
    labels = as_mapping(get_path(template, "metadata", "labels"))
    terms = as_list(get_path(spec, "affinity", "podAntiAffinity", REQUIRED_TERMS))
    if any(
        as_mapping(term).get("topologyKey") == HOSTNAME_TOPOLOGY
        and _selects(as_mapping(as_mapping(term).get("labelSelector")), labels)
        for term in terms
    ):
        return
    report(
        f"Redis StatefulSet '{args.name}' lets two Redis pods share a node, so one node failure "
        "can take a primary and its replica: add a requiredDuringSchedulingIgnoredDuringExecution "
        f"pod anti-affinity term on '{HOSTNAME_TOPOLOGY}' selecting the Redis pods' labels.",
        None,
    )


redis_pods_require_anti_affinity = ResourceValidationPolicy(
    name="redis-pods-require-anti-affinity",
    description=(
        "Every Redis StatefulSet has a required pod anti-affinity term on kubernetes.io/hostname "
        "that selects its own pods, so a primary and its replica never share a node."
    ),
    validate=_validate_anti_affinity,
    enforcement_level=EnforcementLevel.ADVISORY,
)


def _disruptions_allowed(pdb: Mapping[str, Any], pods: int) -> float | None:
    """How many pods the budget lets voluntary disruptions take at once; None when unreadable."""
    spec = as_mapping(pdb.get("spec"))
    for key, counts_down in (("maxUnavailable", True), ("minAvailable", False)):
        value = spec.get(key)
        if value is None:
            continue
        if isinstance(value, str) and value.endswith("%"):
            share = as_number(value[:-1])
            if share is None:
                return None
            # Kubernetes rounds both percentages up.
            amount = math.ceil(share / 100 * pods)
        else:
            number = as_number(value)
            if number is None:
                return None
            amount = number
        return amount if counts_down else pods - amount
    return None


def _validate_disruption_budget(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = stack_props(args.resources)
    budgets = of_type(resources, PDB)
    for cluster in redis_clusters(resources):
        labels = as_mapping(get_path(cluster.template, "metadata", "labels"))
        matching = [
            pdb
            for pdb in budgets
            if namespace_of(pdb) == cluster.namespace
            and _selects(as_mapping(get_path(pdb, "spec", "selector")), labels)
        ]
        if not matching:
            report(
                f"Redis cluster '{cluster.name}' has no PodDisruptionBudget selecting its pods, "
                "so a node drain may evict a primary and its replica together: add one with "
                "maxUnavailable: 1.",
                None,
            )
            continue
        allowed = _disruptions_allowed(matching[0], cluster.pods or 0)
        if allowed is None or allowed > 1:
            report(
                f"The PodDisruptionBudget of Redis cluster '{cluster.name}' lets "
                f"{'an unreadable number of' if allowed is None else f'{allowed:g}'} pods go at "
                "once; set maxUnavailable: 1 so a drain never takes a primary and its replica.",
                None,
            )


redis_pods_require_disruption_budget = StackValidationPolicy(
    name="redis-pods-require-disruption-budget",
    description=(
        "Every Redis StatefulSet has a PodDisruptionBudget in its namespace that selects its pods "
        "and lets voluntary disruptions (drains, upgrades) take at most one pod at a time."
    ),
    validate=_validate_disruption_budget,
    enforcement_level=EnforcementLevel.ADVISORY,
)


# --- edge TTLs -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TierTtl:
    """An edge TTL found in the stack and the tier it claims, if any."""

    seconds: float
    tier: str | None
    where: str


def _tier_named(text: str, tiers: Iterable[str]) -> str | None:
    lowered = text.lower()
    named = [tier for tier in tiers if tier in lowered]
    return named[0] if len(named) == 1 else None


def ruleset_ttls(props: Mapping[str, Any], tiers: Iterable[str]) -> list[TierTtl]:
    """Edge TTLs a cache-settings Ruleset overrides, with the tier its rule's ref names."""
    if as_str(props.get("phase")) != "http_request_cache_settings":
        return []
    found: list[TierTtl] = []
    for index, rule in enumerate(as_list(props.get("rules"))):
        rule = as_mapping(rule)
        parameters = as_mapping(rule.get("actionParameters"))
        if rule.get("action") != "set_cache_settings" or parameters.get("cache") is False:
            continue
        edge = as_mapping(parameters.get("edgeTtl"))
        seconds = as_number(edge.get("default"))
        if edge.get("mode") != "override_origin" or seconds is None:
            continue
        label = " ".join(
            text for text in (as_str(rule.get("ref")), as_str(rule.get("description"))) if text
        )
        found.append(TierTtl(seconds, _tier_named(label, tiers), f"rule {label or index}"))
    return found


def _tier_values(document: Any, tiers: Iterable[str], where: str) -> list[TierTtl]:
    found: list[TierTtl] = []
    mapping = as_mapping(document)
    if "tiers" in mapping:
        mapping = as_mapping(mapping["tiers"])
    for tier in tiers:
        value = mapping.get(tier)
        if isinstance(value, Mapping):
            entry = cast(Mapping[str, Any], value)
            value = next(
                (entry[key] for key in ("edgeTtl", "edge_ttl", "ttl") if key in entry), None
            )
        seconds = as_number(value)
        if seconds is not None:
            found.append(TierTtl(seconds, tier, f"{where}.{tier}"))
    return found


def worker_ttls(
    props: Mapping[str, Any], tiers: Iterable[str], skip: Iterable[str] = ()
) -> list[TierTtl]:
    """TTL tiers a Worker receives in plain_text or json bindings named like TTL/TIER."""
    tiers = list(tiers)
    skipped = set(skip)
    found: list[TierTtl] = []
    for binding in as_list(props.get("bindings")):
        binding = as_mapping(binding)
        name = as_str(binding.get("name")) or ""
        if name in skipped or not any(word in name.upper() for word in ("TTL", "TIER")):
            continue
        text = as_str(binding.get("json")) or as_str(binding.get("text"))
        if text is None:
            continue
        try:
            document: Any = json.loads(text)
        except ValueError:
            continue
        where = f"binding {name}"
        number = as_number(document)
        if number is not None:
            found.append(TierTtl(number, _tier_named(name, tiers), where))
        else:
            found.extend(_tier_values(document, tiers, where))
    return found


def ttl_problems(ttls: Iterable[TierTtl], ranges: Mapping[str, tuple[int, int]]) -> list[str]:
    problems: list[str] = []
    for ttl in ttls:
        if ttl.tier is not None and ttl.tier in ranges:
            low, high = ranges[ttl.tier]
            if not low <= ttl.seconds <= high:
                problems.append(
                    f"{ttl.where}: the {ttl.tier} tier's edge TTL is {ttl.seconds:g} s; ADR-011 "
                    f"allows {low}-{high} s"
                )
        elif not any(low <= ttl.seconds <= high for low, high in ranges.values()):
            allowed = ", ".join(f"{tier} {low}-{high} s" for tier, (low, high) in ranges.items())
            problems.append(
                f"{ttl.where}: edge TTL {ttl.seconds:g} s is in no ADR-011 tier ({allowed})"
            )
    return problems


_DURATION_KEYS = ("edgeTtl", "browserTtl", "staleWhileRevalidate", "staleIfError")


def bound_tiers(props: Mapping[str, Any]) -> dict[str, dict[str, CacheTier]]:
    """{binding name: tiers} of bindings that declare whole tiers (all four durations)."""
    found: dict[str, dict[str, CacheTier]] = {}
    for binding in as_list(props.get("bindings")):
        binding = as_mapping(binding)
        text = as_str(binding.get("json")) or as_str(binding.get("text"))
        name = as_str(binding.get("name")) or ""
        if text is None or not any(word in name.upper() for word in ("TTL", "TIER")):
            continue
        try:
            document = as_mapping(json.loads(text))
        except ValueError:
            continue
        tiers: dict[str, CacheTier] = {}
        for tier, entry in document.items():
            values = [as_number(as_mapping(entry).get(key)) for key in _DURATION_KEYS]
            if any(value is None for value in values):
                tiers = {}
                break
            edge, browser, swr, sie = (int(cast(float, value)) for value in values)
            tiers[tier] = CacheTier(edge, browser, swr, sie)
        if tiers:
            found[name] = tiers
    return found


def _validate_ttls(args: ResourceValidationArgs, report: ReportViolation) -> None:
    ranges = tier_ranges()
    problems: list[str] = []
    if args.resource_type == CLOUDFLARE_RULESET:
        problems = ttl_problems(ruleset_ttls(args.props, ranges), ranges)
    elif args.resource_type == CLOUDFLARE_WORKERS_SCRIPT:
        judged: set[str] = set()
        for binding, tiers in bound_tiers(args.props).items():
            judged.add(binding)
            problems.extend(f"binding {binding}: {problem}" for problem in tier_violations(tiers))
        ttls = worker_ttls(args.props, ranges, skip=judged)
        problems.extend(ttl_problems(ttls, ranges))
    for problem in problems:
        report(f"{args.name} {problem}: set cdn.tiers inside ADR-011's tier ranges.", None)


def _ranges_text() -> str:
    """ADR-011's tier ranges for people: `short 300-900 s, ..., long 86400 s`."""
    return ", ".join(
        f"{name} {low} s" if low == high else f"{name} {low}-{high} s"
        for name, (low, high) in adr.TIER_RANGES.items()
    )


cdn_cache_ttls_require_adr_tiers = ResourceValidationPolicy(
    name="cdn-cache-ttls-require-adr-tiers",
    description=(
        "Every edge TTL the cache Ruleset overrides, and every TTL tier a Worker is bound to, lies "
        f"inside ADR-011's ranges: {_ranges_text()} (a rule whose ref or description names a tier "
        "is held to that tier's range)."
    ),
    validate=_validate_ttls,
    enforcement_level=EnforcementLevel.ADVISORY,
)


# --- alerts ----------------------------------------------------------------------------------


def rule_groups(resources: Iterable[ResourceProps]) -> list[Mapping[str, Any]] | None:
    """Rule groups of every PrometheusRule and of kube-prometheus-stack's
    `additionalPrometheusRulesMap`; None when the stack deploys no monitoring at all."""
    groups: list[Mapping[str, Any]] = []
    monitoring = False
    for kind, props in resources:
        if kind == PROMETHEUS_RULE:
            monitoring = True
            groups.extend(as_mapping(g) for g in as_list(get_path(props, "spec", "groups")))
        elif kind == HELM_RELEASE and (as_str(props.get("chart")) or "").endswith(
            "kube-prometheus-stack"
        ):
            monitoring = True
            extra = as_mapping(get_path(props, "values", "additionalPrometheusRulesMap"))
            for entry in extra.values():
                groups.extend(as_mapping(g) for g in as_list(as_mapping(entry).get("groups")))
    return [cast(Mapping[str, Any], plain(g)) for g in groups] if monitoring else None


def _validate_alerts(args: StackValidationArgs, report: ReportViolation) -> None:
    groups = rule_groups(stack_props(args.resources))
    if groups is None:
        return
    for problem in threshold_problems(groups):
        report(f"Alerting: {problem}.", None)


monitoring_alerts_require_adr_thresholds = StackValidationPolicy(
    name="monitoring-alerts-require-adr-thresholds",
    description=(
        "When the stack deploys monitoring, its Prometheus rules contain every ADR-011 alert "
        "(cache hit rate, p95 latency, Redis memory, connection failures, evictions, cluster "
        "state, node down, replica coverage) at each severity, no looser than the ADR's "
        "thresholds and waiting no longer before firing."
    ),
    validate=_validate_alerts,
    enforcement_level=EnforcementLevel.ADVISORY,
)


# --- capacity --------------------------------------------------------------------------------


def _validate_capacity(args: StackValidationArgs, report: ReportViolation) -> None:
    resources = stack_props(args.resources)
    declared = sizing(resources)
    clusters: list[RedisCluster] = redis_clusters(resources)
    if declared is None or not clusters:
        return
    config = _config(args)
    services = as_number(declared.get("services"))
    rps = as_number(declared.get("normalRpsPerService"))
    spike = as_number(declared.get("spikeMultiplier"))
    if services is None or rps is None or spike is None:
        report(
            "The sizing ConfigMap lacks services, normalRpsPerService or spikeMultiplier; "
            "declare the traffic the cache is sized for (cache-platform:traffic).",
            None,
        )
        return
    per_request = _number(config, "cacheOpsPerRequest", DEFAULT_CACHE_OPS_PER_REQUEST)
    per_primary = _number(config, "opsPerPrimary", DEFAULT_OPS_PER_PRIMARY)
    headroom = _number(config, "headroomFactor", DEFAULT_HEADROOM_FACTOR)
    primaries = sum(c.primaries or 0 for c in clusters)
    if not primaries:
        return
    demand = services * rps * spike * per_request
    capacity = primaries * per_primary
    if demand * headroom > capacity:
        needed = math.ceil(demand * headroom / per_primary)
        report(
            f"A {spike:g}x spike of {services:g} services × {rps:g} rps makes "
            f"{demand:,.0f} cache ops/s ({per_request:g} per request); with ×{headroom:g} headroom "
            f"that needs {demand * headroom:,.0f} ops/s but {primaries} primaries serve "
            f"{capacity:,.0f} ({per_primary:,.0f} each): set redis.primaries to at least {needed}.",
            None,
        )


redis_capacity_require_spike_headroom = StackValidationPolicy(
    name="redis-capacity-require-spike-headroom",
    description=(
        "The Redis primaries can serve ADR-011's traffic spike with headroom: services × normal "
        "rps × spike multiplier (from the sizing ConfigMap) × cache operations per request × the "
        "headroom factor is at most primaries × operations per second per primary."
    ),
    validate=_validate_capacity,
    enforcement_level=EnforcementLevel.ADVISORY,
    config_schema=PolicyConfigSchema(
        properties={
            "opsPerPrimary": {"type": "number", "default": DEFAULT_OPS_PER_PRIMARY},
            "cacheOpsPerRequest": {"type": "number", "default": DEFAULT_CACHE_OPS_PER_REQUEST},
            "headroomFactor": {"type": "number", "default": DEFAULT_HEADROOM_FACTOR},
        }
    ),
)

__all__ = [
    "cdn_cache_ttls_require_adr_tiers",
    "monitoring_alerts_require_adr_thresholds",
    "redis_capacity_require_spike_headroom",
    "redis_cluster_require_primaries",
    "redis_cluster_require_replicas",
    "redis_eviction_require_lru",
    "redis_failover_limit_node_timeout",
    "redis_persistence_require_aof_and_rdb",
    "redis_pods_require_anti_affinity",
    "redis_pods_require_disruption_budget",
]
