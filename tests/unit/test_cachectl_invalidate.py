"""Which keys an invalidation selects, and the refusals that protect the whole key space."""

from __future__ import annotations

import pytest

from cachectl.connection import CachectlError
from cachectl.invalidate import matches_every_key, pattern_selection, version_bump


@pytest.mark.parametrize("pattern", ["*", "**", "*:*", "*:*:*:*", "?*", "  ", ""])
def test_a_pattern_matching_every_key_is_refused_without_all(pattern: str) -> None:
    assert matches_every_key(pattern)
    with pytest.raises(CachectlError, match="matches every key: pass --all"):
        pattern_selection(pattern)


def test_all_selects_every_key_only_for_a_wildcard_pattern() -> None:
    assert pattern_selection("*", allow_all=True).pattern == "*"
    with pytest.raises(CachectlError, match="only for a pattern that matches every key"):
        pattern_selection("product:catalog", allow_all=True)


@pytest.mark.parametrize(
    ("text", "hash_tag", "expected"),
    [
        ("product:catalog", False, "product:catalog:*"),
        ("product:catalog:*", False, "product:catalog:*"),
        ("product:catalog:123", False, "product:catalog:123:*"),
        ("product:catalog:a*b", False, "product:catalog:a\\*b:*"),
        ("product:catalog", True, "{product:catalog:*"),
        ("product:catalog:123", True, "{product:catalog:123}:*"),
    ],
)
def test_patterns_are_built_by_the_key_convention(text: str, hash_tag: bool, expected: str) -> None:
    assert pattern_selection(text, hash_tag=hash_tag).pattern == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("product", "expected service:entity"),
        ("product:catalog:1:v1", "expected service:entity"),
        ("prod*:catalog", "invalid service"),
        ("product:Catalog", "invalid entity"),
    ],
)
def test_patterns_outside_the_convention_are_refused(text: str, message: str) -> None:
    with pytest.raises(CachectlError, match=message):
        pattern_selection(text)


def test_a_version_bump_names_the_new_version_and_selects_only_old_keys() -> None:
    bump = version_bump("product:catalog", "v1")
    assert bump.new == "v2"
    assert bump.example_key == "product:catalog:<id>:v2"
    old = bump.old_keys()
    assert old.pattern == "product:catalog:*"
    assert old.selects("product:catalog:12:v1")
    assert not old.selects("product:catalog:12:v2")
    assert not old.selects("product:catalog:12:v11")
    assert bump.old_keys(hash_tag=True).selects("{product:catalog:12}:v1")


@pytest.mark.parametrize(
    ("text", "version", "message"),
    [
        ("product:catalog", "1", "invalid version"),
        ("product:catalog", "v0", "invalid version"),
        ("product:catalog:12", "v1", "a version covers a type"),
        ("Product:catalog", "v1", "invalid service"),
    ],
)
def test_bad_bumps_are_refused(text: str, version: str, message: str) -> None:
    with pytest.raises(CachectlError, match=message):
        version_bump(text, version)
