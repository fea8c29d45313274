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
"""

from __future__ import annotations

import re

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


def _id(value: str) -> str:
    return _checked("id", value, _ID, "1-256 characters without ':', '{', '}' or whitespace")


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
