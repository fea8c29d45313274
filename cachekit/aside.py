"""Cache-aside (lazy loading) over a Redis Cluster, as ADR-011 chose it, sync and asyncio.

A read goes to Redis first; on a miss the caller's loader fetches from the source and the value
is stored with its tier's TTL. Redis is an accelerator, never a dependency (the ADR's "degrade to
the source"): a Redis error or timeout is counted in `cache_errors_total{kind}` and the loader's
value is returned; a failing node's circuit breaker skips it for a while (`breaker.py`); a write
after a load never fails the request. Only the loader's own exceptions reach the caller.

The kit sends each call straight to the node its client's slot map names (that node's own
connection pool), not through the cluster client's command path: there, redis-py answers any
connection error or timeout by re-reading the whole slot map (CLUSTER SLOTS, then COMMAND) under
a lock every other call waits on, and by marking every connection to every node for reconnect. A
dead primary fails each call sent to it, so a failover became a cascade of such re-reads that
stalled the whole service (measured in the load test's failover run, docs/loadtest.md). Here a
node's failures only feed that node's breaker; the slot map is re-read once, when the shard's
replica reports its promotion. Redirects (MOVED, ASK) still go through the client's own path,
which follows them and patches its slot map.
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
from redis.exceptions import AskError, ClusterDownError, MovedError, SlotNotCoveredError
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
DEFAULT_TOPOLOGY_REFRESH_SECONDS = 0.5
"""While a primary is unreachable, how often the kit asks its replica whether it has been
promoted (ROLE), to re-read the slot map then. Without it the client only refreshes after a call
fails, and the breaker sends no calls while it is open: the shard would stay on the source for
the whole open time after the promotion. One ROLE per half second costs nothing noticeable."""

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
    replica_reads: bool = True
    """While a shard's primary is unreachable (its call failed or its breaker is open), read
    `eventual` keys of that shard from a replica (READONLY) instead of the source. A replica may
    lag its primary by the last writes and invalidations; other classes never read one."""
    topology_refresh_seconds: float = DEFAULT_TOPOLOGY_REFRESH_SECONDS
    """While a primary is unreachable, check at most this often whether its replica has been
    promoted, and re-read the slot map when it has (> 0)."""

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
        if not self.topology_refresh_seconds > 0:
            raise ValueError(
                f"topology_refresh_seconds is {self.topology_refresh_seconds}; it must be > 0"
            )


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
        self._refreshed_at = -math.inf
        self._refresh_lock = threading.Lock()

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

    def claim_topology_refresh(self) -> bool:
        """True for the one caller that should re-read the slot map now (at most once per
        `topology_refresh_seconds`, whichever thread or task asks first)."""
        now = self.monotonic()
        with self._refresh_lock:
            if now - self._refreshed_at < self.options.topology_refresh_seconds:
                return False
            self._refreshed_at = now
            return True

    def promoted(self, old: str, new: str) -> None:
        """The slot map now names `new` as the primary where `old` was: `old`'s breaker is due a
        probe at once (the address may come back as a replica), and `new`'s is its own."""
        if new != old:
            self.breakers.of(old).probe_now()

    def replica_allowed(self, consistency: Consistency) -> bool:
        return self.options.replica_reads and CONSISTENCY_RULES[consistency].from_replica


_REDIRECTS = (MovedError, AskError)
"""A node's answer that the slot moved: the cluster client follows it and patches its map."""


def _primary_of(client: Any, key: str) -> Any:
    """The primary the client's slot map names for `key`, or None (no map yet: the client's own
    path reads one)."""
    try:
        return client.get_node_from_key(key)
    except Exception:  # no node for the slot yet
        return None


def _node_name(client: Any, key: str) -> str:
    node = _primary_of(client, key)
    return str(node.name) if node is not None else "?"  # one breaker for "unknown"


def _replica_of(client: Any, key: str) -> Any:
    """A replica of `key`'s shard in the client's slot map, or None."""
    try:
        return client.get_node_from_key(key, replica=True)
    except Exception:  # no slot map, or a client without replicas: nothing to read
        return None


def _promotion_redirects(client: Any, old: str, new: Any) -> list[MovedError]:
    """The MOVED answers the slots of `old` (a primary's name) would get now that `new` (its
    replica) was promoted: one per distinct node list of the client's slot map (redis-py shares
    one list per slot range), for the client's own `move_slot`. It patches the map as for a
    redirect: `new` becomes the primary, `old` a replica, every other node's connections stay.
    A full re-read (`nodes_manager.initialize()`) would mark every connection to every node for
    reconnect, and the service would pay a reconnect per pooled connection at once."""
    seen: set[int] = set()
    redirects: list[MovedError] = []
    for slot, nodes in list(client.nodes_manager.slots_cache.items()):
        if nodes and nodes[0].name == old and id(nodes) not in seen:
            seen.add(id(nodes))
            redirects.append(MovedError(f"{slot} {new.host}:{new.port}"))
    return redirects


