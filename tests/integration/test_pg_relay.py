"""The database-trigger example end to end: a real PostgreSQL (Debian's, a throwaway cluster) with
the trigger SQL of invalidator/sql/price_invalidation.sql, the relay process, and a 3-primary lab
cluster holding the stream. A price updated while no relay runs waits in the outbox; a committed
update wakes the relay through NOTIFY; a rolled-back or no-op update sends nothing; a row that is
not an event is marked and not published; the published event is applied by the consumer; a
batch that fails midway stays in the outbox and is published again under the same ids."""

from __future__ import annotations

import dataclasses
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql

from cachectl.connection import connect
from cachekit.events import parse_event
from invalidator.consumer import Consumer, ConsumerSettings
from invalidator.metrics import InvalidatorMetrics
from invalidator.pg_relay import BatchResult, Relay, RelaySettings
from invalidator.purge import EdgePurger, PurgeLimits
from lab.cluster import RedisLab
from tests.support.invalidator_support import (
    TOKEN,
    ZONE,
    FakeClock,
    FakeCloudflare,
    lab_connection,
    small_acl_lab,
)
from tests.support.postgres import Postgres, throwaway_postgres

pytestmark = pytest.mark.integration

TRIGGER_SQL = Path(__file__).resolve().parents[2] / "invalidator" / "sql" / "price_invalidation.sql"
DEADLINE_SECONDS = 30.0


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    with throwaway_postgres() as server:
        yield server


@pytest.fixture(scope="module")
def small_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisLab]:
    with small_acl_lab(tmp_path_factory.mktemp("pg-relay-lab")) as lab:
        yield lab


