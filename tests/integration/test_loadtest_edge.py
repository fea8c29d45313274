"""`python -m loadtest --edge`: the real edge Worker in workerd (miniflare) in front of the
catalog service, so a run measures the edge and the cache together. A few seconds of load on a
warm stack: the edge answers most reads from its own cache and the report gives its hit ratio."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from components.redis.conf import redis_conf_spec, render_redis_conf
from loadtest.harness import started
from loadtest.report import write_report
from loadtest.scenarios import SCENARIOS, Scale
from stackconfig.config import RedisConfig
from tests.support.tools import require_tool

pytestmark = pytest.mark.integration

TINY = Scale(users=0.01, time=0.02, name="tiny")
"""10 virtual users for 6 s."""


def test_the_edge_flag_puts_the_worker_in_front_and_reports_its_hit_ratio(tmp_path: Path) -> None:
    for tool in ("redis-server", "redis-cli", "prometheus", "prometheus-redis-exporter", "node"):
        require_tool(tool)
    scenario = dataclasses.replace(SCENARIOS["baseline"], no_cache_pass=False)
    conf_text = render_redis_conf(redis_conf_spec(RedisConfig()))
    with started(conf_text, memory=scenario.memory, edge=True) as harness:
        assert harness.front_url == harness.edge_url != harness.service_url
        record = harness.run(scenario, TINY, tmp_path)
    report = write_report(record, tmp_path)
    assert report["scale"]["edge_worker"] is True
    assert report["figures"]["failed_requests"] == 0
    # Warmed through the edge: reads are edge hits; writes (PUT) pass it by.
    assert report["figures"]["edge_hit_ratio"] > 0.5
