"""Cache-aside (lazy loading) over a Redis Cluster, as ADR-011 chose it, sync and asyncio.

A read goes to Redis first; on a miss the caller's loader fetches from the source and the value
is stored with its tier's TTL. Redis is an accelerator, never a dependency (the ADR's "degrade to
the source"): a Redis error or timeout is counted in `cache_errors_total{kind}` and the loader's
value is returned; a failing node's circuit breaker skips it for a while (`breaker.py`); a write
after a load never fails the request. Only the loader's own exceptions reach the caller.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

import redis
import redis.asyncio.cluster
import redis.cluster
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind
from opentelemetry.util.types import AttributeValue
from prometheus_client import CollectorRegistry
from redis.backoff import NoBackoff
from redis.exceptions import ClusterDownError, SlotNotCoveredError
from redis.retry import Retry

from cachekit.breaker import BreakerBoard, BreakerSettings, BreakerState, Clock
from cachekit.codec import DEFAULT_COMPRESS_ABOVE, Envelope, Format, decode, encode
from cachekit.consistency import CONSISTENCY_RULES, Consistency, check_tier
from cachekit.keys import key_pattern
from cachekit.metrics import CacheMetrics, ErrorKind
from stackconfig.adr import TIER_NAMES
from stackconfig.tiers import DEFAULT_TIERS, CacheTier, tier_violations

T = TypeVar("T")

DEFAULT_TIMEOUT_SECONDS = 0.05
"""Per Redis call. A GET on a healthy cluster answers in about a millisecond; 50 ms is far
beyond that and still small next to the 200 ms p95 the ADR allows a whole request."""
DEFAULT_TIER = "medium"
DEFAULT_JITTER = 0.1
"""Up to 10 % shorter TTLs, at random, so keys loaded together do not expire together."""

_tracer = trace.get_tracer("cachekit")
_SPAN_ATTRIBUTES = {"db.system": "redis"}
_NO_SPAN: AbstractContextManager[Span] = contextlib.nullcontext(trace.INVALID_SPAN)
_API_ONLY_PROVIDERS = (trace.ProxyTracerProvider, trace.NoOpTracerProvider)


def _span(name: str, keys: Sequence[str]) -> AbstractContextManager[Span]:
    """A client span around a cache call, or nothing when no OpenTelemetry SDK is installed.

    The API's own no-op span still costs a context switch per call (measured: about a third of
    the kit's work on a hit), so without an SDK the kit skips it and the key-pattern parsing.
    """
    if isinstance(trace.get_tracer_provider(), _API_ONLY_PROVIDERS):
        return _NO_SPAN
    patterns = sorted({key_pattern(key) for key in keys})
    attributes: dict[str, AttributeValue] = {
        **_SPAN_ATTRIBUTES,
        "cache.key_pattern": patterns[0] if len(patterns) == 1 and len(keys) == 1 else patterns,
    }
    if len(keys) > 1:
        attributes["cache.keys"] = len(keys)
    return _tracer.start_as_current_span(name, kind=SpanKind.CLIENT, attributes=attributes)


def cluster_client(
    host: str,
    port: int,
    *,
    password: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    **options: Any,
) -> redis.cluster.RedisCluster:
    """A redis-py cluster client set up for the kit: bytes responses, `timeout` for connecting
    and every call, and one retry (enough to follow a failover's new slot map; more would only
    multiply the timeouts a dead node costs). `options` go to `RedisCluster` (`address_remap`,
    `ssl`, `max_connections`...)."""
    settings: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 1),
        **options,
        "decode_responses": False,
    }
    return redis.cluster.RedisCluster(host=host, port=port, password=password, **settings)


def async_cluster_client(
    host: str,
    port: int,
    *,
    password: str | None = None,
    timeout: float = DEFAULT_TIMEOUT_SECONDS,
    **options: Any,
) -> redis.asyncio.cluster.RedisCluster:
    """The asyncio twin of `cluster_client`."""
    settings: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": timeout,
        "retry": Retry(NoBackoff(), 1),
        **options,
        "decode_responses": False,
    }
    return redis.asyncio.cluster.RedisCluster(host=host, port=port, password=password, **settings)


def error_kind(error: BaseException) -> ErrorKind:
    """`kind` of `cache_errors_total` for an exception a Redis call raised."""
    if isinstance(error, (redis.TimeoutError, TimeoutError)):
        return ErrorKind.TIMEOUT
    if isinstance(
        error,
        (
            redis.ConnectionError,
            ConnectionError,
            ClusterDownError,
            SlotNotCoveredError,
        ),
    ):
        return ErrorKind.CONNECTION
    return ErrorKind.OTHER


_REDIS_FAILURES = (Exception,)
"""What a Redis call may raise without failing the request: anything. Besides RedisError and
OSError, redis-py's asyncio cluster client has been seen raising AttributeError from a connection
torn down by a timeout while 100 calls connected at once; the source must still answer. The
loader is never inside these `try` blocks, so its own errors still reach the caller."""


@dataclass(frozen=True)
class CacheOptions:
    """How a `CacheAside` stores, times out and protects itself; every field has the kit's
    default. The timeout itself is the client's (`cluster_client(timeout=...)`)."""

    tiers: Mapping[str, CacheTier] = field(default_factory=lambda: DEFAULT_TIERS)
    """TTL tiers by name; the stack's `cache-platform:cdn` tiers, or the ADR defaults. A value's
    TTL is its tier's `edge_ttl`, so Redis and the edge keep a tier equally long."""
    format: Format = Format.JSON
    """How new values are written; values of either format are read."""
    compress_above: int | None = DEFAULT_COMPRESS_ABOVE
    """Payloads above this many bytes are zlib-compressed; None: never."""
    jitter: float = DEFAULT_JITTER
    """TTLs are shortened by up to this share, at random (0 <= jitter < 1)."""
    early_refresh: float = 0.0
    """Probabilistic early refresh ("XFetch", Vattani et al., VLDB 2015): a reader reloads
    before expiry with a probability that rises as expiry nears and with the load's cost; the
    scale `beta` (1.0 is the paper's choice), 0 turns it off."""
    breaker: BreakerSettings = field(default_factory=BreakerSettings)
    """When a node's circuit breaker opens and for how long."""

    def __post_init__(self) -> None:
        problems = tier_violations(self.tiers)
        if problems:
            raise ValueError(f"tiers: {'; '.join(problems)}")
        if not 0 <= self.jitter < 1:
            raise ValueError(f"jitter is {self.jitter}; it must be in [0, 1)")
        if self.early_refresh < 0:
            raise ValueError(f"early_refresh is {self.early_refresh}; it must be >= 0")
        if self.compress_above is not None and self.compress_above < 0:
            raise ValueError(f"compress_above is {self.compress_above}; it must be >= 0 or None")


