"""Prometheus alerts of the invalidation service (invalidator/, docs/invalidation.md), as data.

Part of the monitoring component's PrometheusRule when the stack deploys the service
(`invalidation.enabled`; `render_rule_groups(..., invalidation=True)`).

- Lag: the 95th percentile of `invalidation_lag_seconds` over 5 minutes above `LAG_P95_SECONDS`
  for 5 minutes — edge and Redis entries outlive their data by that much.
- Pending list growing: the consumer group holds more than `PENDING_ENTRIES` unacknowledged
  entries and the number keeps rising for 15 minutes — consumers fail (Redis or Cloudflare
  errors) or are gone. Every replica reports the same group's count, hence `max`.
- Dead-lettered: any event moved to the dead-letter stream in 15 minutes (failed on every one of
  its deliveries, or not an event at all) — its keys and edge entries outlive their data until
  their TTL unless someone replays it.
"""

from __future__ import annotations

from typing import Any

INVALIDATION_GROUP = "cache-invalidation-alerts"
LAG_ALERT = "InvalidationLagHigh"
PENDING_ALERT = "InvalidationPendingGrowing"
DEAD_LETTER_ALERT = "InvalidationEventsDeadLettered"
LAG_P95_SECONDS = 10.0
LAG_FOR = "5m"
PENDING_ENTRIES = 100
PENDING_FOR = "15m"
RUNBOOK_FILE = "invalidation-service.md"
RUNBOOK_ANCHORS = {
    LAG_ALERT: "lag-high",
    PENDING_ALERT: "pending-growing",
    DEAD_LETTER_ALERT: "events-dead-lettered",
}


def invalidation_rule_group(runbook_base_url: str) -> dict[str, Any]:
    def runbook(alert: str) -> str:
        return f"{runbook_base_url.rstrip('/')}/{RUNBOOK_FILE}#{RUNBOOK_ANCHORS[alert]}"

    lag = (
        "histogram_quantile(0.95, sum by (le) (rate(invalidation_lag_seconds_bucket[5m])))"
        f" > {LAG_P95_SECONDS:g}"
    )
    pending = (
        f"max(invalidation_stream_pending) > {PENDING_ENTRIES}"
        " and max(deriv(invalidation_stream_pending[15m])) > 0"
    )
    # Summed over the replicas, kept apart by reason: each replica counts what it moved.
    dead_lettered = "sum by (reason) (increase(invalidation_events_dead_lettered_total[15m])) > 0"
    return {
        "name": INVALIDATION_GROUP,
        "rules": [
            {
                "alert": LAG_ALERT,
                "expr": lag,
                "for": LAG_FOR,
                "labels": {"severity": "critical", "escalation": "page"},
                "annotations": {
                    "summary": f"Invalidation lag p95 above {LAG_P95_SECONDS:g} s",
                    "description": (
                        "95 % of invalidation events take up to {{ $value | humanizeDuration }} "
                        "from the change to Redis and the edge: prices and inventory are served "
                        "stale that long."
                    ),
                    "runbook_url": runbook(LAG_ALERT),
                },
            },
            {
                "alert": PENDING_ALERT,
                "expr": pending,
                "for": PENDING_FOR,
                "labels": {"severity": "warning", "escalation": "team"},
                "annotations": {
                    "summary": "Invalidation events pile up unacknowledged",
                    "description": (
                        f"More than {PENDING_ENTRIES} invalidation events are pending and the "
                        "number keeps growing: consumers fail to apply them or are gone."
                    ),
                    "runbook_url": runbook(PENDING_ALERT),
                },
            },
            {
                "alert": DEAD_LETTER_ALERT,
                "expr": dead_lettered,
                "labels": {"severity": "warning", "escalation": "team"},
                "annotations": {
                    "summary": "Invalidation events moved to the dead-letter stream",
                    "description": (
                        "Invalidation events were dead-lettered in the last 15 minutes: their "
                        "keys and edge entries stay until their TTL unless they are replayed."
                    ),
                    "runbook_url": runbook(DEAD_LETTER_ALERT),
                },
            },
        ],
    }
