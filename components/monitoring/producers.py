"""Which part of the stack produces each series the dashboards and rules read.

A panel over a series nobody exports stays empty without any error, so every metric name a query
reads must map to a producer: a recording rule of rules.py (whose own inputs are checked the same
way), redis_exporter, the Cloudflare exporter (names from its source), kube-prometheus-stack
(Prometheus's own `up` and `ALERTS`), the OpenTelemetry Collector, the invalidation service (names
from its registry), or a service through the metric contract of docs/metrics.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from components.monitoring.cloudflare_exporter import EXPORTED_METRICS as CLOUDFLARE_METRICS
from components.monitoring.dashboards import iter_panels
from invalidator.metrics import InvalidatorMetrics

REDIS_EXPORTER = "redis_exporter (Redis pods' sidecar)"
CLOUDFLARE_EXPORTER = "cloudflare exporter (Observability, edge enabled)"
PROMETHEUS = "kube-prometheus-stack (Prometheus itself)"
SERVICE_KIT = "services via the service kit (docs/metrics.md, service metrics)"
STOREFRONT = "storefront real-user monitoring (docs/metrics.md, business metrics)"
COLLECTOR = "OpenTelemetry Collector (its own telemetry)"
RECORDING_RULE = "recording rule (rules.py)"
INVALIDATOR = "invalidation service (InvalidationService, invalidation.enabled)"

REDIS_EXPORTER_METRICS = frozenset(
    {
        "redis_up",
        "redis_memory_used_bytes",
        "redis_memory_max_bytes",
        "redis_memory_used_dataset_bytes",
        "redis_memory_used_overhead_bytes",
        "redis_evicted_keys_total",
        "redis_rejected_connections_total",
        "redis_connections_received_total",
        "redis_connected_clients",
        "redis_config_maxclients",
        "redis_net_input_bytes_total",
        "redis_net_output_bytes_total",
        "redis_cluster_state",
        "redis_cluster_slots_assigned",
        "redis_cluster_slots_ok",
        "redis_cluster_slots_pfail",
        "redis_cluster_slots_fail",
        "redis_cluster_current_epoch",
        "redis_connected_slaves",
        "redis_instance_info",
        "redis_db_keys",
        "redis_rdb_last_bgsave_status",
        "redis_aof_last_write_status",
        "redis_aof_last_bgrewrite_status",
    }
)
"""The names docs/metrics.md lists; the integration test checks them against the real exporter."""

_HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")
SERVICE_METRICS = frozenset(
    {
        "cache_hits_total",
        "cache_misses_total",
        "cache_errors_total",
        "cache_warmed_keys",
        "cache_total_keys",
        *(f"http_request_duration_seconds{suffix}" for suffix in _HISTOGRAM_SUFFIXES),
    }
)
STOREFRONT_METRICS = frozenset(
    {
        *(f"web_page_load_seconds{suffix}" for suffix in _HISTOGRAM_SUFFIXES),
        "shop_sessions_total",
        "shop_checkouts_total",
        "shop_orders_total",
    }
)


def _exposed_names(metrics: InvalidatorMetrics) -> frozenset[str]:
    """The series names the service's registry exposes (counters with `_total`, histograms
    with their bucket, sum and count), read from the service's own metric definitions."""
    names: set[str] = set()
    for family in metrics.registry.collect():
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names.update(f"{family.name}{suffix}" for suffix in _HISTOGRAM_SUFFIXES)
        else:
            names.add(family.name)
    return frozenset(names)


INVALIDATOR_METRICS = _exposed_names(InvalidatorMetrics())
PROMETHEUS_METRICS = frozenset({"up", "ALERTS", "ALERTS_FOR_STATE"})
COLLECTOR_METRICS = frozenset(
    {"otelcol_receiver_accepted_spans", "otelcol_exporter_sent_spans", "otelcol_process_uptime"}
)

_KEYWORDS = frozenset(
    {
        "by",
        "without",
        "on",
        "ignoring",
        "group_left",
        "group_right",
        "and",
        "or",
        "unless",
        "bool",
        "offset",
        "inf",
        "nan",
    }
)
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_LABEL_LIST = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_BRACES = re.compile(r"\{[^}]*\}")
_RANGE = re.compile(r"\[[^\]]*\]")
_IDENTIFIER = re.compile(r"(?<![\w.])([A-Za-z_:][\w:]*)(?!\w*\s*\()")


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, keywords and labels left out)."""
    text = _STRING.sub('""', expr)
    text = _LABEL_LIST.sub(" ", text)
    text = _BRACES.sub(" ", text)
    text = _RANGE.sub(" ", text)
    return {
        name
        for name in _IDENTIFIER.findall(text)
        if name.lower() not in _KEYWORDS and not re.fullmatch(r"[0-9.e+-]+", name)
    }


def producer_of(name: str, recorded: Mapping[str, str]) -> str | None:
    """Who produces `name`; None when nothing in the stack does."""
    if name in recorded:
        return RECORDING_RULE
    for producer, names in (
        (REDIS_EXPORTER, REDIS_EXPORTER_METRICS),
        (CLOUDFLARE_EXPORTER, CLOUDFLARE_METRICS),
        (PROMETHEUS, PROMETHEUS_METRICS),
        (SERVICE_KIT, SERVICE_METRICS),
        (STOREFRONT, STOREFRONT_METRICS),
        (COLLECTOR, COLLECTOR_METRICS),
        (INVALIDATOR, INVALIDATOR_METRICS),
    ):
        if name in names:
            return producer
    return None


@dataclass(frozen=True)
class SeriesUse:
    """One metric a panel (or recording rule) reads, and its producer."""

    reader: str
    metric: str
    producer: str | None


def recorded_series(rule_groups: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """record name -> expression of every recording rule."""
    return {
        str(rule["record"]): str(rule["expr"])
        for group in rule_groups
        for rule in cast(list[Mapping[str, Any]], group.get("rules") or [])
        if "record" in rule
    }


def series_uses(
    dashboards: Mapping[str, Mapping[str, Any]], rule_groups: Sequence[Mapping[str, Any]]
) -> Iterator[SeriesUse]:
    """Every (panel, metric, producer) of the dashboards, then every rule's inputs."""
    recorded = recorded_series(rule_groups)
    for slug, model in dashboards.items():
        for panel in iter_panels(model):
            for target in cast(list[Mapping[str, Any]], panel.get("targets") or []):
                for name in sorted(metric_names(str(target.get("expr", "")))):
                    yield SeriesUse(
                        f"{slug} / {panel.get('title')}", name, producer_of(name, recorded)
                    )
    for group in rule_groups:
        for rule in cast(list[Mapping[str, Any]], group.get("rules") or []):
            reader = f"rule {rule.get('record') or rule.get('alert')}"
            for name in sorted(metric_names(str(rule.get("expr", "")))):
                yield SeriesUse(reader, name, producer_of(name, recorded))


def series_table(uses: Iterable[SeriesUse]) -> str:
    """The uses as a Markdown table (one row per reader and metric)."""
    lines = ["| Read by | Metric | Produced by |", "|---|---|---|"]
    seen: set[tuple[str, str]] = set()
    for use in uses:
        if (use.reader, use.metric) in seen:
            continue
        seen.add((use.reader, use.metric))
        lines.append(f"| {use.reader} | `{use.metric}` | {use.producer or '**nothing**'} |")
    return "\n".join(lines) + "\n"
