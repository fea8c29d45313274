"""ADR-011's consistency classes, as the kit enforces them.

| Class | ADR's data | Redis | Edge | Tiers | After a write to the source |
|---|---|---|---|---|---|
| strong | financial, inventory (checkout, stock decisions) | never | never | - | nothing |
| read_your_writes | user sessions | yes | never | short, medium | `put` the new value |
| causal | shopping cart, orders | yes | never | short | `invalidate` the key |
| eventual | preferences, analytics, catalog | yes | yes | any | `invalidate`, or let the TTL run |

strong: cache-aside cannot be strong. A replica promoted after a failover may lack the last
acknowledged writes, and an invalidation races with readers that loaded the old value just before
it; so `get_or_load(..., consistency=STRONG)` always calls the loader (no cache read or write, no
single-flight joining a load that started before the caller) and counts a `bypass`. A display-only
copy (a "few left" badge) is a different, eventual, read.

read_your_writes under `allkeys-lru`: the cluster may evict any key, sessions included, whatever
their TTL; Redis therefore never holds the only copy. The session store is the source: a write
goes there first, then `put` writes the new value through (reads go to primaries, where the `put`
landed). An evicted session is a miss, loaded again from the source - never a lost or an older
session. When `put` returns False, the service calls `invalidate` so the next read loads (and if
Redis refuses that too, the value it holds is bounded by its tier's TTL); a service
that must not lose sessions before their TTL in Redis alone needs a separate cluster with
`maxmemory-policy noeviction` (writes then fail when memory is full, and `RedisMemoryHigh` warns
at 80 %) - not this shared cache.

causal: a cart's writes must be seen in order by its owner. Invalidating after each write (never
`put`, which could race a slower earlier `put` and leave the older state) makes the next read load
the current state from the source; the short tier bounds any leftover race to minutes, and the
edge never caches `/cart` or `/checkout` (bypass paths).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from stackconfig.adr import TIER_NAMES


class Consistency(enum.StrEnum):
    """How fresh a read must be; see the module's table."""

    STRONG = "strong"
    READ_YOUR_WRITES = "read_your_writes"
    CAUSAL = "causal"
    EVENTUAL = "eventual"


@dataclass(frozen=True)
class ConsistencyRules:
    """What a consistency class allows."""

    in_redis: bool
    """Whether values may be cached in Redis at all."""
    at_edge: bool
    """Whether responses built from them may be cached by the CDN."""
    tiers: tuple[str, ...]
    """TTL tiers the values may be cached on."""
    after_write: str
    """What the service does after writing the source."""
    from_replica: bool = False
    """Whether a replica may serve the cached value while its shard has no reachable primary.
    A replica may lag its primary by the last writes or invalidations, so only eventual data
    (already stale up to its TTL by design) may be read there."""


CONSISTENCY_RULES: Mapping[Consistency, ConsistencyRules] = MappingProxyType(
    {
        Consistency.STRONG: ConsistencyRules(False, False, (), "nothing"),
        Consistency.READ_YOUR_WRITES: ConsistencyRules(True, False, ("short", "medium"), "put"),
        Consistency.CAUSAL: ConsistencyRules(True, False, ("short",), "invalidate"),
        Consistency.EVENTUAL: ConsistencyRules(
            True, True, TIER_NAMES, "invalidate", from_replica=True
        ),
    }
)


def check_tier(consistency: Consistency, tier: str) -> None:
    """Raise ValueError when `consistency` does not allow caching on `tier`."""
    rules = CONSISTENCY_RULES[consistency]
    if rules.in_redis and tier not in rules.tiers:
        allowed = ", ".join(rules.tiers)
        raise ValueError(f"{consistency.value} data may be cached on {allowed}, not {tier!r}")
