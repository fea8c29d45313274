"""Failover and throughput of the Redis Cluster, measured on the local lab.

Run: `.venv/bin/python -m bench.redis_bench [--window 30] [--rate 200] [--rounds 3]`.

1. Failover (3 + 3 lab from the production redis.conf, the stack's node timeout): one writer issues
   SETs at a fixed rate, each to the next key of a sequence that covers every slot, for `--window`
   seconds; a primary is SIGKILLed `--kill-at` seconds in. Printed:
   - promotion: seconds from the SIGKILL to the replica's "Failover election won" log line;
   - recovery: seconds from the SIGKILL to the first SET answered OK on a key of the killed
     primary's slots (goal <= 8 s; ADR-011 <= 30 s);
   - availability: SETs answered OK / SETs attempted over the whole window (goal >= 98 %). A
     write counts once, at its scheduled time, with no retry: what a cache-aside client sees
     before it falls back to the origin.
2. Throughput: `redis-benchmark --cluster` GET and SET against two 3 + 3 labs that differ only in
   persistence: the production redis.conf (AOF everysec + RDB save points) and the same with
   `--appendonly no --save ""`. Runs alternate between the two, `--rounds` times, same -c/-n/-P/-r;
   printed as medians, and as the median of the ratios of paired runs (goals: GET >= 0.9,
   SET >= 0.8). These labs run without a
   password because redis-benchmark only takes one on its command line. On a shared 2-core
   machine the client competes with the servers: compare the ratios, not absolute figures.
3. Rolling restart (3 + 3 lab): a changed redis.conf rolled as the StatefulSet does (one pod at a
   time, preStop hand-over, the next pod after readiness) under a steady SET + WAIT 1 writer.
   Printed: the roll's duration, writes answered / attempted during it, and acknowledged writes
   lost (goal: 0).
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import signal
import statistics
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime

from components.redis.conf import redis_conf_spec, render_redis_conf
from lab.cluster import RedisLab, SteadyWriter, acked_set, key_in_ranges
from stackconfig.config import EvictionPolicy, RedisConfig

RECOVERY_GOAL_S = 8.0
RECOVERY_ADR_S = 30.0
AVAILABILITY_GOAL = 0.98
GET_RATIO_GOAL = 0.9
SET_RATIO_GOAL = 0.8


def production_conf() -> str:
    return render_redis_conf(redis_conf_spec(RedisConfig()))


@dataclass(frozen=True)
class FailoverResult:
    promotion_s: float | None
    recovery_s: float | None
    attempted: int
    succeeded: int
    failed_in_victim_slots: int
    window_s: float

    @property
    def availability(self) -> float:
        return self.succeeded / self.attempted if self.attempted else 0.0


def measure_failover(window_s: float, rate: float, kill_at_s: float) -> FailoverResult:
    with RedisLab(production_conf()) as lab:
        victim = lab.primaries_now()[0]
        successor = lab.replicas_of(victim)[0]
        ranges = lab.slots_of(victim)

        def in_victim_slots(key: str) -> bool:
            return key_in_ranges(key, ranges)

        client = lab.client(socket_timeout=0.5, socket_connect_timeout=0.5)
        attempted = succeeded = failed_in_victim = 0
        killed_at: float | None = None
        killed_wall = 0.0
        recovery: float | None = None
        interval = 1.0 / rate
        start = time.monotonic()
        number = 0
        while True:
            scheduled = start + number * interval
            if scheduled - start >= window_s:
                break
            delay = scheduled - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            if killed_at is None and scheduled - start >= kill_at_s:
                victim_process = victim.process
                assert victim_process is not None
                victim_process.send_signal(signal.SIGKILL)
                killed_at = time.monotonic()
                killed_wall = time.time()
            key = f"bench:failover:{number}"
            written, _ = acked_set(client, key, "x", replicas=0)
            attempted += 1
            number += 1
            if written:
                succeeded += 1
                if (
                    killed_at is not None
                    and recovery is None
                    and in_victim_slots(key)
                    and time.monotonic() > killed_at
                ):
                    recovery = time.monotonic() - killed_at
            elif in_victim_slots(key):
                failed_in_victim += 1
        client.close()
        promoted = election_won_at(successor.log_path.read_text())
        promotion = None if promoted is None or killed_at is None else promoted - killed_wall
        return FailoverResult(promotion, recovery, attempted, succeeded, failed_in_victim, window_s)


def election_won_at(log: str) -> float | None:
    """Wall-clock time of the replica's "Failover election won" line (redis logs local time)."""
    for line in log.splitlines():
        if "Failover election won" in line:
            stamp = " ".join(line.split()[1:5])
            return datetime.strptime(stamp, "%d %b %Y %H:%M:%S.%f").timestamp()
    return None


