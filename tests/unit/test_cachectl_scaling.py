"""cachectl scale: the slot distribution and the scale-in memory check, on given figures."""

from __future__ import annotations

import pytest

from cachectl.connection import CachectlError
from cachectl.scaling import Distribution, Shard, check_scale_in

GIB = 2**30


def shards(*slots: int, used: int = 2 * GIB, maxmemory: int = 6 * GIB) -> Distribution:
    return Distribution(
        tuple(Shard(f"redis-{i}:6379", n, used, maxmemory, 1) for i, n in enumerate(slots))
    )


def test_even_needs_every_slot_and_a_spread_within_one_percent() -> None:
    assert shards(5461, 5461, 5462).even
    assert not shards(5461, 5461, 5000).even  # slots missing
    assert not shards(4096, 4096, 8192).even  # 4096 apart


def test_scale_in_fits_while_each_primary_stays_below_the_warning_threshold() -> None:
    current = shards(4096, 4096, 4096, 4096, used=3 * GIB)  # 12 GiB of data
    fits = check_scale_in(current, 3)  # 4 GiB each, limit 80 % of 6 GiB = 4.8 GiB
    assert fits.fits and fits.slots_moving == 4096
    tight = check_scale_in(current, 2)  # 6 GiB each
    assert not tight.fits


def test_scale_in_check_refuses_nonsense() -> None:
    with pytest.raises(CachectlError):
        check_scale_in(shards(16384), 0)
    with pytest.raises(CachectlError):
        check_scale_in(Distribution(()), 1)
