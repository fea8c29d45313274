"""Rule groups under promtool: they load, every alert fires just past its threshold and not just
inside it, `for` holds an alert back, and the recording rules compute what they claim (guards
included)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.monitoring.rules import (
    ALERTING_GROUP,
    CDN_ALERT,
    RECORD_CONNECTION_FAILURES,
    RECORD_EVICTIONS,
    RECORD_HIT_RATE,
    RECORD_MEMORY_PERCENT,
    RECORD_REQUEST_RATE,
    RECORD_WARMING_PROGRESS,
    RECORDING_GROUP,
    RUNBOOKS,
    SECONDS_PER_MONTH,
    CdnTrafficBudget,
    cdn_overage_rules,
    latency_record,
    recording_rules,
    render_rule_groups,
)
from stackconfig.thresholds import (
    AlertLevel,
    AlertName,
    AlertThresholds,
    Severity,
    alert_levels,
)
from tests.support.promtool import run_rule_tests
from tests.support.tools import require_tool

RUNBOOK_BASE = "https://runbooks.example.com/cache-platform/docs/runbooks"
RUNBOOK_FILES = {"redis-failover.md", "cache-warming.md", "cache-invalidation.md",
                 "incident-response.md"}  # fmt: skip

CUSTOM = AlertThresholds(
    hit_rate_critical=0.8,
    hit_rate_critical_for_seconds=240,
    hit_rate_warning=0.9,
    hit_rate_warning_for_seconds=420,
    p95_critical_seconds=1.0,
    p95_critical_for_seconds=120,
    p95_warning_seconds=0.3,
    p95_warning_for_seconds=360,
    memory_critical=0.85,
    memory_critical_for_seconds=180,
    memory_warning=0.7,
    memory_warning_for_seconds=240,
    connection_failures_critical=0.05,
    connection_failures_critical_for_seconds=180,
    evictions_warning_per_second=10.0,
    evictions_warning_for_seconds=120,
    cluster_state_critical_for_seconds=120,
    node_down_critical_for_seconds=180,
    min_replicas_per_primary=2,
    primary_without_replica_for_seconds=300,
    slots_not_served_critical_for_seconds=120,
    aof_write_failing_critical_for_seconds=180,
    snapshot_failing_warning_for_seconds=240,
    p99_warning_seconds=0.8,
    p99_warning_for_seconds=240,
    availability_target=0.995,
    budget_burn_critical_for_seconds=180,
    budget_burn_warning_for_seconds=600,
    cache_errors_warning=0.02,
    cache_errors_warning_for_seconds=240,
    cache_errors_critical=0.1,
    cache_errors_critical_for_seconds=180,
    connections_warning=0.7,
    connections_warning_for_seconds=240,
    connections_critical=0.9,
    connections_critical_for_seconds=180,
)
"""Different numbers everywhere: proves each expression reads its threshold, not a constant."""

SERVICE = 'service="checkout"'
NODE = 'instance="10.0.0.1:9121", job="redis"'
MINUTES = 40


def write_rules(tmp_path: Path, thresholds: AlertThresholds) -> Path:
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"groups": render_rule_groups(thresholds, RUNBOOK_BASE)}))
    return path


def run_promtool_tests(
    tmp_path: Path,
    thresholds: AlertThresholds,
    tests: list[dict[str, Any]],
    budget: CdnTrafficBudget | None = None,
    evaluation_interval: str = "1m",
) -> None:
    run_rule_tests(
        tmp_path,
        render_rule_groups(thresholds, RUNBOOK_BASE, budget),
        tests,
        evaluation_interval=evaluation_interval,
        # promtool otherwise evaluates groups in random order. (Prometheus runs groups
        # independently: there an alert may see a record one evaluation later.)
        group_eval_order=[RECORDING_GROUP, ALERTING_GROUP],
    )


def counter(series: str, per_minute: float) -> dict[str, str]:
    return {"series": series, "values": f"0+{per_minute!r}x{MINUTES}"}


def gauge(series: str, value: float) -> dict[str, str]:
    return {"series": series, "values": f"{value!r}x{MINUTES}"}


# --- input series that put each alerted quantity just past (beyond=True) or just inside its
# --- threshold; every builder keeps the condition constant from the first sample on.


def hit_rate_series(threshold: float, beyond: bool) -> list[dict[str, str]]:
    hits = round((threshold - 0.002 if beyond else threshold + 0.002) * 10000)
    return [
        counter(f"cache_hits_total{{{SERVICE}}}", hits),
        counter(f"cache_misses_total{{{SERVICE}}}", 10000 - hits),
    ]


def latency_series(threshold: float, beyond: bool) -> list[dict[str, str]]:
    # 94 % of requests at or below the threshold puts p95 a sixth of a bucket above it; 96 % puts
    # it a 96th below. Buckets one tenth of the threshold wide on either side.
    width = threshold / 10
    at_or_below = 940 if beyond else 960
    buckets = [(threshold - width, 0), (threshold, at_or_below), (threshold + width, 1000)]
    series = [
        counter(f'http_request_duration_seconds_bucket{{{SERVICE}, le="{le!r}"}}', n)
        for le, n in buckets
    ]
    series.append(counter(f'http_request_duration_seconds_bucket{{{SERVICE}, le="+Inf"}}', 1000))
    series.append(counter(f"http_request_duration_seconds_count{{{SERVICE}}}", 1000))
    return series


def memory_series(threshold: float, beyond: bool) -> list[dict[str, str]]:
    maxmemory = 1_000_000_000
    used = round((threshold + 0.001 if beyond else threshold - 0.001) * maxmemory)
    return [
        gauge(f"redis_memory_max_bytes{{{NODE}}}", maxmemory),
        gauge(f"redis_memory_used_bytes{{{NODE}}}", used),
    ]


def connection_failure_series(threshold: float, beyond: bool) -> list[dict[str, str]]:
    rejected = round((threshold + 0.002 if beyond else threshold - 0.002) * 10000)
    return [
        counter(f"redis_rejected_connections_total{{{NODE}}}", rejected),
        counter(f"redis_connections_received_total{{{NODE}}}", 10000 - rejected),
    ]


def eviction_series(threshold: float, beyond: bool) -> list[dict[str, str]]:
    # Split over two nodes: the alert is on the cluster's total.
    per_second = threshold + 1 if beyond else threshold - 1
    return [
        counter('redis_evicted_keys_total{instance="a:9121", job="redis"}', per_second * 20),
        counter('redis_evicted_keys_total{instance="b:9121", job="redis"}', per_second * 40),
    ]


def cluster_state_series(threshold: float | None, beyond: bool) -> list[dict[str, str]]:
    del threshold
    return [
        gauge('redis_cluster_state{instance="a:9121", job="redis"}', 1),
        gauge('redis_cluster_state{instance="b:9121", job="redis"}', 0 if beyond else 1),
    ]


def node_down_series(threshold: float | None, beyond: bool) -> list[dict[str, str]]:
    del threshold
    return [
        gauge(f"up{{{NODE}}}", 1),
        gauge(f"redis_up{{{NODE}}}", 0 if beyond else 1),
        # Some other, unrelated target is down: it must not count as a Redis node.
        gauge('up{instance="10.0.0.9:8080", job="web"}', 0),
    ]


def primary_without_replica_series(threshold: float, beyond: bool) -> list[dict[str, str]]:
    replicas = threshold - 1 if beyond else threshold
    info = 'redis_instance_info{{instance="{}", job="redis", role="{}", redis_version="7.2.6"}}'
    return [
        gauge(info.format("p:9121", "master"), 1),
        gauge('redis_connected_slaves{instance="p:9121", job="redis"}', replicas),
        # A replica has no replicas of its own: it must never count as a lonely primary.
        gauge(info.format("r:9121", "slave"), 1),
        gauge('redis_connected_slaves{instance="r:9121", job="redis"}', 0),
    ]


def slots_not_served_series(threshold: float | None, beyond: bool) -> list[dict[str, str]]:
    # What the lab shows once a shard lost every node: the others still say cluster_state:ok.
    del threshold
    served = 10922 if beyond else 16384
    return [
        gauge('redis_cluster_state{instance="a:9121", job="redis"}', 1),
        gauge('redis_cluster_state{instance="b:9121", job="redis"}', 1),
        gauge('redis_cluster_slots_ok{instance="a:9121", job="redis"}', served),
        gauge('redis_cluster_slots_ok{instance="b:9121", job="redis"}', served),
    ]


def persistence_series(threshold: float | None, beyond: bool) -> list[dict[str, str]]:
    del threshold
    status = 0 if beyond else 1
    return [
        gauge(f"redis_aof_last_write_status{{{NODE}}}", status),
        gauge(f"redis_rdb_last_bgsave_status{{{NODE}}}", status),
        gauge(f"redis_aof_last_bgrewrite_status{{{NODE}}}", 1),
    ]


def p99_series(threshold: float, beyond: bool) -> list[dict[str, str]]:
    # 98.5 % of requests at or below the threshold puts p99 above it; 99.5 % puts it below.
    width = threshold / 10
    at_or_below = 985 if beyond else 995
    buckets = [(threshold - width, 0), (threshold, at_or_below), (threshold + width, 1000)]
    series = [
        counter(f'http_request_duration_seconds_bucket{{{SERVICE}, le="{le!r}"}}', n)
        for le, n in buckets
    ]
    series.append(counter(f'http_request_duration_seconds_bucket{{{SERVICE}, le="+Inf"}}', 1000))
    return series


def error_ratio_series(ratio: float) -> list[dict[str, str]]:
    errors = round(ratio * 1_000_000)
    return [
        counter(f'http_request_duration_seconds_count{{{SERVICE}, code="503"}}', errors),
        counter(
            f'http_request_duration_seconds_count{{{SERVICE}, code="200"}}', 1_000_000 - errors
        ),
    ]


def budget_burn_series(threshold: float, beyond: bool) -> list[dict[str, str]]:
    # `threshold` is the slowest window pair's error ratio; 10 % either side of it.
    return error_ratio_series(threshold * (1.1 if beyond else 0.9))


def cache_errors_series(threshold: float, beyond: bool) -> list[dict[str, str]]:
    errors = round((threshold + 0.002 if beyond else threshold - 0.002) * 10000)
    return [
        counter(f'cache_errors_total{{{SERVICE}, kind="timeout"}}', errors),
        counter(f"cache_hits_total{{{SERVICE}}}", (10000 - errors) * 0.9),
        counter(f"cache_misses_total{{{SERVICE}}}", (10000 - errors) * 0.1),
    ]


def connections_series(threshold: float, beyond: bool) -> list[dict[str, str]]:
    clients = round((threshold + 0.01 if beyond else threshold - 0.01) * 40000)
    return [
        gauge(f"redis_config_maxclients{{{NODE}}}", 40000),
        gauge(f"redis_connected_clients{{{NODE}}}", clients),
    ]


SCENARIOS: dict[str, Callable[[Any, bool], list[dict[str, str]]]] = {
    AlertName.REDIS_SLOTS_NOT_SERVED: slots_not_served_series,
    AlertName.REDIS_PERSISTENCE_FAILING: persistence_series,
    AlertName.RESPONSE_TIME_P99_HIGH: p99_series,
    AlertName.AVAILABILITY_BUDGET_BURN: budget_burn_series,
    AlertName.CACHE_ERRORS_HIGH: cache_errors_series,
    AlertName.REDIS_CONNECTIONS_NEAR_MAXCLIENTS: connections_series,
    AlertName.CACHE_HIT_RATE_LOW: hit_rate_series,
    AlertName.RESPONSE_TIME_HIGH: latency_series,
    AlertName.REDIS_MEMORY_HIGH: memory_series,
    AlertName.CACHE_CONNECTION_FAILURES: connection_failure_series,
    AlertName.REDIS_EVICTIONS_HIGH: eviction_series,
    AlertName.REDIS_CLUSTER_STATE_NOT_OK: cluster_state_series,
    AlertName.REDIS_NODE_DOWN: node_down_series,
    AlertName.REDIS_PRIMARY_WITHOUT_REPLICA: primary_without_replica_series,
}


def alerts(level: AlertLevel, state: str) -> str:
    return (
        f'count by (alertname, severity) (ALERTS{{alertname="{level.alert}", '
        f'severity="{level.severity.value}", alertstate="{state}"}})'
    )


def expect_one(level: AlertLevel) -> list[dict[str, Any]]:
    return [
        {"labels": f'{{alertname="{level.alert}", severity="{level.severity.value}"}}', "value": 1}
    ]


CONDITION_FROM_MINUTE: dict[str, int] = {
    # First evaluation at which the alert's expression is true for a constant input. A 5m rate
    # needs two samples, so ratios of rates start one minute in; an absolute rate of a new series
    # is underestimated until its 5m window is full (rate() divides by the whole window).
    AlertName.CACHE_HIT_RATE_LOW: 1,
    AlertName.RESPONSE_TIME_HIGH: 1,
    AlertName.CACHE_CONNECTION_FAILURES: 1,
    AlertName.REDIS_EVICTIONS_HIGH: 5,
    AlertName.REDIS_MEMORY_HIGH: 0,
    AlertName.REDIS_CLUSTER_STATE_NOT_OK: 0,
    AlertName.REDIS_NODE_DOWN: 0,
    AlertName.REDIS_PRIMARY_WITHOUT_REPLICA: 0,
    AlertName.REDIS_SLOTS_NOT_SERVED: 0,
    AlertName.REDIS_PERSISTENCE_FAILING: 0,
    AlertName.RESPONSE_TIME_P99_HIGH: 1,
    AlertName.AVAILABILITY_BUDGET_BURN: 1,
    AlertName.CACHE_ERRORS_HIGH: 1,
    AlertName.REDIS_CONNECTIONS_NEAR_MAXCLIENTS: 0,
}


def edge_tests(level: AlertLevel) -> list[dict[str, Any]]:
    """Just past the threshold: pending but not firing one minute before `for` has elapsed,
    firing once it has. Just inside the threshold: silent, not even pending."""
    assert level.for_seconds % 60 == 0 and level.for_seconds >= 60
    start = CONDITION_FROM_MINUTE[level.alert]
    fires_at = start + level.for_seconds // 60
    beyond = SCENARIOS[level.alert](level.threshold, True)
    inside = SCENARIOS[level.alert](level.threshold, False)
    return [
        {
            "interval": "1m",
            "input_series": beyond,
            "promql_expr_test": [
                {"expr": alerts(level, "pending"), "eval_time": f"{fires_at - 1}m",
                 "exp_samples": expect_one(level)},
                {"expr": alerts(level, "firing"), "eval_time": f"{fires_at - 1}m",
                 "exp_samples": []},
                {"expr": alerts(level, "firing"), "eval_time": f"{fires_at}m",
                 "exp_samples": expect_one(level)},
                {"expr": alerts(level, "firing"), "eval_time": f"{fires_at + 10}m",
                 "exp_samples": expect_one(level)},
            ],
        },
        {
            "interval": "1m",
            "input_series": inside,
            "promql_expr_test": [
                {"expr": f'ALERTS{{alertname="{level.alert}", severity="{level.severity.value}"}}',
                 "eval_time": f"{t}m", "exp_samples": []}
                for t in (fires_at, fires_at + 10)
            ],
        },
    ]  # fmt: skip


def level_id(level: AlertLevel) -> str:
    return f"{level.alert}-{level.severity.value}"


DEFAULT_LEVELS = alert_levels(AlertThresholds())
CUSTOM_LEVELS = alert_levels(CUSTOM)


def test_every_adr_alert_is_rendered_at_both_severities_the_adr_gives() -> None:
    pairs = {(level.alert, level.severity) for level in DEFAULT_LEVELS}
    assert pairs == {
        ("CacheHitRateLow", Severity.CRITICAL),
        ("CacheHitRateLow", Severity.WARNING),
        ("ResponseTimeHigh", Severity.CRITICAL),
        ("ResponseTimeHigh", Severity.WARNING),
        ("RedisMemoryHigh", Severity.CRITICAL),
        ("RedisMemoryHigh", Severity.WARNING),
        ("CacheConnectionFailures", Severity.CRITICAL),
        ("RedisEvictionsHigh", Severity.WARNING),
        ("RedisClusterStateNotOk", Severity.CRITICAL),
        ("RedisNodeDown", Severity.CRITICAL),
        ("RedisPrimaryWithoutReplica", Severity.WARNING),
        ("RedisSlotsNotServed", Severity.CRITICAL),
        ("RedisPersistenceFailing", Severity.CRITICAL),
        ("RedisPersistenceFailing", Severity.WARNING),
        ("ResponseTimeP99High", Severity.WARNING),
        ("AvailabilityErrorBudgetBurn", Severity.CRITICAL),
        ("AvailabilityErrorBudgetBurn", Severity.WARNING),
        ("CacheErrorsHigh", Severity.CRITICAL),
        ("CacheErrorsHigh", Severity.WARNING),
        ("RedisConnectionsNearMaxclients", Severity.CRITICAL),
        ("RedisConnectionsNearMaxclients", Severity.WARNING),
    }
    assert set(SCENARIOS) == {level.alert for level in DEFAULT_LEVELS}


@pytest.mark.parametrize("thresholds", [AlertThresholds(), CUSTOM], ids=["adr", "custom"])
def test_promtool_check_rules_accepts_the_rendered_file(
    tmp_path: Path, thresholds: AlertThresholds
) -> None:
    promtool = require_tool("promtool")
    rules = write_rules(tmp_path, thresholds)
    result = subprocess.run(
        [promtool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
    rule_count = len(alert_levels(thresholds)) + len(recording_rules())
    assert f"SUCCESS: {rule_count} rules found" in result.stdout


@pytest.mark.parametrize("level", DEFAULT_LEVELS, ids=level_id)
def test_adr_alert_fires_past_its_threshold_after_for_and_not_inside(
    tmp_path: Path, level: AlertLevel
) -> None:
    run_promtool_tests(tmp_path, AlertThresholds(), edge_tests(level))


@pytest.mark.parametrize("level", CUSTOM_LEVELS, ids=level_id)
def test_custom_thresholds_move_the_edges(tmp_path: Path, level: AlertLevel) -> None:
    run_promtool_tests(tmp_path, CUSTOM, edge_tests(level))


def test_a_threshold_quantity_inside_the_default_edge_is_beyond_a_custom_one(
    tmp_path: Path,
) -> None:
    """The edges above could all pass with hard-coded numbers if both sets matched them; a hit
    rate of 0.85 is critical by the ADR and only a warning with CUSTOM's 0.80."""
    series = hit_rate_series(0.852, False)
    critical = AlertLevel("CacheHitRateLow", Severity.CRITICAL, 300)
    test = {
        "interval": "1m",
        "input_series": series,
        "promql_expr_test": [
            {"expr": alerts(critical, "firing"), "eval_time": "20m", "exp_samples": []}
        ],
    }
    run_promtool_tests(tmp_path, CUSTOM, [test])
    test["promql_expr_test"][0]["exp_samples"] = expect_one(critical)  # type: ignore[index]
    run_promtool_tests(tmp_path, AlertThresholds(), [test])


