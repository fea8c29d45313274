"""`python -m invalidator.pg_relay`: PostgreSQL changes -> invalidation events on the stream.

A trigger writes each event into an outbox table in the changing transaction, and the outbox's
own trigger sends NOTIFY, which PostgreSQL delivers at commit and never for a rolled-back change
(invalidator/sql/price_invalidation.sql, docs/invalidation.md). The relay LISTENs; woken, or
every `--poll` seconds for a notification sent while it was away, it takes a batch of outbox
rows (`FOR UPDATE SKIP LOCKED`, so several relays share the work), publishes each with the kit's
publisher (`cachekit.events.publish`, which validates it) and deletes them in the same
transaction. A crash between the stream and the commit publishes the rows again with the same
event ids, which the consumers apply once. A row that is not a valid event gets its `error`
column set and is left for a person: retrying cannot make it valid.

Why an outbox rather than the event in NOTIFY's payload: a notification sent while no relay
listens is lost, and a payload is capped at 8000 bytes.

The PostgreSQL password and the Redis password come from files (mounted from Secrets); a bad
option or file exits with status 2 and one line naming it.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from cachectl.connection import CachectlError, ConnectionSettings, connect
from cachectl.credentials import read_credentials
from cachekit.events import DEFAULT_STREAM, InvalidEvent, parse_event, publish
from invalidator.options import (
    EXIT_USAGE,
    UsageError,
    positive,
    redis_connection,
    stop_on_signals,
)

DEFAULT_CHANNEL = "cache_invalidation"
DEFAULT_OUTBOX = "cache_invalidation_outbox"
STOP_CHECK_SECONDS = 1.0
"""Longest wait for a notification before SIGTERM is looked at again."""
RETRY_SECONDS = 2.0
"""Wait after a failed round (PostgreSQL or Redis unreachable) before the next."""

_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}(\.[a-z_][a-z0-9_]{0,62})?")


@dataclass(frozen=True)
class RelaySettings:
    channel: str = DEFAULT_CHANNEL
    """The NOTIFY channel the outbox's trigger signals."""
    outbox: str = DEFAULT_OUTBOX
    """The outbox table, optionally schema-qualified."""
    stream: str = DEFAULT_STREAM
    batch: int = 100
    """Outbox rows per transaction."""
    poll: float = 5.0
    """Seconds between looks at the outbox when no notification comes."""


@dataclass(frozen=True)
class BatchResult:
    published: int = 0
    refused: int = 0
    """Rows that are not valid events: marked with their error, left in the outbox."""


def _identifier(name: str) -> sql.Composable:
    return sql.SQL(".").join(sql.Identifier(part) for part in name.split("."))


class Relay:
    def __init__(
        self,
        conninfo: str,
        redis_client: Any,
        settings: RelaySettings | None = None,
        *,
        password: str | None = None,
    ) -> None:
        self.conninfo = conninfo
        self.password = password
        self.redis = redis_client
        self.settings = settings or RelaySettings()
        outbox = _identifier(self.settings.outbox)
        self._take = sql.SQL(
            "SELECT id, event::text FROM {} WHERE error IS NULL ORDER BY id LIMIT %s "
            "FOR UPDATE SKIP LOCKED"
        ).format(outbox)
        self._delete = sql.SQL("DELETE FROM {} WHERE id = ANY(%s)").format(outbox)
        self._mark = sql.SQL("UPDATE {} SET error = %s WHERE id = %s").format(outbox)

    def _connect(self, *, autocommit: bool) -> psycopg.Connection[Any]:
        # psycopg leaves out a keyword that is None: no password, the server's other methods.
        return psycopg.connect(
            self.conninfo,
            autocommit=autocommit,
            application_name="invalidator-pg-relay",
            password=self.password,
        )

    def relay_batch(self, work: psycopg.Connection[Any]) -> BatchResult:
        """Publish one batch of outbox rows and delete them, in one transaction."""
        published: list[int] = []
        refused = 0
        with work.transaction():
            rows = work.execute(self._take, (self.settings.batch,)).fetchall()
            for row_id, text in rows:
                try:
                    event = parse_event(text)
                except InvalidEvent as error:
                    work.execute(self._mark, (str(error), row_id))
                    refused += 1
                    continue
                publish(self.redis, event, stream=self.settings.stream)
                published.append(row_id)
            if published:
                work.execute(self._delete, (published,))
        return BatchResult(len(published), refused)

    def drain(self, work: psycopg.Connection[Any]) -> BatchResult:
        """Relay batches until the outbox has no more waiting rows."""
        published = refused = 0
        while True:
            result = self.relay_batch(work)
            published += result.published
            refused += result.refused
            if result.published + result.refused < self.settings.batch:
                return BatchResult(published, refused)

    def _listen(
        self,
        listener: psycopg.Connection[Any],
        work: psycopg.Connection[Any],
        stopping: threading.Event,
    ) -> None:
        """Drain now, then whenever notified or `poll` seconds have passed; `stopping` is looked
        at every second at most, so SIGTERM does not wait for a long poll."""
        next_look = 0.0
        while not stopping.is_set():
            if time.monotonic() >= next_look:
                self.drain(work)
                next_look = time.monotonic() + self.settings.poll
            wait = max(0.0, min(STOP_CHECK_SECONDS, next_look - time.monotonic()))
            if any(True for _ in listener.notifies(timeout=wait, stop_after=1)):
                next_look = 0.0

    def run(self, stopping: threading.Event) -> None:
        """LISTEN and drain until `stopping` is set; a lost connection is opened again."""
        while not stopping.is_set():
            try:
                with (
                    self._connect(autocommit=True) as listener,
                    self._connect(autocommit=False) as work,
                ):
                    listener.execute(
                        sql.SQL("LISTEN {}").format(sql.Identifier(self.settings.channel))
                    )
                    # Listening before the first drain: a row committed in between still wakes us.
                    self._listen(listener, work, stopping)
            except Exception as error:  # PostgreSQL or Redis away: the rows wait, try again
                print(f"pg_relay: {type(error).__name__}: {error}", file=sys.stderr)
                stopping.wait(RETRY_SECONDS)


