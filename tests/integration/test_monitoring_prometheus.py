"""The rendered rules in a real Prometheus, scraping a real redis_exporter in front of a real
redis-server: fill the node and watch `redis_memory_usage_percent` get recorded and
`RedisMemoryHigh` fire.

Only the `for` durations are shortened (rendered from test thresholds); the expressions are the
production ones. Every process runs on 127.0.0.1 in a temp directory and is killed at the end.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis
import requests
import yaml

from components.monitoring.dashboards import (
    DashboardSizing,
    all_dashboard_queries,
    render_dashboards,
)
from components.monitoring.rules import RECORD_MEMORY_PERCENT, render_rule_groups
from stackconfig.thresholds import AlertThresholds
from tests.support.tools import free_port, require_tool

pytestmark = pytest.mark.integration

MAXMEMORY = 4 * 1024 * 1024
TEST_THRESHOLDS = AlertThresholds(memory_critical_for_seconds=2, memory_warning_for_seconds=1)
RUNBOOK_BASE = "https://runbooks.example.com/docs/runbooks"

T = TypeVar("T")


class Processes:
    """Started processes, each logging to a file; all killed on close, logs kept for failures."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.running: list[tuple[str, subprocess.Popen[bytes]]] = []

    def start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = (self.workdir / f"{name}.log").open("wb")
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir)
        self.running.append((name, proc))
        return proc

    def logs(self) -> str:
        return "\n".join(
            f"--- {name} (exit {proc.poll()}) ---\n"
            + (self.workdir / f"{name}.log").read_text(errors="replace")[-3000:]
            for name, proc in self.running
        )

    def close(self) -> None:
        for _, proc in reversed(self.running):
            if proc.poll() is None:
                proc.terminate()
        for _, proc in self.running:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def wait_for(what: str, probe: Callable[[], T | None], procs: Processes, timeout: float) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = probe()
        except (requests.RequestException, redis.RedisError):
            found = None
        if found is not None:
            return found
        time.sleep(0.2)
    pytest.fail(f"timed out after {timeout:g}s waiting for {what}\n{procs.logs()}")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[dict[str, Any]]:
    redis_server = require_tool("redis-server")
    exporter = require_tool("prometheus-redis-exporter")
    prometheus = require_tool("prometheus")
    procs = Processes(tmp_path)
    try:
        redis_port, exporter_port, prometheus_port = free_port(), free_port(), free_port()
        procs.start(
            "redis",
            [redis_server, "--port", str(redis_port), "--bind", "127.0.0.1",
             "--dir", str(tmp_path), "--save", "", "--appendonly", "no",
             "--maxmemory", str(MAXMEMORY), "--maxmemory-policy", "allkeys-lru"],
        )  # fmt: skip
        client = redis.Redis(host="127.0.0.1", port=redis_port, socket_timeout=5)
        wait_for("redis-server", lambda: client.ping() or None, procs, 10)

        exporter_url = f"http://127.0.0.1:{exporter_port}/metrics"
        procs.start(
            "exporter",
            [exporter, "-redis.addr", f"redis://127.0.0.1:{redis_port}",
             "-web.listen-address", f"127.0.0.1:{exporter_port}", "-redis-only-metrics"],
        )  # fmt: skip
        wait_for(
            "the exporter to reach redis",
            lambda: "redis_up 1" in requests.get(exporter_url, timeout=2).text or None,
            procs,
            10,
        )

        rules = tmp_path / "rules.yaml"
        rules.write_text(
            yaml.safe_dump({"groups": render_rule_groups(TEST_THRESHOLDS, RUNBOOK_BASE)})
        )
        config = tmp_path / "prometheus.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(rules)],
                    "scrape_configs": [
                        {
                            "job_name": "redis",
                            "static_configs": [{"targets": [f"127.0.0.1:{exporter_port}"]}],
                        }
                    ],
                }
            )
        )
        api = f"http://127.0.0.1:{prometheus_port}"
        procs.start(
            "prometheus",
            [prometheus, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prometheus_port}"],
        )  # fmt: skip
        wait_for(
            "prometheus", lambda: requests.get(f"{api}/-/ready", timeout=2).ok or None, procs, 20
        )
        yield {"redis": client, "api": api, "procs": procs}
    finally:
        procs.close()


def query(api: str, expr: str) -> list[dict[str, Any]]:
    body = requests.get(f"{api}/api/v1/query", params={"query": expr}, timeout=5).json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def firing(api: str, alertname: str) -> dict[str, dict[str, Any]]:
    """Firing alerts named `alertname`, by severity."""
    alerts = requests.get(f"{api}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    return {
        a["labels"]["severity"]: a
        for a in alerts
        if a["labels"]["alertname"] == alertname and a["state"] == "firing"
    }


def memory_ratio(client: redis.Redis) -> float:
    info: dict[str, Any] = client.info("memory")  # type: ignore[assignment]
    return int(info["used_memory"]) / int(info["maxmemory"])