def test_node_down_when_the_exporter_target_itself_is_down(tmp_path: Path) -> None:
    """No redis_up at all once the exporter is gone; `up` of a target that exported it fires."""
    down = AlertLevel("RedisNodeDown", Severity.CRITICAL, 120)
    test = {
        "interval": "1m",
        "input_series": [
            {"series": f"up{{{NODE}}}", "values": "1x5 0x30"},
            {"series": f"redis_up{{{NODE}}}", "values": "1x5 stale"},
            {"series": 'up{instance="10.0.0.9:8080", job="web"}', "values": "0x35"},
        ],
        "promql_expr_test": [
            {"expr": alerts(down, "firing"), "eval_time": "5m", "exp_samples": []},
            {"expr": alerts(down, "firing"), "eval_time": "10m", "exp_samples": expect_one(down)},
            {
                "expr": 'ALERTS{alertname="RedisNodeDown", alertstate="firing"}',
                "eval_time": "10m",
                "exp_samples": [
                    {
                        "labels": 'ALERTS{alertname="RedisNodeDown", alertstate="firing", '
                        'escalation="page", instance="10.0.0.1:9121", severity="critical"}',
                        "value": 1,
                    }
                ],
            },
        ],
    }
    run_promtool_tests(tmp_path, AlertThresholds(), [test])


