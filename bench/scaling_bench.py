"""Scaling a live cluster under load, measured on the local lab.

Run: `.venv/bin/python -m bench.scaling_bench [--keys 20000] [--steps 3:4:3,3:5:3]`.

For each sequence (default 3 -> 4 -> 3 and 3 -> 5 -> 3 primaries, one replica each) a fresh lab
from the production redis.conf is filled with `--keys` keys, then scaled step by step through
bootstrap.sh (lab/scaling.py, the order the Pulumi component gives the Jobs) while one writer keeps
writing, each SET acknowledged with WAIT 1. Printed per step:
- seconds: the whole step (nodes started or drained and stopped, slots moved, replicas placed);
- slots moved and keys moved per second (keys in the moved slots / seconds);
- slot spread: max - min slots per primary afterwards (goal <= 1 % of 16384 = 163);
- writes answered: acknowledged / attempted during the step, and redirections followed;
- keys lost: acknowledged keys (the fill and every write so far) that do not read back (goal 0);
- client errors other than redirections (goal 0).
Exit status 1 when a goal is missed.
"""

from __future__ import annotations

import argparse
import itertools
import sys

from components.redis.conf import redis_conf_spec, render_redis_conf
from lab.cluster import RedisLab
from lab.scaling import AckedWriter, scale
from stackconfig.config import RedisConfig
from stackconfig.sharding import EVEN_SPREAD_SLOTS


def _sequences(text: str) -> list[list[int]]:
    return [[int(n) for n in part.split(":")] for part in text.split(",") if part]


def run_sequence(primaries: list[int], keys: int, replicas: int) -> bool:
    conf = render_redis_conf(redis_conf_spec(RedisConfig()))
    print(f"\n== {' -> '.join(map(str, primaries))} primaries, {replicas} replica(s) each ==")
    with RedisLab(conf, primaries=primaries[0], replicas=replicas, memory="256mb") as lab:
        cluster = lab.client(socket_timeout=5.0)
        pipe = cluster.pipeline()
        for number in range(keys):
            pipe.set(f"fill:{number}", str(number))
        pipe.execute()
        fill = {f"fill:{n}": str(n) for n in range(keys)}
        ok = True
        header = (
            f"{'step':>8} {'seconds':>8} {'slots':>6} {'keys/s':>8} {'spread':>6} "
            f"{'writes answered':>18} {'redirects':>9} {'lost':>5} {'errors':>6}"
        )
        print(header)
        with AckedWriter(lab.client(socket_timeout=5.0)) as writer:
            for before, after in itertools.pairwise(primaries):
                attempts, acked = writer.attempts, len(writer.acknowledged)
                redirects, errors = writer.redirections, len(writer.errors)
                step = scale(lab, after, timeout=600)
                lost = writer.lost()
                reader = lab.client(socket_timeout=5.0)  # today's members, not the fill's
                values = reader.mget_nonatomic(list(fill))
                reader.close()
                lost_fill = [k for k, v in zip(fill, values, strict=True) if v != fill[k]]
                answered = f"{len(writer.acknowledged) - acked}/{writer.attempts - attempts}"
                new_errors = len(writer.errors) - errors
                print(
                    f"{f'{before}->{after}':>8} {step.seconds:8.1f} {step.slots_moved:6d} "
                    f"{step.keys_moved / step.seconds:8.0f} {step.slot_spread:6d} "
                    f"{answered:>18} {writer.redirections - redirects:9d} "
                    f"{len(lost) + len(lost_fill):5d} {new_errors:6d}"
                )
                ok &= not lost and not lost_fill and new_errors == 0
                ok &= step.slot_spread <= EVEN_SPREAD_SLOTS
        for error in writer.errors[:5]:
            print(f"  error: {error}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.scaling_bench", description=__doc__)
    parser.add_argument("--keys", type=int, default=20_000, help="keys written before scaling")
    parser.add_argument("--steps", default="3:4:3,3:5:3", help="primaries, step by step")
    parser.add_argument("--replicas", type=int, default=1)
    options = parser.parse_args(argv)
    results = [
        run_sequence(seq, options.keys, options.replicas) for seq in _sequences(options.steps)
    ]
    print("\nscaling: every goal met" if all(results) else "\nscaling: a goal was missed")
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
