# pyright: strict, reportUnknownMemberType=false, reportMissingTypeStubs=false
"""Backup sets: set ids, the manifest that makes a set complete, slot coverage, progress.

A set id is the UTC start time plus a random suffix (`20250102T030000Z-3fa9c1`), so sets sort by
time and two runs in the same second cannot mix their files. `manifest.json` is written last; a
set without it is an interrupted run.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import secrets
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, cast

from cachectl.errors import BackupError, RefusedSetError
from stackconfig.sharding import SLOT_COUNT

MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1
DEFAULT_PREFIX = "redis"
_SET_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
_SET_ID = re.compile(r"(?P<time>\d{8}T\d{6}Z)-(?P<suffix>[0-9a-f]{6})")
_NODE_ID = re.compile(r"[0-9a-f]{40}")
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")

SlotRange = tuple[int, int]


def format_slot_ranges(ranges: Iterable[SlotRange]) -> str:
    """`0-5460,5461-10922` (a single slot as `7`)."""
    return ",".join(str(a) if a == b else f"{a}-{b}" for a, b in sorted(ranges))


def uncovered_slots(ranges: Iterable[SlotRange]) -> list[SlotRange]:
    """Slot ranges of 0..16383 that no range covers."""
    missing: list[SlotRange] = []
    next_slot = 0
    for first, last in sorted(ranges):
        if first > next_slot:
            missing.append((next_slot, first - 1))
        next_slot = max(next_slot, last + 1)
    if next_slot < SLOT_COUNT:
        missing.append((next_slot, SLOT_COUNT - 1))
    return missing


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


# --- set ids, manifests ----------------------------------------------------------------------


def iso(moment: datetime) -> str:
    """UTC, second precision, with a `Z`: `2025-01-02T03:00:00Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: str) -> datetime:
    """An ISO-8601 time; without a zone it is taken as UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BackupError(
            f"'{text}' is not an ISO-8601 time (example: 2025-01-02T03:00:00Z)"
        ) from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def new_set_id(started_at: datetime, suffix: str | None = None) -> str:
    suffix = secrets.token_hex(3) if suffix is None else suffix
    return f"{started_at.astimezone(UTC).strftime(_SET_TIME_FORMAT)}-{suffix}"


def set_time(set_id: str) -> datetime | None:
    """When the set was started, from its id; None for names that are not set ids."""
    match = _SET_ID.fullmatch(set_id)
    if match is None:
        return None
    return datetime.strptime(match["time"], _SET_TIME_FORMAT).replace(tzinfo=UTC)


@dataclass(frozen=True)
class ManifestEntry:
    """One primary's snapshot in a set."""

    node_id: str
    address: str
    slots: tuple[SlotRange, ...]
    file: str
    key: str
    size: int
    sha256: str
    redis_version: str
    keys: int
    taken_at: str


@dataclass(frozen=True)
class Manifest:
    """The index of a complete set; its presence in S3 is what makes the set complete."""

    set_id: str
    prefix: str
    started_at: str
    completed_at: str
    entries: tuple[ManifestEntry, ...]
    format: int = MANIFEST_FORMAT

    def to_json(self) -> str:
        document = {
            "format": self.format,
            "set_id": self.set_id,
            "prefix": self.prefix,
            "started_at": self.started_at,
            "completed_at": self.completed_at,
            "slot_count": sum(b - a + 1 for e in self.entries for a, b in e.slots),
            "files": [
                {
                    "node_id": e.node_id,
                    "address": e.address,
                    "slots": [list(r) for r in e.slots],
                    "file": e.file,
                    "key": e.key,
                    "size": e.size,
                    "sha256": e.sha256,
                    "redis_version": e.redis_version,
                    "keys": e.keys,
                    "taken_at": e.taken_at,
                }
                for e in self.entries
            ],
        }
        return json.dumps(document, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str | bytes, *, expected_set_id: str | None = None) -> Manifest:
        """Parse and validate; RefusedSetError says what is wrong with it."""
        try:
            document = json.loads(text)
            manifest = cls._from_document(cast(dict[str, Any], document))
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            raise RefusedSetError(f"{MANIFEST_NAME} is unreadable: {error}") from None
        name = expected_set_id or manifest.set_id
        if manifest.format != MANIFEST_FORMAT:
            raise RefusedSetError(f"set {name}: unknown manifest format {manifest.format}")
        if expected_set_id is not None and manifest.set_id != expected_set_id:
            raise RefusedSetError(f"set {name}: its manifest names set {manifest.set_id}")
        if not manifest.entries:
            raise RefusedSetError(f"set {name}: the manifest lists no files")
        for entry in manifest.entries:
            if not _NODE_ID.fullmatch(entry.node_id) or entry.file != f"{entry.node_id}.rdb":
                raise RefusedSetError(f"set {name}: bad node id or file name '{entry.file}'")
            if not _SHA256_HEX.fullmatch(entry.sha256) or entry.size < 0:
                raise RefusedSetError(f"set {name}: bad checksum or size for {entry.file}")
            if any(not 0 <= a <= b < SLOT_COUNT for a, b in entry.slots):
                raise RefusedSetError(f"set {name}: bad slot range in {entry.file}")
        slots = [r for e in manifest.entries for r in e.slots]
        missing = uncovered_slots(slots)
        if missing or sum(b - a + 1 for a, b in slots) != SLOT_COUNT:
            raise RefusedSetError(
                f"set {name}: its files do not cover every slot exactly once "
                f"(missing: {format_slot_ranges(missing) or 'none'})"
            )
        return manifest

    @classmethod
    def _from_document(cls, document: dict[str, Any]) -> Manifest:
        entries = tuple(
            ManifestEntry(
                node_id=str(item["node_id"]),
                address=str(item["address"]),
                slots=tuple((int(r[0]), int(r[1])) for r in item["slots"]),
                file=str(item["file"]),
                key=str(item["key"]),
                size=int(item["size"]),
                sha256=str(item["sha256"]),
                redis_version=str(item["redis_version"]),
                keys=int(item["keys"]),
                taken_at=str(item["taken_at"]),
            )
            for item in cast(list[dict[str, Any]], document["files"])
        )
        return cls(
            set_id=str(document["set_id"]),
            prefix=str(document["prefix"]),
            started_at=str(document["started_at"]),
            completed_at=str(document["completed_at"]),
            entries=entries,
            format=int(document["format"]),
        )


# --- progress --------------------------------------------------------------------------------


class Reporter(Protocol):
    """Where the library reports what it does; the CLI shows it with rich."""

    def info(self, message: str) -> None: ...

    def transfer(
        self, description: str, total: int, unit: str = "bytes"
    ) -> AbstractContextManager[Callable[[int], None]]:
        """A progress task of `total` units; the callable advances it by a number of units."""
        ...


class SilentReporter:
    def info(self, message: str) -> None:
        del message

    def transfer(
        self, description: str, total: int, unit: str = "bytes"
    ) -> AbstractContextManager[Callable[[int], None]]:
        del description, total, unit
        return contextlib.nullcontext(ignore_progress)


def ignore_progress(amount: int) -> None:
    del amount