def test_no_primary_without_replica_alert_when_the_stack_runs_without_replicas(
    tmp_path: Path,
) -> None:
    thresholds = AlertThresholds(min_replicas_per_primary=0)
    names = {level.alert for level in alert_levels(thresholds)}
    assert "RedisPrimaryWithoutReplica" not in names
    groups = render_rule_groups(thresholds, RUNBOOK_BASE)
    assert all(r.get("alert") != "RedisPrimaryWithoutReplica" for g in groups for r in g["rules"])


def value_checks(eval_time: str, checks: list[tuple[str, str, float]]) -> list[dict[str, Any]]:
    return [
        {
            "expr": f"abs({record} - {value!r}) < bool 1e-9",
            "eval_time": eval_time,
            "exp_samples": [{"labels": labels, "value": 1}],
        }
        for record, labels, value in checks
    ]


def test_recording_rules_compute_the_adr_quantities(tmp_path: Path) -> None:
    observations = [(0.1, 0), (0.2, 600), (0.4, 1000)]  # 60 % in (0.1, 0.2], 40 % in (0.2, 0.4]
    series = [
        counter(f"cache_hits_total{{{SERVICE}}}", 930),
        counter(f"cache_misses_total{{{SERVICE}}}", 70),
        gauge(f"cache_warmed_keys{{{SERVICE}}}", 250),
        gauge(f"cache_total_keys{{{SERVICE}}}", 1000),
        *[
            counter(f'http_request_duration_seconds_bucket{{{SERVICE}, le="{le!r}"}}', n)
            for le, n in observations
        ],
        counter(f'http_request_duration_seconds_bucket{{{SERVICE}, le="+Inf"}}', 1000),
        counter(f"http_request_duration_seconds_count{{{SERVICE}}}", 1200),
        gauge(f"redis_memory_max_bytes{{{NODE}}}", 4_000_000),
        gauge(f"redis_memory_used_bytes{{{NODE}}}", 3_000_000),
        counter(f"redis_rejected_connections_total{{{NODE}}}", 30),
        counter(f"redis_connections_received_total{{{NODE}}}", 570),
        counter(f"redis_evicted_keys_total{{{NODE}}}", 600),
    ]
    service = f"{{{SERVICE}}}"
    node = '{instance="10.0.0.1:9121"}'
    node_all_labels = f"{{{NODE}}}"
    checks = [
        (RECORD_HIT_RATE, service, 0.93),
        (RECORD_WARMING_PROGRESS, service, 25.0),
        (RECORD_REQUEST_RATE, service, 20.0),
        # Linear interpolation inside the buckets: p50 = 0.1 + 0.1 * 500/600, and so on.
        (latency_record(0.5), service, 0.1 + 0.1 * 500 / 600),
        (latency_record(0.95), service, 0.2 + 0.2 * 350 / 400),
        (latency_record(0.99), service, 0.2 + 0.2 * 390 / 400),
        (RECORD_MEMORY_PERCENT, node_all_labels, 75.0),
        (RECORD_CONNECTION_FAILURES, node, 0.05),
        (RECORD_EVICTIONS, node, 10.0),
    ]
    run_promtool_tests(
        tmp_path,
        AlertThresholds(),
        [
            {
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": value_checks("10m", checks),
            }
        ],
    )


