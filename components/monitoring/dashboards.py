"""Grafana dashboards of ADR-011 ("Dashboard KPI Configuration"), built with grafana-foundation-sdk.

Three dashboards: Performance, Infrastructure, Business. Every panel that shows a quantity with an
alert colours it at the alert's levels, read from the same `AlertThresholds` the rules use, so a
stack that tightens an alert sees the dashboard follow. Queries read the recorded series of
rules.py where one exists and otherwise the metric contract (docs/metrics.md); none uses Grafana
variables except the data source, so every query can be checked by promtool as it is.

The result is the dashboards' JSON models (slug -> model) with stable uids and panel ids; the
Grafana sidecar loads them from ConfigMaps labelled grafana_dashboard: "1".
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from grafana_foundation_sdk.builders import common as common_builders
from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as common_models
from grafana_foundation_sdk.models import dashboard as dashboard_models

from components.monitoring.rules import (
    RECORD_CACHED_MEAN,
    RECORD_CONNECTION_FAILURES,
    RECORD_EVICTIONS,
    RECORD_HIT_RATE,
    RECORD_MEMORY_PERCENT,
    RECORD_REQUEST_RATE,
    RECORD_WARMING_PROGRESS,
    latency_record,
)
from stackconfig.adr import CACHED_AVERAGE_TARGET_SECONDS
from stackconfig.sharding import SLOT_COUNT
from stackconfig.thresholds import AlertThresholds, format_percent, prometheus_duration

DASHBOARD_TAG = "cache-platform"
DATASOURCE_VARIABLE = "datasource"
SECONDS_PER_MONTH = 30.44 * 86400
"""Average month, to turn a monthly cost into a cost per second of traffic."""

ERROR_RATIO_WARNING = 0.01
"""ADR-011 load test: error rate < 1 % at normal traffic."""
ERROR_RATIO_CRITICAL = 0.05
"""ADR-011 load test: error rate < 5 % at 10x traffic."""
CAPACITY_PLAN_AHEAD = 0.7
"""Peak traffic above this share of the sized capacity: add shards before the next sales event."""
CAPACITY_EXHAUSTED = 0.9
"""Above this share the next spike will not fit."""
TOTAL_HASH_SLOTS = SLOT_COUNT


@dataclass(frozen=True)
class DashboardSizing:
    """What the Business dashboard compares traffic with (from the stack's traffic and cost)."""

    services: int
    """Services using the cache."""
    peak_rps_per_service: float
    """Requests per second per service the tier is sized for (normal x spike multiplier)."""
    monthly_cost_usd: float
    """Monthly cost of the tier (the cost model's total), for the cost per request."""

    def __post_init__(self) -> None:
        if self.services < 1 or self.peak_rps_per_service <= 0 or self.monthly_cost_usd < 0:
            raise ValueError(
                "DashboardSizing needs services >= 1, peak_rps_per_service > 0 and "
                f"monthly_cost_usd >= 0, got {self}"
            )

    @property
    def peak_rps_total(self) -> float:
        return self.services * self.peak_rps_per_service


@dataclass(frozen=True)
class DashboardInfo:
    slug: str
    uid: str
    title: str
    description: str


PERFORMANCE = DashboardInfo(
    "performance",
    "cache-performance",
    "Performance",
    "Response times, throughput, cache hit rates, errors and warming per service (ADR-011).",
)
INFRASTRUCTURE = DashboardInfo(
    "infrastructure",
    "cache-infrastructure",
    "Infrastructure",
    "Redis Cluster health, memory, evictions, connections, key distribution and the CDN.",
)
BUSINESS = DashboardInfo(
    "business",
    "cache-business",
    "Business",
    "Page loads, conversion, peak capacity and cost per request.",
)
DASHBOARDS = (PERFORMANCE, INFRASTRUCTURE, BUSINESS)

_DATASOURCE = dashboard_models.DataSourceRef(
    type_val="prometheus", uid=f"${{{DATASOURCE_VARIABLE}}}"
)

Step = tuple[float | None, str]
"""A threshold step: (value from which it applies, None for the base; colour)."""


def _lower_is_better(warning: float, critical: float) -> list[Step]:
    return [(None, "green"), (warning, "yellow"), (critical, "red")]


def _higher_is_better(critical: float, warning: float) -> list[Step]:
    return [(None, "red"), (critical, "yellow"), (warning, "green")]


def _thresholds(steps: Sequence[Step]) -> dashboard.ThresholdsConfig:
    return (
        dashboard.ThresholdsConfig()
        .mode(dashboard_models.ThresholdsMode.ABSOLUTE)
        .steps([dashboard_models.Threshold(value=v, color=c) for v, c in steps])
    )


Query = tuple[str, str]
"""(PromQL, legend)."""


def _targets(queries: Sequence[Query], exemplars: bool = False) -> list[prometheus.Dataquery]:
    targets = [
        prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(chr(ord("A") + i))
        for i, (expr, legend) in enumerate(queries)
    ]
    return [target.exemplar(True) for target in targets] if exemplars else targets


class _Panels:
    """Numbers panels in the order they are added, so ids stay stable across renders."""

    def __init__(self) -> None:
        self.next_id = 1

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id - 1

    def row(self, title: str) -> dashboard.Row:
        return dashboard.Row(title).id(self._id())

    def timeseries(
        self,
        title: str,
        description: str,
        queries: Sequence[Query],
        unit: str,
        steps: Sequence[Step] | None = None,
        *,
        width: int = 12,
        height: int = 8,
        min_value: float | None = None,
        max_value: float | None = None,
        exemplars: bool = False,
    ) -> timeseries.Panel:
        panel = (
            timeseries.Panel()
            .id(self._id())
            .title(title)
            .description(description)
            .datasource(_DATASOURCE)
            .unit(unit)
            .span(width)
            .height(height)
            .legend(
                common_builders.VizLegendOptions()
                .display_mode(common_models.LegendDisplayMode.LIST)
                .placement(common_models.LegendPlacement.BOTTOM)
                .show_legend(True)
            )
            .tooltip(
                common_builders.VizTooltipOptions()
                .mode(common_models.TooltipDisplayMode.MULTI)
                .sort(common_models.SortOrder.DESCENDING)
            )
        )
        for target in _targets(queries, exemplars):
            panel = panel.with_target(target)
        if steps:
            panel = panel.thresholds(_thresholds(steps)).thresholds_style(
                common_builders.GraphThresholdsStyleConfig().mode(
                    common_models.GraphTresholdsStyleMode.LINE
                )
            )
        if min_value is not None:
            panel = panel.min(min_value)
        if max_value is not None:
            panel = panel.max(max_value)
        return panel

    def stat(
        self,
        title: str,
        description: str,
        queries: Sequence[Query],
        unit: str,
        steps: Sequence[Step] | None = None,
        *,
        width: int = 6,
        height: int = 5,
        no_value: str | None = None,
        mappings: Mapping[str, tuple[str, str]] | None = None,
    ) -> stat.Panel:
        panel = (
            stat.Panel()
            .id(self._id())
            .title(title)
            .description(description)
            .datasource(_DATASOURCE)
            .unit(unit)
            .span(width)
            .height(height)
            .graph_mode(common_models.BigValueGraphMode.AREA)
            .color_mode(common_models.BigValueColorMode.VALUE)
            .reduce_options(
                common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False)
            )
        )
        for target in _targets(queries):
            panel = panel.with_target(target)
        if steps:
            panel = panel.thresholds(_thresholds(steps))
        if no_value is not None:
            panel = panel.no_value(no_value)
        if mappings:
            panel = panel.mappings(
                [
                    dashboard_models.ValueMap(
                        {
                            value: dashboard_models.ValueMappingResult(text=text, color=color)
                            for value, (text, color) in mappings.items()
                        }
                    )
                ]
            )
        return panel


