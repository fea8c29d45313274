"""The ADR's validation scenarios, CI-sized (`loadtest.scenarios.SHORT`): cold start, baseline
and failover against one real stack (lab Redis Cluster, catalog service on the kit, Locust,
redis exporter, Prometheus with the project's rules), in that order: the cold start needs the
empty cache, the failover kills a primary. Each asserts the ADR's pass marks from its
report.json; `make loadtest` runs the full-length ones."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from components.redis.conf import redis_conf_spec, render_redis_conf
from loadtest.harness import Harness, started
from loadtest.report import write_report
from loadtest.scenarios import SCENARIOS, SHORT
from stackconfig import adr
from stackconfig.config import RedisConfig
from tests.support.tools import require_tool

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def harness() -> Iterator[Harness]:
    for tool in ("redis-server", "redis-cli", "prometheus", "prometheus-redis-exporter"):
        require_tool(tool)
    conf_text = render_redis_conf(redis_conf_spec(RedisConfig()))
    memory = SCENARIOS["baseline"].memory
    assert all(SCENARIOS[name].memory == memory for name in ("cold-start", "failover"))
    with started(conf_text, memory=memory) as running:
        yield running


def run(harness: Harness, name: str, out: Path) -> dict[str, Any]:
    record = harness.run(SCENARIOS[name], SHORT, out / name)
    report = write_report(record, out / name)
    assert json.loads((out / name / "report.json").read_text()) == report
    assert (out / name / "timeline.png").stat().st_size > 0
    return report


def failed_marks(report: dict[str, Any], *skip: str) -> dict[str, Any]:
    return {n: v for n, v in report["marks"].items() if not v["pass"] and n not in skip}


def test_cold_start_meets_the_adr_marks_and_fires_cache_hit_rate_low(
    harness: Harness, tmp_path: Path
) -> None:
    report = run(harness, "cold-start", tmp_path)
    assert set(report["marks"]) == set(adr.COLD_START_MARKS)
    assert failed_marks(report, "hit_rate_after_10_min") == {}
    fired = [e for e in report["alerts"] if e["alert"].startswith("CacheHitRateLow/")]
    assert any(e["event"] == "firing" for e in fired), report["alerts"]
    # "The last minute" of a 30 s run is its last 10 s (the shortest window the one-second
    # samples measure), a third of the run, 3.3 of the ADR's minutes: it still holds the tail of
    # the warm-up, so it lands on either side of 95 %. The full run measures the ADR's tenth
    # minute (docs/validation/cold-start).
    warmed = report["marks"]["hit_rate_after_10_min"]
    assert warmed["value"] is not None and warmed["value"] > adr.HIT_RATE_CRITICAL
    if not warmed["pass"]:
        pytest.xfail(f"hit rate after warming {warmed['value']:.1%} <= {warmed['mark']:.0%}")


def test_baseline_meets_the_adr_marks(harness: Harness, tmp_path: Path) -> None:
    report = run(harness, "baseline", tmp_path)
    assert set(adr.BASELINE_MARKS) <= set(report["marks"])
    assert report["figures"]["failed_requests"] == 0
    # The reduction is measured: the same load ran again on the service without the cache.
    figures = report["figures"]
    assert figures["db_queries_per_second_without_cache"] > figures["db_queries_per_second"]
    assert "db_load_reduction" in report["marks"]
    assert failed_marks(report) == {}


def test_failover_under_peak_load_keeps_the_service_available(
    harness: Harness, tmp_path: Path
) -> None:
    report = run(harness, "failover", tmp_path)
    assert set(report["marks"]) == set(adr.FAILOVER_MARKS)
    assert report["chaos"]["kind"] == "kill"
    assert report["chaos"]["all_slots_served_again_at_seconds"] is not None
    # Every mark, the p95 degradation too: before the kit sent its calls to each node's own
    # connections, redis-py's re-reads of the cluster after each failed call put it at +700 %.
    assert failed_marks(report) == {}
