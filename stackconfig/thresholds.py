"""ADR-011's alert thresholds: one table shared by the rule renderer and the policy pack.

`AlertThresholds` holds the numbers; `alert_levels` turns them into one row per (alert, severity),
and `render_rule_groups` (rules.py) builds every threshold alert from those rows, writing the row's
threshold into the rule's `threshold` annotation. `alert_thresholds_in` reads the rows back from
rendered rule groups (or a PrometheusRule's `spec.groups`) without parsing PromQL, and
`threshold_problems` says which deployed alerts are missing or looser than the ADR: a lower bound
that is lower, an upper bound that is higher, or a `for` that is longer.

Units are those of the ADR's sentences: ratios for hit rate, memory and connection failures
(0.90 = 90 %), seconds for latency, evictions per second, and `for` durations in seconds.
"""

from __future__ import annotations

import enum
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any, Literal, cast

from stackconfig import adr

FiresWhen = Literal["above", "below"]

THRESHOLD_ANNOTATION = "threshold"
"""Annotation holding an alert's threshold, in the units of `AlertThresholds`."""


class Severity(enum.StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"


class AlertName(enum.StrEnum):
    CACHE_HIT_RATE_LOW = "CacheHitRateLow"
    RESPONSE_TIME_HIGH = "ResponseTimeHigh"
    REDIS_MEMORY_HIGH = "RedisMemoryHigh"
    CACHE_CONNECTION_FAILURES = "CacheConnectionFailures"
    REDIS_EVICTIONS_HIGH = "RedisEvictionsHigh"
    REDIS_CLUSTER_STATE_NOT_OK = "RedisClusterStateNotOk"
    REDIS_NODE_DOWN = "RedisNodeDown"
    REDIS_PRIMARY_WITHOUT_REPLICA = "RedisPrimaryWithoutReplica"
    REDIS_SLOTS_NOT_SERVED = "RedisSlotsNotServed"
    REDIS_PERSISTENCE_FAILING = "RedisPersistenceFailing"
    RESPONSE_TIME_P99_HIGH = "ResponseTimeP99High"
    AVAILABILITY_BUDGET_BURN = "AvailabilityErrorBudgetBurn"
    CACHE_ERRORS_HIGH = "CacheErrorsHigh"
    REDIS_CONNECTIONS_NEAR_MAXCLIENTS = "RedisConnectionsNearMaxclients"


FIRES_WHEN: Mapping[str, FiresWhen] = {
    AlertName.CACHE_HIT_RATE_LOW: "below",
    AlertName.RESPONSE_TIME_HIGH: "above",
    AlertName.REDIS_MEMORY_HIGH: "above",
    AlertName.CACHE_CONNECTION_FAILURES: "above",
    AlertName.REDIS_EVICTIONS_HIGH: "above",
    AlertName.REDIS_PRIMARY_WITHOUT_REPLICA: "below",
    AlertName.RESPONSE_TIME_P99_HIGH: "above",
    AlertName.AVAILABILITY_BUDGET_BURN: "above",
    AlertName.CACHE_ERRORS_HIGH: "above",
    AlertName.REDIS_CONNECTIONS_NEAR_MAXCLIENTS: "above",
}
"""Which side of its threshold an alert fires on; alerts missing here have no threshold."""


@dataclass(frozen=True)
class BurnWindows:
    """One multi-window burn-rate condition: the error budget burns `factor` times faster than
    the SLO allows over both the long window and the short one (the short one makes the alert
    stop soon after the errors do)."""

    factor: float
    long: str
    short: str


PAGE_BURN_WINDOWS = (BurnWindows(14.4, "1h", "5m"), BurnWindows(6.0, "6h", "30m"))
"""Google SRE workbook ("Alerting on SLOs", multiwindow multi-burn-rate): 2 % of a 30-day budget
in an hour, or 5 % in six hours, pages."""
TICKET_BURN_WINDOWS = (BurnWindows(3.0, "1d", "2h"), BurnWindows(1.0, "3d", "6h"))
"""10 % of the budget in a day, or the whole budget's pace over three days: a warning."""
BURN_RATE_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")
"""Every window an error ratio is recorded over."""


@dataclass(frozen=True)
class AlertThresholds:
    """ADR-011 "Specific Alert Thresholds & Escalation"; `for` values the ADR leaves open are ours.

    Critical alerts page (L1 at once, L2 after 15 min, L3 after 30 min); warnings go to the team
    channel. A stack may tighten any value; the policy pack refuses looser ones.
    """

    hit_rate_critical: float = adr.HIT_RATE_CRITICAL
    """Critical when a service's cache hit rate is below this ratio (ADR: < 90 % for 5 min)."""
    hit_rate_critical_for_seconds: int = adr.HIT_RATE_CRITICAL_FOR_SECONDS
    hit_rate_warning: float = adr.HIT_RATE_WARNING
    """Warning below this ratio (ADR: < 95 % for 10 min)."""
    hit_rate_warning_for_seconds: int = adr.HIT_RATE_WARNING_FOR_SECONDS
    p95_critical_seconds: float = adr.P95_CRITICAL_SECONDS
    """Critical when a service's p95 latency is above this (ADR: > 500 ms)."""
    p95_critical_for_seconds: int = 180
    """ADR's example rule waits 3 min: one slow scrape window must not page."""
    p95_warning_seconds: float = adr.P95_WARNING_SECONDS
    """Warning above this (ADR: > 200 ms, the p95 target)."""
    p95_warning_for_seconds: int = 300
    memory_critical: float = adr.MEMORY_CRITICAL
    """Critical when a node's used memory is above this share of maxmemory (ADR: > 90 %, 2 min)."""
    memory_critical_for_seconds: int = adr.MEMORY_CRITICAL_FOR_SECONDS
    memory_warning: float = adr.MEMORY_WARNING
    """Warning above this share (ADR: > 80 %)."""
    memory_warning_for_seconds: int = 300
    connection_failures_critical: float = adr.CONNECTION_FAILURES_CRITICAL
    """Critical when a node rejects more than this share of connection attempts (ADR: > 10 %)."""
    connection_failures_critical_for_seconds: int = 120
    evictions_warning_per_second: float = adr.EVICTIONS_WARNING_PER_SECOND
    """Warning when the cluster evicts more keys per second than this (ADR: > 100/s)."""
    evictions_warning_for_seconds: int = 300
    cluster_state_critical_for_seconds: int = 60
    """A node reporting cluster_state:fail this long pages: part of the key space is down."""
    node_down_critical_for_seconds: int = 120
    """A node (or its exporter) unreachable this long pages; a rolling restart takes less."""
    min_replicas_per_primary: int = adr.MIN_REPLICAS_PER_PRIMARY
    """Warning when a primary has fewer connected replicas; 0 drops the alert (dev stacks)."""
    primary_without_replica_for_seconds: int = 600
    """Long enough for a failed-over primary to come back as the new primary's replica."""
    slots_not_served_critical_for_seconds: int = 60
    """Hash slots no node serves this long page: longer than ADR-011's 30 s failover, so a normal
    failover (pfail, then a replica takes over) does not page, but a shard that lost every node
    does; `cluster-require-full-coverage no` keeps cluster_state ok then."""
    aof_write_failing_critical_for_seconds: int = 60
    """An AOF write failing this long pages: Redis refuses writes while aof_last_write_status is
    err."""
    snapshot_failing_warning_for_seconds: int = 300
    """A failed BGSAVE or AOF rewrite: writes go on (stop-writes-on-bgsave-error no), but the node
    would restart without its recent data and backups go stale."""
    p99_warning_seconds: float = adr.P99_TARGET_SECONDS
    """Warning when a service's p99 latency is above this (ADR: p99 < 500 ms)."""
    p99_warning_for_seconds: int = 300
    availability_target: float = adr.AVAILABILITY_TARGET
    """The services' availability SLO (ADR: 99.9 %); its error budget is 1 - target of requests."""
    budget_burn_critical_for_seconds: int = 120
    """The page windows are already smoothed; 2 min more skips one bad scrape."""
    budget_burn_warning_for_seconds: int = 900
    cache_errors_warning: float = adr.BASELINE_MARKS["error_rate"]
    """Warning when this share of a service's cache operations fail (ADR: errors < 1 % at normal
    traffic)."""
    cache_errors_warning_for_seconds: int = 300
    cache_errors_critical: float = adr.PEAK_MARKS["error_rate"]
    """Critical above this share (ADR: errors < 5 % even at 10x traffic)."""
    cache_errors_critical_for_seconds: int = 300
    connections_warning: float = 0.8
    """Warning when a node's clients exceed this share of its maxclients: time to add nodes or fix
    a pool before Redis starts refusing connections."""
    connections_warning_for_seconds: int = 300
    connections_critical: float = 0.95
    """Critical above this share: the next spike is refused."""
    connections_critical_for_seconds: int = 120

    def __post_init__(self) -> None:
        problems: list[str] = []
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, (int, float)) or isinstance(value, bool):
                problems.append(f"{f.name} must be a number, got {value!r}")
            elif not math.isfinite(value) or value < 0:
                problems.append(f"{f.name} must be a finite number >= 0, got {value!r}")
            elif f.type == "int" and not isinstance(value, int):
                problems.append(f"{f.name} must be a whole number, got {value!r}")
        if problems:
            raise ValueError("; ".join(problems))
        ratios = (
            "hit_rate_critical",
            "hit_rate_warning",
            "memory_critical",
            "memory_warning",
            "cache_errors_warning",
            "cache_errors_critical",
            "connections_warning",
            "connections_critical",
        )
        for name in ratios:
            if not 0 < getattr(self, name) <= 1:
                problems.append(f"{name} is a ratio in (0, 1], got {getattr(self, name)!r}")
        if not 0 < self.connection_failures_critical <= 1:
            problems.append(
                "connection_failures_critical is a ratio in (0, 1], "
                f"got {self.connection_failures_critical!r}"
            )
        if not 0 < self.availability_target < 1:
            problems.append(
                f"availability_target is a ratio in (0, 1), got {self.availability_target!r}"
            )
        pairs = (
            ("hit_rate_warning", "hit_rate_critical", "below"),
            ("p95_warning_seconds", "p95_critical_seconds", "above"),
            ("memory_warning", "memory_critical", "above"),
            ("cache_errors_warning", "cache_errors_critical", "above"),
            ("connections_warning", "connections_critical", "above"),
        )
        for warning, critical, side in pairs:
            earlier = (
                getattr(self, warning) > getattr(self, critical)
                if side == "below"
                else getattr(self, warning) < getattr(self, critical)
            )
            if not earlier:
                problems.append(
                    f"{warning} ({getattr(self, warning)!r}) must be reached before {critical} "
                    f"({getattr(self, critical)!r}): the warning announces the critical alert"
                )
        if problems:
            raise ValueError("; ".join(problems))


