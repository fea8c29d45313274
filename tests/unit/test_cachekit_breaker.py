"""The circuit breaker's states on a fake clock."""

from __future__ import annotations

import pytest

from cachekit.breaker import BreakerSettings, BreakerState, CircuitBreaker
from tests.support.cachekit_fakes import FakeClock


def breaker(clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker(BreakerSettings(failure_threshold=3, open_seconds=5), clock)


def test_opens_after_consecutive_failures_only() -> None:
    clock = FakeClock()
    b = breaker(clock)
    b.record_failure()
    b.record_failure()
    b.record_success()  # a success in between resets the run
    b.record_failure()
    b.record_failure()
    assert b.state is BreakerState.CLOSED and b.allow()
    b.record_failure()
    assert b.state is BreakerState.OPEN
    assert not b.allow()


def test_half_opens_after_the_open_time_and_lets_one_probe_through() -> None:
    clock = FakeClock()
    b = breaker(clock)
    for _ in range(3):
        b.record_failure()
    clock.advance(4.9)
    assert not b.allow()
    clock.advance(0.1)
    assert b.state is BreakerState.HALF_OPEN
    assert b.allow()  # the probe
    assert not b.allow()  # everyone else while it is out


def test_a_successful_probe_closes_it() -> None:
    clock = FakeClock()
    b = breaker(clock)
    for _ in range(3):
        b.record_failure()
    clock.advance(5)
    assert b.allow()
    b.record_success()
    assert b.state is BreakerState.CLOSED
    assert all(b.allow() for _ in range(5))


def test_a_failed_probe_opens_it_for_another_period() -> None:
    clock = FakeClock()
    b = breaker(clock)
    for _ in range(3):
        b.record_failure()
    clock.advance(5)
    assert b.allow()
    b.record_failure()
    assert b.state is BreakerState.OPEN
    clock.advance(4)
    assert not b.allow()
    clock.advance(1)
    assert b.allow()


@pytest.mark.parametrize(("threshold", "seconds"), [(0, 1.0), (1, 0.0), (1, -2.0)])
def test_bad_settings_are_refused(threshold: int, seconds: float) -> None:
    with pytest.raises(ValueError, match="must be"):
        BreakerSettings(failure_threshold=threshold, open_seconds=seconds)