def run_benchmark(
    tool: str, lab: RedisLab, clients: int, requests: int, pipeline: int, keyspace: int
) -> dict[str, float]:
    node = lab.nodes[0]
    result = subprocess.run(
        [
            tool,
            "--cluster",
            "-h",
            node.host,
            "-p",
            str(node.port),
            "-c",
            str(clients),
            "-n",
            str(requests),
            "-P",
            str(pipeline),
            "-r",
            str(keyspace),
            "-t",
            "set,get",
            "--csv",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=True,
    )
    rows = csv.reader(io.StringIO(result.stdout))
    return {row[0]: float(row[1]) for row in rows if len(row) > 1 and row[0] in ("SET", "GET")}


def measure_throughput(
    rounds: int, clients: int, requests: int, pipeline: int, keyspace: int
) -> dict[str, dict[str, list[float]]]:
    tool = shutil.which("redis-benchmark")
    if tool is None:
        raise SystemExit("redis-benchmark is not installed (Debian package redis-tools)")
    conf = production_conf()
    results: dict[str, dict[str, list[float]]] = {
        "project": {"GET": [], "SET": []},
        "no-persistence": {"GET": [], "SET": []},
    }
    with (
        RedisLab(conf, require_password=False) as project,
        RedisLab(
            conf, require_password=False, extra_args=("--appendonly", "no", "--save", "")
        ) as bare,
    ):
        for _ in range(rounds):
            for name, lab in (("project", project), ("no-persistence", bare)):
                figures = run_benchmark(tool, lab, clients, requests, pipeline, keyspace)
                for test in ("GET", "SET"):
                    results[name][test].append(figures[test])
    return results


@dataclass(frozen=True)
class RollResult:
    duration_s: float
    attempted: int
    answered: int
    acknowledged: int
    lost: int


def measure_rolling_restart() -> RollResult:
    changed = render_redis_conf(
        redis_conf_spec(RedisConfig(eviction_policy=EvictionPolicy.ALLKEYS_LFU))
    )
    lab = RedisLab(production_conf()).start()
    try:
        client = lab.client()
        started = time.monotonic()
        with SteadyWriter(client, "roll") as writer:
            lab.rolling_restart(changed)
        duration = time.monotonic() - started
        lost = len(writer.lost(client))
        client.close()
        return RollResult(
            duration, writer.attempted, writer.answered, len(writer.acknowledged), lost
        )
    finally:
        lab.close()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.redis_bench", description=__doc__)
    parser.add_argument("--window", type=float, default=30.0, help="failover window, seconds")
    parser.add_argument("--rate", type=float, default=200.0, help="writes per second")
    parser.add_argument("--kill-at", type=float, default=5.0, help="SIGKILL time in the window")
    parser.add_argument("--rounds", type=int, default=5, help="redis-benchmark runs per config")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=1_000_000)
    parser.add_argument("--pipeline", type=int, default=16)
    parser.add_argument("--keyspace", type=int, default=100_000)
    parser.add_argument("--skip-failover", action="store_true")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-roll", action="store_true")
    options = parser.parse_args()

    if not options.skip_roll:
        roll = measure_rolling_restart()
        verdict = "ok" if roll.lost == 0 else "MISSED"
        print("Rolling restart: 3 primaries + 3 replicas, a changed redis.conf, one pod at a time")
        print(
            f"  roll of all 6 nodes: {roll.duration_s:.1f} s; writes answered during it: "
            f"{roll.answered}/{roll.attempted} = {roll.answered / max(roll.attempted, 1):.2%}; "
            f"acknowledged (WAIT 1): {roll.acknowledged}; acknowledged writes lost: {roll.lost} "
            f"(goal 0: {verdict})"
        )

    if not options.skip_failover:
        failover = measure_failover(options.window, options.rate, options.kill_at)
        print(
            "Failover: 3 primaries + 3 replicas, cluster-node-timeout "
            f"{RedisConfig().node_timeout_ms} ms, SIGKILL of a primary"
        )
        if failover.promotion_s is not None:
            print(f"  SIGKILL -> replica promoted (its log): {failover.promotion_s:.2f} s")
        if failover.recovery_s is None:
            print("  recovery: no write to the killed primary's slots succeeded in the window")
        else:
            verdict = "ok" if failover.recovery_s <= RECOVERY_GOAL_S else "MISSED"
            print(
                f"  SIGKILL -> first successful write to its slots: {failover.recovery_s:.2f} s "
                f"(goal <= {RECOVERY_GOAL_S:.0f} s: {verdict}; ADR <= {RECOVERY_ADR_S:.0f} s)"
            )
        verdict = "ok" if failover.availability >= AVAILABILITY_GOAL else "MISSED"
        failed = failover.attempted - failover.succeeded
        print(
            f"  writes answered OK over the {failover.window_s:.0f} s window at "
            f"{options.rate:.0f}/s: {failover.succeeded}/{failover.attempted} = "
            f"{failover.availability:.2%} (goal >= {AVAILABILITY_GOAL:.0%}: {verdict}); "
            f"{failed} failed, {failover.failed_in_victim_slots} of them to the killed "
            "primary's slots"
        )
        if failover.recovery_s is not None:
            # One shard of three is down for the recovery time: no client can do better.
            ceiling = 1 - failover.recovery_s / (3 * failover.window_s)
            print(
                f"  ceiling for this window: 1 - recovery / (3 x window) = {ceiling:.2%}; "
                f">= {AVAILABILITY_GOAL:.0%} needs a window >= "
                f"{failover.recovery_s / (3 * (1 - AVAILABILITY_GOAL)):.0f} s at this recovery time"
            )

    if not options.skip_throughput:
        results = measure_throughput(
            options.rounds, options.clients, options.requests, options.pipeline, options.keyspace
        )
        print(
            f"Throughput: redis-benchmark --cluster -c {options.clients} -n {options.requests} "
            f"-P {options.pipeline} -r {options.keyspace}, median of {options.rounds} "
            "alternating runs"
        )
        for test, goal in (("GET", GET_RATIO_GOAL), ("SET", SET_RATIO_GOAL)):
            project_runs = results["project"][test]
            bare_runs = results["no-persistence"][test]
            # Each project run is divided by the persistence-off run right after it, so that
            # load from other processes, which drifts over the minutes, cancels out.
            ratios = [p / b for p, b in zip(project_runs, bare_runs, strict=True)]
            ratio = statistics.median(ratios)
            verdict = "ok" if ratio >= goal else "MISSED"
            print(
                f"  {test}: project redis.conf {statistics.median(project_runs):,.0f}/s, "
                f"persistence off {statistics.median(bare_runs):,.0f}/s; ratio {ratio:.2f} "
                f"(median of paired runs, {min(ratios):.2f}-{max(ratios):.2f}; "
                f"goal >= {goal}: {verdict})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
