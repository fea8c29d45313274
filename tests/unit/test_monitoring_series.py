"""Every series the dashboards and rules read has a producer in the stack, and the producers'
names are the real ones (the Cloudflare exporter's source, docs/metrics.md)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from components.monitoring.cloudflare_exporter import EXPORTED_METRICS
from components.monitoring.dashboards import DashboardSizing, render_dashboards
from components.monitoring.producers import (
    CLOUDFLARE_EXPORTER,
    REDIS_EXPORTER_METRICS,
    SERVICE_METRICS,
    STOREFRONT_METRICS,
    SeriesUse,
    metric_names,
    producer_of,
    series_table,
    series_uses,
)
from components.monitoring.rules import CdnTrafficBudget, render_rule_groups
from stackconfig.thresholds import AlertThresholds

METRICS_DOC = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"
SIZING = DashboardSizing(services=8, peak_rps_per_service=10_000, monthly_cost_usd=570)
STRICT = AlertThresholds(min_replicas_per_primary=2, availability_target=0.9995)


@pytest.mark.parametrize("thresholds", [AlertThresholds(), STRICT], ids=["adr", "strict"])
def test_every_panel_and_rule_reads_only_series_the_stack_produces(
    thresholds: AlertThresholds,
) -> None:
    rules = render_rule_groups(thresholds, "https://x.test", CdnTrafficBudget(3000, 100))
    uses = list(series_uses(render_dashboards(thresholds, SIZING), rules))
    assert len({u.reader for u in uses}) > 40
    orphans = [u for u in uses if u.producer is None]
    assert orphans == [], series_table(orphans)


def test_a_panel_over_a_series_nobody_exports_is_reported() -> None:
    typo = {"title": "Typo", "targets": [{"expr": "sum(rate(cache_hit_total[5m]))"}]}
    dashboards = {"x": {"panels": [typo]}}
    uses = list(series_uses(dashboards, []))
    assert uses == [SeriesUse("x / Typo", "cache_hit_total", None)]
    assert "**nothing**" in series_table(uses)


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (service, le) (rate(a_bucket{code=~"5..", x="by(y)"}[5m]))', {"a_bucket"}),
        ("x:y:rate5m > 0.5 and on (instance) max by (instance) (b)", {"x:y:rate5m", "b"}),
        ("histogram_quantile(0.99, sum(rate(c[1d]))) * 2.5e6 > 1e9", {"c"}),
        ('count by (severity) (ALERTS{alertstate="firing"})', {"ALERTS"}),
        ("max_over_time(sum(r)[7d:5m]) / 80000", {"r"}),
        ("vector(1)", set()),
    ],
)
def test_metric_names_reads_selectors_only(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


def test_cdn_panels_read_the_exporters_real_names() -> None:
    """The names and labels come from prometheus.go of lablabs/cloudflare-exporter 0.0.16."""
    read = {
        u.metric
        for u in series_uses(render_dashboards(AlertThresholds(), SIZING), [])
        if u.metric.startswith("cloudflare_")
    }
    assert read == {
        "cloudflare_zone_requests_total",
        "cloudflare_zone_requests_cached",
        "cloudflare_zone_bandwidth_total",
        "cloudflare_zone_bandwidth_cached",
        "cloudflare_zone_requests_country",
    }
    assert read <= EXPORTED_METRICS
    assert all(producer_of(name, {}) == CLOUDFLARE_EXPORTER for name in read)


def test_the_producer_lists_are_the_documented_contract() -> None:
    documented = set(re.findall(r"`([a-z_]+)`", METRICS_DOC.read_text()))
    histograms = {"http_request_duration_seconds", "web_page_load_seconds"}
    for name in REDIS_EXPORTER_METRICS | SERVICE_METRICS | STOREFRONT_METRICS:
        base = re.sub(r"_(bucket|sum|count)$", "", name)
        assert name in documented or (base in histograms and base in documented), name
