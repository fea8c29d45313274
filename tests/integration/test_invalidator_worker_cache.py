"""End to end: an event published with the kit goes through the invalidator (a real lab cluster)
and the Worker's cache entry is gone.

The edge is components/cdn/worker/edge_emulator.mjs: the Worker in workerd with its rendered
bindings, and Cloudflare's purge_cache endpoint applied to the Worker's Cache API entries as
Cloudflare's docs say it is (a URL purge does not reach them, a Cache-Tag purge does). The
consumer purges through Cloudflare's own SDK, so what reaches the emulator is the real request.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cachectl.connection import ConnectionSettings, Endpoint
from cachectl.credentials import Credentials
from cachekit.events import new_event, publish
from cachekit.keys import cache_key
from invalidator.consumer import Consumer, ConsumerSettings
from invalidator.metrics import InvalidatorMetrics
from invalidator.purge import EdgePurger, PurgeLimits
from lab.cluster import RedisLab
from tests.support import redis_lab as redis_lab_fixtures
from tests.support.invalidator_support import TOKEN, ZONE
from tests.support.tools import require_tool

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
EMULATOR = ROOT / "components/cdn/worker/edge_emulator.mjs"
START_SECONDS = 60


def _require_miniflare() -> str:
    node = require_tool("node")
    if not (ROOT / "node_modules/miniflare").is_dir():
        message = "miniflare is not installed in node_modules (run `make setup`)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return node


@pytest.fixture(scope="module")
def edge(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    node = _require_miniflare()
    # A file, not a pipe: nobody reads the log while the tests run, and a full pipe would block.
    log_path = tmp_path_factory.mktemp("edge-emulator") / "stderr.log"
    log = log_path.open("w")
    process = subprocess.Popen(
        [node, str(EMULATOR)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env={**os.environ, "PYTHON": str(ROOT / ".venv/bin/python")},
    )
    stdout = process.stdout
    assert stdout is not None
    first_line: list[str] = []
    reader = threading.Thread(target=lambda: first_line.append(stdout.readline()), daemon=True)
    reader.start()
    reader.join(START_SECONDS)
    try:
        if not first_line or not first_line[0]:
            process.kill()
            raise AssertionError(f"the edge emulator did not start: {log_path.read_text()}")
        yield json.loads(first_line[0])["url"]
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        log.close()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisLab]:
    redis_lab_fixtures.require_redis_tools()
    made = RedisLab(
        redis_lab_fixtures.lab_conf(),
        primaries=3,
        replicas=0,
        base_dir=tmp_path_factory.mktemp("invalidator-worker-lab"),
        acl_users=True,
    )
    try:
        yield made.start()
    finally:
        made.close()


def fetch(edge: str, path: str) -> tuple[str, dict[str, Any]]:
    with urllib.request.urlopen(f"{edge}{path}", timeout=30) as answer:
        return answer.headers["x-cache-status"], json.loads(answer.read())


def cached(edge: str, path: str) -> dict[str, Any]:
    """GET `path` until the Worker answers from its cache (its write runs after the answer)."""
    deadline = time.monotonic() + 20
    while True:
        status, body = fetch(edge, path)
        if status == "HIT" or time.monotonic() > deadline:
            assert status == "HIT", f"{path} never reached the Worker's cache"
            return body
        time.sleep(0.05)


def test_a_price_event_removes_the_redis_key_and_the_worker_cache_entry(
    edge: str, lab: RedisLab
) -> None:
    node = lab.nodes[0]
    metrics = InvalidatorMetrics()
    purger = EdgePurger(
        ZONE, TOKEN, PurgeLimits.for_plan("pro"), metrics, base_url=f"{edge}/client/v4"
    )
    settings = ConsumerSettings(stream=f"test-{uuid.uuid4().hex}", block=0.05)
    connection = ConnectionSettings(
        seeds=(Endpoint(node.host, node.port),),
        credentials=Credentials(lab.username, lab.password),
    )
    consumer = Consumer("a", connection, purger, metrics, settings)
    try:
        price, other = "/api/prices/12345", "/api/prices/777"
        for path in (price, other):
            assert fetch(edge, path)[0] == "MISS"
        filled = cached(edge, price)
        cached(edge, other)
        key = cache_key("product", "price", "12345")
        consumer.client.set(key, "10.00")

        event = new_event(
            "price_change",
            source="pricing",
            keys=[key],
            urls=[f"https://shop.example.com{price}"],
        )
        publish(consumer.client, event, stream=settings.stream)
        assert consumer.run_once() == 1

        assert consumer.client.exists(key) == 0
        status, body = fetch(edge, price)
        assert status == "MISS", "the Worker's entry survived the event"
        assert body["fill"] == filled["fill"] + 1
        assert fetch(edge, other)[0] == "HIT", "an unrelated price stays cached"
        lag = metrics.registry.get_sample_value(
            "invalidation_lag_seconds_count", {"kind": "price_change"}
        )
        assert lag == 1
    finally:
        consumer.close()