def _new_dashboard(info: DashboardInfo) -> dashboard.Dashboard:
    return (
        dashboard.Dashboard(info.title)
        .uid(info.uid)
        .description(info.description)
        .tags([DASHBOARD_TAG, "cache"])
        .refresh("1m")
        .time("now-6h", "now")
        .timezone("browser")
        .readonly()
        .with_variable(
            dashboard.DatasourceVariable(DATASOURCE_VARIABLE)
            .label("Data source")
            .type("prometheus")
        )
    )


def _alerts_firing(alerts: Sequence[str]) -> str:
    names = "|".join(sorted(set(alerts)))
    return f'count by (severity) (ALERTS{{alertstate="firing", alertname=~"{names}"}})'


def _performance(t: AlertThresholds, sizing: DashboardSizing) -> dashboard.Dashboard:
    p = _Panels()
    count = "http_request_duration_seconds_count"
    cache_ops = (
        "(sum by (service) (rate(cache_hits_total[5m])) "
        "+ sum by (service) (rate(cache_misses_total[5m])))"
    )
    hit_rate_steps = _higher_is_better(t.hit_rate_critical, t.hit_rate_warning)
    return (
        _new_dashboard(PERFORMANCE)
        .with_row(p.row("Response time and throughput"))
        .with_panel(
            p.timeseries(
                "Response time percentiles",
                f"P50, P95 and P99 per service. P95 alerts: warning above "
                f"{t.p95_warning_seconds * 1000:g} ms, critical above "
                f"{t.p95_critical_seconds * 1000:g} ms; P99 warning above "
                f"{t.p99_warning_seconds * 1000:g} ms. The P99 line reads the histogram itself, "
                "so its exemplars (dots) open the request's trace in Tempo.",
                [
                    *(
                        (latency_record(q), f"{{{{service}}}} p{round(q * 100)}")
                        for q in (0.5, 0.95)
                    ),
                    (
                        "histogram_quantile(0.99, sum by (service, le) "
                        "(rate(http_request_duration_seconds_bucket[5m])))",
                        "{{service}} p99",
                    ),
                ],
                "s",
                _lower_is_better(t.p95_warning_seconds, t.p95_critical_seconds),
                exemplars=True,
            )
        )
        .with_panel(
            p.timeseries(
                "Throughput",
                "Requests per second per service, against the rate each service is sized for.",
                [
                    (RECORD_REQUEST_RATE, "{{service}}"),
                    (f"vector({sizing.peak_rps_per_service:g})", "sized peak per service"),
                ],
                "reqps",
            )
        )
        .with_row(p.row("Cache"))
        .with_panel(
            p.stat(
                "Cache hit rate",
                f"Per service. Alerts: warning below {format_percent(t.hit_rate_warning)} "
                f"for {prometheus_duration(t.hit_rate_warning_for_seconds)}, critical below "
                f"{format_percent(t.hit_rate_critical)} "
                f"for {prometheus_duration(t.hit_rate_critical_for_seconds)}.",
                [(RECORD_HIT_RATE, "{{service}}")],
                "percentunit",
                hit_rate_steps,
                width=8,
            )
        )
        .with_panel(
            p.timeseries(
                "Cache hit rate trend",
                "History of the hit rate per service, with the alert levels.",
                [(RECORD_HIT_RATE, "{{service}}")],
                "percentunit",
                hit_rate_steps,
                width=8,
                max_value=1,
            )
        )
        .with_panel(
            p.timeseries(
                "Cache hits and misses by service",
                "Cache lookups per second.",
                [
                    ("sum by (service) (rate(cache_hits_total[5m]))", "{{service}} hits"),
                    ("sum by (service) (rate(cache_misses_total[5m]))", "{{service}} misses"),
                ],
                "ops",
                width=8,
            )
        )
        .with_row(p.row("Errors"))
        .with_panel(
            p.timeseries(
                "HTTP error ratio",
                "Share of 5xx responses per service (ADR-011 load tests: < 1 % normal, < 5 % "
                "at 10x traffic).",
                [
                    (
                        f'sum by (service) (rate({count}{{code=~"5.."}}[5m])) '
                        f"/ (sum by (service) (rate({count}[5m])) > 0)",
                        "{{service}}",
                    )
                ],
                "percentunit",
                _lower_is_better(ERROR_RATIO_WARNING, ERROR_RATIO_CRITICAL),
                width=8,
            )
        )
        .with_panel(
            p.timeseries(
                "Cache errors and timeouts",
                "Failed cache operations per kind (timeout, connection, other) as a share of "
                "cache lookups.",
                [
                    (
                        "sum by (service, kind) (rate(cache_errors_total[5m])) "
                        f"/ on (service) group_left () ({cache_ops} > 0)",
                        "{{service}} {{kind}}",
                    )
                ],
                "percentunit",
                width=8,
            )
        )
        .with_panel(
            p.timeseries(
                "Redis connection failures",
                f"Share of connection attempts each node rejects; critical above "
                f"{format_percent(t.connection_failures_critical)}.",
                [(RECORD_CONNECTION_FAILURES, "{{instance}}")],
                "percentunit",
                [(None, "green"), (t.connection_failures_critical, "red")],
                width=8,
            )
        )
        .with_row(p.row("Warming and alerts"))
        .with_panel(
            p.stat(
                "Cache warming progress",
                "Warmed keys as a share of the keys to warm, per service.",
                [(RECORD_WARMING_PROGRESS, "{{service}}")],
                "percent",
                [(None, "orange"), (100, "green")],
                width=12,
            )
        )
        .with_panel(
            p.stat(
                "Performance alerts firing",
                "Cache and latency alerts firing now, by severity.",
                [(_alerts_firing(["CacheHitRateLow", "ResponseTimeHigh"]), "{{severity}}")],
                "none",
                [(None, "green"), (1, "red")],
                width=12,
                no_value="0",
            )
        )
        .with_row(p.row("Cached responses"))
        .with_panel(
            p.timeseries(
                "Average response time of cached responses",
                f'Mean duration of the requests served from the cache (`cache="hit"` on the '
                f"request histogram), per service. ADR-011: below "
                f"{CACHED_AVERAGE_TARGET_SECONDS * 1000:g} ms.",
                [(RECORD_CACHED_MEAN, "{{service}}")],
                "s",
                [(None, "green"), (CACHED_AVERAGE_TARGET_SECONDS, "red")],
                width=24,
            )
        )
    )