@dataclass(frozen=True)
class AlertLevel:
    """One (alert, severity) of the rule set, as rendered or as required."""

    alert: str
    severity: Severity
    for_seconds: int
    threshold: float | None = None
    """None for alerts on a state (cluster fail, node down) rather than a level."""
    fires_when: FiresWhen | None = None


def alert_levels(thresholds: AlertThresholds) -> tuple[AlertLevel, ...]:
    """Every alert the rule set must contain, in rendering order."""
    t = thresholds
    levels = [
        _level(
            AlertName.CACHE_HIT_RATE_LOW,
            Severity.CRITICAL,
            t.hit_rate_critical_for_seconds,
            t.hit_rate_critical,
        ),
        _level(
            AlertName.CACHE_HIT_RATE_LOW,
            Severity.WARNING,
            t.hit_rate_warning_for_seconds,
            t.hit_rate_warning,
        ),
        _level(
            AlertName.RESPONSE_TIME_HIGH,
            Severity.CRITICAL,
            t.p95_critical_for_seconds,
            t.p95_critical_seconds,
        ),
        _level(
            AlertName.RESPONSE_TIME_HIGH,
            Severity.WARNING,
            t.p95_warning_for_seconds,
            t.p95_warning_seconds,
        ),
        _level(
            AlertName.REDIS_MEMORY_HIGH,
            Severity.CRITICAL,
            t.memory_critical_for_seconds,
            t.memory_critical,
        ),
        _level(
            AlertName.REDIS_MEMORY_HIGH,
            Severity.WARNING,
            t.memory_warning_for_seconds,
            t.memory_warning,
        ),
        _level(
            AlertName.CACHE_CONNECTION_FAILURES,
            Severity.CRITICAL,
            t.connection_failures_critical_for_seconds,
            t.connection_failures_critical,
        ),
        _level(
            AlertName.REDIS_EVICTIONS_HIGH,
            Severity.WARNING,
            t.evictions_warning_for_seconds,
            t.evictions_warning_per_second,
        ),
        _level(
            AlertName.REDIS_CLUSTER_STATE_NOT_OK,
            Severity.CRITICAL,
            t.cluster_state_critical_for_seconds,
        ),
        _level(AlertName.REDIS_NODE_DOWN, Severity.CRITICAL, t.node_down_critical_for_seconds),
    ]
    budget = 1 - t.availability_target
    levels += [
        _level(
            AlertName.REDIS_SLOTS_NOT_SERVED,
            Severity.CRITICAL,
            t.slots_not_served_critical_for_seconds,
        ),
        _level(
            AlertName.REDIS_PERSISTENCE_FAILING,
            Severity.CRITICAL,
            t.aof_write_failing_critical_for_seconds,
        ),
        _level(
            AlertName.REDIS_PERSISTENCE_FAILING,
            Severity.WARNING,
            t.snapshot_failing_warning_for_seconds,
        ),
        _level(
            AlertName.RESPONSE_TIME_P99_HIGH,
            Severity.WARNING,
            t.p99_warning_for_seconds,
            t.p99_warning_seconds,
        ),
        # The threshold of a burn-rate alert is the lowest error ratio that fires it (the slowest
        # of its window pairs), so the policy pack can compare it like any other level.
        _level(
            AlertName.AVAILABILITY_BUDGET_BURN,
            Severity.CRITICAL,
            t.budget_burn_critical_for_seconds,
            round(min(w.factor for w in PAGE_BURN_WINDOWS) * budget, 12),
        ),
        _level(
            AlertName.AVAILABILITY_BUDGET_BURN,
            Severity.WARNING,
            t.budget_burn_warning_for_seconds,
            round(min(w.factor for w in TICKET_BURN_WINDOWS) * budget, 12),
        ),
        _level(
            AlertName.CACHE_ERRORS_HIGH,
            Severity.CRITICAL,
            t.cache_errors_critical_for_seconds,
            t.cache_errors_critical,
        ),
        _level(
            AlertName.CACHE_ERRORS_HIGH,
            Severity.WARNING,
            t.cache_errors_warning_for_seconds,
            t.cache_errors_warning,
        ),
        _level(
            AlertName.REDIS_CONNECTIONS_NEAR_MAXCLIENTS,
            Severity.CRITICAL,
            t.connections_critical_for_seconds,
            t.connections_critical,
        ),
        _level(
            AlertName.REDIS_CONNECTIONS_NEAR_MAXCLIENTS,
            Severity.WARNING,
            t.connections_warning_for_seconds,
            t.connections_warning,
        ),
    ]
    if t.min_replicas_per_primary > 0:
        levels.append(
            _level(
                AlertName.REDIS_PRIMARY_WITHOUT_REPLICA,
                Severity.WARNING,
                t.primary_without_replica_for_seconds,
                float(t.min_replicas_per_primary),
            )
        )
    return tuple(levels)


