"""How a Redis Cluster's slots spread over its primaries: the arithmetic of scaling it.

Shared by the plan (what a deploy will move), the ops CLI (what a scale-in needs) and the docs;
the moves themselves are bootstrap.sh's (components/redis/scripts/scale.sh).
"""

from __future__ import annotations

import math

SLOT_COUNT = 16384
"""Hash slots of every Redis Cluster."""
EVEN_SPREAD_SLOTS = SLOT_COUNT // 100
"""After a change, max - min slots per primary stays within 1 % of the slots."""


def slots_moved_by(before: int, after: int) -> int:
    """Slots that change owner when `before` evenly loaded primaries become `after`.

    Scale-out: each new primary receives its even share, taken from the old ones. Scale-in: the
    primaries that leave hand all they serve to the ones that stay, which then hold an even share.
    """
    if before < 1 or after < 1:
        raise ValueError("a cluster has at least one primary")
    if before == after:
        return 0
    return math.ceil(SLOT_COUNT * abs(after - before) / max(before, after))


def scale_in_fits(
    used_bytes: float, primaries_after: int, maxmemory_bytes: float, fill: float
) -> bool:
    """Whether `used_bytes` of data, spread evenly over `primaries_after` primaries, keeps each
    below `fill` of its `maxmemory_bytes` — the check bootstrap.sh makes before it empties one."""
    if primaries_after < 1:
        raise ValueError("a cluster has at least one primary")
    return used_bytes / primaries_after <= maxmemory_bytes * fill