def _infrastructure(t: AlertThresholds) -> dashboard.Dashboard:
    p = _Panels()
    is_primary = 'max by (instance) (redis_instance_info{role="master"})'
    replica_steps: list[Step] | None = (
        [(None, "red"), (t.min_replicas_per_primary, "green")]
        if t.min_replicas_per_primary > 0
        else None
    )
    redis_alerts = [
        "RedisClusterStateNotOk",
        "RedisNodeDown",
        "RedisPrimaryWithoutReplica",
        "RedisMemoryHigh",
        "RedisEvictionsHigh",
        "CacheConnectionFailures",
    ]
    return (
        _new_dashboard(INFRASTRUCTURE)
        .with_row(p.row("Cluster health"))
        .with_panel(
            p.stat(
                "Cluster state",
                "Worst cluster_state any node reports.",
                [("min(redis_cluster_state)", "state")],
                "none",
                [(None, "red"), (1, "green")],
                mappings={"0": ("fail", "red"), "1": ("ok", "green")},
            )
        )
        .with_panel(
            p.stat(
                "Nodes up",
                "Nodes whose exporter reaches Redis.",
                [("sum(redis_up)", "up")],
                "none",
            )
        )
        .with_panel(
            p.stat(
                "Primaries and replicas",
                "Nodes by role.",
                [
                    ('count(redis_instance_info{role="master"})', "primaries"),
                    ('count(redis_instance_info{role="slave"})', "replicas"),
                ],
                "none",
            )
        )
        .with_panel(
            p.stat(
                "Redis alerts firing",
                "Cluster, node, memory and connection alerts firing now, by severity.",
                [(_alerts_firing(redis_alerts), "{{severity}}")],
                "none",
                [(None, "green"), (1, "red")],
                no_value="0",
            )
        )
        .with_panel(
            p.timeseries(
                "Node status",
                "1 when the node answers its exporter.",
                [("max by (instance) (redis_up)", "{{instance}}")],
                "none",
                [(None, "red"), (1, "green")],
                width=8,
                min_value=0,
                max_value=1,
            )
        )
        .with_panel(
            p.timeseries(
                "Replicas per primary",
                "Connected replicas of each primary; a failover shows as a primary changing.",
                [
                    (
                        "max by (instance) (redis_connected_slaves) "
                        f"and on (instance) {is_primary}",
                        "{{instance}}",
                    )
                ],
                "none",
                replica_steps,
                width=8,
                min_value=0,
            )
        )
        .with_panel(
            p.timeseries(
                "Cluster epoch",
                "Rises with every failover or slot migration.",
                [("max(redis_cluster_current_epoch)", "epoch")],
                "none",
                width=8,
            )
        )
        .with_row(p.row("Memory and evictions"))
        .with_panel(
            p.timeseries(
                "Memory usage",
                f"Used memory as a share of maxmemory per node. Alerts: warning above "
                f"{format_percent(t.memory_warning)}, "
                f"critical above {format_percent(t.memory_critical)}.",
                [(RECORD_MEMORY_PERCENT, "{{instance}}")],
                "percent",
                _lower_is_better(
                    round(t.memory_warning * 100, 9), round(t.memory_critical * 100, 9)
                ),
                width=8,
                min_value=0,
                max_value=100,
            )
        )
        .with_panel(
            p.timeseries(
                "Evictions",
                f"Keys evicted per second; warning when the cluster evicts more than "
                f"{t.evictions_warning_per_second:g}/s.",
                [
                    (RECORD_EVICTIONS, "{{instance}}"),
                    (f"sum({RECORD_EVICTIONS})", "cluster"),
                ],
                "ops",
                [(None, "green"), (t.evictions_warning_per_second, "yellow")],
                width=8,
            )
        )
        .with_panel(
            p.timeseries(
                "Memory allocation",
                "Dataset versus overhead (buffers, replication backlog) per node.",
                [
                    ("max by (instance) (redis_memory_used_dataset_bytes)", "{{instance}} data"),
                    (
                        "max by (instance) (redis_memory_used_overhead_bytes)",
                        "{{instance}} overhead",
                    ),
                ],
                "bytes",
                width=8,
            )
        )
        .with_row(p.row("Connections and network"))
        .with_panel(
            p.timeseries(
                "Connected clients",
                "Client connections per node.",
                [("max by (instance) (redis_connected_clients)", "{{instance}}")],
                "none",
                width=8,
            )
        )
        .with_panel(
            p.timeseries(
                "Connection failures",
                f"Share of connection attempts rejected; critical above "
                f"{format_percent(t.connection_failures_critical)}.",
                [(RECORD_CONNECTION_FAILURES, "{{instance}}")],
                "percentunit",
                [(None, "green"), (t.connection_failures_critical, "red")],
                width=8,
            )
        )
        .with_panel(
            p.timeseries(
                "Network I/O",
                "Bytes per second in and out of each node.",
                [
                    (
                        "sum by (instance) (rate(redis_net_input_bytes_total[5m]))",
                        "{{instance}} in",
                    ),
                    (
                        "sum by (instance) (rate(redis_net_output_bytes_total[5m]))",
                        "{{instance}} out",
                    ),
                ],
                "Bps",
                width=8,
            )
        )
        .with_row(p.row("CDN"))
        .with_panel(
            p.timeseries(
                "CDN cache ratio",
                "Share of requests and bytes served from the Cloudflare cache, per zone.",
                [
                    (
                        "sum by (zone) (rate(cloudflare_zone_requests_cached[15m])) "
                        "/ (sum by (zone) (rate(cloudflare_zone_requests_total[15m])) > 0)",
                        "{{zone}} requests",
                    ),
                    (
                        "sum by (zone) (rate(cloudflare_zone_bandwidth_cached[15m])) "
                        "/ (sum by (zone) (rate(cloudflare_zone_bandwidth_total[15m])) > 0)",
                        "{{zone}} bytes",
                    ),
                ],
                "percentunit",
                _higher_is_better(t.hit_rate_critical, t.hit_rate_warning),
                max_value=1,
            )
        )
        .with_panel(
            p.timeseries(
                "CDN requests by region",
                "Edge requests per second by the visitors' region.",
                [("sum by (region) (rate(cloudflare_zone_requests_country[15m]))", "{{region}}")],
                "reqps",
            )
        )
        .with_row(p.row("Keys and sharding"))
        .with_panel(
            p.timeseries(
                "Keys per node",
                "Key distribution across the shards (primaries and their replicas).",
                [("sum by (instance) (redis_db_keys)", "{{instance}}")],
                "short",
            )
        )
        .with_panel(
            p.stat(
                "Hash slots assigned",
                "Slots the cluster serves; anything below all slots means data is unreachable.",
                [("max(redis_cluster_slots_assigned)", "assigned")],
                "none",
                [(None, "red"), (TOTAL_HASH_SLOTS, "green")],
            )
        )
        .with_panel(
            p.stat(
                "Hash slots failing",
                "Slots in pfail or fail state (a shard lost its primary).",
                [("max(redis_cluster_slots_pfail) + max(redis_cluster_slots_fail)", "failing")],
                "none",
                [(None, "green"), (1, "red")],
            )
        )
    )


