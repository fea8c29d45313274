"""The invalidation service against a real Redis Cluster (the lab) and a fake Cloudflare API on
loopback: an event published with the kit removes its keys and purges its URLs, once; a consumer
that fails between Redis and the edge leaves the entry to another; the webhook refuses what is
not signed, stale or replayed; purges keep to the plan's rate."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.cluster import RedisCluster

from cachekit.events import EdgeTargets, EntityRef, VersionBump, new_event, publish
from cachekit.keys import cache_key
from invalidator.consumer import Consumer, ConsumerSettings
from invalidator.metrics import InvalidatorMetrics
from invalidator.purge import EdgePurger, PurgeLimits
from invalidator.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Verifier,
    WebhookServer,
    redis_first_use,
    sign,
)
from lab.cluster import RedisLab, free_node_port
from tests.support.invalidator_support import (
    TOKEN,
    ZONE,
    FakeClock,
    FakeCloudflare,
    failure,
    lab_connection,
    small_acl_lab,
)

pytestmark = pytest.mark.integration

SECRET = b"0123456789abcdef0123456789abcdef-test"
PRICE_URL = "https://shop.example.com/api/prices/12345"


@pytest.fixture(scope="module")
def small_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisLab]:
    with small_acl_lab(tmp_path_factory.mktemp("invalidator-lab")) as lab:
        yield lab


@pytest.fixture
def cloudflare() -> Iterator[FakeCloudflare]:
    fake = FakeCloudflare()
    yield fake
    fake.close()


class Rig:
    """One stream (fresh per test) with consumers, a purger per consumer, one metrics registry
    per consumer (as in separate pods)."""

    def __init__(self, lab: RedisLab, cloudflare: FakeCloudflare) -> None:
        self.lab = lab
        self.cloudflare = cloudflare
        self.settings = ConsumerSettings(stream=f"test-{uuid.uuid4().hex}", block=0.05)
        self.consumers: list[Consumer] = []

    def consumer(
        self,
        name: str,
        *,
        attempts: int = 3,
        claim_idle: float = 30.0,
        max_deliveries: int = 20,
        departed_after: float = 3600.0,
    ) -> tuple[Consumer, InvalidatorMetrics]:
        metrics = InvalidatorMetrics()
        clock = FakeClock()
        purger = EdgePurger(
            ZONE,
            TOKEN,
            PurgeLimits.for_plan("enterprise"),
            metrics,
            base_url=self.cloudflare.base_url,
            attempts=attempts,
            sleep=clock.sleep,
        )
        settings = ConsumerSettings(
            stream=self.settings.stream,
            block=0.05,
            claim_idle=claim_idle,
            max_deliveries=max_deliveries,
            departed_after=departed_after,
        )
        consumer = Consumer(name, lab_connection(self.lab), purger, metrics, settings)
        self.consumers.append(consumer)
        return consumer, metrics

    @property
    def client(self) -> Any:
        return self.consumers[0].client

    def close(self) -> None:
        for consumer in self.consumers:
            consumer.close()


@pytest.fixture
def rig(small_lab: RedisLab, cloudflare: FakeCloudflare) -> Iterator[Rig]:
    made = Rig(small_lab, cloudflare)
    yield made
    made.close()


def value(metrics: InvalidatorMetrics, name: str, **labels: str) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


def price_event(product: str, event_id: str | None = None) -> tuple[str, Any]:
    key = cache_key("product", "price", product)
    event = new_event(
        "price_change",
        source="pricing",
        keys=[key],
        urls=[f"https://shop.example.com/api/prices/{product}"],
        event_id=event_id,
    )
    return key, event


def test_a_price_event_removes_the_key_purges_its_url_and_records_the_lag(rig: Rig) -> None:
    consumer, metrics = rig.consumer("a")
    key, event = price_event("12345")
    other = cache_key("product", "price", "999")
    rig.client.set(key, "10.00")
    rig.client.set(other, "20.00")

    publish(rig.client, event, stream=rig.settings.stream)
    assert consumer.run_once() == 1

    assert rig.client.exists(key) == 0
    assert rig.client.exists(other) == 1
    assert rig.cloudflare.purge_bodies == [
        {"files": [PRICE_URL]},
        {"tags": ["path:shop.example.com/api/prices/12345"]},
    ]
    assert rig.cloudflare.requests[0].path == f"/client/v4/zones/{ZONE}/purge_cache"
    assert rig.cloudflare.requests[0].headers["Authorization"] == f"Bearer {TOKEN}"
    assert value(metrics, "invalidation_events_applied_total", kind="price_change") == 1
    assert value(metrics, "invalidation_lag_seconds_count", kind="price_change") == 1
    assert value(metrics, "invalidation_lag_seconds_sum", kind="price_change") >= 0
    assert value(metrics, "invalidation_stream_pending") == 0


def test_duplicate_delivery_applies_once(rig: Rig) -> None:
    consumer, metrics = rig.consumer("a")
    key, event = price_event("777")
    rig.client.set(key, "1")
    publish(rig.client, event, stream=rig.settings.stream)
    publish(rig.client, event, stream=rig.settings.stream)
    assert consumer.run_once() == 2
    rig.client.set(key, "rewritten after the change")
    publish(rig.client, event, stream=rig.settings.stream)
    assert consumer.run_once() == 1

    assert len(rig.cloudflare.purge_bodies) == 2  # the URL and the Worker's tag, once
    assert rig.client.get(key) == "rewritten after the change"
    assert value(metrics, "invalidation_events_applied_total", kind="price_change") == 1
    assert value(metrics, "invalidation_events_duplicate_total", kind="price_change") == 2


def test_a_failure_between_redis_and_the_edge_is_retried_by_another_consumer(rig: Rig) -> None:
    dying, dying_metrics = rig.consumer("dying", attempts=1)
    key, event = price_event("4242")
    rig.client.set(key, "1")
    publish(rig.client, event, stream=rig.settings.stream)

    rig.cloudflare.always = failure(503, "unavailable")
    assert dying.run_once() == 0
    assert rig.client.exists(key) == 0
    assert (
        value(dying_metrics, "invalidation_events_failed_total", kind="price_change", stage="edge")
        == 1
    )
    assert value(dying_metrics, "invalidation_stream_pending") == 1

    # The dying consumer is gone; the entry is still pending with it. A stale cache fill between
    # the delete and the claim is removed again by the retry.
    rig.cloudflare.always = None
    rig.client.set(key, "stale fill")
    survivor, metrics = rig.consumer("survivor", claim_idle=0.0)
    assert survivor.run_once() == 1

    assert rig.client.exists(key) == 0
    assert rig.cloudflare.purge_bodies[-2:] == [
        {"files": ["https://shop.example.com/api/prices/4242"]},
        {"tags": ["path:shop.example.com/api/prices/4242"]},
    ]
    assert value(metrics, "invalidation_events_applied_total", kind="price_change") == 1
    assert value(metrics, "invalidation_stream_pending") == 0


def consumer_names(rig: Rig) -> set[str]:
    rows: Any = rig.client.xinfo_consumers(rig.settings.stream, "invalidator")
    return {row["name"] for row in rows}


def test_consumers_of_restarted_pods_leave_the_group_once_they_hold_nothing(rig: Rig) -> None:
    # Redis adds a consumer to the group on its first delivery.
    holding, _ = rig.consumer("pod-a", attempts=1)
    done, _ = rig.consumer("pod-b")
    held_key, held = price_event("5151")
    rig.client.set(held_key, "1")
    rig.cloudflare.always = failure(503, "unavailable")
    publish(rig.client, held, stream=rig.settings.stream)
    assert holding.run_once() == 0  # pod-a keeps its entry pending, then its pod restarts
    rig.cloudflare.always = None
    publish(rig.client, price_event("5152")[1], stream=rig.settings.stream)
    assert done.run_once() == 1  # pod-b holds nothing, then its pod restarts
    assert consumer_names(rig) == {"pod-a", "pod-b"}
    time.sleep(0.3)  # both silent for longer than departed_after

    bystander, _ = rig.consumer("pod-c", departed_after=0.2)
    assert bystander.run_once() == 0  # claims nothing (claim_idle 30 s)
    assert consumer_names(rig) == {"pod-a"}  # still holds an entry

    claimer, _ = rig.consumer("pod-d", claim_idle=0.0, departed_after=0.2)
    assert claimer.run_once() == 1  # pod-a's entry, applied; pod-a then holds nothing
    assert rig.client.exists(held_key) == 0
    assert consumer_names(rig) == {"pod-d"}


def test_an_entry_that_fails_every_delivery_is_dead_lettered_after_the_limit(rig: Rig) -> None:
    # Two consumers take turns, as replicas do; the edge refuses every purge.
    first, first_metrics = rig.consumer("first", attempts=1, claim_idle=0.0, max_deliveries=3)
    second, second_metrics = rig.consumer("second", attempts=1, claim_idle=0.0, max_deliveries=3)
    _, event = price_event("9009")
    healthy_key, healthy = price_event("9010")
    publish(rig.client, event, stream=rig.settings.stream)
    rig.cloudflare.always = failure(503, "unavailable")

    assert first.run_once() == 0  # delivery 1 (read)
    assert second.run_once() == 0  # delivery 2 (claimed from the first)
    assert first.run_once() == 0  # delivery 3 (claimed back)
    pending = rig.client.xpending_range(rig.settings.stream, "invalidator", "-", "+", 10)
    assert [row["times_delivered"] for row in pending] == [3]
    assert rig.client.xlen(rig.settings.dead_letter_stream) == 0

    # The 4th delivery would go beyond the limit: the entry moves to the dead-letter stream,
    # untouched, and leaves the pending list; a healthy entry behind it is applied as usual.
    rig.cloudflare.always = None
    rig.client.set(healthy_key, "1")
    publish(rig.client, healthy, stream=rig.settings.stream)
    assert second.run_once() == 1
    assert rig.client.exists(healthy_key) == 0

    dead = rig.client.xrange(rig.settings.dead_letter_stream)
    assert len(dead) == 1
    fields = dead[0][1]
    assert fields["event"] == event.to_json()
    assert fields["deliveries"] == "3"
    assert "not applied in 3 deliveries" in fields["error"]
    assert rig.client.xpending(rig.settings.stream, "invalidator")["pending"] == 0
    assert (
        value(
            second_metrics,
            "invalidation_events_dead_lettered_total",
            kind="price_change",
            reason="max_deliveries",
        )
        == 1
    )
    failed = [
        value(m, "invalidation_events_failed_total", kind="price_change", stage="edge")
        for m in (first_metrics, second_metrics)
    ]
    assert failed == [2, 1]
    # Three failed purges of the dead entry's URL, then one of the healthy event's only (each
    # successful URL purge is followed by its path-tag purge, for the Worker's copies).
    assert [body["files"] for body in rig.cloudflare.purge_bodies if "files" in body] == [
        ["https://shop.example.com/api/prices/9009"]
    ] * 3 + [["https://shop.example.com/api/prices/9010"]]
    assert second.run_once() == 0
    assert rig.client.xlen(rig.settings.dead_letter_stream) == 1


def test_entity_patterns_and_version_bumps_use_the_key_convention(rig: Rig) -> None:
    consumer, _ = rig.consumer("a")
    doomed = [
        cache_key("catalog", "product", "1"),
        cache_key("catalog", "product", "1", "v2"),
        cache_key("catalog", "category", "shoes", "v1"),
        cache_key("catalog", "category", "hats", "v1"),
    ]
    kept = [cache_key("catalog", "product", "2"), cache_key("catalog", "category", "hats", "v2")]
    for key in doomed + kept:
        rig.client.set(key, "x")
    event = new_event(
        "category_rebuild",
        source="catalog",
        entities=[EntityRef("catalog", "product", "1")],
        bumps=[VersionBump("catalog", "category", "v1")],
        tags=["category-shoes"],
    )
    publish(rig.client, event, stream=rig.settings.stream)
    assert consumer.run_once() == 1

    assert [rig.client.exists(key) for key in doomed] == [0, 0, 0, 0]
    assert [rig.client.exists(key) for key in kept] == [1, 1]
    assert rig.cloudflare.purge_bodies == [{"tags": ["category-shoes"]}]


def test_an_invalid_entry_goes_to_the_dead_letter_stream(rig: Rig) -> None:
    consumer, metrics = rig.consumer("a")
    rig.client.xadd(rig.settings.stream, {"event": '{"schema": "something-else"}'})
    assert consumer.run_once() == 1
    dead = rig.client.xrange(rig.settings.dead_letter_stream)
    assert len(dead) == 1 and "schema" in dead[0][1]["error"]
    assert value(metrics, "invalidation_events_failed_total", kind="invalid", stage="invalid") == 1
    assert (
        value(metrics, "invalidation_events_dead_lettered_total", kind="invalid", reason="invalid")
        == 1
    )
    assert rig.cloudflare.purge_bodies == []


def post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    request = urllib.request.Request(f"{url}/v1/events", body, headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_webhook_refuses_bad_signatures_stale_timestamps_and_replays(rig: Rig) -> None:
    consumer, metrics = rig.consumer("a")
    key, event = price_event("5150")
    rig.client.set(key, "1")
    server = WebhookServer(
        Verifier(SECRET, redis_first_use(rig.client)),
        rig.client,
        metrics,
        stream=rig.settings.stream,
    ).start()
    try:
        body = event.to_json().encode()
        now = str(int(time.time()))
        stale = str(int(time.time()) - 3600)
        refused = [
            post(server.url, body, {}),
            post(server.url, body, {TIMESTAMP_HEADER: now, SIGNATURE_HEADER: "sha256=00"}),
            post(
                server.url,
                body,
                {TIMESTAMP_HEADER: now, SIGNATURE_HEADER: sign(b"x" * 32, now, body)},
            ),
            post(
                server.url,
                body,
                {TIMESTAMP_HEADER: stale, SIGNATURE_HEADER: sign(SECRET, stale, body)},
            ),
        ]
        assert [status for status, _ in refused] == [401, 401, 401, 401]
        assert rig.client.xlen(rig.settings.stream) == 0
        assert consumer.run_once() == 0
        assert rig.client.exists(key) == 1
        assert rig.cloudflare.purge_bodies == []

        signed = {TIMESTAMP_HEADER: now, SIGNATURE_HEADER: sign(SECRET, now, body)}
        assert post(server.url, body, signed)[0] == 202
        assert post(server.url, body, signed)[0] == 409
        assert rig.client.xlen(rig.settings.stream) == 1
        assert consumer.run_once() == 1
        assert rig.client.exists(key) == 0
        assert value(metrics, "invalidation_webhook_refused_total", reason="stale") == 1
        assert value(metrics, "invalidation_webhook_refused_total", reason="replay") == 1
        assert value(metrics, "invalidation_webhook_refused_total", reason="bad_signature") == 2
    finally:
        server.close()


def test_purges_keep_to_the_plan_rate_and_back_off_on_429(cloudflare: FakeCloudflare) -> None:
    clock = FakeClock()
    metrics = InvalidatorMetrics()
    limits = PurgeLimits.for_plan("pro")  # 5 calls a second, a bucket of 25, 100 URLs a call
    purger = EdgePurger(
        ZONE, TOKEN, limits, metrics, base_url=cloudflare.base_url, clock=clock, sleep=clock.sleep
    )
    urls = [f"https://shop.example.com/api/prices/{n}" for n in range(100 * 35)]
    cloudflare.script.append(failure(429, "rate limited"))
    try:
        calls = purger.purge(EdgeTargets(urls=tuple(urls)))
    finally:
        purger.close()

    bodies = cloudflare.purge_bodies
    # 35 calls of 100 URLs, 35 of their 100 Worker tags; one answered 429 and was sent again.
    assert calls == 70 and len(bodies) == 71
    assert all(len(next(iter(body.values()))) == 100 for body in bodies)
    assert sorted({u for body in bodies for u in body.get("files", ())}) == sorted(urls)
    assert len({t for body in bodies for t in body.get("tags", ())}) == len(urls)
    # 71 calls from a full bucket of 25 at 5 a second: at least (71 - 25) / 5 s of waiting.
    assert clock.now - 1000.0 >= (71 - 25) / 5
    assert (
        value(
            metrics, "invalidation_edge_purge_errors_total", target="files", reason="rate_limited"
        )
        == 1
    )
    assert value(metrics, "invalidation_edge_purge_calls_total", target="files") == 36
    assert value(metrics, "invalidation_edge_purge_calls_total", target="tags") == 35


def test_the_service_process_applies_a_webhook_event_and_stops_on_sigterm(
    small_lab: RedisLab, cloudflare: FakeCloudflare, tmp_path: Path
) -> None:
    files = {"redis": small_lab.password or "", "webhook": SECRET.decode(), "token": TOKEN}
    for name, text in files.items():
        (tmp_path / name).write_text(text)
        (tmp_path / name).chmod(0o600)
    port = free_node_port()
    node = small_lab.nodes[0]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "invalidator",
            "--node",
            f"{node.host}:{node.port}",
            "--redis-password-file",
            str(tmp_path / "redis"),
            "--webhook-secret-file",
            str(tmp_path / "webhook"),
            "--cloudflare-token-file",
            str(tmp_path / "token"),
            "--cloudflare-base-url",
            cloudflare.base_url,
            "--zone-id",
            ZONE,
            "--plan",
            "business",
            "--listen",
            f"127.0.0.1:{port}",
            "--name",
            "service-test",
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    client = RedisCluster(
        host=node.host,
        port=node.port,
        username=small_lab.username,
        password=small_lab.password,
        decode_responses=True,
        address_remap=lambda address: (small_lab.address_of(address[0]), address[1]),
    )
    assert process.stderr is not None
    errors = process.stderr
    try:
        url = f"http://127.0.0.1:{port}"
        key, event = price_event("31337")
        client.set(key, "1")
        body = event.to_json().encode()
        now = str(int(time.time()))
        signed = {TIMESTAMP_HEADER: now, SIGNATURE_HEADER: sign(SECRET, now, body)}
        deadline = time.monotonic() + 30
        status = 0
        while status != 202 and time.monotonic() < deadline and process.poll() is None:
            try:
                status = post(url, body, signed)[0]
            except OSError:
                time.sleep(0.2)
        assert status == 202, errors.read() if process.poll() is not None else status
        while client.exists(key) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert client.exists(key) == 0
        while len(cloudflare.purge_bodies) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert cloudflare.purge_bodies == [
            {"files": ["https://shop.example.com/api/prices/31337"]},
            {"tags": ["path:shop.example.com/api/prices/31337"]},
        ]
        with urllib.request.urlopen(f"{url}/metrics", timeout=10) as answer:
            exposition = answer.read().decode()
        assert 'invalidation_lag_seconds_count{kind="price_change"} 1.0' in exposition
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert SECRET.decode() not in " ".join(process.args)  # type: ignore[arg-type]
    finally:
        client.close()
        if process.poll() is None:
            process.kill()
            process.wait()