class _Core:
    """What both twins share: tiers, codec, breakers, metrics, early refresh."""

    def __init__(
        self,
        service: str,
        registry: CollectorRegistry | None,
        options: CacheOptions,
        clock: Clock,
        monotonic: Clock,
        rng: Callable[[], float],
    ) -> None:
        self.options = options
        self.metrics = CacheMetrics(service, registry)
        self.breakers = BreakerBoard(options.breaker, monotonic)
        self.clock = clock
        self.monotonic = monotonic
        self.rng = rng

    def ttl_seconds(self, tier: str) -> int:
        try:
            ttl = self.options.tiers[tier].edge_ttl
        except KeyError:
            expected = ", ".join(TIER_NAMES)
            raise ValueError(f"unknown tier {tier!r}; expected one of {expected}") from None
        return max(1, round(ttl * (1 - self.options.jitter * self.rng())))

    def encode(self, value: object, tier: str, load_seconds: float) -> tuple[bytes, int]:
        ttl = self.ttl_seconds(tier)
        data = encode(
            value,
            format=self.options.format,
            compress_above=self.options.compress_above,
            expires_at_ms=round((self.clock() + ttl) * 1000),
            load_ms=round(load_seconds * 1000),
        )
        return data, ttl

    def fresh(self, raw: object) -> Envelope | None:
        """The cached value if `raw` is one and no early refresh is due, else None (a miss)."""
        if not isinstance(raw, bytes):
            return None
        envelope = decode(raw)
        if envelope is None:
            return None
        beta = self.options.early_refresh
        if beta > 0 and envelope.expires_at_ms:
            # XFetch: refresh when now - delta * beta * ln(U) >= expiry, U uniform in (0, 1].
            delta = envelope.load_ms / 1000
            head_start = -delta * beta * math.log(max(self.rng(), 1e-12))
            if self.clock() + head_start >= envelope.expires_at_ms / 1000:
                return None
        return envelope

    def admits(self, consistency: Consistency, tier: str) -> bool:
        """False for a read that must skip the cache (counted as a bypass); raises ValueError
        for an unknown tier or one the class does not allow."""
        if tier not in self.options.tiers:
            expected = ", ".join(self.options.tiers)
            raise ValueError(f"unknown tier {tier!r}; expected one of {expected}")
        check_tier(consistency, tier)
        if CONSISTENCY_RULES[consistency].in_redis:
            return True
        self.metrics.bypass()
        return False

    def failed(self, node: str, error: BaseException) -> None:
        self.metrics.error(error_kind(error))
        self.breakers.of(node).record_failure()


