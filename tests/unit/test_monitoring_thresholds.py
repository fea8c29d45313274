"""AlertThresholds: ADR defaults, validation, and reading deployed alerts back for the policy."""

from __future__ import annotations

import copy
import dataclasses
from typing import Any

import pytest

from components.monitoring.rules import render_rule_groups
from stackconfig.thresholds import (
    AlertLevel,
    AlertThresholds,
    Severity,
    alert_levels,
    alert_thresholds_in,
    parse_duration_seconds,
    prometheus_duration,
    threshold_problems,
)

BASE = "https://runbooks.example.com/docs/runbooks"


def test_defaults_are_the_adr_numbers() -> None:
    t = AlertThresholds()
    assert (t.hit_rate_critical, t.hit_rate_critical_for_seconds) == (0.90, 300)
    assert (t.hit_rate_warning, t.hit_rate_warning_for_seconds) == (0.95, 600)
    assert (t.p95_critical_seconds, t.p95_warning_seconds) == (0.5, 0.2)
    assert (t.memory_critical, t.memory_critical_for_seconds, t.memory_warning) == (0.90, 120, 0.80)
    assert t.connection_failures_critical == 0.10
    assert t.evictions_warning_per_second == 100


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"hit_rate_critical": 1.5}, "hit_rate_critical is a ratio"),
        ({"memory_warning": 0.0}, "memory_warning is a ratio"),
        ({"connection_failures_critical": 2.0}, "connection_failures_critical is a ratio"),
        ({"p95_critical_seconds": -1.0}, "p95_critical_seconds must be a finite number >= 0"),
        ({"evictions_warning_per_second": float("inf")}, "must be a finite number"),
        ({"memory_critical_for_seconds": 1.5}, "memory_critical_for_seconds must be a whole"),
        ({"hit_rate_warning": 0.85}, "hit_rate_warning (0.85) must be reached before"),
        ({"p95_warning_seconds": 0.6}, "p95_warning_seconds (0.6) must be reached before"),
        ({"memory_warning": 0.95}, "memory_warning (0.95) must be reached before"),
        ({"min_replicas_per_primary": True}, "min_replicas_per_primary must be a number"),
    ],
)
def test_invalid_thresholds_are_refused_naming_the_field(
    changes: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        AlertThresholds(**changes)


def test_the_rendered_rules_read_back_as_the_table_they_came_from() -> None:
    custom = AlertThresholds(hit_rate_critical=0.87, p95_warning_seconds=0.15, memory_warning=0.75)
    groups = render_rule_groups(custom, BASE)
    assert alert_thresholds_in(groups) == list(alert_levels(custom))


def test_reading_a_prometheusrule_spec_ignores_recording_rules_and_junk() -> None:
    groups: list[Any] = [
        {"name": "x", "rules": [{"record": "a", "expr": "1"}, "junk", {"alert": 3}]},
        {"name": "y"},
        {
            "name": "z",
            "rules": [
                {"alert": "Foo", "labels": {"severity": "page-me"}},
                {"alert": "CacheHitRateLow", "for": "5m", "labels": {"severity": "critical"},
                 "annotations": {"threshold": "not a number"}},
            ],
        },
    ]  # fmt: skip
    assert alert_thresholds_in(groups) == [
        AlertLevel("CacheHitRateLow", Severity.CRITICAL, 300, None, None)
    ]


def test_the_adr_rule_set_has_no_problems() -> None:
    assert threshold_problems(render_rule_groups(AlertThresholds(), BASE)) == []


def test_a_stricter_rule_set_has_no_problems() -> None:
    strict = AlertThresholds(
        hit_rate_critical=0.93,
        hit_rate_warning=0.97,
        p95_critical_seconds=0.4,
        memory_critical=0.85,
        memory_critical_for_seconds=60,
        evictions_warning_per_second=50,
        min_replicas_per_primary=2,
    )
    assert threshold_problems(render_rule_groups(strict, BASE)) == []


def _alert(groups: list[dict[str, Any]], name: str, severity: str) -> dict[str, Any]:
    return next(
        r
        for g in groups
        for r in g["rules"]
        if r.get("alert") == name and r["labels"]["severity"] == severity
    )


@pytest.mark.parametrize(
    ("alert", "severity", "change", "expected"),
    [
        ("CacheHitRateLow", "critical", {"threshold": "0.85"},
         "CacheHitRateLow (critical) fires below 0.85; raise the threshold to at least 0.9"),
        ("ResponseTimeHigh", "warning", {"threshold": "0.25"},
         "ResponseTimeHigh (warning) fires above 0.25; lower the threshold to at most 0.2"),
        ("RedisMemoryHigh", "critical", {"for": "10m"},
         "RedisMemoryHigh (critical) waits 10m before firing; set `for` to at most 2m"),
        ("RedisEvictionsHigh", "warning", {"threshold": None},
         "RedisEvictionsHigh (warning) has no `threshold` annotation"),
        ("CacheConnectionFailures", "critical", {"for": "soon"},
         "CacheConnectionFailures (critical) has an unreadable `for`"),
    ],
)  # fmt: skip
def test_a_looser_alert_is_reported_with_what_to_change(
    alert: str, severity: str, change: dict[str, str | None], expected: str
) -> None:
    groups = copy.deepcopy(render_rule_groups(AlertThresholds(), BASE))
    rule = _alert(groups, alert, severity)
    for key, value in change.items():
        if key == "for":
            rule["for"] = value
        elif value is None:
            del rule["annotations"][key]
        else:
            rule["annotations"][key] = value
    problems = threshold_problems(groups)
    assert len(problems) == 1, problems
    assert problems[0].startswith(expected)


def test_a_missing_alert_is_reported() -> None:
    groups = copy.deepcopy(render_rule_groups(AlertThresholds(), BASE))
    for group in groups:
        group["rules"] = [r for r in group["rules"] if r.get("alert") != "RedisNodeDown"]
    assert threshold_problems(groups) == [
        "RedisNodeDown (critical) is missing: add the alert from the ADR-011 rule set"
    ]


def test_a_warning_cannot_stand_in_for_the_critical_alert() -> None:
    groups = copy.deepcopy(render_rule_groups(AlertThresholds(), BASE))
    _alert(groups, "ResponseTimeHigh", "critical")["labels"]["severity"] = "warning"
    assert "ResponseTimeHigh (critical) is missing" in threshold_problems(groups)[0]


def test_without_replicas_the_replica_alert_is_not_required() -> None:
    relaxed = dataclasses.replace(AlertThresholds(), min_replicas_per_primary=0)
    groups = render_rule_groups(relaxed, BASE)
    assert threshold_problems(groups, relaxed) == []
    assert threshold_problems(groups) == [
        "RedisPrimaryWithoutReplica (warning) is missing: add the alert from the ADR-011 rule set"
    ]


@pytest.mark.parametrize(
    ("seconds", "text"), [(0, "0s"), (45, "45s"), (120, "2m"), (5400, "90m"), (7200, "2h"),
                          (86400, "1d")]
)  # fmt: skip
def test_durations_round_trip(seconds: int, text: str) -> None:
    assert prometheus_duration(seconds) == text
    assert parse_duration_seconds(text) == seconds


@pytest.mark.parametrize("text", ["", "5", "5 m", "m5", "5min", "1h 30m"])
def test_malformed_durations_are_minus_one(text: str) -> None:
    assert parse_duration_seconds(text) == -1


def test_composite_durations_parse() -> None:
    assert parse_duration_seconds("1h30m") == 5400
