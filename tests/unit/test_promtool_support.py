"""The rule tests' pruning keeps every rule a test can observe, and nothing else."""

from __future__ import annotations

from typing import Any

from components.monitoring.rules import render_rule_groups
from stackconfig.thresholds import AlertThresholds
from tests.support.promtool import rules_observed

GROUPS: list[dict[str, Any]] = [
    {
        "name": "records",
        "rules": [
            {"record": "job:base:rate5m", "expr": "rate(base_total[5m])"},
            {"record": "job:ratio", "expr": "job:base:rate5m / 2"},
            {"record": "job:unrelated", "expr": "rate(other_total[5m])"},
        ],
    },
    {
        "name": "alerts",
        "rules": [
            {"alert": "RatioHigh", "expr": "job:ratio > 1"},
            {"alert": "OtherHigh", "expr": "job:unrelated > 1"},
        ],
    },
]


def kept(groups: list[dict[str, Any]]) -> list[str]:
    return [rule.get("record") or rule["alert"] for group in groups for rule in group["rules"]]


def test_an_alert_test_keeps_its_alert_and_the_records_it_reads_transitively() -> None:
    tests = [{"alert_rule_test": [{"alertname": "RatioHigh", "eval_time": "5m"}]}]
    assert kept(rules_observed(GROUPS, tests)) == ["job:base:rate5m", "job:ratio", "RatioHigh"]


def test_an_expression_test_keeps_the_records_it_reads_and_the_alerts_it_names() -> None:
    tests = [
        {
            "promql_expr_test": [
                {"expr": 'ALERTS{alertname="OtherHigh"} or job:base:rate5m', "eval_time": "1m"}
            ]
        }
    ]
    assert kept(rules_observed(GROUPS, tests)) == ["job:base:rate5m", "job:unrelated", "OtherHigh"]


def test_alerts_selected_by_a_pattern_keep_every_alert() -> None:
    tests = [{"promql_expr_test": [{"expr": 'ALERTS{alertname=~"R.*"}', "eval_time": "1m"}]}]
    assert kept(rules_observed(GROUPS, tests)) == [
        "job:base:rate5m",
        "job:ratio",
        "job:unrelated",
        "RatioHigh",
        "OtherHigh",
    ]


def test_every_project_alert_keeps_what_it_reads_from_the_recording_rules() -> None:
    groups = render_rule_groups(AlertThresholds(), "https://runbooks.example")
    records = {r["record"] for g in groups for r in g["rules"] if "record" in r}
    for alert in (r["alert"] for g in groups for r in g["rules"] if "alert" in r):
        pruned = rules_observed(groups, [{"alert_rule_test": [{"alertname": alert}]}])
        rules = [rule for group in pruned for rule in group["rules"]]
        assert {r["alert"] for r in rules if "alert" in r} == {alert}
        dropped = records - {r["record"] for r in rules if "record" in r}
        for rule in rules:
            assert not [name for name in dropped if name in rule["expr"]], rule
