"""Observability under Pulumi mocks: chart, rules, routing, dashboards and secret handling."""

from __future__ import annotations

import json
from typing import Any

import pulumi

from components.monitoring.chart_values import CHART_VERSION
from components.monitoring.dashboards import DashboardSizing
from components.monitoring.observability import Observability, ObservabilityArgs
from plan.mocks import SECRET_PLACEHOLDER
from stackconfig.config import MonitoringConfig
from stackconfig.thresholds import AlertThresholds, threshold_problems
from tests.support.mocking import of_type, one, when_registered

CREDENTIALS = {"oncall": "pd-1", "senior": "pd-2", "manager": "pd-3", "team": "https://hooks/x"}
SIZING = DashboardSizing(services=8, peak_rps_per_service=10_000, monthly_cost_usd=1000)


def stack_release(records: list[Any]) -> Any:
    """The kube-prometheus-stack release (tracing adds Tempo's)."""
    (release,) = [
        r
        for r in of_type(records, "kubernetes:helm.sh/v3:Release")
        if r.inputs["chart"] == "kube-prometheus-stack"
    ]
    return release


def build(settings: MonitoringConfig | None = None) -> Observability:
    return Observability(
        "monitoring",
        ObservabilityArgs(
            settings=settings or MonitoringConfig(),
            receiver_credentials=pulumi.Output.secret(CREDENTIALS),
            sizing=SIZING,
            labels={"cache-platform/environment": "prod"},
        ),
    )


@pulumi.runtime.test
def test_chart_is_pinned_and_selects_our_rules(monitor: Any) -> Any:
    observability = build()

    def check() -> None:
        release = stack_release(monitor.records)
        assert release.inputs["chart"] == "kube-prometheus-stack"
        assert release.inputs["version"] == CHART_VERSION
        assert release.inputs["repositoryOpts"]["repo"].startswith("https://")
        spec = release.inputs["values"]["prometheus"]["prometheusSpec"]
        assert spec["retention"] == "15d"
        assert spec["ruleSelectorNilUsesHelmValues"] is False
        assert spec["serviceMonitorSelectorNilUsesHelmValues"] is False
        assert release.secret_paths == [], "the chart's values must carry no secret"

    return when_registered(observability, check)


@pulumi.runtime.test
def test_prometheus_rule_holds_the_adr_alerts(monitor: Any) -> Any:
    observability = build()

    def check() -> None:
        rule = one(monitor.records, "kubernetes:monitoring.coreos.com/v1:PrometheusRule")
        groups = rule.inputs["spec"]["groups"]
        assert threshold_problems(groups, AlertThresholds()) == []
        alerts = {r["alert"] for g in groups for r in g["rules"] if "alert" in r}
        assert {
            "CacheHitRateLow",
            "ResponseTimeHigh",
            "RedisMemoryHigh",
            "CacheConnectionFailures",
            "RedisEvictionsHigh",
        } <= alerts
        for group in groups:
            for r in group["rules"]:
                if "alert" in r:
                    assert r["annotations"]["runbook_url"].startswith(
                        MonitoringConfig().runbook_base_url + "/"
                    ), r["alert"]

    return when_registered(observability, check)


@pulumi.runtime.test
def test_escalation_routes_and_credentials_by_file(monitor: Any) -> Any:
    observability = build()

    def check() -> None:
        config = stack_release(monitor.records).inputs["values"]["alertmanager"]["config"]
        receivers = [r["receiver"] for r in config["route"]["routes"]]
        assert receivers.count("oncall") == 1 and "senior" in receivers and "manager" in receivers
        text = json.dumps(config)
        for credential in CREDENTIALS.values():
            assert credential not in text
        assert "routing_key_file" in text and "api_url_file" in text
        secret = next(
            s
            for s in of_type(monitor.records, "kubernetes:core/v1:Secret")
            if s.inputs["metadata"]["name"] == "alertmanager-receivers"
        )
        assert secret.inputs["stringData"] == dict.fromkeys(CREDENTIALS, SECRET_PLACEHOLDER)

    return when_registered(observability, check)


@pulumi.runtime.test
def test_grafana_admin_password_is_generated_and_secret(monitor: Any) -> Any:
    observability = build()

    def check(secret_name: str) -> None:
        one(monitor.records, "random:index/randomPassword:RandomPassword")
        secret = next(
            s
            for s in of_type(monitor.records, "kubernetes:core/v1:Secret")
            if s.inputs["metadata"]["name"] == secret_name
        )
        assert "stringData" in secret.secret_paths
        grafana = stack_release(monitor.records).inputs["values"]["grafana"]
        assert grafana["admin"]["existingSecret"] == secret_name
        assert "mock-secret-" not in json.dumps([r.inputs for r in monitor.records])

    return pulumi.Output.all(
        observability.grafana_admin_secret_name, when_registered(observability, lambda: None)
    ).apply(lambda values: check(values[0]))


@pulumi.runtime.test
def test_three_dashboards_load_through_the_sidecar(monitor: Any) -> Any:
    observability = build()

    def check() -> None:
        boards = [
            c
            for c in of_type(monitor.records, "kubernetes:core/v1:ConfigMap")
            if c.inputs["metadata"]["labels"].get("grafana_dashboard") == "1"
        ]
        titles = sorted(json.loads(next(iter(c.inputs["data"].values())))["title"] for c in boards)
        assert len(titles) == 3
        assert any("Performance" in t for t in titles)
        assert any("Infrastructure" in t for t in titles)
        assert any("Business" in t for t in titles)

    return when_registered(observability, check)