def _reports_primary(role: object) -> bool:
    """Whether a ROLE reply says "master". The slot map changes only then: re-reading it on a
    timer while the replica is still a replica would, with redis-py, mark every node's
    connections for reconnect each time."""
    if not isinstance(role, (list, tuple)) or not role:
        return False
    first = cast(Sequence[object], role)[0]
    name = first.decode() if isinstance(first, bytes) else str(first)
    return name == "master"


class _Unavailable:
    """No Redis node could answer (distinct from None, a miss)."""


_UNAVAILABLE = _Unavailable()


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
            raw = self._primary_get(key, node)
            if raw is _UNAVAILABLE and core.claim_topology_refresh():
                promoted = self._refresh_topology(key, node)
                if promoted != node:
                    raw = self._primary_get(key, promoted)
            from_primary = raw is not _UNAVAILABLE
            if not from_primary and core.replica_allowed(consistency):
                raw = self._replica_get_many([key]).get(key, _UNAVAILABLE)
                span.set_attribute("cache.replica", raw is not _UNAVAILABLE)
            if raw is _UNAVAILABLE:
                span.set_attribute("cache.hit", False)
                core.metrics.bypass()
                return self._load_once(key, loader, tier, store=False)
            envelope = core.fresh(raw)
            span.set_attribute("cache.hit", envelope is not None)
            if envelope is not None:
                core.metrics.hit()
                return cast(T, envelope.value)
            core.metrics.miss()
            # No write while the shard has no reachable primary: it would only fail.
            return self._load_once(key, loader, tier, store=from_primary)

    def _primary_get(self, key: str, node: str) -> object:
        """`key`'s raw value from its primary, or _UNAVAILABLE."""
        core = self._core
        breaker = core.breakers.of(node)
        if not breaker.allow():
            return _UNAVAILABLE
        try:
            raw = self._on_primary(key, ("GET", key), lambda: self.client.get(key))
        except _REDIS_FAILURES as error:
            core.failed(node, error)
            return _UNAVAILABLE
        breaker.record_success()
        return raw

    def _on_primary(self, key: str, command: tuple[Any, ...], fallback: Callable[[], T]) -> T:
        """`command` on `key`'s primary, on that node's own connection (see the module's doc);
        `fallback` (the same command through the cluster client) when the slot map has no node
        or the node redirects."""
        node = _primary_of(self.client, key)
        if node is None:
            return fallback()
        try:
            connection: Any = self.client.get_redis_connection(node)
            return cast(T, connection.execute_command(*command))
        except _REDIRECTS:
            return fallback()

    def _refresh_topology(self, key: str, node: str) -> str:
        """Follow the shard's promotion once its replica says it is the primary (patching the
        slot map: `_promotion_redirects`); re-read the whole map when no replica is known or
        it cannot be asked. The primary the map now names for `key`."""
        replica = _replica_of(self.client, key)
        if replica is not None:
            try:
                connection: Any = self.client.get_redis_connection(replica)
                role: object = connection.execute_command("ROLE")
            except _REDIS_FAILURES:
                role = None
            if role is not None and not _reports_primary(role):
                return node
            if role is not None:
                for redirect in _promotion_redirects(self.client, node, replica):
                    self.client.nodes_manager.move_slot(redirect)
                promoted = _node_name(self.client, key)
                self._core.promoted(node, promoted)
                return promoted
        try:
            self.client.nodes_manager.initialize()
        except _REDIS_FAILURES:
            return node  # no node answered: the map stays as it was
        promoted = _node_name(self.client, key)
        self._core.promoted(node, promoted)
        return promoted

    def _primary_get_many(self, node: str, keys: Sequence[str]) -> list[Any] | None:
        """Raw values of `keys` (all of `node`) in one pipelined round, or None."""
        core = self._core
        breaker = core.breakers.of(node)
        if not breaker.allow():
            return None
        try:
            raws = self._node_gets(keys)
        except _REDIS_FAILURES as error:
            core.failed(node, error)
            return None
        breaker.record_success()
        return raws

    def _node_gets(self, keys: Sequence[str]) -> list[Any]:
        """GET of `keys` (one shard's) pipelined on their primary's own connection; through the
        cluster client's pipeline when the node redirects."""

        def through_client() -> list[Any]:
            pipe = self.client.pipeline(transaction=False)  # pyright: ignore[reportUnknownMemberType]
            for key in keys:
                pipe.get(key)
            return pipe.execute()

        node = _primary_of(self.client, keys[0])
        if node is None:
            return through_client()
        try:
            connection: Any = self.client.get_redis_connection(node)
            pipe: Any = connection.pipeline(transaction=False)
            for key in keys:
                pipe.get(key)
            return pipe.execute()
        except _REDIRECTS:
            return through_client()

    def _replica_get_many(self, keys: Sequence[str]) -> dict[str, object]:
        """Raw values of `keys` (one shard's) read from a replica in one round trip, READONLY
        first on the same connection; empty when no replica could answer."""
        core = self._core
        replica = _replica_of(self.client, keys[0])
        if replica is None:
            return {}
        name = str(replica.name)
        breaker = core.breakers.of(name)
        if not breaker.allow():
            return {}
        try:
            connection: Any = self.client.get_redis_connection(replica)
            pipe: Any = connection.pipeline(transaction=False)
            pipe.execute_command("READONLY")
            for key in keys:
                pipe.get(key)
            raws: list[object] = pipe.execute()[1:]
        except _REDIS_FAILURES as error:
            core.failed(name, error)
            return {}
        breaker.record_success()
        return dict(zip(keys, raws, strict=True))

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
            self._on_primary(key, ("SET", key, data, "EX", ttl),
                             lambda: self.client.set(key, data, ex=ttl))  # fmt: skip
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
            self._on_primary(key, ("SET", key, data, "EX", ttl),
                             lambda: self.client.set(key, data, ex=ttl))  # fmt: skip
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
        unwritable: set[str] = set()  # keys whose primary did not answer: not written back
        with _span("cache get_many_or_load", unique) as span:
            by_node: dict[str, list[str]] = {}
            for key in unique:
                by_node.setdefault(_node_name(self.client, key), []).append(key)
            for node, node_keys in by_node.items():
                raws = self._primary_get_many(node, node_keys)
                if raws is None:
                    unwritable.update(node_keys)
                    if core.replica_allowed(Consistency.EVENTUAL):
                        read = self._replica_get_many(node_keys)
                        raws = [read[key] for key in node_keys] if read else None
                if raws is None:
                    for _ in node_keys:
                        core.metrics.bypass()
                    missing += node_keys
                    continue
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
                    if key in loaded and key not in unwritable:
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
                    self._on_primary(key, ("UNLINK", key), lambda key=key: self.client.unlink(key))
                except _REDIS_FAILURES as error:
                    core.failed(node, error)
                    confirmed = False
        return confirmed