def _level(
    alert: AlertName, severity: Severity, for_seconds: int, threshold: float | None = None
) -> AlertLevel:
    return AlertLevel(
        alert=alert.value,
        severity=severity,
        for_seconds=int(for_seconds),
        threshold=threshold,
        fires_when=FIRES_WHEN.get(alert) if threshold is not None else None,
    )


def alert_thresholds_in(groups: Iterable[Mapping[str, Any]]) -> list[AlertLevel]:
    """The alerts found in rendered rule groups (or a PrometheusRule's `spec.groups`).

    Reads each alert's name, `severity` label, `for` and `threshold` annotation; never the PromQL.
    Entries that are not alerts, or whose fields are missing or malformed, are reported with
    `severity` as found and `threshold`/`for` left at None/0, so a policy sees them as failing
    rather than crashing on them.
    """
    found: list[AlertLevel] = []
    for group in groups:
        rules = group.get("rules")
        if not isinstance(rules, list):
            continue
        for rule in cast(list[Any], rules):
            if not isinstance(rule, Mapping):
                continue
            rule_map = cast(Mapping[str, Any], rule)
            name = rule_map.get("alert")
            if not isinstance(name, str):
                continue
            labels = _str_mapping(rule_map.get("labels"))
            annotations = _str_mapping(rule_map.get("annotations"))
            try:
                severity = Severity(labels.get("severity", ""))
            except ValueError:
                continue
            threshold = _float_or_none(annotations.get(THRESHOLD_ANNOTATION))
            found.append(
                AlertLevel(
                    alert=name,
                    severity=severity,
                    for_seconds=parse_duration_seconds(str(rule_map.get("for", "0s"))),
                    threshold=threshold,
                    fires_when=FIRES_WHEN.get(name) if threshold is not None else None,
                )
            )
    return found


