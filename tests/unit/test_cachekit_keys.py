"""The ADR's four key patterns, built by the one key module cachectl also uses."""

from __future__ import annotations

import pytest
from redis.crc import key_slot

from cachekit.keys import (
    InvalidKeySegment,
    cache_key,
    canonical_filters,
    collection_key,
    entity_key,
    invalidation_pattern,
    key_pattern,
    query_hash,
    relationship_key,
    search_key,
)


def test_the_four_patterns() -> None:
    assert entity_key("product", "catalog", "12345") == "product:catalog:12345:v1"
    assert (
        collection_key("product", "catalog", {"color": "red", "brand": "acme"})
        == "product:catalog:list:brand=acme&color=red:v1"
    )
    assert (
        relationship_key("product", "catalog", "12345", "reviews")
        == "product:catalog:12345:reviews:v1"
    )
    assert search_key("product", "catalog", "red shoes", version="v3") == (
        f"product:catalog:search:{query_hash('red shoes')}:v3"
    )


def test_a_tagged_relationship_shares_the_slot_of_its_entity() -> None:
    entity = cache_key("product", "catalog", "12345", hash_tag=True)
    related = relationship_key("product", "catalog", "12345", "reviews", hash_tag=True)
    assert related == "{product:catalog:12345}:reviews:v1"
    assert key_slot(entity.encode()) == key_slot(related.encode())


def test_invalidating_an_entity_covers_its_relationships() -> None:
    import fnmatch

    pattern = invalidation_pattern("product", "catalog", "12345")
    assert fnmatch.fnmatchcase(relationship_key("product", "catalog", "12345", "reviews"), pattern)


def test_filters_are_canonical_and_safe_in_a_key() -> None:
    assert canonical_filters({"b": 2, "a": "x y"}) == canonical_filters({"a": "x y", "b": 2})
    text = canonical_filters({"q": "a:b{c} d&e=f"})
    assert not set(text) & set(":{} "), text
    assert canonical_filters({}) == "all"
    long = canonical_filters({"ids": ",".join(str(n) for n in range(100))})
    assert long.startswith("h-") and len(long) == 34


def test_search_hash_ignores_case_and_spacing_but_not_parameters() -> None:
    assert query_hash("  Red   Shoes ") == query_hash("red shoes")
    assert query_hash("red shoes", {"page": 2}) != query_hash("red shoes", {"page": 3})
    assert query_hash("red shoes") != query_hash("blue shoes")


@pytest.mark.parametrize("reserved", ["list", "search"])
def test_reserved_ids_are_refused(reserved: str) -> None:
    with pytest.raises(InvalidKeySegment) as caught:
        cache_key("product", "catalog", reserved)
    assert caught.value.segment == "id"


def test_a_bad_relation_names_the_segment() -> None:
    with pytest.raises(InvalidKeySegment) as caught:
        relationship_key("product", "catalog", "1", "Reviews!")
    assert caught.value.segment == "relation"


def test_key_pattern_names_each_pattern_with_few_values() -> None:
    assert key_pattern(cache_key("product", "catalog", "9")) == "product:catalog:{id}"
    assert key_pattern(cache_key("product", "catalog", "9", hash_tag=True)) == (
        "product:catalog:{id}"
    )
    assert key_pattern(collection_key("product", "catalog", {"a": 1})) == (
        "product:catalog:list:{filters}"
    )
    assert key_pattern(relationship_key("product", "catalog", "9", "reviews", hash_tag=True)) == (
        "product:catalog:{id}:reviews"
    )
    assert key_pattern(search_key("product", "catalog", "x")) == (
        "product:catalog:search:{query_hash}"
    )
    for outside in ("session:abc", "a:b:c:d:e:f:v1", "Product:catalog:1:v1", "x:y:1:latest"):
        assert key_pattern(outside) == "other", outside