def test_guards_no_sample_instead_of_nan_or_inf(tmp_path: Path) -> None:
    """maxmemory 0 (unset), a service without traffic, a warming run with nothing to warm and a
    node without connection attempts record nothing, and so alert on nothing."""
    series = [
        gauge(f"redis_memory_max_bytes{{{NODE}}}", 0),
        gauge(f"redis_memory_used_bytes{{{NODE}}}", 5_000_000),
        gauge(f"cache_hits_total{{{SERVICE}}}", 42),
        gauge(f"cache_misses_total{{{SERVICE}}}", 7),
        gauge(f"cache_warmed_keys{{{SERVICE}}}", 0),
        gauge(f"cache_total_keys{{{SERVICE}}}", 0),
        gauge(f"redis_rejected_connections_total{{{NODE}}}", 3),
        gauge(f"redis_connections_received_total{{{NODE}}}", 100),
    ]
    empty = [
        RECORD_MEMORY_PERCENT,
        RECORD_HIT_RATE,
        RECORD_WARMING_PROGRESS,
        RECORD_CONNECTION_FAILURES,
        'ALERTS{alertname=~"RedisMemoryHigh|CacheHitRateLow|CacheConnectionFailures"}',
    ]
    run_promtool_tests(
        tmp_path,
        AlertThresholds(),
        [
            {
                "interval": "1m",
                "input_series": series,
                "promql_expr_test": [
                    {"expr": expr, "eval_time": "20m", "exp_samples": []} for expr in empty
                ],
            }
        ],
    )


