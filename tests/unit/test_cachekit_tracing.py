"""Spans around cache calls, seen through the OpenTelemetry SDK's in-memory exporter."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from prometheus_client import CollectorRegistry

from cachekit import CacheAside
from cachekit.keys import collection_key, relationship_key
from tests.support.cachekit_fakes import FakeClock, FakeCluster, refused

_EXPORTER = InMemorySpanExporter()


def _sdk_provider() -> TracerProvider:
    """The process's SDK provider with our exporter attached (the global provider can be set
    once per process, so a provider another test set up is reused)."""
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        provider = current
    else:
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
    return provider


@pytest.fixture(scope="module")
def provider() -> TracerProvider:
    return _sdk_provider()


@pytest.fixture
def spans(provider: TracerProvider) -> Iterator[InMemorySpanExporter]:
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


def test_a_miss_then_a_hit_as_client_spans_with_the_cache_attributes(
    spans: InMemorySpanExporter,
) -> None:
    cluster = FakeCluster(FakeClock())
    cache = CacheAside(cast(Any, cluster), service="catalog", registry=CollectorRegistry())
    key = relationship_key("product", "catalog", "42", "reviews", hash_tag=True)
    cache.get_or_load(key, lambda: ["great"])
    cache.get_or_load(key, lambda: ["great"])
    finished = spans.get_finished_spans()
    assert [s.name for s in finished] == ["cache get_or_load"] * 2
    for span, hit in zip(finished, (False, True), strict=True):
        attributes = dict(span.attributes or {})
        assert span.kind is SpanKind.CLIENT
        assert attributes["db.system"] == "redis"
        assert attributes["cache.key_pattern"] == "product:catalog:{id}:reviews"
        assert attributes["cache.hit"] is hit


def test_the_loaders_spans_are_children_of_the_cache_span(spans: InMemorySpanExporter) -> None:
    cluster = FakeCluster(FakeClock())
    cache = CacheAside(cast(Any, cluster), service="catalog", registry=CollectorRegistry())
    tracer = trace.get_tracer("test-db")

    def loader() -> int:
        with tracer.start_as_current_span("SELECT product"):
            return 1

    cache.get_or_load("product:catalog:1:v1", loader)
    by_name = {s.name: s for s in spans.get_finished_spans()}
    parent, cache_span = by_name["SELECT product"].parent, by_name["cache get_or_load"].context
    assert parent is not None and cache_span is not None
    assert parent.span_id == cache_span.span_id


def test_a_degraded_call_is_a_miss_in_the_trace(spans: InMemorySpanExporter) -> None:
    cluster = FakeCluster(FakeClock())
    cache = CacheAside(cast(Any, cluster), service="catalog", registry=CollectorRegistry())
    key = "product:catalog:1:v1"
    cluster.fail_node_of(key, refused)
    cache.get_or_load(key, lambda: 1)
    (span,) = spans.get_finished_spans()
    assert dict(span.attributes or {})["cache.hit"] is False


def test_a_batch_names_its_patterns(spans: InMemorySpanExporter) -> None:
    cluster = FakeCluster(FakeClock())
    cache = CacheAside(cast(Any, cluster), service="catalog", registry=CollectorRegistry())
    keys = [collection_key("product", "catalog", {"page": n}) for n in range(3)]
    cache.get_many_or_load(keys, lambda missing: dict.fromkeys(missing, 1))
    (span,) = spans.get_finished_spans()
    attributes = dict(span.attributes or {})
    assert attributes["cache.key_pattern"] == ("product:catalog:list:{filters}",)
    assert attributes["cache.hit"] is False


def test_without_an_sdk_the_api_is_a_no_op() -> None:
    """The kit imports only the API; the SDK is the service's choice (here, the tests')."""
    from pathlib import Path

    import cachekit.aside

    source = Path(cachekit.aside.__file__).read_text()
    assert "opentelemetry.sdk" not in source


def test_without_an_sdk_no_span_is_made_and_the_cache_still_works(
    monkeypatch: pytest.MonkeyPatch, spans: InMemorySpanExporter
) -> None:
    monkeypatch.setattr(trace, "get_tracer_provider", trace.ProxyTracerProvider)
    cluster = FakeCluster(FakeClock())
    cache = CacheAside(cast(Any, cluster), service="catalog", registry=CollectorRegistry())
    assert cache.get_or_load("product:catalog:1:v1", lambda: 1) == 1
    assert cache.get_or_load("product:catalog:1:v1", lambda: 2) == 1
    assert spans.get_finished_spans() == ()
