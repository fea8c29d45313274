"""The service's Prometheus metrics (names in docs/invalidation.md; the alerts read them)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LAG_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)
"""Seconds from the change to its invalidation; 10 s is the alert's line, 1 s the goal."""


class InvalidatorMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.received = Counter(
            "invalidation_events_received",
            "Events read from the stream or accepted by the webhook.",
            ["ingress", "kind"],
            registry=self.registry,
        )
        self.applied = Counter(
            "invalidation_events_applied",
            "Events applied to Redis and the edge, then acknowledged.",
            ["kind"],
            registry=self.registry,
        )
        self.failed = Counter(
            "invalidation_events_failed",
            "Events that failed a stage (invalid: dead-lettered; redis, edge: retried).",
            ["kind", "stage"],
            registry=self.registry,
        )
        self.dead_lettered = Counter(
            "invalidation_events_dead_lettered",
            "Entries moved to the dead-letter stream and acknowledged, by reason (invalid: not "
            "an event; max_deliveries: failed on every delivery).",
            ["kind", "reason"],
            registry=self.registry,
        )
        self.duplicates = Counter(
            "invalidation_events_duplicate",
            "Events whose id was applied already: acknowledged without applying again.",
            ["kind"],
            registry=self.registry,
        )
        self.lag = Histogram(
            "invalidation_lag_seconds",
            "Seconds from the event's occurred_at to its invalidation applied.",
            ["kind"],
            buckets=LAG_BUCKETS,
            registry=self.registry,
        )
        self.purge_calls = Counter(
            "invalidation_edge_purge_calls",
            "Calls to Cloudflare's purge_cache API, by target kind.",
            ["target"],
            registry=self.registry,
        )
        self.purge_errors = Counter(
            "invalidation_edge_purge_errors",
            "Purge calls that failed, by target kind and reason.",
            ["target", "reason"],
            registry=self.registry,
        )
        self.webhook_refused = Counter(
            "invalidation_webhook_refused",
            "Webhook requests refused, by reason.",
            ["reason"],
            registry=self.registry,
        )
        self.pending = Gauge(
            "invalidation_stream_pending",
            "Entries delivered to a consumer of the group and not acknowledged yet.",
            registry=self.registry,
        )