def _parser() -> argparse.ArgumentParser:
    env = os.environ.get
    parser = argparse.ArgumentParser(prog="python -m invalidator.pg_relay", description=__doc__)
    parser.add_argument(
        "--pg-dsn",
        default=env("INVALIDATOR_PG_DSN", ""),
        help="libpq connection string or URI, without the password",
    )
    parser.add_argument("--pg-password-file", default=env("INVALIDATOR_PG_PASSWORD_FILE"))
    parser.add_argument(
        "--channel",
        default=env("INVALIDATOR_PG_CHANNEL", DEFAULT_CHANNEL),
        help="the NOTIFY channel of the outbox's trigger",
    )
    parser.add_argument("--outbox", default=env("INVALIDATOR_PG_OUTBOX", DEFAULT_OUTBOX))
    parser.add_argument("--poll", default=env("INVALIDATOR_PG_POLL_SECONDS", "5"))
    parser.add_argument("--batch", default=env("INVALIDATOR_PG_BATCH", "100"))
    parser.add_argument("--node", default=env("INVALIDATOR_REDIS_NODES", ""))
    parser.add_argument("--redis-user", default=env("INVALIDATOR_REDIS_USER", "operator"))
    parser.add_argument("--redis-password-file", default=env("INVALIDATOR_REDIS_PASSWORD_FILE"))
    parser.add_argument("--stream", default=env("INVALIDATOR_STREAM", DEFAULT_STREAM))
    return parser


def _conninfo(dsn: str) -> str:
    if not dsn:
        raise UsageError("--pg-dsn: required (e.g. 'host=db.example port=5432 dbname=shop')")
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as error:
        first = str(error).splitlines()[0] if str(error) else "unreadable"
        raise UsageError(f"--pg-dsn: not a libpq connection string ({first})") from None
    if "password" in params:
        # A password in the string would show in `ps` and the Deployment: it goes in a file.
        raise UsageError("--pg-dsn: holds a password; put it in --pg-password-file instead")
    return dsn


def _name(value: str, option: str) -> str:
    if _NAME.fullmatch(value) is None:
        raise UsageError(
            f"{option} {value!r}: a lowercase SQL name (letters, digits, '_'; schema.name allowed)"
        )
    return value


def main(argv: Sequence[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    try:
        conninfo = _conninfo(options.pg_dsn)
        settings = RelaySettings(
            channel=_name(options.channel, "--channel"),
            outbox=_name(options.outbox, "--outbox"),
            stream=options.stream,
            batch=int(positive(options.batch, "--batch", integer=True)),
            poll=positive(options.poll, "--poll"),
        )
        if not settings.stream:
            raise UsageError("--stream: required (the invalidation stream's key)")
        password = (
            read_credentials({}, password_file=Path(options.pg_password_file)).password
            if options.pg_password_file
            else None
        )
        connection = redis_connection(options.node, options.redis_user, options.redis_password_file)
    except (UsageError, CachectlError) as error:
        print(f"pg_relay: {error}", file=sys.stderr)
        return EXIT_USAGE
    return _serve(conninfo, password, connection, settings)


def _serve(
    conninfo: str, password: str | None, connection: ConnectionSettings, settings: RelaySettings
) -> int:
    try:
        client: Any = connect(connection).cluster_client()
    except CachectlError as error:
        print(f"pg_relay: {error}", file=sys.stderr)
        return 1
    stopping = stop_on_signals()
    try:
        Relay(conninfo, client, settings, password=password).run(stopping)
    finally:
        client.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
