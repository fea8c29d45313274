"""Prometheus rule groups for the caching tier (ADR-011), as plain data.

The same groups go into the PrometheusRule's `spec.groups` and, in the offline plan, into
`monitoring/rules.yaml`. Every rule selects by metric name and aggregates `by (service)` or
`by (instance)` (or not at all), so it works whatever target labels the scrape adds. The metric
contract these rules read is docs/metrics.md.

Guards, because a silent rule is worse than a noisy one and an Inf is worse than no sample:
- `cache_hit_rate`: a service with hits but no `cache_misses_total` series yet (or the reverse)
  still gets a rate (1 or 0); no traffic at all gives no sample instead of 0/0 = NaN.
- `redis_memory_usage_percent`: `redis_memory_max_bytes` is 0 when maxmemory is unset, so such
  nodes give no sample instead of +Inf.
- connection failures: Redis counts rejected connections apart from `total_connections_received`
  (measured on 7.0.15), so the failing share is rejected / (received + rejected).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from components.monitoring.invalidation_rules import invalidation_rule_group
from stackconfig.sharding import SLOT_COUNT
from stackconfig.thresholds import (
    BURN_RATE_WINDOWS,
    PAGE_BURN_WINDOWS,
    THRESHOLD_ANNOTATION,
    TICKET_BURN_WINDOWS,
    AlertLevel,
    AlertName,
    AlertThresholds,
    BurnWindows,
    Severity,
    alert_levels,
    format_percent,
    format_threshold,
    prometheus_duration,
)

RECORDING_GROUP = "cache-recording-rules"
ALERTING_GROUP = "cache-alerts"

RECORD_HIT_RATE = "cache_hit_rate"
"""Per service, 0..1 (ADR-011's name)."""
RECORD_WARMING_PROGRESS = "cache_warming_progress"
"""Per service, 0..100 % of the keys to warm (ADR-011's name)."""
RECORD_MEMORY_PERCENT = "redis_memory_usage_percent"
"""Per node, 0..100 % of maxmemory (ADR-011's name); absent when maxmemory is unset."""
RECORD_REQUEST_RATE = "service:http_requests:rate5m"
"""Per service, requests per second (the histogram's `_count`)."""
RECORD_CONNECTION_FAILURES = "instance:redis_connection_failures:ratio_rate5m"
"""Per node, share of connection attempts rejected, 0..1."""
RECORD_EVICTIONS = "instance:redis_evicted_keys:rate5m"
"""Per node, keys evicted per second."""
RECORD_CACHED_MEAN = "service:http_request_duration_seconds:mean5m_cache_hit"
"""Per service, mean seconds of the requests served from the cache (ADR: average < 100 ms)."""
RECORD_CACHE_ERRORS = "service:cache_errors:ratio_rate5m"
"""Per service, share of cache operations (hits + misses + errors) that failed, 0..1."""
RECORD_CLIENTS_SHARE = "instance:redis_connected_clients:ratio_maxclients"
"""Per node, connected clients as a share of its maxclients, 0..1."""
LATENCY_QUANTILES = (0.5, 0.95, 0.99)
TOTAL_HASH_SLOTS = SLOT_COUNT
SECONDS_PER_MONTH = 30.44 * 86400
"""Average month, to turn monthly amounts into rates and back."""
CDN_ALERT = "CdnTrafficOverDeclared"
"""Not an ADR threshold but the stack's own declaration, so it is not in `alert_levels`."""

ESCALATION_LABEL = "escalation"
ESCALATION_OF: Mapping[Severity, str] = {Severity.CRITICAL: "page", Severity.WARNING: "team"}
"""ADR-011: critical pages L1 at once, L2 after 15 min, L3 after 30 min; warnings go to the team
channel, to be answered within 15 min. Alertmanager routes on `severity`; this label says the
same to whoever reads the alert."""

RUNBOOKS: Mapping[str, tuple[str, str]] = {
    AlertName.CACHE_HIT_RATE_LOW: ("cache-warming.md", "low-hit-rate"),
    AlertName.RESPONSE_TIME_HIGH: ("incident-response.md", "slow-responses"),
    AlertName.REDIS_MEMORY_HIGH: ("incident-response.md", "memory-pressure"),
    AlertName.CACHE_CONNECTION_FAILURES: ("incident-response.md", "cache-failure"),
    AlertName.REDIS_EVICTIONS_HIGH: ("incident-response.md", "memory-pressure"),
    AlertName.REDIS_CLUSTER_STATE_NOT_OK: ("redis-failover.md", "cluster-state-fail"),
    AlertName.REDIS_NODE_DOWN: ("redis-failover.md", "node-down"),
    AlertName.REDIS_PRIMARY_WITHOUT_REPLICA: ("redis-failover.md", "primary-without-replica"),
    AlertName.REDIS_SLOTS_NOT_SERVED: ("redis-failover.md", "slots-not-served"),
    AlertName.REDIS_PERSISTENCE_FAILING: ("incident-response.md", "persistence-failing"),
    AlertName.RESPONSE_TIME_P99_HIGH: ("incident-response.md", "slow-responses"),
    AlertName.AVAILABILITY_BUDGET_BURN: ("incident-response.md", "error-budget-burn"),
    AlertName.CACHE_ERRORS_HIGH: ("incident-response.md", "cache-failure"),
    AlertName.REDIS_CONNECTIONS_NEAR_MAXCLIENTS: (
        "incident-response.md",
        "connections-near-maxclients",
    ),
    CDN_ALERT: ("incident-response.md", "cdn-overage"),
}
"""Runbook (file under docs/runbooks, heading anchor) of every alert."""


def latency_record(quantile: float) -> str:
    """Record name of a latency quantile per service (0.95 -> ...:p95)."""
    return f"service:http_request_duration_seconds:p{round(quantile * 100)}"


def _rate_by(by: str, metric: str, window: str = "5m") -> str:
    return f"sum by ({by}) (rate({metric}[{window}]))"


def error_ratio_record(window: str) -> str:
    """Record name of the share of a service's requests answered 5xx over `window`."""
    return f"service:http_requests_errors:ratio_rate{window}"


def _error_ratio(window: str) -> str:
    count = "http_request_duration_seconds_count"
    errors = _rate_by("service", count + '{code=~"5.."}', window)
    return f"{errors} / ({_rate_by('service', count, window)} > 0)"


def _sum_or_zero(*terms: str) -> str:
    """terms[0] + terms[1] + ..., each replaced by 0 for a label set only the others have."""
    parts: list[str] = []
    for term in terms:
        others = [other for other in terms if other is not term]
        parts.append("(" + " or ".join([term, *(f"{other} * 0" for other in others)]) + ")")
    return " + ".join(parts)


def recording_rules() -> list[dict[str, str]]:
    """The recording rules, in dependency order."""
    hits = _rate_by("service", "cache_hits_total")
    misses = _rate_by("service", "cache_misses_total")
    hits_or_zero = f"({hits} or {misses} * 0)"
    misses_or_zero = f"({misses} or {hits} * 0)"
    errors = _rate_by("service", "cache_errors_total")
    rejected = _rate_by("instance", "redis_rejected_connections_total")
    received = _rate_by("instance", "redis_connections_received_total")
    rules = [
        {
            "record": RECORD_HIT_RATE,
            "expr": f"{hits_or_zero} / (({hits_or_zero} + {misses_or_zero}) > 0)",
        },
        {
            "record": RECORD_WARMING_PROGRESS,
            "expr": "100 * sum by (service) (cache_warmed_keys)"
            " / (sum by (service) (cache_total_keys) > 0)",
        },
        {
            "record": RECORD_REQUEST_RATE,
            "expr": _rate_by("service", "http_request_duration_seconds_count"),
        },
    ]
    rules += [
        {
            "record": latency_record(q),
            "expr": f"histogram_quantile({q}, "
            f"{_rate_by('service, le', 'http_request_duration_seconds_bucket')})",
        }
        for q in LATENCY_QUANTILES
    ]
    cached = 'http_request_duration_seconds_{}{{cache="hit"}}'
    rules.append(
        {
            "record": RECORD_CACHED_MEAN,
            "expr": f"{_rate_by('service', cached.format('sum'))}"
            f" / ({_rate_by('service', cached.format('count'))} > 0)",
        }
    )
    rules += [
        {
            "record": RECORD_MEMORY_PERCENT,
            "expr": "100 * redis_memory_used_bytes / (redis_memory_max_bytes > 0)",
        },
        {
            "record": RECORD_CONNECTION_FAILURES,
            "expr": f"{rejected} / (({rejected} + {received}) > 0)",
        },
        {
            "record": RECORD_EVICTIONS,
            "expr": _rate_by("instance", "redis_evicted_keys_total"),
        },
        {
            # Failed operations are neither hits nor misses (docs/metrics.md): when every call
            # fails the ratio is 1, not "no data". Each term falls back to 0 when its counter
            # does not exist yet but another one of the service does.
            "record": RECORD_CACHE_ERRORS,
            "expr": f"{errors} / (({_sum_or_zero(errors, hits, misses)}) > 0)",
        },
        {
            # maxclients is 0 nowhere in practice; the guard keeps a bad exporter from giving +Inf.
            "record": RECORD_CLIENTS_SHARE,
            "expr": "max by (instance) (redis_connected_clients) "
            "/ (max by (instance) (redis_config_maxclients) > 0)",
        },
    ]
    rules += [
        {"record": error_ratio_record(window), "expr": _error_ratio(window)}
        for window in BURN_RATE_WINDOWS
    ]
    return rules


@dataclass(frozen=True)
class _AlertText:
    expr: str
    summary: str
    description: str


def _number(value: float) -> str:
    return format_threshold(round(value, 9))


def _hit_rate(level: AlertLevel) -> _AlertText:
    t = _threshold(level)
    return _AlertText(
        expr=f"{RECORD_HIT_RATE} < {_number(t)}",
        summary=f"Cache hit rate of {{{{ $labels.service }}}} below {format_percent(t)}",
        description=(
            "The cache hit rate of service {{ $labels.service }} is "
            f"{{{{ $value | humanizePercentage }}}}, below {format_percent(t)} for "
            f"{prometheus_duration(level.for_seconds)}: more requests reach the database."
        ),
    )


def _response_time(level: AlertLevel) -> _AlertText:
    t = _threshold(level)
    return _AlertText(
        expr=f"{latency_record(0.95)} > {_number(t)}",
        summary=f"p95 response time of {{{{ $labels.service }}}} above {t * 1000:g} ms",
        description=(
            "The 95th percentile response time of service {{ $labels.service }} is "
            f"{{{{ $value | humanizeDuration }}}}, above {t * 1000:g} ms for "
            f"{prometheus_duration(level.for_seconds)}."
        ),
    )


def _memory(level: AlertLevel) -> _AlertText:
    t = _threshold(level)
    return _AlertText(
        expr=f"max by (instance) ({RECORD_MEMORY_PERCENT}) > {_number(t * 100)}",
        summary=(
            f"Redis memory of {{{{ $labels.instance }}}} above {format_percent(t)} of maxmemory"
        ),
        description=(
            "Redis node {{ $labels.instance }} uses {{ $value | humanize }}% of its maxmemory, "
            f"above {format_percent(t)} for {prometheus_duration(level.for_seconds)}: evictions or "
            "OOM errors follow."
        ),
    )


def _connection_failures(level: AlertLevel) -> _AlertText:
    t = _threshold(level)
    return _AlertText(
        expr=f"{RECORD_CONNECTION_FAILURES} > {_number(t)}",
        summary=f"Redis {{{{ $labels.instance }}}} rejects over {format_percent(t)} of connections",
        description=(
            "Redis node {{ $labels.instance }} rejected {{ $value | humanizePercentage }} of "
            f"connection attempts over 5 minutes (above {format_percent(t)}): maxclients "
            "reached or clients leaking connections."
        ),
    )


def _evictions(level: AlertLevel) -> _AlertText:
    t = _threshold(level)
    return _AlertText(
        expr=f"sum({RECORD_EVICTIONS}) > {_number(t)}",
        summary=f"Redis cluster evicts over {t:g} keys/s",
        description=(
            "The Redis cluster evicts {{ $value | humanize }} keys per second, above "
            f"{t:g}/s for {prometheus_duration(level.for_seconds)}: the working set no longer "
            "fits in maxmemory."
        ),
    )


def _cluster_state(level: AlertLevel) -> _AlertText:
    del level
    return _AlertText(
        expr="count(redis_cluster_state == 0) > 0",
        summary="Redis Cluster state is not ok",
        description=(
            "{{ $value }} Redis node(s) report cluster_state:fail: requests to some hash slots "
            "fail until the cluster recovers."
        ),
    )


def _node_down(level: AlertLevel) -> _AlertText:
    del level
    # An exporter that stopped answering has no redis_up any more; `up` of a target that
    # exported redis_up within the hour covers it without knowing the scrape job's name.
    return _AlertText(
        expr=(
            "max by (instance) (redis_up == 0) or "
            "max by (instance) (up == 0 and on (job, instance) present_over_time(redis_up[1h]))"
        ),
        summary="Redis node {{ $labels.instance }} is down",
        description=(
            "Redis node {{ $labels.instance }} does not answer its exporter, or the exporter "
            "target is down: its shard runs without its replica or has failed over."
        ),
    )


def _primary_without_replica(level: AlertLevel) -> _AlertText:
    t = _threshold(level)
    return _AlertText(
        expr=(
            f"(max by (instance) (redis_connected_slaves) < {_number(t)}) "
            'and on (instance) (max by (instance) (redis_instance_info{role="master"}))'
        ),
        summary="Redis primary {{ $labels.instance }} has no replica",
        description=(
            "Redis primary {{ $labels.instance }} has {{ $value }} connected replica(s), fewer "
            f"than {t:g}, for {prometheus_duration(level.for_seconds)}: losing it loses its slots' "
            "data and availability."
        ),
    )


def _slots_not_served(level: AlertLevel) -> _AlertText:
    del level
    # The best view any node has: a node cut off from the majority sees every other shard failing
    # (RedisClusterStateNotOk covers it), but when even the best view misses slots no node serves
    # them. With cluster-require-full-coverage no, cluster_state stays ok on the other shards.
    return _AlertText(
        expr=f"{TOTAL_HASH_SLOTS} - max(redis_cluster_slots_ok) > 0",
        summary="Redis Cluster serves only part of its hash slots",
        description=(
            f"{{{{ $value }}}} of {TOTAL_HASH_SLOTS} hash slots are served by no node: a shard "
            "lost its primary and no replica took over. Requests for their keys fail with "
            "CLUSTERDOWN and fall back to the origin."
        ),
    )


def _persistence_failing(level: AlertLevel) -> _AlertText:
    if level.severity is Severity.CRITICAL:
        return _AlertText(
            expr="min by (instance) (redis_aof_last_write_status) == 0",
            summary="Redis {{ $labels.instance }} cannot write its AOF",
            description=(
                "The last AOF write of Redis node {{ $labels.instance }} failed (full or "
                "read-only disk): the node refuses writes until a write succeeds."
            ),
        )
    return _AlertText(
        expr=(
            "min by (instance) (redis_rdb_last_bgsave_status) == 0 "
            "or min by (instance) (redis_aof_last_bgrewrite_status) == 0"
        ),
        summary="Redis {{ $labels.instance }} fails to snapshot",
        description=(
            "The last RDB save or AOF rewrite of Redis node {{ $labels.instance }} failed: the "
            "node keeps serving (stop-writes-on-bgsave-error no), but a restart loses its recent "
            "writes and backups copy an old snapshot."
        ),
    )


def _p99(level: AlertLevel) -> _AlertText:
    t = _threshold(level)
    return _AlertText(
        expr=f"{latency_record(0.99)} > {_number(t)}",
        summary=f"p99 response time of {{{{ $labels.service }}}} above {t * 1000:g} ms",
        description=(
            "The 99th percentile response time of service {{ $labels.service }} is "
            f"{{{{ $value | humanizeDuration }}}}, above the ADR's {t * 1000:g} ms for "
            f"{prometheus_duration(level.for_seconds)}."
        ),
    )


def _burn_condition(windows: BurnWindows, budget: float) -> str:
    ratio = _number(windows.factor * budget)
    return (
        f"({error_ratio_record(windows.long)} > {ratio} "
        f"and {error_ratio_record(windows.short)} > {ratio})"
    )


def _budget_burn(level: AlertLevel, thresholds: AlertThresholds) -> _AlertText:
    budget = 1 - thresholds.availability_target
    pairs = PAGE_BURN_WINDOWS if level.severity is Severity.CRITICAL else TICKET_BURN_WINDOWS
    described = ", or ".join(f"{w.factor:g}x over {w.long} and {w.short}" for w in pairs)
    return _AlertText(
        expr=" or ".join(_burn_condition(w, budget) for w in pairs),
        summary=(
            f"{{{{ $labels.service }}}} burns its {format_percent(thresholds.availability_target)}"
            " availability error budget too fast"
        ),
        description=(
            "Service {{ $labels.service }} answers {{ $value | humanizePercentage }} of requests "
            f"with 5xx: its error budget burns at {described} the rate the "
            f"{format_percent(thresholds.availability_target)} SLO allows."
        ),
    )


def _cache_errors(level: AlertLevel) -> _AlertText:
    t = _threshold(level)
    return _AlertText(
        expr=f"{RECORD_CACHE_ERRORS} > {_number(t)}",
        summary=f"Over {format_percent(t)} of cache calls of {{{{ $labels.service }}}} fail",
        description=(
            "Service {{ $labels.service }} sees {{ $value | humanizePercentage }} of its cache "
            f"operations fail (timeouts, connection errors), above {format_percent(t)} for "
            f"{prometheus_duration(level.for_seconds)}: those requests go to the database."
        ),
    )


def _connections(level: AlertLevel) -> _AlertText:
    t = _threshold(level)
    return _AlertText(
        expr=f"{RECORD_CLIENTS_SHARE} > {_number(t)}",
        summary=f"Redis {{{{ $labels.instance }}}} above {format_percent(t)} of maxclients",
        description=(
            "Redis node {{ $labels.instance }} holds {{ $value | humanizePercentage }} of its "
            f"maxclients connections (above {format_percent(t)} for "
            f"{prometheus_duration(level.for_seconds)}); beyond maxclients it refuses new ones."
        ),
    )


def _threshold(level: AlertLevel) -> float:
    if level.threshold is None:
        raise ValueError(f"{level.alert} ({level.severity}) needs a threshold")
    return level.threshold


_BUILDERS: Mapping[str, Callable[[AlertLevel], _AlertText]] = {
    AlertName.REDIS_SLOTS_NOT_SERVED: _slots_not_served,
    AlertName.REDIS_PERSISTENCE_FAILING: _persistence_failing,
    AlertName.RESPONSE_TIME_P99_HIGH: _p99,
    AlertName.CACHE_ERRORS_HIGH: _cache_errors,
    AlertName.REDIS_CONNECTIONS_NEAR_MAXCLIENTS: _connections,
    AlertName.CACHE_HIT_RATE_LOW: _hit_rate,
    AlertName.RESPONSE_TIME_HIGH: _response_time,
    AlertName.REDIS_MEMORY_HIGH: _memory,
    AlertName.CACHE_CONNECTION_FAILURES: _connection_failures,
    AlertName.REDIS_EVICTIONS_HIGH: _evictions,
    AlertName.REDIS_CLUSTER_STATE_NOT_OK: _cluster_state,
    AlertName.REDIS_NODE_DOWN: _node_down,
    AlertName.REDIS_PRIMARY_WITHOUT_REPLICA: _primary_without_replica,
}


def runbook_url(runbook_base_url: str, alert: str) -> str:
    file, anchor = RUNBOOKS[alert]
    return f"{runbook_base_url.rstrip('/')}/{file}#{anchor}"


def alerting_rules(thresholds: AlertThresholds, runbook_base_url: str) -> list[dict[str, Any]]:
    """One alerting rule per row of `alert_levels(thresholds)`."""
    rules: list[dict[str, Any]] = []
    for level in alert_levels(thresholds):
        if level.alert == AlertName.AVAILABILITY_BUDGET_BURN:
            text = _budget_burn(level, thresholds)
        else:
            text = _BUILDERS[level.alert](level)
        annotations = {
            "summary": text.summary,
            "description": text.description,
            "runbook_url": runbook_url(runbook_base_url, level.alert),
        }
        if level.threshold is not None:
            annotations[THRESHOLD_ANNOTATION] = format_threshold(level.threshold)
        rules.append(
            {
                "alert": level.alert,
                "expr": text.expr,
                "for": prometheus_duration(level.for_seconds),
                "labels": {
                    "severity": level.severity.value,
                    ESCALATION_LABEL: ESCALATION_OF[level.severity],
                },
                "annotations": annotations,
            }
        )
    return rules


@dataclass(frozen=True)
class CdnTrafficBudget:
    """The edge traffic the stack declares a month (`cache-platform:cdn`), which the cost
    estimate prices; traffic on course to exceed it is an overage (ADR-011 risk: CDN overages)."""

    monthly_egress_gb: float
    monthly_requests_millions: float
    for_seconds: int = 3600
    """The projection reads a day of traffic; an hour over it is a trend, not a burst."""


def cdn_overage_rules(budget: CdnTrafficBudget, runbook_base_url: str) -> list[dict[str, Any]]:
    """A warning per declared quantity when the last day's traffic, kept up for a month, exceeds
    it. Cloudflare's analytics arrive minutes late; a day's rate smooths that out."""
    rules: list[dict[str, Any]] = []
    quantities = (
        ("egress", "cloudflare_zone_bandwidth_total", budget.monthly_egress_gb * 1e9, "GB", 1e9),
        (
            "requests",
            "cloudflare_zone_requests_total",
            budget.monthly_requests_millions * 1e6,
            "million requests",
            1e6,
        ),
    )
    for quantity, metric, declared, unit, scale in quantities:
        if declared <= 0:
            continue
        rules.append(
            {
                "alert": CDN_ALERT,
                "expr": f"sum(rate({metric}[1d])) * {SECONDS_PER_MONTH!r} > {declared!r}",
                "for": prometheus_duration(budget.for_seconds),
                "labels": {
                    "severity": Severity.WARNING.value,
                    ESCALATION_LABEL: ESCALATION_OF[Severity.WARNING],
                    "quantity": quantity,
                },
                "annotations": {
                    "summary": f"CDN {quantity} on course to exceed the declared month",
                    "description": (
                        f"At the last day's pace the edge serves {{{{ $value | humanize }}}} "
                        f"({quantity}) a month, more than the {declared / scale:g} {unit} "
                        "declared in cache-platform:cdn and priced in the cost estimate."
                    ),
                    "runbook_url": runbook_url(runbook_base_url, CDN_ALERT),
                },
            }
        )
    return rules


def render_rule_groups(
    thresholds: AlertThresholds,
    runbook_base_url: str,
    cdn_budget: CdnTrafficBudget | None = None,
    *,
    invalidation: bool = False,
) -> list[dict[str, Any]]:
    """The rule groups (the `groups:` of a rule file, or a PrometheusRule's `spec.groups`).

    `cdn_budget` adds the CDN overage alerts (when the stack manages the edge); `invalidation`
    the invalidation service's group (when the stack deploys it)."""
    alerting = alerting_rules(thresholds, runbook_base_url)
    if cdn_budget is not None:
        alerting += cdn_overage_rules(cdn_budget, runbook_base_url)
    groups = [
        {"name": RECORDING_GROUP, "rules": recording_rules()},
        {"name": ALERTING_GROUP, "rules": alerting},
    ]
    if invalidation:
        groups.append(invalidation_rule_group(runbook_base_url))
    return groups
