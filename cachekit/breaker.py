"""A circuit breaker per Redis node, so a dead or hung shard costs no timeout per request.

closed     calls go to Redis; `failure_threshold` consecutive failures open the breaker.
open       calls skip Redis (the caller goes to the source) for `open_seconds`.
half-open  after `open_seconds` one call is let through as a probe (others still skip): its
           success closes the breaker, its failure opens it for another `open_seconds`.

Consecutive failures, not a ratio: a healthy node does not fail several calls in a row, and a
dead one fails every call, so a short run is both quick to trip and hard to trip by accident.
The clock is injected (`time.monotonic` by default) so tests step it instead of sleeping.
"""

from __future__ import annotations

import enum
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

Clock = Callable[[], float]

DEFAULT_FAILURE_THRESHOLD = 5
DEFAULT_OPEN_SECONDS = 5.0
"""About one Redis Cluster failover (node timeout 4 s plus the election): a primary that died is
replaced by then, and a probe every few seconds costs nothing noticeable."""


class BreakerState(enum.Enum):
    """A node's breaker: closed (use Redis), open (skip it), half-open (one probe is out)."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(frozen=True)
class BreakerSettings:
    """When a node's breaker opens and how long it stays open."""

    failure_threshold: int = DEFAULT_FAILURE_THRESHOLD
    """Consecutive failed calls that open the breaker (>= 1)."""
    open_seconds: float = DEFAULT_OPEN_SECONDS
    """How long an open breaker skips Redis before it lets one probe through (> 0)."""

    def __post_init__(self) -> None:
        if self.failure_threshold < 1:
            raise ValueError(f"failure_threshold is {self.failure_threshold}; it must be >= 1")
        if not self.open_seconds > 0:
            raise ValueError(f"open_seconds is {self.open_seconds}; it must be > 0")


class CircuitBreaker:
    """One node's breaker; thread-safe, and cheap on the closed path (no lock taken)."""

    def __init__(self, settings: BreakerSettings, clock: Clock = time.monotonic) -> None:
        self._settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._probing = False

    @property
    def state(self) -> BreakerState:
        """The state now (an open breaker whose time is up reads as half-open)."""
        if self._state is BreakerState.OPEN and self._probe_due():
            return BreakerState.HALF_OPEN
        return self._state

    def _probe_due(self) -> bool:
        return self._clock() - self._opened_at >= self._settings.open_seconds

    def _closed(self) -> bool:
        return self._state is BreakerState.CLOSED

    def allow(self) -> bool:
        """Whether this call may go to Redis. While half-open, only the first caller (the probe)
        is let through until it reports back."""
        if self._state is BreakerState.CLOSED:
            return True
        with self._lock:
            if self._closed():  # closed by another thread since the check above
                return True
            if self._state is BreakerState.OPEN and self._probe_due():
                self._state = BreakerState.HALF_OPEN
                self._probing = False
            if self._state is BreakerState.HALF_OPEN and not self._probing:
                self._probing = True
                return True
            return False

    def probe_now(self) -> None:
        """Let the next call probe at once (an open breaker becomes half-open): the slot map
        says the node's role changed, so its failures say nothing about it any more."""
        with self._lock:
            if self._state is BreakerState.OPEN:
                self._state = BreakerState.HALF_OPEN
                self._probing = False

    def record_success(self) -> None:
        if self._state is BreakerState.CLOSED and self._failures == 0:
            return
        with self._lock:
            self._failures = 0
            self._state = BreakerState.CLOSED
            self._probing = False

    def record_failure(self) -> None:
        with self._lock:
            self._failures += 1
            if (
                self._state is BreakerState.HALF_OPEN
                or self._failures >= self._settings.failure_threshold
            ):
                self._state = BreakerState.OPEN
                self._opened_at = self._clock()
                self._probing = False


class BreakerBoard:
    """The breakers of a cluster's nodes, by node name (`host:port`), created on first use."""

    def __init__(self, settings: BreakerSettings, clock: Clock = time.monotonic) -> None:
        self.settings = settings
        self._clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}
        self._lock = threading.Lock()

    def of(self, node: str) -> CircuitBreaker:
        breaker = self._breakers.get(node)
        if breaker is None:
            with self._lock:
                breaker = self._breakers.setdefault(
                    node, CircuitBreaker(self.settings, self._clock)
                )
        return breaker

    def states(self) -> dict[str, BreakerState]:
        """Every node's breaker state now, by node name."""
        return {node: breaker.state for node, breaker in list(self._breakers.items())}