@pytest.mark.parametrize(
    ("present", "expected_rate", "fires"),
    [("cache_misses_total", 0.0, True), ("cache_hits_total", 1.0, False)],
    ids=["only-misses", "only-hits"],
)
def test_hit_rate_when_one_counter_was_never_created(
    tmp_path: Path, present: str, expected_rate: float, fires: bool
) -> None:
    """A service that only ever missed has a hit rate of 0 and pages; without the guard the
    missing hits series would make the rate (and the alert) silently absent."""
    critical = AlertLevel("CacheHitRateLow", Severity.CRITICAL, 300)
    checks = value_checks("10m", [(RECORD_HIT_RATE, f"{{{SERVICE}}}", expected_rate)])
    checks.append(
        {
            "expr": alerts(critical, "firing"),
            "eval_time": "10m",
            "exp_samples": expect_one(critical) if fires else [],
        }
    )
    run_promtool_tests(
        tmp_path,
        AlertThresholds(),
        [
            {
                "interval": "1m",
                "input_series": [counter(f"{present}{{{SERVICE}}}", 100)],
                "promql_expr_test": checks,
            }
        ],
    )


def test_alert_labels_and_annotations_render(tmp_path: Path) -> None:
    """The full alert as Alertmanager receives it: labels, templated summary/description with
    the humanized value, runbook link and threshold."""
    test = {
        "interval": "1m",
        "input_series": memory_series(0.95 - 0.001, True),
        "alert_rule_test": [
            {
                "alertname": "RedisMemoryHigh",
                "eval_time": "10m",
                "exp_alerts": [
                    {
                        "exp_labels": {
                            "severity": severity,
                            "escalation": escalation,
                            "instance": "10.0.0.1:9121",
                        },
                        "exp_annotations": {
                            "summary": f"Redis memory of 10.0.0.1:9121 above {level}% of maxmemory",
                            "description": "Redis node 10.0.0.1:9121 uses 95% of its maxmemory, "
                            f"above {level}% for {wait}: evictions or OOM errors follow.",
                            "runbook_url": f"{RUNBOOK_BASE}/incident-response.md#memory-pressure",
                            "threshold": threshold,
                        },
                    }
                    for severity, escalation, level, wait, threshold in (
                        ("critical", "page", 90, "2m", "0.9"),
                        ("warning", "team", 80, "5m", "0.8"),
                    )
                ],
            }
        ],
    }
    run_promtool_tests(tmp_path, AlertThresholds(), [test])


