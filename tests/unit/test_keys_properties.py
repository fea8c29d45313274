"""Properties of the key convention (cachekit/keys.py) over generated segments."""

from __future__ import annotations

import re

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st
from redis.crc import key_slot

from cachekit.keys import InvalidKeySegment, bump_version, cache_key, invalidation_pattern

names = st.from_regex(r"[a-z][a-z0-9_-]{0,20}", fullmatch=True)
ids = st.text(
    st.characters(blacklist_categories=("Cs", "Z", "C"), blacklist_characters=":{}"),
    min_size=1,
    max_size=40,
)
versions = st.integers(min_value=1, max_value=10**8).map(lambda n: f"v{n}")


def redis_glob_matches(pattern: str, key: str) -> bool:
    """Redis's glob for the patterns we build: `*`, `?` and backslash escapes."""
    regex, escaped = [], False
    for char in pattern:
        if escaped:
            regex.append(re.escape(char))
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "*":
            regex.append(".*")
        elif char == "?":
            regex.append(".")
        else:
            assert char not in "[]", f"unescaped {char!r} in {pattern!r}"
            regex.append(re.escape(char))
    return re.fullmatch("".join(regex), key, re.DOTALL) is not None


@given(names, names, ids, versions)
def test_a_key_has_the_four_segments_in_order(
    service: str, entity: str, id: str, version: str
) -> None:
    assert cache_key(service, entity, id, version).split(":") == [service, entity, id, version]


@given(names, names, ids, versions, versions)
def test_every_version_of_a_tagged_entity_shares_a_slot(
    service: str, entity: str, id: str, one: str, other: str
) -> None:
    first = cache_key(service, entity, id, one, hash_tag=True)
    second = cache_key(service, entity, id, other, hash_tag=True)
    assert key_slot(first.encode()) == key_slot(second.encode())


@given(names, names, ids, versions, st.booleans())
def test_the_pattern_of_an_entity_matches_each_of_its_keys(
    service: str, entity: str, id: str, version: str, hash_tag: bool
) -> None:
    key = cache_key(service, entity, id, version, hash_tag=hash_tag)
    assert redis_glob_matches(invalidation_pattern(service, entity, id, hash_tag=hash_tag), key)
    assert redis_glob_matches(invalidation_pattern(service, entity, hash_tag=hash_tag), key)


@given(names, names, ids, ids, versions)
def test_the_pattern_of_an_entity_matches_no_other_entity(
    service: str, entity: str, id: str, other_id: str, version: str
) -> None:
    assume(id != other_id)
    pattern = invalidation_pattern(service, entity, id)
    assert not redis_glob_matches(pattern, cache_key(service, entity, other_id, version))


@given(versions)
def test_a_bumped_version_is_the_next_valid_one(version: str) -> None:
    bumped = bump_version(version)
    assert int(bumped[1:]) == int(version[1:]) + 1
    cache_key("svc", "entity", "1", bumped)


@given(ids, st.sampled_from([":", "{", "}", " ", "\t", "\n"]))
def test_an_id_with_a_separator_brace_or_space_is_refused_naming_the_id(id: str, bad: str) -> None:
    with pytest.raises(InvalidKeySegment) as caught:
        cache_key("svc", "entity", id + bad)
    assert caught.value.segment == "id"


@given(st.text(max_size=20))
def test_a_service_outside_the_name_grammar_is_refused(service: str) -> None:
    assume(re.fullmatch(r"[a-z][a-z0-9_-]{0,63}", service) is None)
    with pytest.raises(InvalidKeySegment) as caught:
        cache_key(service, "entity", "1")
    assert caught.value.segment == "service"
