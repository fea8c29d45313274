"""`python -m loadtest SCENARIO [--short] [--edge] [--out DIR] [--conf FILE]`: run one scenario
and write report.json, report.md, timeline.png and requests.csv under build/loadtest/<scenario>/.

Exit 0 when every ADR mark passes, 1 when one fails, 2 on a bad argument (one line, no
traceback).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from loadtest.scenarios import FULL, SCENARIOS, SHORT

DEFAULT_OUT = Path("build") / "loadtest"


def _fail(message: str) -> int:
    print(f"error: {message}", file=sys.stderr)
    return 2


def _latency(text: str) -> tuple[float, float] | None:
    low, _, high = text.partition("-")
    try:
        pair = (float(low), float(high or low))
    except ValueError:
        return None
    return pair if 0 <= pair[0] <= pair[1] <= 10_000 else None


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest", description=__doc__)
    parser.add_argument("scenario", help=f"one of: {', '.join(SCENARIOS)}")
    parser.add_argument("--short", action="store_true", help="the CI-sized run")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--conf", type=Path, help="rendered redis.conf (default: the ADR defaults)")
    parser.add_argument("--db-latency-ms", default="20-80", help="fake database latency range")
    parser.add_argument(
        "--edge", action="store_true",
        help="the edge Worker in workerd (miniflare) in front of the service",
    )  # fmt: skip
    options = parser.parse_args(argv)
    scenario = SCENARIOS.get(options.scenario)
    if scenario is None:
        return _fail(
            f"SCENARIO={options.scenario!r} is not a scenario; allowed: {', '.join(SCENARIOS)}"
        )
    latency = _latency(options.db_latency_ms)
    if latency is None:
        return _fail(
            f"--db-latency-ms={options.db_latency_ms!r}: expected MIN-MAX milliseconds, "
            "0 <= MIN <= MAX <= 10000"
        )
    if options.conf is not None and not options.conf.is_file():
        return _fail(f"--conf={options.conf}: no such file (run `make plan` first)")

    # Imported after validation: a bad argument costs no heavy import.
    from components.redis.conf import redis_conf_spec, render_redis_conf
    from loadtest.harness import started
    from loadtest.report import write_report
    from stackconfig.config import RedisConfig

    conf_text = (
        options.conf.read_text()
        if options.conf
        else render_redis_conf(redis_conf_spec(RedisConfig()))
    )
    out_dir = options.out / scenario.name
    scale = SHORT if options.short else FULL
    with started(
        conf_text, memory=scenario.memory, db_latency_ms=latency, edge=options.edge
    ) as harness:
        record = harness.run(scenario, scale, out_dir)
    report = write_report(record, out_dir)
    for name, verdict in report["marks"].items():
        print(f"{name}: {verdict['value']} {verdict['side']} {verdict['mark']}: "
              f"{'pass' if verdict['pass'] else 'FAIL'}")  # fmt: skip
    print(f"{scenario.name}: {'PASS' if report['pass'] else 'FAIL'} -> {out_dir / 'report.md'}")
    return 0 if report["pass"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