def _business(t: AlertThresholds, sizing: DashboardSizing) -> dashboard.Dashboard:
    p = _Panels()
    requests_1d = "sum(rate(http_request_duration_seconds_count[1d]))"
    cost_per_second = sizing.monthly_cost_usd / SECONDS_PER_MONTH
    return (
        _new_dashboard(BUSINESS)
        .with_row(p.row("User experience"))
        .with_panel(
            p.timeseries(
                "Page load time",
                "Real-user page loads (p75 is the Core Web Vitals reference).",
                [
                    (
                        f"histogram_quantile({q}, sum by (le) "
                        "(rate(web_page_load_seconds_bucket[5m])))",
                        f"p{round(q * 100)}",
                    )
                    for q in (0.5, 0.75, 0.95)
                ],
                "s",
            )
        )
        .with_panel(
            p.timeseries(
                "Conversion and cart abandonment",
                "Orders per session, and checkouts started but not completed (hourly rates); "
                "read against the page load time beside it.",
                [
                    (
                        "sum(rate(shop_orders_total[1h])) "
                        "/ (sum(rate(shop_sessions_total[1h])) > 0)",
                        "conversion",
                    ),
                    (
                        "1 - sum(rate(shop_orders_total[1h])) "
                        "/ (sum(rate(shop_checkouts_total[1h])) > 0)",
                        "cart abandonment",
                    ),
                ],
                "percentunit",
            )
        )
        .with_panel(
            p.timeseries(
                "Page load by country (p75)",
                "Geographic performance of real-user page loads.",
                [
                    (
                        "histogram_quantile(0.75, sum by (country, le) "
                        "(rate(web_page_load_seconds_bucket[15m])))",
                        "{{country}}",
                    )
                ],
                "s",
                width=24,
            )
        )
        .with_row(p.row("Capacity and cost"))
        .with_panel(
            p.stat(
                "Peak traffic vs sized capacity",
                f"Highest 5-minute request rate of the last 7 days as a share of the "
                f"{sizing.peak_rps_total:g} req/s the tier is sized for. Above "
                f"{CAPACITY_PLAN_AHEAD:.0%}: add shards before the next sales event.",
                [
                    (
                        f"max_over_time(sum({RECORD_REQUEST_RATE})[7d:5m]) "
                        f"/ {sizing.peak_rps_total:g}",
                        "peak share",
                    )
                ],
                "percentunit",
                [(None, "green"), (CAPACITY_PLAN_AHEAD, "yellow"), (CAPACITY_EXHAUSTED, "red")],
            )
        )
        .with_panel(
            p.stat(
                "Cost per million requests",
                f"Monthly cost ({sizing.monthly_cost_usd:g} USD) over the last day's traffic.",
                [(f"{cost_per_second!r} / ({requests_1d} > 0) * 1e6", "USD")],
                "currencyUSD",
            )
        )
        .with_panel(
            p.stat(
                "Served from cache",
                "Share of cache lookups that hit Redis, and of edge requests served by the CDN, "
                "over the last hour.",
                [
                    (
                        "sum(rate(cache_hits_total[1h])) / ((sum(rate(cache_hits_total[1h])) "
                        "+ sum(rate(cache_misses_total[1h]))) > 0)",
                        "Redis",
                    ),
                    (
                        "sum(rate(cloudflare_zone_requests_cached[1h])) "
                        "/ (sum(rate(cloudflare_zone_requests_total[1h])) > 0)",
                        "CDN",
                    ),
                ],
                "percentunit",
                _higher_is_better(t.hit_rate_critical, t.hit_rate_warning),
            )
        )
        .with_panel(
            p.timeseries(
                "Traffic and capacity",
                "Total requests per second against the sized peak (normal traffic x spike).",
                [
                    (f"sum({RECORD_REQUEST_RATE})", "requests"),
                    (f"vector({sizing.peak_rps_total:g})", "sized peak"),
                ],
                "reqps",
                width=6,
            )
        )
    )


def _to_json(built: dashboard.Dashboard) -> dict[str, Any]:
    return cast(dict[str, Any], json.loads(json.dumps(built.build(), cls=JSONEncoder)))


def render_dashboards(
    thresholds: AlertThresholds, sizing: DashboardSizing
) -> dict[str, dict[str, Any]]:
    """slug -> Grafana dashboard JSON model, for Performance, Infrastructure and Business."""
    return {
        PERFORMANCE.slug: _to_json(_performance(thresholds, sizing)),
        INFRASTRUCTURE.slug: _to_json(_infrastructure(thresholds)),
        BUSINESS.slug: _to_json(_business(thresholds, sizing)),
    }


def iter_panels(model: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Every panel of a dashboard model, rows' nested panels included."""
    for panel in cast(list[dict[str, Any]], model.get("panels") or []):
        yield panel
        yield from cast(list[dict[str, Any]], panel.get("panels") or [])


def all_dashboard_queries(dashboards: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Every PromQL expression of the dashboards, in order."""
    return [
        str(target["expr"])
        for model in dashboards.values()
        for panel in iter_panels(model)
        for target in cast(list[dict[str, Any]], panel.get("targets") or [])
        if target.get("expr")
    ]