def test_filling_redis_records_memory_usage_and_fires_redis_memory_high(
    stack: dict[str, Any],
) -> None:
    client: redis.Redis = stack["redis"]
    api: str = stack["api"]
    procs: Processes = stack["procs"]

    empty = wait_for(
        f"{RECORD_MEMORY_PERCENT} to be recorded",
        lambda: query(api, RECORD_MEMORY_PERCENT) or None,
        procs,
        15,
    )
    assert float(empty[0]["value"][1]) < 80, empty
    assert firing(api, "RedisMemoryHigh") == {}

    value = b"x" * 1000
    for start in range(0, 8000, 500):
        pipe = client.pipeline(transaction=False)
        for i in range(start, start + 500):
            pipe.set(f"product:catalog:{i}:v1", value)
        pipe.execute()
    ratio = memory_ratio(client)
    assert ratio > TEST_THRESHOLDS.memory_critical, f"redis only at {ratio:.1%} of maxmemory"

    alerts = wait_for(
        "RedisMemoryHigh to fire", lambda: firing(api, "RedisMemoryHigh") or None, procs, 20
    )
    critical = alerts.get("critical") or wait_for(
        "the critical RedisMemoryHigh",
        lambda: firing(api, "RedisMemoryHigh").get("critical"),
        procs,
        10,
    )
    recorded = query(api, RECORD_MEMORY_PERCENT)
    assert len(recorded) == 1
    assert float(recorded[0]["value"][1]) == pytest.approx(100 * memory_ratio(client), abs=5)
    assert critical["labels"]["escalation"] == "page"
    assert critical["labels"]["instance"] == recorded[0]["metric"]["instance"]
    assert critical["annotations"]["runbook_url"].endswith("incident-response.md#memory-pressure")
    assert "% of its maxmemory, above 90%" in critical["annotations"]["description"]
    assert float(critical["value"]) > 90


def redis_metric_names(exprs: list[str]) -> set[str]:
    """redis_* metric names read by `exprs`, without the ones our own rules record."""
    names = {m for e in exprs for m in re.findall(r"(?<![:\w])redis_[a-z_]+", e)}
    return names - {RECORD_MEMORY_PERCENT}


def test_the_exporter_emits_every_redis_metric_the_rules_and_dashboards_read(
    tmp_path: Path,
) -> None:
    """The metric contract against the real exporter, in front of a Redis in cluster mode with
    maxmemory unset (so redis_memory_max_bytes is 0)."""
    redis_server = require_tool("redis-server")
    redis_cli = require_tool("redis-cli")
    exporter = require_tool("prometheus-redis-exporter")
    procs = Processes(tmp_path)
    try:
        redis_port, exporter_port = free_port(), free_port()
        procs.start(
            "redis",
            [redis_server, "--port", str(redis_port), "--bind", "127.0.0.1",
             "--dir", str(tmp_path), "--save", "", "--appendonly", "no",
             "--cluster-enabled", "yes", "--cluster-config-file", str(tmp_path / "nodes.conf")],
        )  # fmt: skip
        client = redis.Redis(host="127.0.0.1", port=redis_port, socket_timeout=5)
        wait_for("redis-server", lambda: client.ping() or None, procs, 10)
        subprocess.run(
            [redis_cli, "-p", str(redis_port), "cluster", "addslotsrange", "0", "16383"],
            check=True, capture_output=True, timeout=10,
        )  # fmt: skip
        procs.start(
            "exporter",
            [exporter, "-redis.addr", f"redis://127.0.0.1:{redis_port}",
             "-web.listen-address", f"127.0.0.1:{exporter_port}", "-redis-only-metrics"],
        )  # fmt: skip
        url = f"http://127.0.0.1:{exporter_port}/metrics"

        def cluster_ok_metrics() -> str | None:
            text = requests.get(url, timeout=2).text
            return text if "\nredis_cluster_state 1" in text else None

        text = wait_for("cluster_state ok in the exporter", cluster_ok_metrics, procs, 15)
    finally:
        procs.close()

    exported = {
        line.split("{")[0].split(" ")[0]
        for line in text.splitlines()
        if line and not line.startswith("#")
    }
    rules = render_rule_groups(AlertThresholds(), RUNBOOK_BASE)
    sizing = DashboardSizing(services=1, peak_rps_per_service=1, monthly_cost_usd=1)
    read = redis_metric_names(
        [r["expr"] for g in rules for r in g["rules"]]
        + all_dashboard_queries(render_dashboards(AlertThresholds(), sizing))
    )
    assert len(read) > 15
    assert read <= exported, f"not exported: {sorted(read - exported)}"
    assert "\nredis_memory_max_bytes 0\n" in text
    assert 'role="master"' in next(
        line for line in text.splitlines() if line.startswith("redis_instance_info{")
    )