def test_every_alert_links_a_runbook_and_carries_severity_and_escalation() -> None:
    groups = render_rule_groups(AlertThresholds(), RUNBOOK_BASE + "/")
    assert [g["name"] for g in groups] == [RECORDING_GROUP, ALERTING_GROUP]
    rules = [r for g in groups for r in g["rules"] if "alert" in r]
    assert len(rules) == len(DEFAULT_LEVELS)
    for rule in rules:
        file, anchor = RUNBOOKS[rule["alert"]]
        assert file in RUNBOOK_FILES
        assert rule["annotations"]["runbook_url"] == f"{RUNBOOK_BASE}/{file}#{anchor}"
        assert rule["labels"]["severity"] in ("critical", "warning")
        assert rule["labels"]["escalation"] == (
            "page" if rule["labels"]["severity"] == "critical" else "team"
        )
        assert {"summary", "description"} <= set(rule["annotations"])
        assert "$value" in rule["annotations"]["description"] or rule["alert"] in (
            "RedisNodeDown",
            "RedisPersistenceFailing",
        )


def test_rules_never_depend_on_labels_outside_the_contract() -> None:
    """Aggregations keep service or instance only (job appears only to match `up` to redis_up)."""
    import re

    exprs = [r["expr"] for g in render_rule_groups(CUSTOM, RUNBOOK_BASE) for r in g["rules"]]
    for expr in exprs:
        for by in re.findall(r"\b(?:by|on) \(([^)]*)\)", expr):
            assert set(by.replace(" ", "").split(",")) <= {"service", "instance", "le", "job"}, expr