@pytest.fixture
def shop(postgres: Postgres) -> Iterator[Postgres]:
    """A fresh database with the prices table and the example's outbox and triggers."""
    name = f"shop_{uuid.uuid4().hex[:12]}"
    with postgres.connect(autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    database = dataclasses.replace(postgres, dbname=name)
    with database.connect(autocommit=True) as db:
        db.execute("CREATE TABLE prices (product_id text PRIMARY KEY, amount numeric NOT NULL)")
        db.execute(TRIGGER_SQL.read_text())  # type: ignore[arg-type]  # a file of ours, not input
        db.execute("INSERT INTO prices VALUES ('12345', 10.00), ('777', 5.00)")
    yield database


def wait_for(condition: Callable[[], bool], what: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + DEADLINE_SECONDS
    while not condition():
        if process.poll() is not None:
            assert process.stderr is not None
            pytest.fail(f"the relay exited ({process.returncode}): {process.stderr.read()}")
        if time.monotonic() > deadline:
            pytest.fail(f"waited {DEADLINE_SECONDS:.0f} s for {what}")
        time.sleep(0.1)


def outbox(db: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return db.execute("SELECT event->>'kind', error FROM cache_invalidation_outbox").fetchall()


def test_a_committed_price_change_reaches_the_stream_and_is_applied(
    shop: Postgres, small_lab: RedisLab, tmp_path: Path
) -> None:
    postgres = shop
    stream = f"test-{uuid.uuid4().hex}"
    redis_client: Any = connect(lab_connection(small_lab)).cluster_client()
    db = postgres.connect(autocommit=True)
    process: subprocess.Popen[str] | None = None
    try:
        # Before any relay runs: one committed change, one rolled back, one that changes nothing.
        db.execute("UPDATE prices SET amount = 11.00 WHERE product_id = '12345'")
        with pytest.raises(RuntimeError), db.transaction():
            db.execute("UPDATE prices SET amount = 1.00 WHERE product_id = '777'")
            raise RuntimeError("roll back")
        db.execute("UPDATE prices SET amount = amount WHERE product_id = '777'")
        assert outbox(db) == [("price_change", None)]

        files = {"pg": postgres.password, "redis": small_lab.password or ""}
        for name, text in files.items():
            (tmp_path / name).write_text(text)
            (tmp_path / name).chmod(0o600)
        node = small_lab.nodes[0]
        command = [
            sys.executable, "-m", "invalidator.pg_relay",
            "--pg-dsn", postgres.conninfo,
            "--pg-password-file", str(tmp_path / "pg"),
            "--node", f"{node.host}:{node.port}",
            "--redis-user", small_lab.username or "",
            "--redis-password-file", str(tmp_path / "redis"),
            "--stream", stream,
            # Polling an hour apart: what arrives in the test's time came by NOTIFY.
            "--poll", "3600",
        ]  # fmt: skip
        process = subprocess.Popen(command, stderr=subprocess.PIPE, text=True)
        relay = process
        wait_for(lambda: redis_client.xlen(stream) == 1, "the change made before the relay", relay)

        db.execute("UPDATE prices SET amount = 6.00 WHERE product_id = '777'")
        wait_for(lambda: redis_client.xlen(stream) == 2, "the change notified", relay)
        assert outbox(db) == []

        db.execute(
            "INSERT INTO cache_invalidation_outbox (event) VALUES (%s)",
            ('{"schema": "cache-invalidation", "version": 1, "id": "x"}',),
        )
        wait_for(lambda: [error for _, error in outbox(db)] != [None], "the bad row marked", relay)
        assert len(outbox(db)) == 1 and "kind" in outbox(db)[0][1]
        assert redis_client.xlen(stream) == 2

        events = [parse_event(fields["event"]) for _, fields in redis_client.xrange(stream)]
        assert [(e.kind, e.source, e.keys, e.edge.urls) for e in events] == [
            (
                "price_change",
                "pricing-db",
                ("product:price:12345:v1",),
                ("https://shop.example.com/api/prices/12345",),
            ),
            (
                "price_change",
                "pricing-db",
                ("product:price:777:v1",),
                ("https://shop.example.com/api/prices/777",),
            ),
        ]
        assert all(e.id.startswith("pricing-db:") for e in events)
        assert all(abs(e.occurred_at - time.time()) < 600 for e in events)  # UTC, not local time

        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
        assert postgres.password not in " ".join(command)
        assert (small_lab.password or "") not in " ".join(command)

        _applied_by_the_consumer(small_lab, stream, redis_client)
    finally:
        if process is not None and process.poll() is None:
            process.kill()
            process.wait()
        db.close()
        redis_client.close()


def _applied_by_the_consumer(lab: RedisLab, stream: str, client: Any) -> None:
    client.set("product:price:12345:v1", "10.00")
    client.set("product:price:777:v1", "5.00")
    cloudflare = FakeCloudflare()
    metrics = InvalidatorMetrics()
    purger = EdgePurger(
        ZONE,
        TOKEN,
        PurgeLimits.for_plan("enterprise"),
        metrics,
        base_url=cloudflare.base_url,
        sleep=FakeClock().sleep,
    )
    consumer = Consumer(
        "pg-relay-test", lab_connection(lab), purger, metrics, ConsumerSettings(stream=stream)
    )
    try:
        assert consumer.run_once(block=0.1) == 2
        assert client.exists("product:price:12345:v1", "product:price:777:v1") == 0
        assert cloudflare.purge_bodies == [
            {
                "files": [
                    "https://shop.example.com/api/prices/12345",
                    "https://shop.example.com/api/prices/777",
                ]
            },
            # The Worker's own copies, found by their path tag (docs/invalidation.md).
            {
                "tags": [
                    "path:shop.example.com/api/prices/12345",
                    "path:shop.example.com/api/prices/777",
                ]
            },
        ]
    finally:
        consumer.close()
        purger.close()
        cloudflare.close()


class FailingAfter:
    """A Redis client whose XADD fails after `allowed` calls: the relay dying mid-batch."""

    def __init__(self, client: Any, allowed: int) -> None:
        self.client = client
        self.allowed = allowed

    def xadd(self, *args: Any, **kwargs: Any) -> Any:
        if self.allowed == 0:
            raise ConnectionError("the relay lost Redis")
        self.allowed -= 1
        return self.client.xadd(*args, **kwargs)


def test_a_batch_that_fails_midway_stays_in_the_outbox_and_is_published_again_with_its_ids(
    shop: Postgres, small_lab: RedisLab
) -> None:
    stream = f"test-{uuid.uuid4().hex}"
    redis_client: Any = connect(lab_connection(small_lab)).cluster_client()
    db = shop.connect(autocommit=True)
    work = shop.connect()
    try:
        db.execute("UPDATE prices SET amount = amount + 1")
        assert len(outbox(db)) == 2
        settings = RelaySettings(stream=stream)

        broken = Relay(shop.conninfo, FailingAfter(redis_client, 1), settings)
        with pytest.raises(ConnectionError):
            broken.drain(work)
        assert len(outbox(db)) == 2  # rolled back: nothing deleted
        assert redis_client.xlen(stream) == 1  # the first made it before the failure

        assert Relay(shop.conninfo, redis_client, settings).drain(work) == BatchResult(2, 0)
        assert outbox(db) == []
        ids = [parse_event(fields["event"]).id for _, fields in redis_client.xrange(stream)]
        # At least once: the first event twice under one id, which a consumer applies once.
        assert len(ids) == 3 and ids[0] in ids[1:] and len(set(ids)) == 2
    finally:
        work.close()
        db.close()
        redis_client.close()
