"""Cost of the service kit on a real Redis Cluster (a 3-primary lab from the production
redis.conf), measured against a baseline in the same run.

Run: `.venv/bin/python -m bench.cachekit_bench [--calls 3000] [--rounds 7]`.

1. Hit overhead: `CacheAside.get_or_load` on keys that are cached, against a bare `GET` of the
   same keys with the same cluster client. Rounds alternate the order of the two; printed are the
   median time per call of each and the median of the per-round ratios (goal <= 1.3x). The
   kit's extra work: breaker check, span (no-op without an OpenTelemetry SDK), header and JSON
   decoding, two counter increments.
2. Breaker open: the primary holding the keys is killed (no replica, so it stays down); once its
   breaker is open, `get_or_load` goes straight to the loader. Printed is the added time per
   call against calling the loader directly (goal <= 1 ms): what a dead shard costs a request.
   The calls fit inside one `open_seconds`, so no probe is timed.

On a shared 2-core machine the client competes with the servers: compare ratios, not absolutes.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from prometheus_client import CollectorRegistry

from cachekit import BreakerState, CacheAside, cluster_client
from cachekit.keys import cache_key
from components.redis.conf import redis_conf_spec, render_redis_conf
from lab.cluster import RedisLab, key_in_ranges
from stackconfig.config import RedisConfig

HIT_RATIO_GOAL = 1.3
BREAKER_OPEN_GOAL_MS = 1.0
TIMEOUT = 0.25
"""Seconds; above the kit's 50 ms default so that a busy shared machine does not time out
healthy calls and open breakers during the hit measurement."""


def _per_call(action: Callable[[str], object], keys: list[str]) -> float:
    start = time.perf_counter()
    for key in keys:
        action(key)
    return (time.perf_counter() - start) / len(keys)


def _product(key: str) -> dict[str, object]:
    return {"key": key, "name": "Stainless kettle 1.7 l", "price": 39.9, "tags": ["kitchen"] * 5}


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.cachekit_bench", description=__doc__)
    parser.add_argument("--calls", type=int, default=3000, help="calls per measurement")
    parser.add_argument("--rounds", type=int, default=7)
    options = parser.parse_args()

    conf = render_redis_conf(redis_conf_spec(RedisConfig()))
    with (
        tempfile.TemporaryDirectory() as base,
        RedisLab(conf, primaries=3, replicas=0, base_dir=Path(base)) as lab,
    ):
        lab.start()
        node = lab.nodes[0]
        client = cluster_client(
            node.host,
            node.port,
            password=lab.password,
            timeout=TIMEOUT,
            address_remap=lambda address: (lab.address_of(address[0]), address[1]),
        )
        cache = CacheAside(client, service="bench", registry=CollectorRegistry())
        keys = [cache_key("bench", "product", str(n)) for n in range(options.calls)]
        for key in keys:
            cache.put(key, _product(key))

        def bare(key: str) -> object:
            return client.get(key)

        def kit(key: str) -> object:
            return cache.get_or_load(key, lambda: _product(key))

        bare_times: list[float] = []
        kit_times: list[float] = []
        ratios: list[float] = []
        for round_number in range(options.rounds):
            if round_number % 2:
                kit_time, bare_time = _per_call(kit, keys), _per_call(bare, keys)
            else:
                bare_time, kit_time = _per_call(bare, keys), _per_call(kit, keys)
            bare_times.append(bare_time)
            kit_times.append(kit_time)
            ratios.append(kit_time / bare_time)
        ratio = statistics.median(ratios)
        print(f"Hit overhead: {options.rounds} rounds of {options.calls} calls, 3-primary lab")
        print(f"  bare cluster GET:   {statistics.median(bare_times) * 1e6:8.1f} us per call")
        print(f"  kit get_or_load:    {statistics.median(kit_times) * 1e6:8.1f} us per call")
        verdict = "ok" if ratio <= HIT_RATIO_GOAL else "MISSED"
        print(f"  ratio (median of rounds): {ratio:.2f}x (goal <= {HIT_RATIO_GOAL}x: {verdict})")

        victim = lab.primaries_now()[0]
        victim_slots = lab.slots_of(victim)
        victim_keys = [k for k in keys if key_in_ranges(k, victim_slots)]
        lab.kill(victim)
        probe = victim_keys[0]
        for _ in range(10):
            cache.get_or_load(probe, lambda: _product(probe))
        victim_node = client.get_node_from_key(probe)
        state = cache.breaker_states().get(str(victim_node.name)) if victim_node else None
        if state is not BreakerState.OPEN:
            print(f"  breaker did not open after 10 failed calls (state {state}); stopping")
            client.close()
            return 1
        open_times: list[float] = []
        loader_times: list[float] = []
        sample = victim_keys[: min(len(victim_keys), 1000)]
        for _ in range(options.rounds):
            loader_times.append(_per_call(_product, sample))
            open_times.append(_per_call(kit, sample))
        added_ms = (statistics.median(open_times) - statistics.median(loader_times)) * 1000
        verdict = "ok" if added_ms <= BREAKER_OPEN_GOAL_MS else "MISSED"
        print(f"Breaker open (primary killed, no replica): {len(sample)} calls x {options.rounds}")
        print(f"  loader alone:          {statistics.median(loader_times) * 1e6:8.1f} us per call")
        print(f"  get_or_load, open:     {statistics.median(open_times) * 1e6:8.1f} us per call")
        print(
            f"  added: {added_ms:.3f} ms per call (goal <= {BREAKER_OPEN_GOAL_MS:g} ms: {verdict})"
        )
        client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
