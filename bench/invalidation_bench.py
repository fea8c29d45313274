"""Throughput and lag of the invalidation service on a real Redis Cluster (a 3-primary lab) with a
fake Cloudflare API on loopback.

Run: `.venv/bin/python -m bench.invalidation_bench [--rate 500] [--seconds 10] [--consumers 2]`.

Each event is a price change: one ADR-011 key to unlink and one URL to purge (Enterprise limits:
50 purge calls a second, 500 URLs a call). A publisher thread publishes `rate` events a second
with the kit's `publish` for `seconds`; `consumers` consumers (threads, as the Deployment's pods)
apply them. Printed:

1. Baseline: the publisher alone, as fast as it goes (events/s XADDed): the stream's ceiling.
2. At `rate`: events/s applied, and the lag from the event's time to its acknowledgement
   (p50 / p95 / max; goal p95 < 1 s at 500 events/s), and the purge calls made.
3. Drain: a backlog of `rate * seconds` events published first, then the consumers started:
   the events/s they apply flat out.

On a shared 2-core machine the publisher, the consumers, the fake API and the Redis servers all
compete for the same cores: the figures are a floor.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from cachectl.connection import ConnectionSettings, Endpoint
from cachectl.credentials import Credentials
from cachekit.events import new_event, publish
from cachekit.keys import cache_key
from components.redis.conf import redis_conf_spec, render_redis_conf
from invalidator.consumer import Consumer, ConsumerSettings
from invalidator.metrics import InvalidatorMetrics
from invalidator.purge import EdgePurger, PurgeLimits
from lab.cluster import RedisLab
from stackconfig.config import RedisConfig

LAG_P95_GOAL = 1.0
ZONE = "bench-zone"


class FakeCloudflare:
    def __init__(self) -> None:
        self.calls = 0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                outer.calls += 1
                body = json.dumps(
                    {"success": True, "errors": [], "messages": [], "result": {"id": "p"}}
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/client/v4"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class LagRecorder:
    """Stands in for the lag histogram's child: keeps every observation."""

    def __init__(self) -> None:
        self.values: list[float] = []
        self._lock = threading.Lock()

    def labels(self, *kind: str) -> LagRecorder:
        return self

    def observe(self, value: float) -> None:
        with self._lock:
            self.values.append(value)


def _events(count: int) -> list[Any]:
    return [
        new_event(
            "price_change",
            source="bench",
            keys=[cache_key("product", "price", str(n))],
            urls=[f"https://shop.example.com/api/prices/{n}"],
        )
        for n in range(count)
    ]


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


class Run:
    def __init__(self, lab: RedisLab, cloudflare: FakeCloudflare, consumers: int) -> None:
        node = lab.nodes[0]
        self.connection = ConnectionSettings(
            seeds=(Endpoint(node.host, node.port),),
            credentials=Credentials(None, lab.password),
        )
        self.stream = f"bench-{uuid.uuid4().hex}"
        self.lag = LagRecorder()
        self.cloudflare = cloudflare
        self.consumers: list[Consumer] = []
        share = 1 / consumers
        for index in range(consumers):
            metrics = InvalidatorMetrics()
            metrics.lag = self.lag  # type: ignore[assignment]
            purger = EdgePurger(
                ZONE,
                "bench-token",
                PurgeLimits.for_plan("enterprise", share=share),
                metrics,
                base_url=cloudflare.base_url,
            )
            settings = ConsumerSettings(stream=self.stream, batch=200, block=0.02)
            self.consumers.append(Consumer(f"c{index}", self.connection, purger, metrics, settings))
        self.client: Any = self.consumers[0].client
        self.stop = threading.Event()
        self.applied = 0
        self._lock = threading.Lock()

    def _consume(self, consumer: Consumer) -> None:
        while not self.stop.is_set():
            done = consumer.run_once()
            with self._lock:
                self.applied += done

    def start_consumers(self) -> list[threading.Thread]:
        threads = [
            threading.Thread(target=self._consume, args=(c,), daemon=True) for c in self.consumers
        ]
        for thread in threads:
            thread.start()
        return threads

    def wait_applied(self, count: int, timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while self.applied < count and time.monotonic() < deadline:
            time.sleep(0.01)
        return time.monotonic()

    def close(self, threads: list[threading.Thread]) -> None:
        self.stop.set()
        for thread in threads:
            thread.join(timeout=10)
        for consumer in self.consumers:
            consumer.close()


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.invalidation_bench", description=__doc__)
    parser.add_argument("--rate", type=int, default=500, help="events a second to publish")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--consumers", type=int, default=2)
    options = parser.parse_args()
    count = int(options.rate * options.seconds)

    conf = render_redis_conf(redis_conf_spec(RedisConfig()))
    with tempfile.TemporaryDirectory(prefix="invalidation-bench-") as base:
        lab = RedisLab(conf, primaries=3, replicas=0, base_dir=Path(base) / "lab")
        cloudflare = FakeCloudflare()
        try:
            lab.start()
            # 1. Baseline: publishing alone.
            baseline = Run(lab, cloudflare, 1)
            events = _events(count)
            start = time.perf_counter()
            for event in events:
                publish(baseline.client, event, stream=baseline.stream)
            publish_rate = count / (time.perf_counter() - start)
            baseline.client.delete(baseline.stream)
            baseline.close([])
            print(f"baseline: publish alone {publish_rate:,.0f} events/s ({count} events)")

            # 2. At the target rate.
            run = Run(lab, cloudflare, options.consumers)
            calls_before = cloudflare.calls
            threads = run.start_consumers()
            events = _events(count)
            interval = 1 / options.rate
            start = time.monotonic()
            for index, event in enumerate(events):
                due = start + index * interval
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                # The change happens when it is published: the lag starts there.
                stamped = new_event(
                    event.kind, source=event.source, keys=event.keys, urls=event.edge.urls
                )
                publish(run.client, stamped, stream=run.stream)
            published_in = time.monotonic() - start
            end = run.wait_applied(count, timeout=120)
            run.close(threads)
            applied_rate = run.applied / (end - start)
            lags = run.lag.values
            p50, p95 = _percentile(lags, 0.5), _percentile(lags, 0.95)
            print(
                f"at {options.rate}/s ({count} events, published in {published_in:.1f} s, "
                f"{options.consumers} consumers): applied {run.applied} at "
                f"{applied_rate:,.0f} events/s; lag p50 {p50 * 1000:.0f} ms, "
                f"p95 {p95 * 1000:.0f} ms, max {max(lags) * 1000:.0f} ms "
                f"(goal p95 < {LAG_P95_GOAL:.0f} s: {'met' if p95 < LAG_P95_GOAL else 'MISSED'}); "
                f"{cloudflare.calls - calls_before} purge calls"
            )

            # 3. Drain a backlog flat out.
            run = Run(lab, cloudflare, options.consumers)
            for event in _events(count):
                publish(run.client, event, stream=run.stream)
            start = time.monotonic()
            threads = run.start_consumers()
            end = run.wait_applied(count, timeout=120)
            run.close(threads)
            drain_rate = run.applied / (end - start)
            print(
                f"drain: {run.applied} backlogged events applied at {drain_rate:,.0f} events/s "
                f"({drain_rate / publish_rate:.2f}x the publish-alone rate)"
            )
            print(f"lag mean {statistics.mean(lags) * 1000:.0f} ms over {len(lags)} events")
        finally:
            cloudflare.close()
            lab.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
