"""Every number ADR-011 decides, in one place.

Config defaults, renderers (redis.conf, rules, cache rules, the Worker), the policy pack, the docs,
the service kit and the load harness import these; none of them writes an ADR number of its own.
Each constant names the ADR section it comes from. Numbers that are *ours* (measured, or chosen
where the ADR is silent) live beside the code that needs them, with the reason.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

# --- "Redis Cluster Configuration" -------------------------------------------------------------
MIN_PRIMARIES = 3
"""3 primaries (masters)."""
MIN_REPLICAS_PER_PRIMARY = 1
"""3 replicas: one per primary, for automatic failover."""
NODE_MEMORY = "8Gi"
"""8 GB per node."""

# --- "TTL-Based Expiration" --------------------------------------------------------------------
TIER_NAMES = ("short", "medium", "long")
TIER_RANGES: Mapping[str, tuple[int, int]] = MappingProxyType(
    {
        "short": (5 * 60, 15 * 60),
        "medium": (60 * 60, 4 * 60 * 60),
        "long": (24 * 60 * 60, 24 * 60 * 60),
    }
)
"""Inclusive TTL bounds of each tier in seconds: short 5-15 min, medium 1-4 h, long 24 h (the ADR
gives the long tier one value, so its range is a single point)."""

# --- "Performance Targets & SLAs" --------------------------------------------------------------
P95_TARGET_SECONDS = 0.2
"""95th percentile < 200 ms for all API endpoints."""
P99_TARGET_SECONDS = 0.5
"""99th percentile < 500 ms for complex operations."""
CACHED_AVERAGE_TARGET_SECONDS = 0.1
"""Average < 100 ms for cached responses."""
HIT_RATE_TARGET = 0.95
"""Cache hit rate > 95 % for frequently accessed data."""
SPIKE_MULTIPLIER = 10
"""10x normal traffic during sales events."""
CONCURRENT_USERS = 100_000
"""100,000+ concurrent users."""
REQUESTS_PER_SECOND_PER_SERVICE = 10_000
"""10,000+ requests per second per service."""
AVAILABILITY_TARGET = 0.999
"""99.9 % uptime during peak loads."""
MAX_FAILOVER_SECONDS = 30
"""Failover test: failover within 30 seconds."""
DATABASE_LOAD_REDUCTION = (0.70, 0.80)
"""Expected reduction of database queries with the cache."""

# --- "Cost Efficiency Targets" and "Cost-Benefit Analysis" --------------------------------------
MONTHLY_BUDGET_USD: Mapping[str, float] = MappingProxyType(
    {"redis": 500.0, "cdn": 200.0, "monitoring": 300.0}
)
"""Monthly ceilings per component: Redis < $500, CDN $50-200, monitoring $100-300."""
TOTAL_MONTHLY_BUDGET_USD = 1000.0
"""The caching tier as a whole."""
MAX_CDN_USD_PER_GB = 0.01
"""CDN cost < $0.01 per GB transferred."""

# --- "Specific Alert Thresholds & Escalation" --------------------------------------------------
HIT_RATE_CRITICAL = 0.90
"""Critical: hit rate < 90 % for 5 minutes."""
HIT_RATE_CRITICAL_FOR_SECONDS = 300
HIT_RATE_WARNING = 0.95
"""Warning: hit rate < 95 % for 10 minutes."""
HIT_RATE_WARNING_FOR_SECONDS = 600
P95_CRITICAL_SECONDS = 0.5
"""Critical: response time P95 > 500 ms."""
P95_WARNING_SECONDS = 0.2
"""Warning: response time P95 > 200 ms."""
MEMORY_CRITICAL = 0.90
"""Critical: Redis memory usage > 90 % for 2 minutes."""
MEMORY_CRITICAL_FOR_SECONDS = 120
MEMORY_WARNING = 0.80
"""Warning: Redis memory usage > 80 %."""
CONNECTION_FAILURES_CRITICAL = 0.10
"""Critical: Redis connection failures > 10 %."""
EVICTIONS_WARNING_PER_SECOND = 100.0
"""Warning: eviction rate > 100 keys per second."""

# --- "Testing & Validation Strategies" ---------------------------------------------------------
BASELINE_USERS, BASELINE_SECONDS = 1_000, 5 * 60
"""Baseline load test: 1,000 concurrent users for 5 minutes."""
PEAK_USERS, PEAK_SECONDS = 10_000, 10 * 60
"""Peak load test: 10,000 concurrent users for 10 minutes."""
COLD_START_USERS = 1_000
"""Cache warming test: cold start with an empty cache, 1,000 users."""
BASELINE_MARKS: Mapping[str, float] = MappingProxyType(
    {"p95_seconds": 0.2, "hit_rate": 0.95, "error_rate": 0.01, "memory_ratio": 0.70}
)
"""Baseline load test: P95 < 200 ms, hit rate > 95 %, errors < 1 %, Redis memory < 70 %."""
PEAK_MARKS: Mapping[str, float] = MappingProxyType(
    {"p95_seconds": 0.5, "hit_rate": 0.90, "error_rate": 0.05, "memory_ratio": 0.85}
)
"""10x peak: P95 < 500 ms, hit rate > 90 %, errors < 5 %, Redis memory < 85 %."""
COLD_START_MARKS: Mapping[str, float] = MappingProxyType(
    {
        "first_response_seconds": 1.0,
        "p95_seconds_after_5_min": 0.2,
        "hit_rate_after_10_min": 0.95,
    }
)
"""Cold start: first responses < 1 s, P95 < 200 ms after 5 minutes, hit rate > 95 % after 10."""
FAILOVER_MARKS: Mapping[str, float] = MappingProxyType(
    {"failover_seconds": 30.0, "p95_degradation": 0.50, "availability": 0.99}
)
"""Failover under peak load: within 30 s, response time degradation < 50 %, availability > 99 %."""
