"""The kit's metrics are the contract's (docs/metrics.md), exposed from start-up."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, cast

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from cachekit import REQUEST_DURATION_BUCKETS, CacheAside, CacheMetrics
from stackconfig.adr import CACHED_AVERAGE_TARGET_SECONDS
from stackconfig.thresholds import AlertThresholds
from tests.support.cachekit_fakes import FakeClock, FakeCluster, refused

ROOT = Path(__file__).resolve().parents[2]


def exposition(registry: CollectorRegistry) -> str:
    return generate_latest(registry).decode()


def test_counters_are_exposed_at_zero_before_any_lookup() -> None:
    registry = CollectorRegistry()
    CacheMetrics("catalog", registry)
    text = exposition(registry)
    assert 'cache_hits_total{service="catalog"} 0.0' in text
    assert 'cache_misses_total{service="catalog"} 0.0' in text
    for kind in ("timeout", "connection", "other"):
        assert f'cache_errors_total{{kind="{kind}",service="catalog"}} 0.0' in text


def test_names_and_labels_are_the_contracts() -> None:
    """Every service metric of docs/metrics.md that the kit produces, with its labels."""
    contract = (ROOT / "docs" / "metrics.md").read_text()
    registry = CollectorRegistry()
    metrics = CacheMetrics("catalog", registry)
    with metrics.time_request():
        pass
    families = {family.name: family for family in registry.collect()}
    produced = {
        "cache_hits_total": {"service"},
        "cache_misses_total": {"service"},
        "cache_errors_total": {"service", "kind"},
        "http_request_duration_seconds": {"service", "code", "cache"},
    }
    for name, labels in produced.items():
        assert f"`{name}`" in contract, name
        family = families.get(name.removesuffix("_total"))
        assert family is not None, name
        sample_labels = {k for s in family.samples for k in s.labels if k != "le"}
        assert sample_labels == labels, (name, sample_labels)


def test_buckets_hold_every_latency_level_the_rules_and_the_adr_use() -> None:
    t = AlertThresholds()
    contract_minimum = {0.1, 0.2, 0.3, 0.5, 0.75, 1.0, 2.5}
    levels = {t.p95_warning_seconds, t.p95_critical_seconds, CACHED_AVERAGE_TARGET_SECONDS}
    assert contract_minimum | levels <= set(REQUEST_DURATION_BUCKETS)
    assert list(REQUEST_DURATION_BUCKETS) == sorted(REQUEST_DURATION_BUCKETS)


def test_two_services_share_one_registry() -> None:
    registry = CollectorRegistry()
    CacheMetrics("catalog", registry).hit()
    CacheMetrics("pricing", registry).miss()
    assert registry.get_sample_value("cache_hits_total", {"service": "catalog"}) == 1
    assert registry.get_sample_value("cache_misses_total", {"service": "pricing"}) == 1


def _cache(registry: CollectorRegistry) -> tuple[CacheAside, FakeCluster]:
    cluster = FakeCluster(FakeClock())
    return CacheAside(cast(Any, cluster), service="catalog", registry=registry), cluster


def _requests(registry: CollectorRegistry, cache_use: str, code: str = "200") -> float:
    value = registry.get_sample_value(
        "http_request_duration_seconds_count",
        {"service": "catalog", "code": code, "cache": cache_use},
    )
    return value or 0.0


def test_requests_are_labelled_by_how_they_used_the_cache() -> None:
    registry = CollectorRegistry()
    cache, cluster = _cache(registry)
    key = "product:catalog:1:v1"
    with cache.metrics.time_request() as request:
        cache.get_or_load(key, lambda: 1)
        request.code = 200
    assert _requests(registry, "miss") == 1
    with cache.metrics.time_request():
        cache.get_or_load(key, lambda: 1)
    assert _requests(registry, "hit") == 1
    with cache.metrics.time_request():
        pass
    assert _requests(registry, "bypass") == 1
    cluster.fail_node_of(key, refused)
    with cache.metrics.time_request():
        cache.get_or_load(key, lambda: 1)
    assert _requests(registry, "bypass") == 2


def test_a_request_that_raises_is_a_500() -> None:
    registry = CollectorRegistry()
    metrics = CacheMetrics("catalog", registry)
    with pytest.raises(RuntimeError), metrics.time_request():
        raise RuntimeError("handler failed")
    assert _requests(registry, "bypass", code="500") == 1


def test_an_empty_service_name_is_refused() -> None:
    with pytest.raises(ValueError, match="service"):
        CacheMetrics("", CollectorRegistry())


def test_the_contract_documents_the_cache_label() -> None:
    contract = (ROOT / "docs" / "metrics.md").read_text()
    row = next(line for line in contract.splitlines() if "`http_request_duration_seconds`" in line)
    assert re.search(r"`cache`", row), row