def firing(alert: str, eval_time: str, samples: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "expr": f'count by (alertname, severity) (ALERTS{{alertname="{alert}", '
        'alertstate="firing"})',
        "eval_time": eval_time,
        "exp_samples": samples,
    }


def one_alert(alert: str, severity: str) -> dict[str, Any]:
    return {"labels": f'{{alertname="{alert}", severity="{severity}"}}', "value": 1}


@pytest.mark.parametrize(
    "failing", ["redis_rdb_last_bgsave_status", "redis_aof_last_bgrewrite_status"]
)
def test_a_failed_snapshot_warns_without_paging(tmp_path: Path, failing: str) -> None:
    """Writes go on after a failed BGSAVE or rewrite: a warning; only a failed AOF write pages."""
    statuses = {
        "redis_aof_last_write_status": 1,
        "redis_rdb_last_bgsave_status": 1,
        "redis_aof_last_bgrewrite_status": 1,
        failing: 0,
    }
    test = {
        "interval": "1m",
        "input_series": [gauge(f"{name}{{{NODE}}}", value) for name, value in statuses.items()],
        "promql_expr_test": [
            firing("RedisPersistenceFailing", "4m", []),
            firing(
                "RedisPersistenceFailing", "5m", [one_alert("RedisPersistenceFailing", "warning")]
            ),
        ],
    }
    run_promtool_tests(tmp_path, AlertThresholds(), [test])


def test_slots_alert_ignores_one_node_cut_off_from_the_rest(tmp_path: Path) -> None:
    """A minority node sees the other shards failing; the best view still serves every slot."""
    test = {
        "interval": "1m",
        "input_series": [
            gauge('redis_cluster_slots_ok{instance="a:9121", job="redis"}', 16384),
            gauge('redis_cluster_slots_ok{instance="minority:9121", job="redis"}', 5461),
        ],
        "promql_expr_test": [firing("RedisSlotsNotServed", "10m", [])],
    }
    run_promtool_tests(tmp_path, AlertThresholds(), [test])


