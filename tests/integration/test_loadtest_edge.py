"""`python -m loadtest --edge`: the real edge Worker in workerd (miniflare) in front of the
catalog service, so a run measures the edge and the cache together. A few seconds of load on a
warm stack: the edge answers most reads from its own cache and the report gives its hit ratio;
the shoppers' writes pass the edge and succeed."""

from __future__ import annotations

import csv
import dataclasses
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from components.redis.conf import redis_conf_spec, render_redis_conf
from loadtest.harness import Harness, started
from loadtest.report import write_report
from loadtest.scenarios import SCENARIOS, Scale
from stackconfig.config import RedisConfig
from tests.support.tools import require_tool

pytestmark = pytest.mark.integration

TINY = Scale(users=0.01, time=0.02, name="tiny")
"""10 virtual users for 6 s."""


@pytest.fixture(scope="module")
def edge_harness() -> Iterator[Harness]:
    """The lab, the catalog service and the Worker in front of it, started once for the module."""
    for tool in ("redis-server", "redis-cli", "prometheus", "prometheus-redis-exporter", "node"):
        require_tool(tool)
    conf_text = render_redis_conf(redis_conf_spec(RedisConfig()))
    with started(conf_text, memory=SCENARIOS["baseline"].memory, edge=True) as harness:
        yield harness


def test_the_edge_flag_puts_the_worker_in_front_and_reports_its_hit_ratio(
    edge_harness: Harness, tmp_path: Path
) -> None:
    scenario = dataclasses.replace(SCENARIOS["baseline"], no_cache_pass=False)
    assert edge_harness.front_url == edge_harness.edge_url != edge_harness.service_url
    record = edge_harness.run(scenario, TINY, tmp_path)
    report = write_report(record, tmp_path)
    assert report["scale"]["edge_worker"] is True
    assert report["figures"]["failed_requests"] == 0
    # Warmed through the edge: reads are edge hits; writes (PUT) pass it by.
    assert report["figures"]["edge_hit_ratio"] > 0.5


def test_the_shoppers_writes_pass_the_edge_and_succeed(
    edge_harness: Harness, tmp_path: Path
) -> None:
    # At this share every product visit is a write (PUT /products/<id>, answered 204): the
    # tiny run above sends about one write, or none.
    records = tmp_path / "requests.csv"
    subprocess.run(
        [sys.executable, "-m", "loadtest.generator", "--host", edge_harness.edge_url,
         "--users", "4", "--spawn-rate", "4", "--seconds", "3", "--out", str(records),
         "--catalog-size", "20", "--write-share", "0.55"],
        check=True, timeout=120, capture_output=True,
    )  # fmt: skip
    with records.open() as lines:
        writes = [row for row in csv.DictReader(lines) if row["name"] == "write"]
    assert len(writes) >= 3
    assert [row["ok"] for row in writes] == ["1"] * len(writes)
    assert {row["edge"] for row in writes} == {"BYPASS"}
