"""Cache keys: the ADR format, hash tags sharing a slot, validation naming the segment, patterns."""

from __future__ import annotations

import fnmatch

import pytest
from redis.crc import key_slot

from cachekit.keys import (
    InvalidKeySegment,
    bump_version,
    cache_key,
    escape_glob,
    invalidation_pattern,
)


def test_the_adr_examples() -> None:
    assert cache_key("product", "catalog", "12345") == "product:catalog:12345:v1"
    assert cache_key("user", "session", "abc123", "v1") == "user:session:abc123:v1"
    assert cache_key("order", "details", "67890", version="v7") == "order:details:67890:v7"


def test_hash_tag_wraps_the_entity() -> None:
    assert cache_key("product", "catalog", "12345", hash_tag=True) == "{product:catalog:12345}:v1"


def test_hash_tagged_keys_of_one_entity_share_a_slot() -> None:
    versions = [cache_key("product", "catalog", "12345", f"v{n}", hash_tag=True) for n in (1, 2, 3)]
    assert len({key_slot(key.encode()) for key in versions}) == 1
    assert key_slot(versions[0].encode()) == key_slot(b"product:catalog:12345")


def test_untagged_keys_of_one_entity_spread_over_slots() -> None:
    versions = [cache_key("product", "catalog", "12345", f"v{n}") for n in range(1, 6)]
    assert len({key_slot(key.encode()) for key in versions}) > 1


def test_tagged_keys_of_different_entities_spread_over_slots() -> None:
    keys = [cache_key("product", "catalog", str(n), hash_tag=True) for n in range(200)]
    assert len({key_slot(key.encode()) for key in keys}) > 150


@pytest.mark.parametrize(
    ("arguments", "segment"),
    [
        (("Product", "catalog", "1"), "service"),
        (("", "catalog", "1"), "service"),
        (("product", "cat:alog", "1"), "entity"),
        (("product", "catalog", "a:b"), "id"),
        (("product", "catalog", "{x}"), "id"),
        (("product", "catalog", "a b"), "id"),
        (("product", "catalog", ""), "id"),
        (("product", "catalog", "x" * 257), "id"),
        (("product", "catalog", "1", "1"), "version"),
        (("product", "catalog", "1", "v0"), "version"),
        (("product", "catalog", "1", "v1.0"), "version"),
    ],
)
def test_a_bad_segment_is_named(arguments: tuple[str, ...], segment: str) -> None:
    with pytest.raises(InvalidKeySegment, match=f"invalid {segment}") as caught:
        cache_key(*arguments)
    assert caught.value.segment == segment


def test_pattern_for_an_entity_type_matches_its_keys_only() -> None:
    pattern = invalidation_pattern("product", "catalog")
    assert pattern == "product:catalog:*"
    assert fnmatch.fnmatchcase(cache_key("product", "catalog", "1"), pattern)
    assert not fnmatch.fnmatchcase(cache_key("product", "catalogue", "1"), pattern)
    assert not fnmatch.fnmatchcase(cache_key("product", "catalog", "1", hash_tag=True), pattern)


def test_pattern_for_tagged_keys() -> None:
    assert invalidation_pattern("product", "catalog", hash_tag=True) == "{product:catalog:*"
    assert invalidation_pattern("product", "catalog", "7", hash_tag=True) == "{product:catalog:7}:*"


def test_pattern_for_one_entity_covers_every_version() -> None:
    pattern = invalidation_pattern("product", "catalog", "12345")
    assert pattern == "product:catalog:12345:*"
    assert fnmatch.fnmatchcase(cache_key("product", "catalog", "12345", "v9"), pattern)
    assert not fnmatch.fnmatchcase(cache_key("product", "catalog", "123456"), pattern)


def test_glob_characters_in_an_id_are_escaped() -> None:
    pattern = invalidation_pattern("search", "results", "shoes*[red]?")
    assert pattern == r"search:results:shoes\*\[red\]\?:*"
    assert escape_glob("a\\b") == "a\\\\b"


def test_pattern_validates_segments() -> None:
    with pytest.raises(InvalidKeySegment, match="invalid entity"):
        invalidation_pattern("product", "Catalog")


def test_bump_version() -> None:
    assert bump_version("v1") == "v2"
    assert bump_version("v99") == "v100"
    with pytest.raises(InvalidKeySegment, match="invalid version"):
        bump_version("1")
