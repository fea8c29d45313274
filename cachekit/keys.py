"""Cache keys in ADR-011's convention `{service}:{entity}:{id}:{version}`.

`product:catalog:12345:v1` is the product 12345 of the catalog service, in the shape of version 1.
The version is part of the key so that a change of the cached shape (or a bulk invalidation) is a
version bump: readers of v2 never see v1 values, which expire by their TTL.

Hash tags: Redis Cluster places a key by the CRC16 of its whole name, so the keys of one entity
(its versions, or keys an application derives from it) land on different shards and a multi-key
command on them (MGET, MULTI/EXEC, a Lua script) fails with CROSSSLOT. With `hash_tag=True` the
entity part is wrapped in braces, `{product:catalog:12345}:v1`: Redis then hashes only what is
inside the braces, so every key of that entity shares one slot. The tag is the entity, not the
service or entity type: tagging `{product:catalog}` would put the whole catalog in one slot, on
one shard. Tagged and untagged keys are different keys; a service picks one form per entity type.

The ADR's four key patterns, all on top of the convention (the version stays last, so a version
bump invalidates every pattern of an entity type at once):

- entity `{entity}:{id}`, `cache_key` (alias `entity_key`): `product:catalog:12345:v1`
- collection `{entity}:list:{filters}`, `collection_key`:
  `product:catalog:list:brand=acme&color=red:v1`
- relationship `{entity}:{id}:{relation}`, `relationship_key`: `{product:catalog:12345}:reviews:v1`
- search `{entity}:search:{query_hash}`, `search_key`: `product:catalog:search:60c3683a0acf97f9:v1`
  (for "red shoes")

A relationship key is the data of one entity, so with `hash_tag=True` it carries the entity's tag
and lands in the entity's slot (one MGET or MULTI reads or drops both). Collections and searches
are tagged by nothing: tagging them by entity type would put every list of the type in one slot.
The ids `list` and `search` are reserved: `product:catalog:list:x:v1` must mean one thing.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from urllib.parse import quote

_NAME = re.compile(r"[a-z][a-z0-9_-]{0,63}")
# Anything printable but the separator, the hash-tag braces and whitespace.
_ID = re.compile(r"[^\s:{}]{1,256}")
_VERSION = re.compile(r"v([1-9][0-9]{0,8})")
_GLOB_SPECIALS = re.compile(r"([*?\[\]\\])")


class InvalidKeySegment(ValueError):
    """A key segment breaks the convention; `segment` names which one."""

    def __init__(self, segment: str, value: object, rule: str) -> None:
        super().__init__(f"invalid {segment} {value!r}: {rule}")
        self.segment = segment


def _checked(segment: str, value: str, pattern: re.Pattern[str], rule: str) -> str:
    if not isinstance(value, str) or pattern.fullmatch(value) is None:  # pyright: ignore[reportUnnecessaryIsInstance]
        raise InvalidKeySegment(segment, value, rule)
    return value


def _service(value: str) -> str:
    return _checked("service", value, _NAME, "lowercase letters, digits, '-' or '_', from a letter")


def _entity(value: str) -> str:
    return _checked("entity", value, _NAME, "lowercase letters, digits, '-' or '_', from a letter")


RESERVED_IDS = frozenset({"list", "search"})
"""Ids that would read as a collection or a search key."""


def _id(value: str) -> str:
    checked = _checked("id", value, _ID, "1-256 characters without ':', '{', '}' or whitespace")
    if checked in RESERVED_IDS:
        raise InvalidKeySegment("id", value, "'list' and 'search' are reserved for those patterns")
    return checked


def _relation(value: str) -> str:
    return _checked(
        "relation", value, _NAME, "lowercase letters, digits, '-' or '_', from a letter"
    )


def _version(value: str) -> str:
    return _checked("version", value, _VERSION, "'v' and a positive number, e.g. v1")


def cache_key(
    service: str, entity: str, id: str, version: str = "v1", *, hash_tag: bool = False
) -> str:
    """The key of one cached entity, e.g. `product:catalog:12345:v1`.

    With `hash_tag=True`: `{product:catalog:12345}:v1`, so all keys of the entity share a slot.
    Raises InvalidKeySegment naming the bad segment.
    """
    entity_part = f"{_service(service)}:{_entity(entity)}:{_id(id)}"
    if hash_tag:
        entity_part = "{" + entity_part + "}"
    return f"{entity_part}:{_version(version)}"


def escape_glob(text: str) -> str:
    """`text` as a literal inside a Redis glob pattern (SCAN MATCH, KEYS)."""
    return _GLOB_SPECIALS.sub(r"\\\1", text)


def invalidation_pattern(
    service: str, entity: str, id: str | None = None, *, hash_tag: bool = False
) -> str:
    """A SCAN MATCH pattern for every key of an entity type, or of one entity (all versions).

    `product:catalog:*` or, for one id, `product:catalog:12345:*`; with `hash_tag=True` the
    tagged forms `{product:catalog:*` and `{product:catalog:12345}:*`. Segments are validated and
    glob characters in them escaped, so an id such as `a*b` matches only itself.
    """
    prefix = f"{escape_glob(_service(service))}:{escape_glob(_entity(entity))}:"
    if id is None:
        return ("{" if hash_tag else "") + prefix + "*"
    entity_part = prefix + escape_glob(_id(id))
    if hash_tag:
        entity_part = "{" + entity_part + "}"
    return f"{entity_part}:*"


def bump_version(version: str) -> str:
    """The next version: `v1` -> `v2`. Writing under it invalidates every reader of the old one."""
    number = _VERSION.fullmatch(_version(version))
    assert number is not None
    return f"v{int(number.group(1)) + 1}"


entity_key = cache_key
"""The entity pattern `{entity}:{id}`: the convention itself."""

_MAX_FILTERS_TEXT = 128
"""Longer canonical filter texts are hashed, so a key stays short whatever the query string."""


def canonical_filters(filters: Mapping[str, object]) -> str:
    """The filters of a collection as one key segment: sorted `name=value` pairs joined by `&`.

    Equal filters give equal text whatever their order; every character that is not safe in a
    key (`:`, braces, whitespace, `&`, `=`, `%`...) is percent-encoded. No filters is `all`; a text
    over 128 characters becomes `h-` and 32 hex digits of its SHA-256.
    """
    if not filters:
        return "all"
    text = "&".join(
        f"{quote(str(name), safe='')}={quote(str(value), safe='')}"
        for name, value in sorted((str(n), v) for n, v in filters.items())
    )
    if len(text) > _MAX_FILTERS_TEXT:
        return "h-" + hashlib.sha256(text.encode()).hexdigest()[:32]
    return text


def collection_key(
    service: str, entity: str, filters: Mapping[str, object], version: str = "v1"
) -> str:
    """The collection pattern `{entity}:list:{filters}`, e.g.
    `product:catalog:list:brand=acme&color=red:v1` (see `canonical_filters`)."""
    return (
        f"{_service(service)}:{_entity(entity)}:list:{canonical_filters(filters)}:"
        f"{_version(version)}"
    )


def relationship_key(
    service: str,
    entity: str,
    id: str,
    relation: str,
    version: str = "v1",
    *,
    hash_tag: bool = False,
) -> str:
    """The relationship pattern `{entity}:{id}:{relation}`, e.g. `product:catalog:12345:reviews:v1`.

    With `hash_tag=True`: `{product:catalog:12345}:reviews:v1`, in the slot of the entity's own
    tagged key. `invalidation_pattern(service, entity, id)` matches it: dropping an entity drops
    its relationships.
    """
    entity_part = f"{_service(service)}:{_entity(entity)}:{_id(id)}"
    if hash_tag:
        entity_part = "{" + entity_part + "}"
    return f"{entity_part}:{_relation(relation)}:{_version(version)}"


def query_hash(query: str, params: Mapping[str, object] | None = None) -> str:
    """16 hex digits of SHA-256 over a normalised search: the query lowercased with runs of
    whitespace collapsed, then the sorted parameters (page, sort...)."""
    normalised = " ".join(query.lower().split())
    text = normalised + "\x00" + canonical_filters(params or {})
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def search_key(
    service: str,
    entity: str,
    query: str,
    params: Mapping[str, object] | None = None,
    version: str = "v1",
) -> str:
    """The search pattern `{entity}:search:{query_hash}`, e.g.
    `product:catalog:search:60c3683a0acf97f9:v1` (see `query_hash`)."""
    return (
        f"{_service(service)}:{_entity(entity)}:search:{query_hash(query, params)}:"
        f"{_version(version)}"
    )


def key_pattern(key: str) -> str:
    """The pattern a key was built from, with its variable parts as placeholders:
    `product:catalog:{id}`, `product:catalog:list:{filters}`, `product:catalog:{id}:reviews`,
    `product:catalog:search:{query_hash}`; `other` for a key outside the convention.

    Few distinct values per service (one per entity type and relation), so it suits span
    attributes and logs where the key itself would be too many values.
    """
    plain = key.replace("{", "", 1).replace("}", "", 1) if key.startswith("{") else key
    parts = plain.split(":")
    if len(parts) not in (4, 5) or _VERSION.fullmatch(parts[-1]) is None:
        return "other"
    service, entity, middle = parts[0], parts[1], parts[2:-1]
    if _NAME.fullmatch(service) is None or _NAME.fullmatch(entity) is None:
        return "other"
    prefix = f"{service}:{entity}"
    if len(middle) == 1:
        return f"{prefix}:{{id}}"
    if middle[0] == "list":
        return f"{prefix}:list:{{filters}}"
    if middle[0] == "search":
        return f"{prefix}:search:{{query_hash}}"
    if _NAME.fullmatch(middle[1]) is None:
        return "other"
    return f"{prefix}:{{id}}:{middle[1]}"
