"""Dashboards: the ADR's three, stable uids and ids, every query valid PromQL, and colours at the
alert levels of whatever thresholds they are rendered with."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.monitoring.dashboards import (
    DATASOURCE_VARIABLE,
    DashboardSizing,
    all_dashboard_queries,
    iter_panels,
    render_dashboards,
)
from components.monitoring.rules import render_rule_groups
from stackconfig.thresholds import AlertThresholds
from tests.support.tools import require_tool

SIZING = DashboardSizing(services=8, peak_rps_per_service=10_000, monthly_cost_usd=1000)
CUSTOM = AlertThresholds(
    hit_rate_critical=0.8,
    hit_rate_warning=0.88,
    p95_critical_seconds=0.9,
    p95_warning_seconds=0.3,
    memory_critical=0.85,
    memory_warning=0.65,
    connection_failures_critical=0.02,
    evictions_warning_per_second=42,
    min_replicas_per_primary=2,
)


@pytest.fixture(scope="module")
def dashboards() -> dict[str, dict[str, Any]]:
    return render_dashboards(CUSTOM, SIZING)


def panel(dashboards: dict[str, dict[str, Any]], slug: str, title: str) -> dict[str, Any]:
    found = [p for p in iter_panels(dashboards[slug]) if p.get("title") == title]
    assert len(found) == 1, f"{slug}: {title!r} found {len(found)} times"
    return found[0]


def steps(p: dict[str, Any]) -> list[tuple[float | None, str]]:
    raw = p["fieldConfig"]["defaults"]["thresholds"]["steps"]
    return [(s["value"], s["color"]) for s in raw]


def test_the_three_adr_dashboards_with_stable_uids(dashboards: dict[str, dict[str, Any]]) -> None:
    assert {slug: (d["title"], d["uid"]) for slug, d in dashboards.items()} == {
        "performance": ("Performance", "cache-performance"),
        "infrastructure": ("Infrastructure", "cache-infrastructure"),
        "business": ("Business", "cache-business"),
    }


def test_rendering_is_deterministic_and_json_serialisable() -> None:
    first = json.dumps(render_dashboards(CUSTOM, SIZING), sort_keys=True)
    assert first == json.dumps(render_dashboards(CUSTOM, SIZING), sort_keys=True)


def test_panel_ids_are_unique_per_dashboard_and_panels_use_the_datasource_variable(
    dashboards: dict[str, dict[str, Any]],
) -> None:
    for slug, model in dashboards.items():
        panels = list(iter_panels(model))
        ids = [p["id"] for p in panels]
        assert len(ids) == len(set(ids)) and 0 not in ids, slug
        for p in panels:
            if p["type"] != "row":
                assert p["datasource"] == {
                    "type": "prometheus",
                    "uid": f"${{{DATASOURCE_VARIABLE}}}",
                }
                assert p["targets"], f"{slug}: {p['title']} has no query"
                assert len({t["refId"] for t in p["targets"]}) == len(p["targets"])
        variables = model["templating"]["list"]
        assert [(v["name"], v["type"], v["query"]) for v in variables] == [
            (DATASOURCE_VARIABLE, "datasource", "prometheus")
        ]


@pytest.mark.parametrize(
    ("slug", "title", "expected"),
    [
        ("performance", "Cache hit rate", [(None, "red"), (0.8, "yellow"), (0.88, "green")]),
        ("performance", "Cache hit rate trend", [(None, "red"), (0.8, "yellow"), (0.88, "green")]),
        ("performance", "Response time percentiles",
         [(None, "green"), (0.3, "yellow"), (0.9, "red")]),
        ("performance", "Redis connection failures", [(None, "green"), (0.02, "red")]),
        ("infrastructure", "Memory usage", [(None, "green"), (65.0, "yellow"), (85.0, "red")]),
        ("infrastructure", "Evictions", [(None, "green"), (42, "yellow")]),
        ("infrastructure", "Connection failures", [(None, "green"), (0.02, "red")]),
        ("infrastructure", "Replicas per primary", [(None, "red"), (2, "green")]),
        ("business", "Served from cache", [(None, "red"), (0.8, "yellow"), (0.88, "green")]),
    ],
)  # fmt: skip
def test_threshold_steps_sit_at_the_alert_levels(
    dashboards: dict[str, dict[str, Any]], slug: str, title: str, expected: list[Any]
) -> None:
    got = steps(panel(dashboards, slug, title))
    assert [s[1] for s in got] == [s[1] for s in expected]
    assert got[0][0] is None
    assert [s[0] for s in got[1:]] == pytest.approx([s[0] for s in expected[1:]])


def test_adr_kpis_are_there(dashboards: dict[str, dict[str, Any]]) -> None:
    queries = {slug: " ".join(all_dashboard_queries({slug: d})) for slug, d in dashboards.items()}
    for record in ("p50", "p95"):
        assert f"service:http_request_duration_seconds:{record}" in queries["performance"]
    # p99 reads the histogram itself: recorded series carry no exemplars.
    assert "histogram_quantile(0.99, sum by (service, le)" in queries["performance"]
    for needle in (
        "cache_hit_rate",
        "cache_misses_total",
        "cache_warming_progress",
        'code=~"5.."',
        "cache_errors_total",
        "service:http_requests:rate5m",
    ):
        assert needle in queries["performance"], needle
    for needle in (
        "redis_cluster_state",
        "redis_up",
        "redis_memory_usage_percent",
        "instance:redis_evicted_keys:rate5m",
        "redis_connected_clients",
        "cloudflare_zone_requests_cached",
        "redis_db_keys",
        "redis_cluster_slots",
    ):
        assert needle in queries["infrastructure"], needle
    for needle in ("web_page_load_seconds_bucket", "shop_orders_total", "vector(80000)"):
        assert needle in queries["business"], needle  # fmt: skip


def test_cost_per_request_follows_the_monthly_cost() -> None:
    def cost_query(monthly: float) -> str:
        sizing = DashboardSizing(services=8, peak_rps_per_service=10_000, monthly_cost_usd=monthly)
        d = render_dashboards(AlertThresholds(), sizing)
        return panel(d, "business", "Cost per million requests")["targets"][0]["expr"]

    cheap, dear = cost_query(500), cost_query(1000)
    assert float(dear.split(" ")[0]) == pytest.approx(2 * float(cheap.split(" ")[0]))
    assert float(dear.split(" ")[0]) == pytest.approx(1000 / (30.44 * 86400))


def test_bad_sizing_is_refused() -> None:
    with pytest.raises(ValueError, match="DashboardSizing"):
        DashboardSizing(services=0, peak_rps_per_service=1, monthly_cost_usd=1)


def test_every_dashboard_query_parses_and_reads_only_known_records(
    tmp_path: Path, dashboards: dict[str, dict[str, Any]]
) -> None:
    """promtool has no "parse this query" command, but it parses rule expressions: each query
    becomes the expression of a recording rule next to the real rules."""
    promtool = require_tool("promtool")
    queries = all_dashboard_queries(dashboards)
    assert len(queries) > 30
    probe = {
        "groups": [
            *render_rule_groups(CUSTOM, "https://runbooks.example.com"),
            {
                "name": "dashboard-queries",
                "rules": [
                    {"record": f"dashboard_query_{i}", "expr": q} for i, q in enumerate(queries)
                ],
            },
        ]
    }
    path = tmp_path / "queries.yaml"
    path.write_text(yaml.safe_dump(probe))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_query_check_catches_a_broken_query(tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    path = tmp_path / "broken.yaml"
    path.write_text(
        yaml.safe_dump(
            {"groups": [{"name": "g", "rules": [{"record": "r", "expr": "sum(rate(x[5m])"}]}]}
        )
    )
    result = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert result.returncode != 0


def test_the_latency_panel_links_exemplars_to_traces(dashboards: dict[str, dict[str, Any]]) -> None:
    targets = panel(dashboards, "performance", "Response time percentiles")["targets"]
    assert all(t.get("exemplar") is True for t in targets)
    assert any("http_request_duration_seconds_bucket" in t["expr"] for t in targets)