def test_a_fast_burn_pages_within_minutes_and_stops_soon_after(tmp_path: Path) -> None:
    """20x the budget's pace for 15 min: the 1h/5m pair pages within minutes; once the short
    windows are clean the page resolves although the long ratios are still high (what is left
    is the slower warning)."""
    errors = "0+20x15 300+0x45"  # 20 per minute (2 %) for 15 minutes, then none
    test = {
        "interval": "1m",
        "input_series": [
            {"series": f'http_request_duration_seconds_count{{{SERVICE}, code="500"}}',
             "values": errors},
            counter(f'http_request_duration_seconds_count{{{SERVICE}, code="200"}}', 980),
        ],
        "promql_expr_test": [
            firing("AvailabilityErrorBudgetBurn", "2m", []),
            firing("AvailabilityErrorBudgetBurn", "4m",
                   [one_alert("AvailabilityErrorBudgetBurn", "critical")]),
            {"expr": 'ALERTS{alertname="AvailabilityErrorBudgetBurn", severity="critical"}',
             "eval_time": "50m", "exp_samples": []},
        ],
    }  # fmt: skip
    run_promtool_tests(tmp_path, AlertThresholds(), [test])


def test_cache_errors_ratio_is_one_when_every_call_fails(tmp_path: Path) -> None:
    """Redis unreachable: no hits, no misses, only errors. The ratio is 1 and pages."""
    test = {
        "interval": "1m",
        "input_series": [counter(f'cache_errors_total{{{SERVICE}, kind="connection"}}', 100)],
        "promql_expr_test": [
            *value_checks("10m", [("service:cache_errors:ratio_rate5m", f"{{{SERVICE}}}", 1.0)]),
            firing("CacheErrorsHigh", "10m", [one_alert("CacheErrorsHigh", "critical"),
                                              one_alert("CacheErrorsHigh", "warning")]),
        ],
    }  # fmt: skip
    run_promtool_tests(tmp_path, AlertThresholds(), [test])


def cdn_rules_test(  # 25 h of samples every 10 min: the projection reads a 1d rate
    tmp_path: Path, budget: CdnTrafficBudget, per_ten_minutes: dict[str, float], fires: set[str]
) -> None:
    series = [
        counter(f'{metric}{{zone="shop.example.com", account="acme"}}', value)
        for metric, value in per_ten_minutes.items()
    ]
    expected = [
        {
            "labels": f'{{alertname="{CDN_ALERT}", quantity="{quantity}", severity="warning"}}',
            "value": 1,
        }
        for quantity in sorted(fires)
    ]
    test = {
        "interval": "10m",
        "input_series": [{**s, "values": s["values"].replace("x40", "x150")} for s in series],
        "promql_expr_test": [
            {
                "expr": "count by (alertname, quantity, severity) "
                f'(ALERTS{{alertname="{CDN_ALERT}", alertstate="firing"}})',
                "eval_time": "1490m",
                "exp_samples": expected,
            }
        ],
    }
    run_promtool_tests(tmp_path, AlertThresholds(), [test], budget, evaluation_interval="10m")


TEN_MINUTES_PER_MONTH = SECONDS_PER_MONTH / 600


@pytest.mark.parametrize(
    ("egress_share", "requests_share", "fires"),
    [(1.02, 0.5, {"egress"}), (0.98, 1.02, {"requests"}), (0.98, 0.98, set())],
    ids=["egress-over", "requests-over", "both-inside"],
)
def test_cdn_overage_fires_when_the_pace_exceeds_the_declared_month(
    tmp_path: Path, egress_share: float, requests_share: float, fires: set[str]
) -> None:
    budget = CdnTrafficBudget(monthly_egress_gb=3000, monthly_requests_millions=100)
    per_ten_minutes = {
        "cloudflare_zone_bandwidth_total": 3000e9 * egress_share / TEN_MINUTES_PER_MONTH,
        "cloudflare_zone_requests_total": 100e6 * requests_share / TEN_MINUTES_PER_MONTH,
    }
    cdn_rules_test(tmp_path, budget, per_ten_minutes, fires)


def test_no_cdn_alert_without_a_declared_edge() -> None:
    groups = render_rule_groups(AlertThresholds(), RUNBOOK_BASE)
    assert all(r.get("alert") != CDN_ALERT for g in groups for r in g["rules"])
    none_declared = CdnTrafficBudget(monthly_egress_gb=0, monthly_requests_millions=0)
    assert cdn_overage_rules(none_declared, RUNBOOK_BASE) == []
