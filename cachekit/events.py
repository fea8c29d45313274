"""Invalidation events: what changed, as one JSON document on a Redis Stream (docs/invalidation.md).

A service that changes data publishes one event in one call (`publish`); the invalidation service
(`invalidator/`) reads it back with `parse_event` — the same validation on both ends, so a bad
event is refused where it is made, not discovered by the consumer.

An event names what to drop: exact keys (ADR-011 keys, `cachekit.keys`), every key of an entity
or an entity type, the old version of an entity type (a version bump), and edge targets (URLs,
prefixes, cache tags). It carries its own id (idempotency: a consumer applies an id once) and the
time the change happened (the consumer's lag histogram starts there).
"""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from cachekit.keys import InvalidKeySegment, bump_version, invalidation_pattern, key_pattern

SCHEMA = "cache-invalidation"
SCHEMA_VERSION = 1
DEFAULT_STREAM = "cache-invalidation:events"
"""The stream's key; one key, so one slot of the cluster holds the whole stream."""
EVENT_FIELD = "event"
"""The stream entry's one field: the event's JSON."""
DEFAULT_MAXLEN = 1_000_000
"""Entries the stream keeps (approximately); far more than a consumer lags behind."""

MAX_EVENT_BYTES = 64 * 1024
MAX_ITEMS = 1000
"""Items per list of an event (keys, entities, URLs...); a bigger change is a version bump."""

_KIND = re.compile(r"[a-z][a-z0-9_]{0,39}")
_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")
_SOURCE = re.compile(r"[a-z][a-z0-9_.-]{0,63}")


class InvalidEvent(ValueError):
    """An event that breaks the schema; the message names the field and what is allowed."""


@dataclass(frozen=True)
class EntityRef:
    """Every key of one entity (`id`) or of a whole entity type (`id` None), all versions."""

    service: str
    entity: str
    id: str | None = None
    hash_tag: bool = False

    @property
    def pattern(self) -> str:
        """The SCAN MATCH pattern (`cachekit.keys.invalidation_pattern`)."""
        return invalidation_pattern(self.service, self.entity, self.id, hash_tag=self.hash_tag)


@dataclass(frozen=True)
class VersionBump:
    """An entity type moves from `from_version` to the next; the old version's keys go."""

    service: str
    entity: str
    from_version: str

    @property
    def to_version(self) -> str:
        return bump_version(self.from_version)


@dataclass(frozen=True)
class EdgeTargets:
    """What to purge from Cloudflare's cache: full URLs, host/path prefixes, cache tags."""

    urls: tuple[str, ...] = ()
    prefixes: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.urls or self.prefixes or self.tags)

    @staticmethod
    def merged(targets: Iterable[EdgeTargets]) -> EdgeTargets:
        """One set of targets for many events, each item once (events are purged in batches)."""
        items = list(targets)
        return EdgeTargets(
            tuple(dict.fromkeys(u for t in items for u in t.urls)),
            tuple(dict.fromkeys(p for t in items for p in t.prefixes)),
            tuple(dict.fromkeys(g for t in items for g in t.tags)),
        )


@dataclass(frozen=True)
class InvalidationEvent:
    id: str
    kind: str
    """What happened, e.g. `price_change`; a metric label, so a few values per platform."""
    source: str
    """The service that published it."""
    occurred_at: float
    """When the change happened (Unix seconds)."""
    keys: tuple[str, ...] = ()
    entities: tuple[EntityRef, ...] = ()
    bumps: tuple[VersionBump, ...] = ()
    edge: EdgeTargets = field(default_factory=EdgeTargets)

    def to_document(self) -> dict[str, Any]:
        redis_part: dict[str, Any] = {}
        if self.keys:
            redis_part["keys"] = list(self.keys)
        if self.entities:
            redis_part["entities"] = [_entity_document(e) for e in self.entities]
        if self.bumps:
            redis_part["bump"] = [
                {"service": b.service, "entity": b.entity, "from": b.from_version}
                for b in self.bumps
            ]
        edge_part = {
            name: list(values)
            for name, values in (
                ("urls", self.edge.urls),
                ("prefixes", self.edge.prefixes),
                ("tags", self.edge.tags),
            )
            if values
        }
        return {
            "schema": SCHEMA,
            "version": SCHEMA_VERSION,
            "id": self.id,
            "kind": self.kind,
            "source": self.source,
            "occurred_at": _rfc3339(self.occurred_at),
            "redis": redis_part,
            "edge": edge_part,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_document(), separators=(",", ":"), sort_keys=True)


