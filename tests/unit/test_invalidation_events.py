"""The invalidation event schema (cachekit.events), the webhook's signature check and the purge
token bucket: pure code, no servers."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import redis

from cachekit.events import (
    DEFAULT_STREAM,
    EVENT_FIELD,
    EdgeTargets,
    EntityRef,
    InvalidEvent,
    VersionBump,
    new_event,
    parse_event,
    publish,
)
from cachekit.keys import cache_key
from invalidator.metrics import InvalidatorMetrics
from invalidator.purge import PurgeLimits, TokenBucket
from invalidator.webhook import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    Refused,
    Verifier,
    WebhookServer,
    redis_first_use,
    sign,
)
from stackconfig.cloudflare_plans import PLANS
from tests.support.invalidator_support import FakeClock


def price_change() -> Any:
    return new_event(
        "price_change",
        source="pricing",
        keys=[cache_key("product", "price", "12345")],
        urls=["https://shop.example.com/api/prices/12345"],
        event_id="evt-1",
        occurred_at=1_764_777_600.25,
    )


def test_an_event_round_trips_through_its_json() -> None:
    event = new_event(
        "category_rebuild",
        source="catalog",
        entities=[EntityRef("catalog", "product", "1"), EntityRef("catalog", "category")],
        bumps=[VersionBump("catalog", "category", "v3")],
        prefixes=["https://shop.example.com/api/categories"],
        tags=["category-shoes"],
    )
    again = parse_event(event.to_json())
    assert again == event
    assert again.edge.prefixes == ("shop.example.com/api/categories",)
    assert again.bumps[0].to_version == "v4"
    document = json.loads(price_change().to_json())
    assert document["occurred_at"] == "2025-12-03T16:00:00.250Z"
    assert document["schema"] == "cache-invalidation" and document["version"] == 1


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"version": 2}, "version = 2"),
        ({"kind": "Price Change"}, "kind"),
        ({"id": ""}, "id"),
        ({"occurred_at": "2026-12-03T16:00:00"}, "occurred_at"),
        ({"redis": {"keys": ["not-a-convention-key"]}}, "redis.keys[0]"),
        ({"redis": {"entities": [{"service": "Catalog", "entity": "product"}]}}, "service"),
        ({"redis": {"bump": [{"service": "a", "entity": "b", "from": "1"}]}}, "redis.bump[0].from"),
        ({"edge": {"urls": ["shop.example.com/x"]}}, "edge.urls[0]"),
        ({"edge": {"prefixes": ["shop.example.com"]}}, "edge.prefixes[0]"),
        ({"edge": {"tags": ["a,b"]}}, "edge.tags[0]"),
        ({"extra": 1}, "beyond the schema"),
        ({"redis": {}, "edge": {}}, "at least one"),
    ],
)
def test_a_bad_field_is_refused_by_name(change: dict[str, Any], named: str) -> None:
    document = json.loads(price_change().to_json())
    document.update(change)
    with pytest.raises(InvalidEvent, match=named.replace("[", r"\[").replace("]", r"\]")):
        parse_event(json.dumps(document))


def test_the_publisher_refuses_an_invalid_event_before_writing() -> None:
    written: list[Any] = []

    class Client:
        def xadd(self, *args: Any, **kwargs: Any) -> bytes:
            written.append((args, kwargs))
            return b"1-0"

    assert publish(Client(), price_change()) == "1-0"
    (stream, fields), options = written[0]
    assert stream == DEFAULT_STREAM and parse_event(fields[EVENT_FIELD]) == price_change()
    assert options["approximate"] is True
    with pytest.raises(InvalidEvent):
        new_event("price_change", source="pricing")
    assert len(written) == 1


def test_merged_targets_keep_each_item_once() -> None:
    merged = EdgeTargets.merged(
        [EdgeTargets(urls=("https://a/1", "https://a/2")), EdgeTargets(urls=("https://a/1",))]
    )
    assert merged.urls == ("https://a/1", "https://a/2")


SECRET = b"s" * 32


def verifier(clock: FakeClock, seen: set[str]) -> Verifier:
    def first_use(signature: str, ttl: int) -> bool:
        new = signature not in seen
        seen.add(signature)
        return new

    return Verifier(SECRET, first_use, tolerance=300, clock=clock)


def test_the_signature_covers_the_timestamp_and_the_body() -> None:
    clock, seen = FakeClock(10_000.0), set[str]()
    check = verifier(clock, seen)
    body = b'{"a": 1}'
    good = {TIMESTAMP_HEADER: "10000", SIGNATURE_HEADER: sign(SECRET, "10000", body)}
    check.verify(good, body)
    reasons: list[str] = []
    for headers, sent in [
        (good, body),  # the same request again
        (good, b'{"a": 2}'),  # another body under the old signature
        ({**good, TIMESTAMP_HEADER: "10001"}, body),  # another timestamp
        ({TIMESTAMP_HEADER: "9000", SIGNATURE_HEADER: sign(SECRET, "9000", body)}, body),
        ({}, body),
    ]:
        with pytest.raises(Refused) as refused:
            check.verify(headers, sent)
        reasons.append(refused.value.reason)
    assert reasons == ["replay", "bad_signature", "bad_signature", "stale", "unsigned"]


def test_the_token_bucket_paces_calls_at_its_rate() -> None:
    clock = FakeClock(1_764_777_600.0)  # a large clock value: rounding must not stall it
    bucket = TokenBucket(5 / 60, 25, clock=clock, sleep=clock.sleep)
    for _ in range(30):
        bucket.acquire()
    assert clock.now - 1_764_777_600.0 == pytest.approx(5 * 12, rel=1e-6)


def test_purge_limits_come_from_the_plan_table_and_are_shared_by_replicas() -> None:
    limits = PurgeLimits.for_plan("business", share=0.5)
    assert limits.requests_per_second == PLANS["business"].purge_requests_per_second / 2
    assert limits.bucket == PLANS["business"].purge_bucket // 2
    assert limits.items_per_request == PLANS["business"].purge_items_per_request
    with pytest.raises(ValueError, match="share"):
        PurgeLimits.for_plan("free", share=0)


def test_the_webhook_answers_503_and_forgets_the_signature_when_redis_fails() -> None:
    class DownStream:
        def __init__(self) -> None:
            self.replays: set[str] = set()

        def set(self, name: str, value: str, nx: bool, ex: int) -> bool:
            if name in self.replays:
                return False
            self.replays.add(name)
            return True

        def delete(self, name: str) -> int:
            self.replays.discard(name)
            return 1

        def xadd(self, *args: Any, **kwargs: Any) -> str:
            raise redis.ConnectionError("down")

    client = DownStream()
    metrics = InvalidatorMetrics()
    server = WebhookServer(Verifier(SECRET, redis_first_use(client)), client, metrics, port=0)
    try:
        body = price_change().to_json().encode()
        now = str(int(time.time()))
        headers = {TIMESTAMP_HEADER: now, SIGNATURE_HEADER: sign(SECRET, now, body)}
        assert server.handle(headers, body)[0] == 503
        assert client.replays == set()
        assert server.handle(headers, body)[0] == 503  # a retry is not refused as a replay
        assert (
            metrics.registry.get_sample_value(
                "invalidation_webhook_refused_total", {"reason": "unavailable"}
            )
            == 2
        )
    finally:
        server.close()
