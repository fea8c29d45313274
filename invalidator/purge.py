"""Purging Cloudflare's edge cache within the zone plan's limits.

Targets are split into calls by `cachectl.edge.purge_requests` (one kind per call, at most the
plan's items per call). Calls go through a token bucket sized from the plan's purge limits
(`stackconfig.cloudflare_plans`), shared by every replica: each replica takes its `share` of the
account's rate. A 429 waits for Retry-After, a 5xx or a network error backs off exponentially
(with jitter); a 4xx other than 429 is a refusal that retrying cannot fix.

An event's URLs are purged twice over: by URL (the zone cache's copies, filled through the cache
rules) and by the Cache-Tag the Worker stores each copy with (`path_cache_tag`): a URL purge does
not reach the Worker's Cache API entries (stackconfig/edge_consistency.py).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cachectl.connection import CachectlError
from cachectl.edge import PurgeRequest, purge_requests
from cachekit.events import EdgeTargets
from invalidator.metrics import InvalidatorMetrics
from stackconfig.cloudflare_plans import capabilities
from stackconfig.edge_consistency import path_cache_tag

PLAN_KIND = {"files": "url", "prefixes": "prefix", "tags": "tag", "purge_everything": "everything"}
"""purge_cache's body field -> the plan table's purge kind."""


class PurgeError(Exception):
    """The purge did not happen; the events stay pending and are retried."""


@dataclass(frozen=True)
class PurgeLimits:
    requests_per_second: float
    bucket: int
    items_per_request: int
    allowed_kinds: frozenset[str]

    @classmethod
    def for_plan(cls, plan: str, share: float = 1.0) -> PurgeLimits:
        """The plan's limits, `share` of them (1 / replicas: the limits are per account)."""
        if not 0 < share <= 1:
            raise ValueError(f"share {share}: between 0 (excluded) and 1")
        row = capabilities(plan)
        return cls(
            requests_per_second=row.purge_requests_per_second * share,
            bucket=max(1, int(row.purge_bucket * share)),
            items_per_request=row.purge_items_per_request,
            allowed_kinds=row.purge_kinds,
        )


class TokenBucket:
    """`rate` tokens a second, at most `capacity` saved; `acquire` waits for one."""

    def __init__(
        self,
        rate: float,
        capacity: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate <= 0 or capacity < 1:
            raise ValueError("a token bucket needs a positive rate and capacity")
        self.rate = rate
        self.capacity = capacity
        self._clock = clock
        self._sleep = sleep
        self._tokens = float(capacity)
        self._updated = clock()
        self._lock = threading.Lock()

    def acquire(self) -> float:
        """Take a token, waiting as long as needed; the seconds waited."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                self._tokens = min(self.capacity, self._tokens + (now - self._updated) * self.rate)
                self._updated = now
                # The tolerance: a wait computed to refill exactly one token can fall short by a
                # rounding error, and a clock at a large value would not move by the remainder.
                if self._tokens >= 1 - 1e-9:
                    self._tokens = max(0.0, self._tokens - 1)
                    return waited
                wait = (1 - self._tokens) / self.rate
            self._sleep(wait)
            waited += wait


class EdgePurger:
    """Sends purge_cache calls for a zone through Cloudflare's SDK."""

    def __init__(
        self,
        zone_id: str,
        token: str,
        limits: PurgeLimits,
        metrics: InvalidatorMetrics,
        *,
        base_url: str | None = None,
        attempts: int = 5,
        backoff: float = 0.5,
        backoff_cap: float = 30.0,
        timeout: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        import cloudflare

        self.zone_id = zone_id
        self.limits = limits
        self.metrics = metrics
        self.attempts = attempts
        self.backoff = backoff
        self.backoff_cap = backoff_cap
        self.bucket = TokenBucket(
            limits.requests_per_second, limits.bucket, clock=clock, sleep=sleep
        )
        self._sleep = sleep
        # Retries are ours: the SDK's would not take the bucket's tokens.
        self._client: Any = cloudflare.Cloudflare(
            api_token=token, base_url=base_url or None, max_retries=0, timeout=timeout
        )

    def close(self) -> None:
        self._client.close()

    def requests_for(self, targets: EdgeTargets) -> list[PurgeRequest]:
        worker_tags = (path_cache_tag(url) for url in targets.urls)
        tags = tuple(dict.fromkeys([*targets.tags, *(t for t in worker_tags if t is not None)]))
        try:
            requests = purge_requests(
                urls=targets.urls,
                prefixes=targets.prefixes,
                tags=tags,
                batch=self.limits.items_per_request,
            )
        except CachectlError as error:
            raise PurgeError(str(error)) from None
        for request in requests:
            if PLAN_KIND[request.kind] not in self.limits.allowed_kinds:
                raise PurgeError(f"the zone's plan cannot purge by {PLAN_KIND[request.kind]}")
        return requests

    def purge(self, targets: EdgeTargets) -> int:
        """Purge every target; the calls made. PurgeError when one call finally failed."""
        requests = self.requests_for(targets)
        for request in requests:
            self._send(request)
        return len(requests)

    def _delay(self, attempt: int) -> float:
        ceiling = min(self.backoff_cap, self.backoff * 2**attempt)
        return random.uniform(ceiling / 2, ceiling)

    def _send(self, request: PurgeRequest) -> None:
        import cloudflare

        last = "no attempt"
        for attempt in range(self.attempts):
            self.bucket.acquire()
            self.metrics.purge_calls.labels(request.kind).inc()
            try:
                self._client.cache.purge(zone_id=self.zone_id, **request.body)
                return
            except cloudflare.RateLimitError as error:
                self.metrics.purge_errors.labels(request.kind, "rate_limited").inc()
                last = "HTTP 429"
                self._sleep(_retry_after(error) or self._delay(attempt))
            except cloudflare.InternalServerError as error:
                self.metrics.purge_errors.labels(request.kind, "server").inc()
                last = f"HTTP {error.status_code}"
                self._sleep(self._delay(attempt))
            except cloudflare.APIStatusError as error:
                self.metrics.purge_errors.labels(request.kind, "refused").inc()
                raise PurgeError(
                    f"Cloudflare refused the purge of {request.describe()}: "
                    f"HTTP {error.status_code}"
                ) from None
            except cloudflare.APIConnectionError:
                self.metrics.purge_errors.labels(request.kind, "network").inc()
                last = "no connection"
                self._sleep(self._delay(attempt))
        raise PurgeError(f"purge of {request.kind} failed {self.attempts} times (last: {last})")


def _retry_after(error: Any) -> float | None:
    value = error.response.headers.get("retry-after")
    try:
        return min(60.0, max(0.0, float(value))) if value is not None else None
    except ValueError:
        return None