def _entity_document(entity: EntityRef) -> dict[str, Any]:
    document: dict[str, Any] = {"service": entity.service, "entity": entity.entity}
    if entity.id is not None:
        document["id"] = entity.id
    if entity.hash_tag:
        document["hash_tag"] = True
    return document


def _rfc3339(moment: float) -> str:
    return (
        datetime.fromtimestamp(moment, UTC)
        .isoformat(timespec="milliseconds")
        .replace("+00:00", "Z")
    )


def _fail(path: str, value: object, allowed: str) -> InvalidEvent:
    shown = repr(value)
    if len(shown) > 80:
        shown = shown[:77] + "..."
    return InvalidEvent(f"{path} = {shown}: {allowed}")


def _text(value: object, path: str, pattern: re.Pattern[str], allowed: str) -> str:
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise _fail(path, value, allowed)
    return value


def _strings(value: object, path: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise _fail(path, value, "a list of strings")
    items = cast(list[object], value)
    if len(items) > MAX_ITEMS:
        raise _fail(path, f"{len(items)} items", f"at most {MAX_ITEMS} (bump a version instead)")
    for index, item in enumerate(items):
        if not isinstance(item, str) or not item:
            raise _fail(f"{path}[{index}]", item, "a non-empty string")
    return cast(list[str], items)


def _objects(value: object, path: str) -> list[dict[str, Any]]:
    if value is None:
        return []
    items = cast(list[object], value) if isinstance(value, list) else None
    if items is None or len(items) > MAX_ITEMS:
        shown = f"{len(items)} items" if items is not None else repr(cast(object, value))
        raise _fail(path, shown, f"a list of at most {MAX_ITEMS} objects")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise _fail(f"{path}[{index}]", item, "an object")
    return cast(list[dict[str, Any]], items)


def _check_key(key: str, path: str) -> str:
    if key_pattern(key) == "other":
        raise _fail(path, key, "an ADR-011 key, service:entity:id:version (cachekit.keys)")
    return key


class InvalidEdgeTarget(ValueError):
    """An edge target Cloudflare would refuse or misread; the message says what is allowed."""


MAX_TAG_LENGTH = 1024
"""Characters in one cache tag (Cloudflare's limit for a tag in a purge call)."""

_SCHEMES = ("https://", "http://")


def edge_url(url: str) -> str:
    """A URL to purge as Cloudflare takes it: the full URL with its scheme, no whitespace."""
    if not url.lower().startswith(_SCHEMES) or any(c.isspace() for c in url):
        raise InvalidEdgeTarget("a full URL with http(s):// and no whitespace")
    return url


def edge_prefix(prefix: str) -> str:
    """A prefix to purge as Cloudflare takes it: host and path without the scheme. A host alone
    is refused: it would purge the whole host, which is a purge by hostname, not by prefix."""
    bare = prefix[prefix.index("://") + 3 :] if prefix.lower().startswith(_SCHEMES) else prefix
    if "://" in bare or "/" not in bare.strip("/") or any(c.isspace() for c in prefix):
        raise InvalidEdgeTarget(
            "host and path, e.g. www.example.com/api/prices (a host alone would purge the whole "
            "host)"
        )
    return bare


def edge_tag(tag: str) -> str:
    """One cache tag as the Worker sets it in `Cache-Tag` (a comma separates tags there)."""
    if not tag or "," in tag or tag != tag.strip() or len(tag) > MAX_TAG_LENGTH:
        raise InvalidEdgeTarget(
            f"one cache tag of 1-{MAX_TAG_LENGTH} characters, without commas or surrounding spaces"
        )
    return tag


def _edge_target(check: Callable[[str], str], value: str, path: str) -> str:
    try:
        return check(value)
    except InvalidEdgeTarget as error:
        raise _fail(path, value, str(error)) from None


def _entity(document: Mapping[str, Any], path: str) -> EntityRef:
    unknown = set(document) - {"service", "entity", "id", "hash_tag"}
    if unknown:
        raise _fail(path, sorted(unknown), "only service, entity, id, hash_tag")
    hash_tag = document.get("hash_tag", False)
    if not isinstance(hash_tag, bool):
        raise _fail(f"{path}.hash_tag", hash_tag, "true or false")
    entity = EntityRef(
        document.get("service"),  # type: ignore[arg-type]
        document.get("entity"),  # type: ignore[arg-type]
        document.get("id"),
        hash_tag,
    )
    try:
        _ = entity.pattern
    except InvalidKeySegment as error:
        raise _fail(f"{path}.{error.segment}", document.get(error.segment), str(error)) from None
    return entity


def _bump(document: Mapping[str, Any], path: str) -> VersionBump:
    unknown = set(document) - {"service", "entity", "from"}
    if unknown:
        raise _fail(path, sorted(unknown), "only service, entity, from")
    bump = VersionBump(
        document.get("service"),  # type: ignore[arg-type]
        document.get("entity"),  # type: ignore[arg-type]
        document.get("from"),  # type: ignore[arg-type]
    )
    try:
        invalidation_pattern(bump.service, bump.entity)
        _ = bump.to_version
    except InvalidKeySegment as error:
        segment = "from" if error.segment == "version" else error.segment
        raise _fail(f"{path}.{segment}", document.get(segment), str(error)) from None
    return bump


def _timestamp(value: object) -> float:
    if not isinstance(value, str):
        raise _fail("occurred_at", value, "an RFC 3339 time with a zone, e.g. 2026-12-03T16:00:00Z")
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise _fail("occurred_at", value, "an RFC 3339 time, e.g. 2026-12-03T16:00:00Z") from None
    if moment.tzinfo is None:
        raise _fail("occurred_at", value, "a time with its zone (Z or +hh:mm)")
    return moment.timestamp()


def event_from_document(document: object) -> InvalidationEvent:
    """The event in a decoded JSON document; InvalidEvent naming the first bad field."""
    if not isinstance(document, dict):
        raise _fail("event", document, "a JSON object")
    doc = cast(dict[str, Any], document)
    if doc.get("schema") != SCHEMA:
        raise _fail("schema", doc.get("schema"), f"{SCHEMA!r}")
    if doc.get("version") != SCHEMA_VERSION:
        raise _fail("version", doc.get("version"), f"{SCHEMA_VERSION} (the version this reads)")
    unknown = set(doc) - {
        "schema", "version", "id", "kind", "source", "occurred_at", "redis", "edge",
    }  # fmt: skip
    if unknown:
        raise _fail("event", sorted(unknown), "no fields beyond the schema's")
    event_id = _text(doc.get("id"), "id", _ID, "1-128 letters, digits, '.', '_', ':' or '-'")
    kind = _text(doc.get("kind"), "kind", _KIND, "lowercase letters, digits, '_' (a few values)")
    source = _text(doc.get("source"), "source", _SOURCE, "a service name, lowercase")
    occurred_at = _timestamp(doc.get("occurred_at"))
    redis_part = doc.get("redis", {})
    edge_part = doc.get("edge", {})
    if not isinstance(redis_part, dict):
        raise _fail("redis", redis_part, "an object with keys, entities, bump")
    if not isinstance(edge_part, dict):
        raise _fail("edge", edge_part, "an object with urls, prefixes, tags")
    redis_doc = cast(dict[str, Any], redis_part)
    edge_doc = cast(dict[str, Any], edge_part)
    if set(redis_doc) - {"keys", "entities", "bump"}:
        raise _fail("redis", sorted(redis_doc), "only keys, entities, bump")
    if set(edge_doc) - {"urls", "prefixes", "tags"}:
        raise _fail("edge", sorted(edge_doc), "only urls, prefixes, tags")
    keys = [
        _check_key(k, f"redis.keys[{i}]")
        for i, k in enumerate(_strings(redis_doc.get("keys"), "redis.keys"))
    ]
    entities = [
        _entity(e, f"redis.entities[{i}]")
        for i, e in enumerate(_objects(redis_doc.get("entities"), "redis.entities"))
    ]
    bumps = [
        _bump(b, f"redis.bump[{i}]")
        for i, b in enumerate(_objects(redis_doc.get("bump"), "redis.bump"))
    ]
    edge = EdgeTargets(
        tuple(
            _edge_target(edge_url, u, f"edge.urls[{i}]")
            for i, u in enumerate(_strings(edge_doc.get("urls"), "edge.urls"))
        ),
        tuple(
            _edge_target(edge_prefix, p, f"edge.prefixes[{i}]")
            for i, p in enumerate(_strings(edge_doc.get("prefixes"), "edge.prefixes"))
        ),
        tuple(
            _edge_target(edge_tag, t, f"edge.tags[{i}]")
            for i, t in enumerate(_strings(edge_doc.get("tags"), "edge.tags"))
        ),
    )
    if not (keys or entities or bumps or edge):
        raise _fail("event", event_id, "names at least one key, entity, bump or edge target")
    return InvalidationEvent(
        event_id, kind, source, occurred_at, tuple(keys), tuple(entities), tuple(bumps), edge
    )


def parse_event(text: str | bytes) -> InvalidationEvent:
    """The event in a JSON text (a stream entry's field, a webhook's body)."""
    if len(text) > MAX_EVENT_BYTES:
        raise _fail("event", f"{len(text)} bytes", f"at most {MAX_EVENT_BYTES} bytes")
    try:
        document: object = json.loads(text)
    except (ValueError, UnicodeDecodeError) as error:
        raise InvalidEvent(f"event: not JSON ({error})") from None
    return event_from_document(document)


def new_event(
    kind: str,
    *,
    source: str,
    keys: Sequence[str] = (),
    entities: Sequence[EntityRef] = (),
    bumps: Sequence[VersionBump] = (),
    urls: Sequence[str] = (),
    prefixes: Sequence[str] = (),
    tags: Sequence[str] = (),
    event_id: str | None = None,
    occurred_at: float | None = None,
) -> InvalidationEvent:
    """A validated event; the id is a new UUID and the time now unless given."""
    event = InvalidationEvent(
        event_id or str(uuid.uuid4()),
        kind,
        source,
        time.time() if occurred_at is None else occurred_at,
        tuple(keys),
        tuple(entities),
        tuple(bumps),
        EdgeTargets(tuple(urls), tuple(prefixes), tuple(tags)),
    )
    return event_from_document(event.to_document())


def publish(
    client: Any,
    event: InvalidationEvent,
    *,
    stream: str = DEFAULT_STREAM,
    maxlen: int = DEFAULT_MAXLEN,
) -> str:
    """XADD the event to the stream (checked again first); the entry's id.

    `client` is a redis-py client (cluster or not, sync). The stream is trimmed approximately to
    `maxlen` so that it cannot grow without bound while no consumer runs.
    """
    text = event.to_json()
    parse_event(text)
    entry: object = client.xadd(stream, {EVENT_FIELD: text}, maxlen=maxlen, approximate=True)
    return entry.decode() if isinstance(entry, bytes) else str(entry)
