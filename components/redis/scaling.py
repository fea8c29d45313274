"""What a change of `redis.primaries` does to a live cluster, in words for plan.md."""

from __future__ import annotations

from stackconfig.config import RedisConfig
from stackconfig.sharding import slots_moved_by


def scaling_summary(settings: RedisConfig, name: str = "redis") -> str | None:
    """One line for the plan, or None when `deployedPrimaries` is unset or equal to `primaries`.

    The order is the component's (components/redis/cluster.py): drain Job, StatefulSet, reconcile
    Job; a scale-in drains the pods that go before the StatefulSet deletes them.
    """
    before, after = settings.deployed_primaries, settings.primaries
    if before is None or before == after:
        return None
    moved = slots_moved_by(before, after)
    group = 1 + settings.replicas_per_primary
    if after > before:
        return (
            f"scale-out {before} → {after} primaries: {moved} slots move "
            f"(StatefulSet {before * group} → {after * group} pods first, then the reconcile Job)"
        )
    leaving = ", ".join(f"{name}-{index}" for index in range(after * group, before * group))
    return (
        f"scale-in {before} → {after} primaries: drain first — {moved} slots move off "
        f"{leaving} before the StatefulSet shrinks to {after * group} pods"
    )
