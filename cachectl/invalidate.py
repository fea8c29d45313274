# pyright: strict, reportUnknownMemberType=false, reportMissingTypeStubs=false
"""Removing keys from the Redis Cluster: one key, every key of an entity type, or a version.

Patterns follow ADR-011's key convention and are built by `cachekit.keys`:
`service:entity` selects every key of that entity type, `service:entity:id` every version of one
entity (`service:entity:*` is read as `service:entity`). A pattern made only of wildcards would
select every key and needs `--all`.

SCAN runs on every primary (each holds only its own slots; replicas hold copies), and matching
keys are removed with UNLINK — the memory is freed in the background, so a large removal does not
block the node — in pipelined batches of single-key commands: a multi-key UNLINK on one node
fails with CROSSSLOT as soon as two keys of the batch live in different slots.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import redis

from cachectl.connection import CachectlError, ClusterView, describe
from cachekit.keys import InvalidKeySegment, bump_version, cache_key, invalidation_pattern

EVERY_KEY = "*"
_WILDCARD_ONLY = frozenset("*?:")
SCAN_COUNT = 1000
DEFAULT_BATCH = 500
DEFAULT_CONFIRM_ABOVE = 1000

KeyFilter = Callable[[str], bool]


@dataclass(frozen=True)
class Selection:
    """Which keys an invalidation targets: a SCAN MATCH pattern, optionally narrowed further."""

    pattern: str
    description: str
    old_version: str | None = None
    """Only keys whose last segment is this version (a version bump's old keys)."""

    def selects(self, key: str) -> bool:
        return self.old_version is None or key.rsplit(":", 1)[-1] == self.old_version


def matches_every_key(pattern: str) -> bool:
    stripped = pattern.strip()
    return not stripped or set(stripped) <= _WILDCARD_ONLY


def _segments(text: str, option: str) -> list[str]:
    parts = text.strip().split(":")
    if parts and parts[-1] == "*":
        parts = parts[:-1]
    if len(parts) not in (2, 3):
        raise CachectlError(
            f"{option} {text!r}: expected service:entity or service:entity:id "
            "(ADR-011 keys are service:entity:id:version)"
        )
    return parts


def pattern_selection(text: str, *, hash_tag: bool = False, allow_all: bool = False) -> Selection:
    """The selection of `--pattern TEXT`; CachectlError for a bad or unconfirmed pattern."""
    if matches_every_key(text):
        if not allow_all:
            raise CachectlError(
                f"pattern {text!r} matches every key: pass --all as well to remove every key"
            )
        return Selection(EVERY_KEY, "* (every key)")
    if allow_all:
        raise CachectlError("--all is only for a pattern that matches every key ('*')")
    parts = _segments(text, "--pattern")
    try:
        pattern = invalidation_pattern(*parts, hash_tag=hash_tag)
    except InvalidKeySegment as error:
        raise CachectlError(f"--pattern {text!r}: {error}") from None
    return Selection(pattern, pattern)


def hash_tag_twin(text: str) -> Selection | None:
    """The hash-tagged form of `--pattern TEXT` given without --hash-tag (None for `*`): when
    the plain form finds nothing, the twin tells whether --hash-tag was forgotten."""
    if matches_every_key(text):
        return None
    return pattern_selection(text, hash_tag=True)


@dataclass(frozen=True)
class VersionBump:
    service: str
    entity: str
    old: str
    new: str

    @property
    def example_key(self) -> str:
        return cache_key(self.service, self.entity, "<id>", self.new)

    def old_keys(self, *, hash_tag: bool = False) -> Selection:
        pattern = invalidation_pattern(self.service, self.entity, hash_tag=hash_tag)
        return Selection(pattern, f"keys matching {pattern} at version {self.old}", self.old)


def version_bump(text: str, old_version: str) -> VersionBump:
    """`--bump service:entity --from v1`."""
    parts = _segments(text, "--bump")
    if len(parts) != 2:
        raise CachectlError(f"--bump {text!r}: expected service:entity (a version covers a type)")
    service, entity = parts
    try:
        new = bump_version(old_version)
        cache_key(service, entity, "x", old_version)
    except InvalidKeySegment as error:
        raise CachectlError(f"--bump {text!r} --from {old_version!r}: {error}") from None
    return VersionBump(service, entity, old_version, new)


def _scan(client: redis.Redis, selection: Selection) -> Iterator[str]:
    untyped: Any = client
    for key in untyped.scan_iter(match=selection.pattern, count=SCAN_COUNT):
        name = key.decode() if isinstance(key, bytes) else str(key)
        if selection.selects(name):
            yield name


def count_matches(view: ClusterView, selection: Selection) -> dict[str, int]:
    """Matching keys per primary (`ip:port (hostname)`)."""
    counts: dict[str, int] = {}
    for primary in view.primaries:
        client = view.node_client(primary)
        try:
            counts[describe(primary)] = sum(1 for _ in _scan(client, selection))
        finally:
            client.close()
    return counts


@dataclass(frozen=True)
class Removal:
    removed: int
    errors: list[str]


def remove_matches(
    view: ClusterView,
    selection: Selection,
    *,
    batch: int = DEFAULT_BATCH,
    advance: Callable[[int], None] = lambda amount: None,
) -> Removal:
    """UNLINK every selected key on every primary; `advance` is told of each batch's size."""
    if batch < 1:
        raise CachectlError("--batch must be at least 1")
    removed = 0
    errors: list[str] = []
    for primary in view.primaries:
        client = view.node_client(primary)
        try:
            pending: list[str] = []
            for key in _scan(client, selection):
                pending.append(key)
                if len(pending) >= batch:
                    removed += _unlink(client, pending, errors)
                    advance(len(pending))
                    pending = []
            if pending:
                removed += _unlink(client, pending, errors)
                advance(len(pending))
        finally:
            client.close()
    return Removal(removed, errors)


def _unlink(client: redis.Redis, keys: list[str], errors: list[str]) -> int:
    untyped: Any = client
    pipe: Any = untyped.pipeline(transaction=False)
    for key in keys:
        pipe.unlink(key)
    removed = 0
    for key, result in zip(keys, pipe.execute(raise_on_error=False), strict=True):
        if isinstance(result, Exception):
            # A key whose slot moved away during a resharding answers MOVED: rerun to finish.
            errors.append(f"{key}: {result}")
        else:
            removed += int(result)
    return removed


def remove_keys(view: ClusterView, keys: list[str]) -> int:
    """UNLINK exact keys through the cluster client (each goes to its slot's primary)."""
    client = view.cluster_client()
    untyped: Any = client
    try:
        return sum(int(untyped.unlink(key)) for key in keys)
    finally:
        client.close()
