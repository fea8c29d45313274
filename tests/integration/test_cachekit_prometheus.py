"""Done-when of the service kit: a service written with it, scraped by a real Prometheus with
the project's own rules, gets `cache_hit_rate` recorded, and `CacheHitRateLow` fires for it
when its hit rate is low. Only the alerts' `for` durations are shortened."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
import yaml
from prometheus_client import CollectorRegistry

from cachekit import CacheAside, cluster_client
from components.monitoring.rules import RECORD_CACHED_MEAN, RECORD_HIT_RATE, render_rule_groups
from lab.cluster import RedisLab
from stackconfig.thresholds import AlertThresholds
from tests.support.cachekit_service import ProductService
from tests.support.redis_lab import LabFactory
from tests.support.tools import free_port, require_tool

pytestmark = pytest.mark.integration

T = TypeVar("T")
THRESHOLDS = AlertThresholds(hit_rate_critical_for_seconds=1, hit_rate_warning_for_seconds=1)


def wait_for(what: str, probe: Callable[[], T | None], timeout: float, logs: Path) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            found = probe()
        except requests.RequestException:
            found = None
        if found is not None:
            return found
        time.sleep(0.25)
    log = logs.read_text(errors="replace")[-3000:] if logs.exists() else "(no log)"
    pytest.fail(f"timed out after {timeout:g}s waiting for {what}\n{log}")


@pytest.fixture
def service(make_lab: LabFactory) -> Iterator[ProductService]:
    lab: RedisLab = make_lab(primaries=3, replicas=0)
    node = lab.nodes[0]
    client = cluster_client(
        node.host,
        node.port,
        password=lab.password,
        timeout=0.25,
        address_remap=lambda address: (lab.address_of(address[0]), address[1]),
    )
    registry = CollectorRegistry()
    cache = CacheAside(client, service="catalog", registry=registry)
    product_service = ProductService(cache, registry, free_port()).start()
    try:
        yield product_service
    finally:
        product_service.close()
        client.close()


@pytest.fixture
def prometheus(tmp_path: Path, service: ProductService) -> Iterator[tuple[str, Path]]:
    binary = require_tool("prometheus")
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        yaml.safe_dump(
            {"groups": render_rule_groups(THRESHOLDS, "https://runbooks.example.com/runbooks")}
        )
    )
    port = free_port()
    config = tmp_path / "prometheus.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(rules)],
                "scrape_configs": [
                    {
                        "job_name": "catalog",
                        "static_configs": [{"targets": [service.address]}],
                    }
                ],
            }
        )
    )
    log = tmp_path / "prometheus.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path,
        )  # fmt: skip
    api = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            "prometheus", lambda: requests.get(f"{api}/-/ready", timeout=2).ok or None, 30, log
        )
        yield api, log
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def query(api: str, expr: str) -> list[dict[str, Any]]:
    body = requests.get(f"{api}/api/v1/query", params={"query": expr}, timeout=5).json()
    assert body["status"] == "success", body
    return body["data"]["result"]


def firing(api: str, alertname: str) -> dict[str, dict[str, Any]]:
    alerts = requests.get(f"{api}/api/v1/alerts", timeout=5).json()["data"]["alerts"]
    return {
        a["labels"]["severity"]: a
        for a in alerts
        if a["labels"]["alertname"] == alertname and a["state"] == "firing"
    }


def test_a_kit_service_with_a_low_hit_rate_fires_cache_hit_rate_low(
    service: ProductService, prometheus: tuple[str, Path]
) -> None:
    api, log = prometheus
    base = f"http://{service.address}"
    stop = threading.Event()

    def traffic() -> None:
        """Mostly products never asked for before (misses), and one popular product (hits)."""
        number = 0
        while not stop.is_set():
            number += 1
            requests.get(f"{base}/products/new-{number}", timeout=5)
            requests.get(f"{base}/products/popular", timeout=5)
            time.sleep(0.02)

    driver = threading.Thread(target=traffic, daemon=True)
    driver.start()
    try:
        # The error series exist, at 0, though no error ever happened.
        up = wait_for("the service to be scraped", lambda: query(api, "up == 1") or None, 20, log)
        assert up[0]["metric"]["job"] == "catalog"
        errors = query(api, 'cache_errors_total{service="catalog"}')
        assert {e["metric"]["kind"]: float(e["value"][1]) for e in errors} == {
            "timeout": 0.0,
            "connection": 0.0,
            "other": 0.0,
        }
        recorded = wait_for(
            f"{RECORD_HIT_RATE} to be recorded",
            lambda: query(api, f'{RECORD_HIT_RATE}{{service="catalog"}}') or None,
            30,
            log,
        )
        assert float(recorded[0]["value"][1]) < THRESHOLDS.hit_rate_critical
        alerts = wait_for(
            "CacheHitRateLow to fire",
            lambda: firing(api, "CacheHitRateLow").get("critical"),
            30,
            log,
        )
        assert alerts["labels"]["service"] == "catalog"
        cached_mean = wait_for(
            f"{RECORD_CACHED_MEAN} to be recorded",
            lambda: query(api, f'{RECORD_CACHED_MEAN}{{service="catalog"}}') or None,
            30,
            log,
        )
        assert 0 < float(cached_mean[0]["value"][1]) < 1
    finally:
        stop.set()
        driver.join(10)
    assert service.loads > 0
