"""`python -m plan --stack prod` renders the observability this stack needs: the Cloudflare
exporter, the collector and the trace store, every alert in rules.yaml, a producer for every
series, and tracing in the cost."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from components.monitoring.rules import CDN_ALERT
from stackconfig.thresholds import AlertThresholds, alert_levels
from tests.support.documents import read_yaml
from tests.support.plans import StackPlans


@pytest.fixture(scope="module")
def prod_plan(stack_plans: StackPlans) -> Path:
    """The session's `python -m plan --stack prod`, shared with every other test of that plan."""
    result = stack_plans["prod"]
    assert result.returncode == 0, result.stderr
    return result.out


def test_exporter_collector_and_trace_store_are_rendered(prod_plan: Path) -> None:
    manifests = {p.name for p in (prod_plan / "manifests").glob("*.yaml")}
    for name in (
        "monitoring-deployment-cloudflare-exporter.yaml",
        "monitoring-service-cloudflare-exporter.yaml",
        "monitoring-servicemonitor-cloudflare-exporter.yaml",
        "monitoring-secret-cloudflare-exporter-token.yaml",
        "monitoring-deployment-otel-collector.yaml",
        "monitoring-configmap-otel-collector-config.yaml",
        "monitoring-service-otel-collector.yaml",
    ):
        assert name in manifests, name
    resources = json.loads((prod_plan / "resources.json").read_text())["resources"]
    charts = {
        r["inputs"].get("chart") for r in resources if r["type"].endswith("helm.sh/v3:Release")
    }
    assert {"kube-prometheus-stack", "tempo"} <= charts
    assert (prod_plan / "monitoring" / "otel-collector.yaml").is_file()
    token = prod_plan / "manifests" / "monitoring-secret-cloudflare-exporter-token.yaml"
    assert read_yaml(token)["stringData"] == {"token": "[secret]"}


def test_every_alert_is_in_the_rule_file(prod_plan: Path) -> None:
    groups = read_yaml(prod_plan / "monitoring" / "rules.yaml")["groups"]
    rendered = {
        (r["alert"], r["labels"]["severity"]) for g in groups for r in g["rules"] if "alert" in r
    }
    wanted = {(level.alert, level.severity.value) for level in alert_levels(AlertThresholds())}
    assert wanted | {(CDN_ALERT, "warning")} <= rendered


def test_every_series_has_a_producer(prod_plan: Path) -> None:
    table = (prod_plan / "monitoring" / "series.md").read_text()
    assert table.count("\n") > 60
    assert "**nothing**" not in table
    assert "cloudflare exporter" in table and "redis_exporter" in table


def test_tracing_is_priced_and_its_token_listed_as_a_secret(prod_plan: Path) -> None:
    cost = json.loads((prod_plan / "cost.json").read_text())
    names = [item["name"] for item in cost["components"]["monitoring"]["items"]]
    assert any("tempo" in n for n in names) and "OpenTelemetry Collector compute" in names
    assert "Cloudflare exporter compute" in names
    assert "cache-platform:cloudflareAnalyticsToken" in (prod_plan / "plan.md").read_text()
