"""The service kit: cache-aside over the Redis Cluster with ADR-011's keys, TTL tiers, failure
semantics and the metrics the platform's alerts read. See docs/cachekit.md."""

from cachekit.aside import (
    DEFAULT_TIMEOUT_SECONDS,
    AsyncCacheAside,
    CacheAside,
    CacheOptions,
    async_cluster_client,
    cluster_client,
)
from cachekit.breaker import BreakerSettings, BreakerState
from cachekit.codec import Format
from cachekit.consistency import Consistency
from cachekit.metrics import REQUEST_DURATION_BUCKETS, CacheMetrics, CacheUse, ErrorKind

__all__ = [
    "DEFAULT_TIMEOUT_SECONDS",
    "REQUEST_DURATION_BUCKETS",
    "AsyncCacheAside",
    "BreakerSettings",
    "BreakerState",
    "CacheAside",
    "CacheMetrics",
    "CacheOptions",
    "CacheUse",
    "Consistency",
    "ErrorKind",
    "Format",
    "async_cluster_client",
    "cluster_client",
]
