"""The stream consumer: read events with a consumer group, apply them, acknowledge them.

At-least-once: an entry is acknowledged only after its Redis keys are gone *and* its edge targets
are purged. An entry whose consumer died (or failed) stays in the group's pending list; any
consumer claims it with XAUTOCLAIM once it has been idle `claim_idle` seconds, and applies it
again — deleting and purging twice is harmless. Idempotency by event id: after applying, the id
goes into a seen-set (`SET NX EX`) and an id found there is acknowledged without applying.

An entry that keeps failing (Redis refuses, Cloudflare is down) is not retried forever: the
stream counts its deliveries (XPENDING's times-delivered; every claim adds one), and an entry
claimed for a delivery beyond `max_deliveries` is moved to the dead-letter stream with that count
and acknowledged, so one poisoned entry cannot hold a consumer's batch for ever.

Events are applied in batches (one XREADGROUP reads up to `batch` entries): their keys are
unlinked, their edge targets merged and purged in as few calls as the plan allows, then all are
acknowledged together. An entry that is not a valid event is moved to the dead-letter stream and
acknowledged: retrying cannot make it valid.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol, cast

import redis

from cachectl.connection import CachectlError, ConnectionSettings, connect
from cachectl.invalidate import Selection, VersionBump, remove_matches
from cachekit.events import (
    DEFAULT_STREAM,
    EVENT_FIELD,
    EdgeTargets,
    InvalidationEvent,
    InvalidEvent,
    parse_event,
)
from invalidator.metrics import InvalidatorMetrics
from invalidator.purge import PurgeError

DEFAULT_GROUP = "invalidator"
SEEN_PREFIX = "cache-invalidation:seen:"
DEAD_LETTER_SUFFIX = ":dead"
DEFAULT_SEEN_TTL = 24 * 3600
"""Seconds an applied id is remembered: longer than any redelivery (claims, publisher retries)."""
DEFAULT_MAX_DELIVERIES = 20
"""Deliveries before an entry is dead-lettered: with claims every `claim_idle` (30 s), about ten
minutes of retries — longer than a Redis failover or a short Cloudflare incident."""
DEAD_LETTER_MAXLEN = 10_000
DEFAULT_DEPARTED_AFTER = 3600.0
"""A pod that restarts joins under a new name (its pod name) and its old name stays in the group.
A live consumer reads every `block` seconds, so one silent for an hour with nothing pending has
gone; removing it keeps XINFO CONSUMERS (the runbook's first look) to the running pods."""


class Purger(Protocol):
    def purge(self, targets: EdgeTargets) -> int: ...


@dataclass(frozen=True)
class ConsumerSettings:
    stream: str = DEFAULT_STREAM
    group: str = DEFAULT_GROUP
    batch: int = 100
    block: float = 1.0
    """Seconds one read waits for new entries."""
    claim_idle: float = 30.0
    """Seconds an entry stays pending with its consumer before another claims it."""
    seen_ttl: int = DEFAULT_SEEN_TTL
    max_deliveries: int = DEFAULT_MAX_DELIVERIES
    """Deliveries of one entry (the first read and every claim) before it is dead-lettered."""
    departed_after: float = DEFAULT_DEPARTED_AFTER
    """Seconds a consumer holding no entry may stay silent before it is removed from the group."""

    @property
    def dead_letter_stream(self) -> str:
        return self.stream + DEAD_LETTER_SUFFIX


Entry = tuple[str, dict[str, str]]


class Consumer:
    def __init__(
        self,
        name: str,
        connection: ConnectionSettings,
        purger: Purger,
        metrics: InvalidatorMetrics,
        settings: ConsumerSettings | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.connection = connection
        self.purger = purger
        self.metrics = metrics
        self.settings = settings or ConsumerSettings()
        self._clock = clock
        self._view = connect(connection)
        self.client: Any = self._view.cluster_client()
        self._ensure_group()
        self._next_departure_check = clock()

    def close(self) -> None:
        self.client.close()

    def _ensure_group(self) -> None:
        try:
            self.client.xgroup_create(
                self.settings.stream, self.settings.group, id="0", mkstream=True
            )
        except redis.ResponseError as error:
            if "BUSYGROUP" not in str(error):
                raise

    # ---- reading ---------------------------------------------------------------------------

    def claim_stale(self) -> list[Entry]:
        """Pending entries idle longer than `claim_idle`, now this consumer's; those claimed for
        a delivery beyond `max_deliveries` are dead-lettered instead of returned."""
        reply: Any = self.client.xautoclaim(
            self.settings.stream,
            self.settings.group,
            self.name,
            min_idle_time=int(self.settings.claim_idle * 1000),
            start_id="0-0",
            count=self.settings.batch,
        )
        claimed = [(str(entry_id), fields) for entry_id, fields in reply[1] if fields is not None]
        if not claimed:
            return []
        deliveries = self._deliveries([entry_id for entry_id, _ in claimed])
        exhausted = [
            (entry_id, fields, deliveries[entry_id])
            for entry_id, fields in claimed
            if deliveries.get(entry_id, 0) > self.settings.max_deliveries
        ]
        if exhausted:
            self._dead_letter_exhausted(exhausted)
        gone = {entry_id for entry_id, _, _ in exhausted}
        return [(entry_id, fields) for entry_id, fields in claimed if entry_id not in gone]

    def _deliveries(self, entry_ids: list[str]) -> dict[str, int]:
        """How often each entry has been delivered, this claim included (XPENDING's counter)."""
        pipe: Any = self.client.pipeline(transaction=False)
        for entry_id in entry_ids:
            pipe.xpending_range(
                self.settings.stream, self.settings.group, entry_id, entry_id, 1, self.name
            )
        counts: dict[str, int] = {}
        for rows in pipe.execute():
            for row in rows:
                message_id = row["message_id"]
                entry_id = message_id.decode() if isinstance(message_id, bytes) else message_id
                counts[str(entry_id)] = int(row["times_delivered"])
        return counts

    def _dead_letter_exhausted(self, exhausted: list[tuple[str, dict[str, str], int]]) -> None:
        for entry_id, fields, deliveries in exhausted:
            try:
                kind = parse_event(fields.get(EVENT_FIELD, "")).kind
            except InvalidEvent:
                kind = "invalid"
            # This claim counts as a delivery but applies nothing: the attempts were the others.
            attempts = deliveries - 1
            self._dead_letter(
                entry_id,
                fields,
                f"not applied in {attempts} deliveries (Redis or the edge failed each time)",
                deliveries=attempts,
            )
            self.metrics.dead_lettered.labels(kind, "max_deliveries").inc()
        # Copied first, acknowledged after: a crash in between leaves a copy and a pending entry,
        # never neither.
        self.client.xack(
            self.settings.stream, self.settings.group, *[entry_id for entry_id, _, _ in exhausted]
        )

    def _dead_letter(
        self, entry_id: str, fields: dict[str, str], error: str, *, deliveries: int | None = None
    ) -> None:
        counted = {} if deliveries is None else {"deliveries": str(deliveries)}
        self.client.xadd(
            self.settings.dead_letter_stream,
            {**fields, "error": error, "entry": entry_id, **counted},
            maxlen=DEAD_LETTER_MAXLEN,
            approximate=True,
        )

    def read_new(self, block: float | None = None) -> list[Entry]:
        wait = self.settings.block if block is None else block
        reply: Any = self.client.xreadgroup(
            self.settings.group,
            self.name,
            {self.settings.stream: ">"},
            count=self.settings.batch,
            block=int(wait * 1000) if wait > 0 else None,
        )
        if not reply:
            return []
        # RESP2 gives [[stream, entries]], RESP3 {stream: [entries]}.
        pairs: list[Any] = (
            list(cast(dict[str, Any], reply).items()) if isinstance(reply, dict) else reply
        )
        streams: list[Any] = [entries for _, entries in pairs]
        return [(str(entry_id), fields) for entries in streams for entry_id, fields in entries]

    def run_once(self, block: float | None = None) -> int:
        """Claim stale entries, read new ones, apply them all; the entries acknowledged."""
        entries = self.claim_stale()
        if len(entries) < self.settings.batch:
            entries += self.read_new(block if not entries else 0)
        acknowledged = self.process(entries) if entries else 0
        self.update_pending()
        if self._clock() >= self._next_departure_check:
            self._next_departure_check = self._clock() + self.settings.departed_after / 4
            self.forget_departed()
        return acknowledged

    def forget_departed(self) -> list[str]:
        """Remove the group's consumers (not this one) that hold no entry and have been silent
        for `departed_after`; their names. One holding entries stays: its entries are claimed
        by the others first, and it goes once it holds none."""
        consumers: Any = self.client.xinfo_consumers(self.settings.stream, self.settings.group)
        departed: list[str] = []
        for consumer in consumers:
            name = consumer["name"]
            name = name.decode() if isinstance(name, bytes) else str(name)
            silent_ms = int(consumer["idle"])
            if (
                name != self.name
                and int(consumer["pending"]) == 0
                and silent_ms >= self.settings.departed_after * 1000
            ):
                departed.append(name)
        for name in departed:
            self.client.xgroup_delconsumer(self.settings.stream, self.settings.group, name)
        return departed

    def update_pending(self) -> None:
        summary: Any = self.client.xpending(self.settings.stream, self.settings.group)
        self.metrics.pending.set(int(summary["pending"]))

    # ---- applying --------------------------------------------------------------------------

    def process(self, entries: list[Entry]) -> int:
        """Apply a batch; the entries acknowledged. Entries not acknowledged stay pending."""
        done: list[str] = []
        todo: list[tuple[str, InvalidationEvent]] = []
        for entry_id, fields in entries:
            try:
                event = parse_event(fields.get(EVENT_FIELD, ""))
            except InvalidEvent as error:
                self.metrics.failed.labels("invalid", "invalid").inc()
                self.metrics.dead_lettered.labels("invalid", "invalid").inc()
                self._dead_letter(entry_id, fields, str(error))
                done.append(entry_id)
                continue
            self.metrics.received.labels("stream", event.kind).inc()
            todo.append((entry_id, event))
        fresh: list[tuple[str, InvalidationEvent]] = []
        first_of: dict[str, str] = {}
        seen = self._seen([event.id for _, event in todo])
        for (entry_id, event), was_seen in zip(todo, seen, strict=True):
            if was_seen or event.id in first_of:
                self.metrics.duplicates.labels(event.kind).inc()
                done.append(entry_id)
            else:
                first_of[event.id] = entry_id
                fresh.append((entry_id, event))
        applied = self._apply_redis(fresh)
        if applied:
            try:
                self.purger.purge(EdgeTargets.merged(event.edge for _, event in applied))
            except PurgeError:
                for _, event in applied:
                    self.metrics.failed.labels(event.kind, "edge").inc()
                applied = []
        if applied:
            self._mark_seen([event.id for _, event in applied])
            now = self._clock()
            for entry_id, event in applied:
                self.metrics.applied.labels(event.kind).inc()
                self.metrics.lag.labels(event.kind).observe(max(0.0, now - event.occurred_at))
                done.append(entry_id)
        if done:
            self.client.xack(self.settings.stream, self.settings.group, *done)
        return len(done)

    def _seen(self, event_ids: list[str]) -> list[bool]:
        if not event_ids:
            return []
        pipe: Any = self.client.pipeline(transaction=False)
        for event_id in event_ids:
            pipe.exists(SEEN_PREFIX + event_id)
        return [bool(found) for found in pipe.execute()]

    def _mark_seen(self, event_ids: list[str]) -> None:
        pipe: Any = self.client.pipeline(transaction=False)
        for event_id in event_ids:
            pipe.set(SEEN_PREFIX + event_id, "1", ex=self.settings.seen_ttl, nx=True)
        pipe.execute()

    def _apply_redis(
        self, events: list[tuple[str, InvalidationEvent]]
    ) -> list[tuple[str, InvalidationEvent]]:
        """Unlink the events' keys; the events fully applied (the others stay pending)."""
        if not events:
            return []
        keys = list(dict.fromkeys(key for _, event in events for key in event.keys))
        try:
            if keys:
                pipe: Any = self.client.pipeline(transaction=False)
                for key in keys:
                    pipe.unlink(key)
                pipe.execute()
        except redis.RedisError:
            for _, event in events:
                self.metrics.failed.labels(event.kind, "redis").inc()
            return []
        applied: list[tuple[str, InvalidationEvent]] = []
        patterned = [item for item in events if item[1].entities or item[1].bumps]
        try:
            view = connect(self.connection) if patterned else None
        except CachectlError:
            view = None
        for entry_id, event in events:
            if event.entities or event.bumps:
                if view is None:
                    self.metrics.failed.labels(event.kind, "redis").inc()
                    continue
                selections = [Selection(e.pattern, e.pattern) for e in event.entities] + [
                    VersionBump(b.service, b.entity, b.from_version, b.to_version).old_keys()
                    for b in event.bumps
                ]
                try:
                    errors = [
                        error
                        for selection in selections
                        for error in remove_matches(view, selection).errors
                    ]
                except redis.RedisError as error:
                    errors = [str(error)]
                if errors:
                    self.metrics.failed.labels(event.kind, "redis").inc()
                    continue
            applied.append((entry_id, event))
        return applied