def threshold_problems(
    groups: Iterable[Mapping[str, Any]], required: AlertThresholds | None = None
) -> list[str]:
    """What makes the deployed alerts weaker than `required` (ADR-011 by default); [] if none."""
    deployed = {(a.alert, a.severity): a for a in alert_thresholds_in(groups)}
    problems: list[str] = []
    for want in alert_levels(required or AlertThresholds()):
        label = f"{want.alert} ({want.severity.value})"
        have = deployed.get((want.alert, want.severity))
        if have is None:
            problems.append(f"{label} is missing: add the alert from the ADR-011 rule set")
            continue
        if have.for_seconds < 0:
            problems.append(f"{label} has an unreadable `for`; use a duration such as '5m'")
        elif have.for_seconds > want.for_seconds:
            problems.append(
                f"{label} waits {prometheus_duration(have.for_seconds)} before firing; "
                f"set `for` to at most {prometheus_duration(want.for_seconds)}"
            )
        if want.threshold is None:
            continue
        if have.threshold is None:
            problems.append(
                f"{label} has no `{THRESHOLD_ANNOTATION}` annotation; render it from "
                "AlertThresholds so its level can be checked"
            )
        elif want.fires_when == "below" and have.threshold < want.threshold:
            problems.append(
                f"{label} fires below {have.threshold:g}; raise the threshold to at least "
                f"{want.threshold:g}"
            )
        elif want.fires_when == "above" and have.threshold > want.threshold:
            problems.append(
                f"{label} fires above {have.threshold:g}; lower the threshold to at most "
                f"{want.threshold:g}"
            )
    return problems


