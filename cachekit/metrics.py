"""The service metrics of the metric contract (docs/metrics.md), with prometheus_client.

Names and labels are exactly the contract's: `cache_hits_total{service}`,
`cache_misses_total{service}`, `cache_errors_total{service,kind}` and the histogram
`http_request_duration_seconds{service,code,cache}`. Every counter child of a service is created
at 0 when the service's `CacheMetrics` is made, so the hit-rate rule sees both series from the
first scrape. One set of metric families exists per registry; services sharing a registry (and
process) are told apart by `service`.

`cache` on the histogram says how the request used the cache (`time_request`): `hit` when every
lookup it made was a hit, `miss` when at least one lookup went to the source on a miss, `bypass`
when it made no lookup or a lookup skipped a failing Redis. ADR-011's "average < 100 ms for cached
responses" is the mean of the `hit` requests.
"""

from __future__ import annotations

import contextlib
import contextvars
import enum
import threading
import time
import weakref
from collections.abc import Generator
from dataclasses import dataclass

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram

REQUEST_DURATION_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
"""Seconds. The contract requires 0.1, 0.2, 0.3, 0.5, 0.75, 1 and 2.5 (the alert levels and the
cached-average target); the smaller ones resolve cached responses, which take milliseconds."""


class ErrorKind(enum.StrEnum):
    """`kind` of `cache_errors_total`."""

    TIMEOUT = "timeout"
    CONNECTION = "connection"
    OTHER = "other"


class CacheUse(enum.StrEnum):
    """`cache` of `http_request_duration_seconds`."""

    HIT = "hit"
    MISS = "miss"
    BYPASS = "bypass"


@dataclass(frozen=True)
class _Families:
    hits: Counter
    misses: Counter
    errors: Counter
    duration: Histogram


_families_lock = threading.Lock()
_families_by_registry: weakref.WeakKeyDictionary[CollectorRegistry, _Families] = (
    weakref.WeakKeyDictionary()
)


def _families(registry: CollectorRegistry) -> _Families:
    with _families_lock:
        found = _families_by_registry.get(registry)
        if found is None:
            found = _Families(
                Counter(
                    "cache_hits",
                    "Cache lookups that found the key.",
                    ["service"],
                    registry=registry,
                ),
                Counter(
                    "cache_misses",
                    "Cache lookups that did not (the caller went to the source).",
                    ["service"],
                    registry=registry,
                ),
                Counter(
                    "cache_errors",
                    "Cache operations that failed, by kind (timeout, connection, other).",
                    ["service", "kind"],
                    registry=registry,
                ),
                Histogram(
                    "http_request_duration_seconds",
                    "Server-side duration of each HTTP request, by status code and cache use.",
                    ["service", "code", "cache"],
                    buckets=REQUEST_DURATION_BUCKETS,
                    registry=registry,
                ),
            )
            _families_by_registry[registry] = found
        return found


class _RequestCacheUse:
    """What the lookups of one request did; shared by the tasks and threads it spawns."""

    __slots__ = ("bypassed", "hits", "misses")

    def __init__(self) -> None:
        self.hits = 0
        self.misses = 0
        self.bypassed = 0

    def outcome(self) -> CacheUse:
        if self.misses:
            return CacheUse.MISS
        if self.bypassed or not self.hits:
            return CacheUse.BYPASS
        return CacheUse.HIT


_current_request: contextvars.ContextVar[_RequestCacheUse | None] = contextvars.ContextVar(
    "cachekit_request", default=None
)


class RequestTimer:
    """The request being timed by `CacheMetrics.time_request`; set `code` to its HTTP status."""

    __slots__ = ("code",)

    def __init__(self) -> None:
        self.code: int | str | None = None


class CacheMetrics:
    """The contract's metrics of one service in one registry (the default: the global one)."""

    def __init__(self, service: str, registry: CollectorRegistry | None = None) -> None:
        if not service:
            raise ValueError("service must be the service's stable name, not empty")
        self.service = service
        self.registry = registry if registry is not None else REGISTRY
        families = _families(self.registry)
        self._hits = families.hits.labels(service=service)
        self._misses = families.misses.labels(service=service)
        self._errors = {
            kind: families.errors.labels(service=service, kind=kind.value) for kind in ErrorKind
        }
        self._duration = families.duration

    def hit(self) -> None:
        self._hits.inc()
        request = _current_request.get()
        if request is not None:
            request.hits += 1

    def miss(self) -> None:
        self._misses.inc()
        request = _current_request.get()
        if request is not None:
            request.misses += 1

    def bypass(self) -> None:
        """A lookup that skipped Redis (breaker open, or Redis failed): neither hit nor miss."""
        request = _current_request.get()
        if request is not None:
            request.bypassed += 1

    def error(self, kind: ErrorKind) -> None:
        self._errors[kind].inc()

    @contextlib.contextmanager
    def time_request(self) -> Generator[RequestTimer]:
        """Time one HTTP request, in any framework (WSGI, ASGI, a plain handler):

            with cache.metrics.time_request() as request:
                response = handle(...)
                request.code = response.status_code

        Cache lookups made inside the block (in this thread or task, or tasks it starts) decide
        the `cache` label. When `code` is not set: 500 if the block raised, else 200.
        """
        timer = RequestTimer()
        use = _RequestCacheUse()
        token = _current_request.set(use)
        start = time.perf_counter()
        failed = False
        try:
            yield timer
        except BaseException:
            failed = True
            raise
        finally:
            elapsed = time.perf_counter() - start
            _current_request.reset(token)
            code = timer.code if timer.code is not None else (500 if failed else 200)
            self._duration.labels(
                service=self.service, code=str(code), cache=use.outcome().value
            ).observe(elapsed)