def _node_name(client: Any, key: str) -> str:
    try:
        node = client.get_node_from_key(key)
    except Exception:  # no node for the slot yet: one breaker for "unknown"
        return "?"
    return str(node.name) if node is not None else "?"


class _Flight(Generic[T]):
    __slots__ = ("done", "error", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.value: T | None = None
        self.error: BaseException | None = None


class CacheAside:
    """Cache-aside over a redis-py `RedisCluster` (see `cluster_client`), for one service.

    `service` is the `service` label of the metrics (the stable name of the service);
    `registry` the prometheus_client registry (default: the global one). `clock`, `monotonic`
    and `rng` are for tests: wall time, breaker time and the jitter/early-refresh random source.
    """

    def __init__(
        self,
        client: redis.cluster.RedisCluster,
        *,
        service: str,
        registry: CollectorRegistry | None = None,
        options: CacheOptions | None = None,
        clock: Clock = time.time,
        monotonic: Clock = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.client = client
        self._core = _Core(service, registry, options or CacheOptions(), clock, monotonic, rng)
        self._flights: dict[str, _Flight[Any]] = {}
        self._flights_lock = threading.Lock()

    @property
    def metrics(self) -> CacheMetrics:
        """The service's metrics; `metrics.time_request()` times an HTTP request."""
        return self._core.metrics

    def breaker_states(self) -> dict[str, BreakerState]:
        """The breaker of every node the kit has talked to, by node name."""
        return self._core.breakers.states()

    def get_or_load(
        self,
        key: str,
        loader: Callable[[], T],
        *,
        tier: str = DEFAULT_TIER,
        consistency: Consistency = Consistency.EVENTUAL,
    ) -> T:
        """The cached value of `key`, or `loader()`'s, then stored for the tier's TTL.

        Concurrent misses of one key in this process call `loader` once. Redis failures never
        reach the caller; `loader`'s exceptions do (nothing is cached then). `consistency`
        limits the tiers and makes `STRONG` reads skip the cache (see `consistency.py`).
        """
        core = self._core
        if not core.admits(consistency, tier):
            return loader()
        with _span("cache get_or_load", (key,)) as span:
            node = _node_name(self.client, key)
            breaker = core.breakers.of(node)
            if breaker.allow():
                try:
                    raw = self.client.get(key)
                except _REDIS_FAILURES as error:
                    core.failed(node, error)
                else:
                    breaker.record_success()
                    envelope = core.fresh(raw)
                    span.set_attribute("cache.hit", envelope is not None)
                    if envelope is not None:
                        core.metrics.hit()
                        return cast(T, envelope.value)
                    core.metrics.miss()
                    return self._load_once(key, loader, tier, store=True)
            span.set_attribute("cache.hit", False)
            core.metrics.bypass()
            return self._load_once(key, loader, tier, store=False)

    def _load_once(self, key: str, loader: Callable[[], T], tier: str, *, store: bool) -> T:
        with self._flights_lock:
            flight = self._flights.get(key)
            leader = flight is None
            if flight is None:
                flight = self._flights[key] = _Flight[T]()
        if not leader:
            flight.done.wait()
            if flight.error is not None:
                raise flight.error
            return cast(T, flight.value)
        # The flight stays registered until the value is stored: a caller whose GET missed just
        # before the store joins it instead of loading again.
        try:
            start = self._core.monotonic()
            try:
                value = loader()
            except BaseException as error:
                flight.error = error
                flight.done.set()
                raise
            flight.value = value
            flight.done.set()
            if store:
                self._store(key, value, tier, self._core.monotonic() - start)
        finally:
            with self._flights_lock:
                del self._flights[key]
        return value

    def _store(self, key: str, value: object, tier: str, load_seconds: float) -> None:
        core = self._core
        data, ttl = core.encode(value, tier, load_seconds)
        node = _node_name(self.client, key)
        if not core.breakers.of(node).allow():
            return
        try:
            self.client.set(key, data, ex=ttl)
        except _REDIS_FAILURES as error:
            core.failed(node, error)
        else:
            core.breakers.of(node).record_success()

    def put(self, key: str, value: object, *, tier: str = DEFAULT_TIER) -> bool:
        """Store `value` now (after the service wrote it to the source, for read-your-writes).
        False when Redis could not take it; never raises for Redis."""
        core = self._core
        data, ttl = core.encode(value, tier, 0.0)
        node = _node_name(self.client, key)
        breaker = core.breakers.of(node)
        if not breaker.allow():
            return False
        try:
            self.client.set(key, data, ex=ttl)
        except _REDIS_FAILURES as error:
            core.failed(node, error)
            return False
        breaker.record_success()
        return True

    def get_many_or_load(
        self,
        keys: Sequence[str],
        loader: Callable[[Sequence[str]], Mapping[str, T]],
        *,
        tier: str = DEFAULT_TIER,
    ) -> dict[str, T]:
        """The values of `keys`: cached ones read in one pipelined round per node (redis-py's
        cluster pipeline groups the GETs by slot owner), the rest from one `loader(missing)`
        call, then stored. Keys the loader does not return are absent from the result."""
        core = self._core
        core.admits(Consistency.EVENTUAL, tier)  # an unknown tier fails before any work
        unique = list(dict.fromkeys(keys))
        found: dict[str, T] = {}
        missing: list[str] = []
        with _span("cache get_many_or_load", unique) as span:
            by_node: dict[str, list[str]] = {}
            for key in unique:
                by_node.setdefault(_node_name(self.client, key), []).append(key)
            for node, node_keys in by_node.items():
                breaker = core.breakers.of(node)
                if not breaker.allow():
                    for _ in node_keys:
                        core.metrics.bypass()
                    missing += node_keys
                    continue
                try:
                    pipe = self.client.pipeline(transaction=False)  # pyright: ignore[reportUnknownMemberType]
                    for key in node_keys:
                        pipe.get(key)
                    raws: list[Any] = pipe.execute()
                except _REDIS_FAILURES as error:
                    core.failed(node, error)
                    for _ in node_keys:
                        core.metrics.bypass()
                    missing += node_keys
                    continue
                breaker.record_success()
                for key, raw in zip(node_keys, raws, strict=True):
                    envelope = core.fresh(raw)
                    if envelope is None:
                        core.metrics.miss()
                        missing.append(key)
                    else:
                        core.metrics.hit()
                        found[key] = cast(T, envelope.value)
            span.set_attribute("cache.hit", not missing)
            span.set_attribute("cache.misses", len(missing))
            if missing:
                start = core.monotonic()
                loaded = dict(loader(missing))
                load_seconds = core.monotonic() - start
                found.update({k: v for k, v in loaded.items() if k in missing})
                for key in missing:
                    if key in loaded:
                        self._store(key, loaded[key], tier, load_seconds)
        return {key: found[key] for key in unique if key in found}

    def invalidate(self, *keys: str) -> bool:
        """Remove `keys` (UNLINK, one per key: they may live on different nodes). False when
        Redis could not confirm every removal: the value then lives until its TTL."""
        core = self._core
        confirmed = True
        with _span("cache invalidate", keys):
            for key in keys:
                node = _node_name(self.client, key)
                try:
                    self.client.unlink(key)
                except _REDIS_FAILURES as error:
                    core.failed(node, error)
                    confirmed = False
        return confirmed


class AsyncCacheAside:
    """The asyncio twin of `CacheAside`, over `redis.asyncio.cluster.RedisCluster` (see
    `async_cluster_client`); the same options, metrics, breakers and spans."""

    def __init__(
        self,
        client: redis.asyncio.cluster.RedisCluster,
        *,
        service: str,
        registry: CollectorRegistry | None = None,
        options: CacheOptions | None = None,
        clock: Clock = time.time,
        monotonic: Clock = time.monotonic,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.client = client
        self._core = _Core(service, registry, options or CacheOptions(), clock, monotonic, rng)
        self._flights: dict[str, asyncio.Future[Any]] = {}

    @property
    def metrics(self) -> CacheMetrics:
        return self._core.metrics

    def breaker_states(self) -> dict[str, BreakerState]:
        return self._core.breakers.states()

    async def get_or_load(
        self,
        key: str,
        loader: Callable[[], Awaitable[T]],
        *,
        tier: str = DEFAULT_TIER,
        consistency: Consistency = Consistency.EVENTUAL,
    ) -> T:
        """As `CacheAside.get_or_load`, with an async loader."""
        core = self._core
        if not core.admits(consistency, tier):
            return await loader()
        with _span("cache get_or_load", (key,)) as span:
            node = _node_name(self.client, key)
            breaker = core.breakers.of(node)
            if breaker.allow():
                try:
                    raw = await self.client.get(key)  # pyright: ignore[reportUnknownMemberType]
                except _REDIS_FAILURES as error:
                    core.failed(node, error)
                else:
                    breaker.record_success()
                    envelope = core.fresh(raw)
                    span.set_attribute("cache.hit", envelope is not None)
                    if envelope is not None:
                        core.metrics.hit()
                        return cast(T, envelope.value)
                    core.metrics.miss()
                    return await self._load_once(key, loader, tier, store=True)
            span.set_attribute("cache.hit", False)
            core.metrics.bypass()
            return await self._load_once(key, loader, tier, store=False)

    async def _load_once(
        self, key: str, loader: Callable[[], Awaitable[T]], tier: str, *, store: bool
    ) -> T:
        flight = self._flights.get(key)
        if flight is not None:
            return cast(T, await asyncio.shield(flight))
        flight = asyncio.get_running_loop().create_future()
        self._flights[key] = flight
        # Registered until the value is stored, as in `CacheAside._load_once`.
        try:
            start = self._core.monotonic()
            try:
                value = await loader()
            except BaseException as error:
                flight.set_exception(error)
                flight.exception()  # followers re-raise it; mark it retrieved for the leader
                raise
            flight.set_result(value)
            if store:
                await self._store(key, value, tier, self._core.monotonic() - start)
        finally:
            del self._flights[key]
        return value

    async def _store(self, key: str, value: object, tier: str, load_seconds: float) -> None:
        core = self._core
        data, ttl = core.encode(value, tier, load_seconds)
        node = _node_name(self.client, key)
        breaker = core.breakers.of(node)
        if not breaker.allow():
            return
        try:
            await self.client.set(key, data, ex=ttl)  # pyright: ignore[reportUnknownMemberType]
        except _REDIS_FAILURES as error:
            core.failed(node, error)
        else:
            breaker.record_success()

    async def put(self, key: str, value: object, *, tier: str = DEFAULT_TIER) -> bool:
        """As `CacheAside.put`."""
        core = self._core
        data, ttl = core.encode(value, tier, 0.0)
        node = _node_name(self.client, key)
        breaker = core.breakers.of(node)
        if not breaker.allow():
            return False
        try:
            await self.client.set(key, data, ex=ttl)  # pyright: ignore[reportUnknownMemberType]
        except _REDIS_FAILURES as error:
            core.failed(node, error)
            return False
        breaker.record_success()
        return True

    async def get_many_or_load(
        self,
        keys: Sequence[str],
        loader: Callable[[Sequence[str]], Awaitable[Mapping[str, T]]],
        *,
        tier: str = DEFAULT_TIER,
    ) -> dict[str, T]:
        """As `CacheAside.get_many_or_load`, with an async loader."""
        core = self._core
        core.admits(Consistency.EVENTUAL, tier)  # an unknown tier fails before any work
        unique = list(dict.fromkeys(keys))
        found: dict[str, T] = {}
        missing: list[str] = []
        with _span("cache get_many_or_load", unique) as span:
            by_node: dict[str, list[str]] = {}
            for key in unique:
                by_node.setdefault(_node_name(self.client, key), []).append(key)
            for node, node_keys in by_node.items():
                breaker = core.breakers.of(node)
                if not breaker.allow():
                    for _ in node_keys:
                        core.metrics.bypass()
                    missing += node_keys
                    continue
                try:
                    pipe = self.client.pipeline()  # pyright: ignore[reportUnknownMemberType]
                    for key in node_keys:
                        pipe.get(key)  # pyright: ignore[reportUnknownMemberType]
                    raws: list[Any] = await pipe.execute()  # pyright: ignore[reportUnknownMemberType]
                except _REDIS_FAILURES as error:
                    core.failed(node, error)
                    for _ in node_keys:
                        core.metrics.bypass()
                    missing += node_keys
                    continue
                breaker.record_success()
                for key, raw in zip(node_keys, raws, strict=True):
                    envelope = core.fresh(raw)
                    if envelope is None:
                        core.metrics.miss()
                        missing.append(key)
                    else:
                        core.metrics.hit()
                        found[key] = cast(T, envelope.value)
            span.set_attribute("cache.hit", not missing)
            span.set_attribute("cache.misses", len(missing))
            if missing:
                start = core.monotonic()
                loaded = dict(await loader(missing))
                load_seconds = core.monotonic() - start
                found.update({k: v for k, v in loaded.items() if k in missing})
                for key in missing:
                    if key in loaded:
                        await self._store(key, loaded[key], tier, load_seconds)
        return {key: found[key] for key in unique if key in found}

    async def invalidate(self, *keys: str) -> bool:
        """As `CacheAside.invalidate`."""
        core = self._core
        confirmed = True
        for key in keys:
            node = _node_name(self.client, key)
            try:
                await self.client.unlink(key)  # pyright: ignore[reportUnknownMemberType]
            except _REDIS_FAILURES as error:
                core.failed(node, error)
                confirmed = False
        return confirmed