_DURATION_PART = re.compile(r"([0-9]+)(ms|s|m|h|d|w|y)")
_UNIT_SECONDS = {
    "ms": 0.001,
    "s": 1,
    "m": 60,
    "h": 3600,
    "d": 86400,
    "w": 7 * 86400,
    "y": 365 * 86400,
}


def prometheus_duration(seconds: int) -> str:
    """A Prometheus duration for whole seconds, in the largest exact unit (300 -> '5m'): the
    syntax of a rule's `for` and of PromQL ranges (for people, stackconfig.tiers.format_duration
    writes `5 min`)."""
    if seconds < 0:
        raise ValueError(f"a duration cannot be negative, got {seconds}")
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def parse_duration_seconds(text: str) -> int:
    """Whole seconds of a Prometheus duration ('1h30m' -> 5400); -1 when it is not one."""
    text = text.strip()
    if not text or _DURATION_PART.sub("", text):
        return -1
    total = sum(int(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))
    return int(total)


def _str_mapping(value: Any) -> dict[str, str]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): str(v) for k, v in cast(Mapping[Any, Any], value).items()}


def _float_or_none(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def format_threshold(value: float) -> str:
    """The `threshold` annotation's text: exact, so reading it back gives the same float."""
    return repr(float(value))


def format_percent(ratio: float) -> str:
    """A ratio as a percentage for people, without float noise (0.95 -> '95%', 0.955 -> '95.5%')."""
    return f"{round(ratio * 100, 6):g}%"
