"""The write pause of a manual failover (`cachectl failover`), measured on the lab.

Run: `.venv/bin/python -m bench.failover_pause_bench [--rounds 3]` (`make bench` runs it).

A 3 + 3 lab from the production redis.conf (the stack's node timeout). One writer SETs keys of
one shard's slots in a tight loop (each SET waits for its answer, socket timeout 2 s) while
`cachectl failover` promotes that shard's replica. The pause is the longest gap between two
answered SETs of that shard around the failover (what a client of the shard sees: its writes
are held by the primary, then redirected to the promoted replica). Printed per round, with the
median, beside the median gap of the same writer when nothing happens (the baseline of this
machine). A third failover of the same shard seconds after two others is refused by Redis
(see docs/runbooks/redis-failover.md); its pause and how long cachectl took to say so are
printed too.
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import threading
import time
from dataclasses import dataclass, field

from redis.crc import key_slot

from cachectl import failover as failover_command
from cachectl.connection import Endpoint, settings_from
from components.redis.conf import redis_conf_spec, render_redis_conf
from lab.cluster import LabNode, RedisLab, acked_set
from stackconfig.config import RedisConfig


@dataclass
class ShardWriter:
    """SETs to one shard's slots until stopped; when each one was answered OK."""

    lab: RedisLab
    key: str
    answered: list[float] = field(default_factory=list[float])
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> ShardWriter:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self) -> None:
        client = self.lab.client(socket_timeout=2.0, socket_connect_timeout=1.0)
        number = 0
        while not self._stop.is_set():
            written, _ = acked_set(client, self.key, str(number), replicas=0)
            if written:
                self.answered.append(time.monotonic())
            number += 1
        client.close()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def longest_gap(self, start: float, end: float) -> float:
        """Longest time without an answered SET between `start` and `end`."""
        moments = [start, *(t for t in self.answered if start <= t <= end), end]
        return max(b - a for a, b in itertools.pairwise(moments))

    def median_gap(self) -> float:
        gaps = [b - a for a, b in itertools.pairwise(self.answered)]
        return statistics.median(gaps) if gaps else 0.0


def _failover(lab: RedisLab, target: LabNode) -> tuple[bool, float, str]:
    settings = settings_from(
        ",".join(node.address for node in lab.nodes),
        None,
        False,
        None,
        environ={"REDISCLI_AUTH": lab.password or ""},
    )
    started = time.monotonic()
    try:
        failover_command.failover(settings, Endpoint(target.host, target.port), retry_within=0)
    except failover_command.CachectlError as error:
        return False, time.monotonic() - started, str(error)
    return True, time.monotonic() - started, ""


def measure(rounds: int) -> None:
    conf = render_redis_conf(redis_conf_spec(RedisConfig()))
    pauses: list[float] = []
    with RedisLab(conf) as lab:
        primary = lab.primaries_now()[0]
        key = lab.key_in_slots_of(primary, "pause")
        writer = ShardWriter(lab, key).start()
        try:
            time.sleep(2.0)
            baseline = writer.median_gap()
            for _ in range(rounds):
                lab.wait_cluster_ok()
                shard_primary = next(p for p in lab.primaries_now() if key_in(lab, p, key))
                time.sleep(1.0)
                before = time.monotonic()
                done, seconds, _ = _failover(lab, shard_primary)
                time.sleep(1.0)
                pause = writer.longest_gap(before, time.monotonic())
                pauses.append(pause)
                state = "done" if done else "REFUSED"
                print(f"  manual failover {state} in {seconds:.2f} s; longest write gap "
                      f"{pause * 1000:.0f} ms")  # fmt: skip
                # Redis refuses a third failover of a shard within 2 x node timeout of the
                # first; rounds are spaced so that each one is a normal failover.
                time.sleep(2 * RedisConfig().node_timeout_ms / 1000 + 1)
            # The refused case: two failovers back and forth, then a third at once.
            lab.wait_cluster_ok()
            shard_primary = next(p for p in lab.primaries_now() if key_in(lab, p, key))
            for _ in range(2):
                _failover(lab, shard_primary)
            time.sleep(0.5)
            before = time.monotonic()
            done, seconds, reason = _failover(lab, shard_primary)
            time.sleep(3.0)
            refused_pause = writer.longest_gap(before, time.monotonic())
        finally:
            writer.stop()
    print(f"  baseline: median gap between answered SETs {baseline * 1000:.1f} ms")
    print(
        f"manual failover write pause: median {statistics.median(pauses) * 1000:.0f} ms, "
        f"max {max(pauses) * 1000:.0f} ms over {len(pauses)} rounds "
        f"({statistics.median(pauses) / baseline:.0f}x the baseline gap)"
    )
    outcome = "refused" if not done else "done (not refused: see the runbook)"
    print(
        f"third failover seconds after two others: {outcome}, cachectl answered in "
        f"{seconds:.1f} s, longest write gap {refused_pause * 1000:.0f} ms"
        + (f"\n  {reason[:160]}..." if reason else "")
    )


def key_in(lab: RedisLab, primary: LabNode, key: str) -> bool:
    slot = key_slot(key.encode())
    return any(first <= slot <= last for first, last in lab.slots_of(primary))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.failover_pause_bench")
    parser.add_argument("--rounds", type=int, default=3)
    options = parser.parse_args()
    if options.rounds < 1:
        parser.error("--rounds must be at least 1")
    print("Write pause of a manual failover (cachectl failover) on a 3 + 3 lab:")
    measure(options.rounds)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