async def _pipelined(node: Any, commands: Sequence[tuple[Any, ...]]) -> list[object]:
    """`commands` pipelined on one connection of an asyncio `ClusterNode` (the cluster client
    has no per-call way to send READONLY first on the same connection, and its own path
    re-reads the whole cluster on a connection error: see the module's doc)."""
    connection: Any = node.acquire_connection()
    try:
        await node.disconnect_if_needed(connection)  # marked by a slot-map refresh
        await connection.send_packed_command(connection.pack_commands(commands))
        replies: list[object] = [await connection.read_response() for _ in commands]
    except BaseException:
        await connection.disconnect()  # unread replies would answer the next caller
        raise
    finally:
        node.release(connection)
    return replies


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
            raw = await self._primary_get(key, node)
            if raw is _UNAVAILABLE and core.claim_topology_refresh():
                promoted = await self._refresh_topology(key, node)
                if promoted != node:
                    raw = await self._primary_get(key, promoted)
            from_primary = raw is not _UNAVAILABLE
            if not from_primary and core.replica_allowed(consistency):
                raw = (await self._replica_get_many([key])).get(key, _UNAVAILABLE)
                span.set_attribute("cache.replica", raw is not _UNAVAILABLE)
            if raw is _UNAVAILABLE:
                span.set_attribute("cache.hit", False)
                core.metrics.bypass()
                return await self._load_once(key, loader, tier, store=False)
            envelope = core.fresh(raw)
            span.set_attribute("cache.hit", envelope is not None)
            if envelope is not None:
                core.metrics.hit()
                return cast(T, envelope.value)
            core.metrics.miss()
            return await self._load_once(key, loader, tier, store=from_primary)

    async def _primary_get(self, key: str, node: str) -> object:
        """As `CacheAside._primary_get`."""
        core = self._core
        breaker = core.breakers.of(node)
        if not breaker.allow():
            return _UNAVAILABLE
        try:
            raw = await self._on_primary(key, ("GET", key), lambda: self.client.get(key))  # pyright: ignore[reportUnknownMemberType, reportUnknownLambdaType]
        except _REDIS_FAILURES as error:
            core.failed(node, error)
            return _UNAVAILABLE
        breaker.record_success()
        return cast(object, raw)

    async def _on_primary(
        self, key: str, command: tuple[Any, ...], fallback: Callable[[], Awaitable[Any]]
    ) -> Any:
        """As `CacheAside._on_primary`."""
        node = _primary_of(self.client, key)
        if node is None:
            return await fallback()
        try:
            return await node.execute_command(*command)
        except _REDIRECTS:
            return await fallback()

    async def _refresh_topology(self, key: str, node: str) -> str:
        """As `CacheAside._refresh_topology`."""
        replica = _replica_of(self.client, key)
        if replica is not None:
            try:
                role: object = await replica.execute_command("ROLE")
            except _REDIS_FAILURES:
                role = None
            if role is not None and not _reports_primary(role):
                return node
            if role is not None:
                for redirect in _promotion_redirects(self.client, node, replica):
                    await self.client.nodes_manager.move_slot(redirect)
                promoted = _node_name(self.client, key)
                self._core.promoted(node, promoted)
                return promoted
        try:
            await self.client.nodes_manager.initialize()
        except _REDIS_FAILURES:
            return node
        promoted = _node_name(self.client, key)
        self._core.promoted(node, promoted)
        return promoted

    async def _primary_get_many(self, node: str, keys: Sequence[str]) -> list[Any] | None:
        """Raw values of `keys` (all of `node`) in one pipelined round, or None."""
        core = self._core
        breaker = core.breakers.of(node)
        if not breaker.allow():
            return None
        try:
            raws = await self._node_gets(keys)
        except _REDIS_FAILURES as error:
            core.failed(node, error)
            return None
        breaker.record_success()
        return raws

    async def _node_gets(self, keys: Sequence[str]) -> list[Any]:
        """As `CacheAside._node_gets`."""
        node = _primary_of(self.client, keys[0])
        if node is not None:
            with contextlib.suppress(*_REDIRECTS):
                return await _pipelined(node, [("GET", key) for key in keys])
        pipe = self.client.pipeline()  # pyright: ignore[reportUnknownMemberType]
        for key in keys:
            pipe.get(key)  # pyright: ignore[reportUnknownMemberType]
        return await pipe.execute()  # pyright: ignore[reportUnknownMemberType]

    async def _replica_get_many(self, keys: Sequence[str]) -> dict[str, object]:
        """As `CacheAside._replica_get_many`, on one of the replica node's own connections."""
        core = self._core
        replica = _replica_of(self.client, keys[0])
        if replica is None:
            return {}
        name = str(replica.name)
        breaker = core.breakers.of(name)
        if not breaker.allow():
            return {}
        try:
            raws = (await _pipelined(replica, [("READONLY",), *(("GET", k) for k in keys)]))[1:]
        except _REDIS_FAILURES as error:
            core.failed(name, error)
            return {}
        breaker.record_success()
        return dict(zip(keys, raws, strict=True))

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
            await self._on_primary(key, ("SET", key, data, "EX", ttl),
                                   lambda: self.client.set(key, data, ex=ttl))  # pyright: ignore[reportUnknownMemberType, reportUnknownLambdaType]  # fmt: skip
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
            await self._on_primary(key, ("SET", key, data, "EX", ttl),
                                   lambda: self.client.set(key, data, ex=ttl))  # pyright: ignore[reportUnknownMemberType, reportUnknownLambdaType]  # fmt: skip
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
        unwritable: set[str] = set()  # keys whose primary did not answer: not written back
        with _span("cache get_many_or_load", unique) as span:
            by_node: dict[str, list[str]] = {}
            for key in unique:
                by_node.setdefault(_node_name(self.client, key), []).append(key)
            for node, node_keys in by_node.items():
                raws = await self._primary_get_many(node, node_keys)
                if raws is None:
                    unwritable.update(node_keys)
                    if core.replica_allowed(Consistency.EVENTUAL):
                        read = await self._replica_get_many(node_keys)
                        raws = [read[key] for key in node_keys] if read else None
                if raws is None:
                    for _ in node_keys:
                        core.metrics.bypass()
                    missing += node_keys
                    continue
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
                    if key in loaded and key not in unwritable:
                        await self._store(key, loaded[key], tier, load_seconds)
        return {key: found[key] for key in unique if key in found}

    async def invalidate(self, *keys: str) -> bool:
        """As `CacheAside.invalidate`."""
        core = self._core
        confirmed = True
        for key in keys:
            node = _node_name(self.client, key)
            try:
                await self._on_primary(
                    key, ("UNLINK", key), lambda key=key: self.client.unlink(key)
                )  # pyright: ignore[reportUnknownMemberType, reportUnknownLambdaType]
            except _REDIS_FAILURES as error:
                core.failed(node, error)
                confirmed = False
        return confirmed
