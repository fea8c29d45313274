"""The scenarios of ADR-011's "Testing & Validation Strategies", scaled to the machine.

Every user count and duration comes from `stackconfig.adr`; a run multiplies the users by
`Scale.users` and the durations by `Scale.time` (the report states both). Two presets: FULL for
`make loadtest` (minutes), SHORT for the integration tests (well under a minute each).
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from stackconfig import adr


@dataclass(frozen=True)
class Scale:
    """Users and durations of a run relative to the ADR's (a 2-core machine cannot hold 1,000
    users; the ADR's minutes become seconds in CI)."""

    users: float
    time: float
    name: str = "custom"
    seconds: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    """Durations that differ from `time` x the ADR's, by scenario name."""

    def __post_init__(self) -> None:
        if not 0 < self.users <= 1:
            raise ValueError(f"users scale must be in (0, 1], got {self.users}")
        if not 0 < self.time <= 1:
            raise ValueError(f"time scale must be in (0, 1], got {self.time}")


FULL = Scale(
    users=0.01,
    time=0.4,
    name="full",
    # The cold start runs the ADR's own 10 minutes: its marks are "after 5 minutes" and "after
    # 10 minutes", and the hit-rate rule's rate window is 5 minutes whatever the scale, so
    # CacheHitRateLow can only resolve once the first minutes' misses have left it.
    seconds=MappingProxyType({"cold-start": adr.HIT_RATE_WARNING_FOR_SECONDS}),
)
"""1,000 ADR users -> 10 virtual users (each one request per 0.5-1.5 s); 5 ADR minutes -> 2 min."""
SHORT = Scale(users=0.01, time=0.05, name="short")
"""CI: the same users, a twentieth of the ADR's durations (5 min -> 15 s, 10 min -> 30 s)."""


@dataclass(frozen=True)
class Scenario:
    name: str
    summary: str
    users: int
    """The ADR's concurrent users."""
    seconds: float
    """The ADR's duration (ours where the ADR gives none, with the reason in `summary`)."""
    marks: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    memory: str = "32mb"
    """maxmemory per lab node (the production 8Gi scaled down)."""
    catalog_size: int = 50_000
    """Products (and prices) at the ADR's scale (ours: the ADR names no catalog size). A run
    scales it like the requests (`catalog_at`), so each product gets as many requests as at
    full scale and the hit rates compare."""
    zipf: float = 1.1
    chaos: str = "none"
    """none | kill (SIGKILL a primary at mid-run) | pause (SIGSTOP a primary, SIGCONT later)."""
    warm: bool = True
    """Warm the cache before measuring (every scenario but the cold start)."""
    no_cache_pass: bool = False
    """Run the same load again on the service without the cache, to measure the database load
    reduction (baseline and peak: the ADR's 70-80 % is a steady-state figure)."""

    def users_at(self, scale: Scale) -> int:
        return max(2, round(self.users * scale.users))

    def seconds_at(self, scale: Scale) -> float:
        return scale.seconds.get(self.name, self.seconds * scale.time)

    def catalog_at(self, scale: Scale) -> int:
        requests_factor = scale.users * self.seconds_at(scale) / self.seconds
        return max(20, round(self.catalog_size * requests_factor))


MEMORY_PRESSURE_MARKS: Mapping[str, float] = MappingProxyType(
    {"failed_requests": 0.0, "evicted_keys": 0.0}
)
"""Ours (the ADR names no figures for it): no request fails, and keys are evicted (else the
working set did not exceed maxmemory and the run proved nothing)."""

SCENARIOS: Mapping[str, Scenario] = MappingProxyType(
    {
        scenario.name: scenario
        for scenario in (
            Scenario(
                "baseline",
                "ADR baseline load test: normal traffic, warm cache",
                adr.BASELINE_USERS,
                adr.BASELINE_SECONDS,
                adr.BASELINE_MARKS,
                no_cache_pass=True,
            ),
            Scenario(
                "peak",
                "ADR peak load test: 10x the baseline's users",
                adr.PEAK_USERS,
                adr.PEAK_SECONDS,
                adr.PEAK_MARKS,
                no_cache_pass=True,
            ),
            Scenario(
                "cold-start",
                "ADR cache warming test: empty cache, baseline users, 10 minutes",
                adr.COLD_START_USERS,
                # Long enough for the ADR's "hit rate after 10 minutes".
                adr.HIT_RATE_WARNING_FOR_SECONDS,
                adr.COLD_START_MARKS,
                warm=False,
            ),
            Scenario(
                "failover",
                "ADR failover test: SIGKILL a primary at mid-run under peak load",
                adr.PEAK_USERS,
                adr.PEAK_SECONDS,
                adr.FAILOVER_MARKS,
                chaos="kill",
            ),
            Scenario(
                "memory-pressure",
                "working set above maxmemory (ours): evictions, hit rate, no errors",
                adr.BASELINE_USERS,
                adr.BASELINE_SECONDS,
                MEMORY_PRESSURE_MARKS,
                memory="6mb",
                catalog_size=3_000_000,
                zipf=0.7,
            ),
            Scenario(
                "partition",
                "a primary paused (SIGSTOP) at mid-run under peak load, resumed later; "
                "the failover test's marks",
                adr.PEAK_USERS,
                adr.PEAK_SECONDS,
                adr.FAILOVER_MARKS,
                chaos="pause",
            ),
        )
    }
)


def main(argv: list[str]) -> int:
    """`python3 -m loadtest.scenarios NAME`: exit 2 with one line unless NAME is a scenario
    (stdlib only: the Makefile checks SCENARIO before installing anything)."""
    name = argv[0] if argv else ""
    if name in SCENARIOS:
        return 0
    print(
        f"error: SCENARIO={name!r} is not a scenario; allowed: {', '.join(SCENARIOS)}",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
