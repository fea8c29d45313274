"""Pure logic of the backup program: addresses, topology, set ids and choice, manifests."""

from __future__ import annotations

import socket
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from cachectl.backup import (
    BackupError,
    Manifest,
    ManifestEntry,
    RefusedSetError,
    SetSummary,
    check_rdb_header,
    check_server_can_load,
    choose_set,
    format_slot_ranges,
    new_set_id,
    parse_cluster_nodes,
    parse_time,
    primaries_to_back_up,
    set_time,
    uncovered_slots,
)
from cachectl.connection import Endpoint, parse_endpoints
from cachectl.errors import UsageError

ID_A, ID_B, ID_C, ID_R = ("a" * 40, "b" * 40, "c" * 40, "d" * 40)

CLUSTER_NODES = f"""\
{ID_B} 10.0.0.2:6379@16379,redis-1.redis-headless.cache.svc.cluster.local master - 0 1 2 \
connected 5461-10922
{ID_A} 10.0.0.1:6379@16379,redis-0.redis-headless.cache.svc.cluster.local myself,master - 0 0 1 \
connected 0-5460 [5460->-{ID_B}]
{ID_R} 10.0.0.4:6379@16379 slave {ID_A} 0 1 1 connected
{ID_C} 10.0.0.3:6379@16379 master - 0 1 3 connected 10923-16382 16383
"""


def test_endpoints_are_split_on_spaces_and_commas_and_accept_ipv6() -> None:
    assert parse_endpoints(" redis-0.h:6379, redis-1.h:6379  [::1]:7000 ") == [
        Endpoint("redis-0.h", 6379),
        Endpoint("redis-1.h", 6379),
        Endpoint("::1", 7000),
    ]
    assert str(Endpoint("::1", 7000)) == "[::1]:7000"


@pytest.mark.parametrize("bad", ["redis-0", "redis-0:", ":6379", "redis-0:0", "h:70000", "h:x"])
def test_a_bad_address_is_refused_by_name(bad: str) -> None:
    with pytest.raises(UsageError, match=f"bad node address '{bad}'"):
        parse_endpoints(f"good:6379 {bad}")


def test_cluster_nodes_are_parsed_with_hostnames_and_slot_ranges() -> None:
    nodes = {node.node_id: node for node in parse_cluster_nodes(CLUSTER_NODES)}
    assert nodes[ID_A].hostname == "redis-0.redis-headless.cache.svc.cluster.local"
    assert nodes[ID_A].slots == ((0, 5460),), "a migrating slot stays with its owner"
    assert nodes[ID_C].slots == ((10923, 16382), (16383, 16383))
    assert nodes[ID_R].hostname == "" and not nodes[ID_R].is_primary


def test_the_primaries_to_back_up_are_the_slot_owners_in_slot_order() -> None:
    primaries = primaries_to_back_up(parse_cluster_nodes(CLUSTER_NODES))
    assert [node.node_id for node in primaries] == [ID_A, ID_B, ID_C]


def test_the_announced_hostname_is_used_when_it_resolves_else_the_ip() -> None:
    line = f"{ID_A} 10.0.0.1:6379@16379,{{}} master - 0 0 1 connected 0-16383"
    (resolvable,) = parse_cluster_nodes(line.format("localhost"))
    assert resolvable.endpoint == Endpoint("localhost", 6379)
    (unresolvable,) = parse_cluster_nodes(line.format("redis-0.example.invalid"))
    assert unresolvable.endpoint == Endpoint("10.0.0.1", 6379)


def test_a_name_under_invalid_is_never_looked_up(monkeypatch: pytest.MonkeyPatch) -> None:
    # The lab announces such names; a lookup would only send a DNS query off this machine.
    def no_lookup(host: str, *args: object, **kwargs: object) -> None:
        raise AssertionError(f"looked up {host}")

    monkeypatch.setattr(socket, "getaddrinfo", no_lookup)
    line = f"{ID_A} 10.0.0.1:6379@16379,redis-3.cache-lab.invalid master - 0 0 1 connected 0-16383"
    (node,) = parse_cluster_nodes(line)
    assert node.endpoint == Endpoint("10.0.0.1", 6379)


def test_a_failing_primary_makes_the_backup_refuse() -> None:
    text = CLUSTER_NODES.replace("master - 0 1 2", "master,fail - 0 1 2")
    with pytest.raises(BackupError, match="failure state: bbbbbbbb"):
        primaries_to_back_up(parse_cluster_nodes(text))


def test_slots_without_a_primary_make_the_backup_refuse() -> None:
    text = CLUSTER_NODES.replace("connected 10923-16382 16383", "connected 10923-16000")
    with pytest.raises(BackupError, match="slots 16001-16383 have no primary"):
        primaries_to_back_up(parse_cluster_nodes(text))


def test_uncovered_slots_and_their_format() -> None:
    assert uncovered_slots([(0, 99), (200, 16383)]) == [(100, 199)]
    assert uncovered_slots([(5, 10)]) == [(0, 4), (11, 16383)]
    assert uncovered_slots([(0, 16383)]) == []
    assert format_slot_ranges([(7, 7), (0, 5)]) == "0-5,7"


def test_set_ids_sort_by_time_and_carry_it() -> None:
    start = datetime(2025, 1, 2, 3, 4, 5, tzinfo=UTC)
    set_id = new_set_id(start, "3fa9c1")
    assert set_id == "20250102T030405Z-3fa9c1"
    assert set_time(set_id) == start
    assert new_set_id(start) != new_set_id(start), "two runs in one second must not collide"
    assert set_time("20250102T030405Z") is None
    assert set_time("notes") is None


def summary(hours: int, complete: bool = True) -> SetSummary:
    start = datetime(2025, 1, 1, tzinfo=UTC) + timedelta(hours=hours)
    return SetSummary(new_set_id(start, f"{hours:06x}"), start, complete, 3, 100)


def test_the_newest_complete_set_at_or_before_the_time_is_chosen() -> None:
    sets = [summary(0), summary(24), summary(48), summary(72, complete=False)]
    assert choose_set(sets).started_at == sets[2].started_at, "an incomplete newer set is skipped"
    at = datetime(2025, 1, 2, 12, tzinfo=UTC)
    assert choose_set(sets, at) == sets[1]
    assert choose_set(sets, sets[2].started_at) == sets[2], "'at or before' includes the time"


def test_no_complete_set_early_enough_is_an_error_that_counts_the_skipped_ones() -> None:
    sets = [summary(0, complete=False), summary(24)]
    with pytest.raises(BackupError, match=r"at or before 2025-01-01T12:00:00Z \(1 incomplete"):
        choose_set(sets, datetime(2025, 1, 1, 12, tzinfo=UTC))
    with pytest.raises(BackupError, match="no complete backup set in the bucket"):
        choose_set([])


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-01-02T03:00:00Z", datetime(2025, 1, 2, 3, tzinfo=UTC)),
        ("2025-01-02T05:00:00+02:00", datetime(2025, 1, 2, 3, tzinfo=UTC)),
        ("2025-01-02T03:00", datetime(2025, 1, 2, 3, tzinfo=UTC)),
        ("2025-01-02", datetime(2025, 1, 2, tzinfo=UTC)),
    ],
)
def test_times_are_iso_8601_and_utc_without_a_zone(text: str, expected: datetime) -> None:
    assert parse_time(text) == expected


def test_a_time_that_is_not_iso_8601_is_refused() -> None:
    with pytest.raises(BackupError, match="'yesterday' is not an ISO-8601 time"):
        parse_time("yesterday")


def entry(node_id: str, slots: tuple[tuple[int, int], ...]) -> ManifestEntry:
    return ManifestEntry(
        node_id=node_id,
        address="10.0.0.1:6379",
        slots=slots,
        file=f"{node_id}.rdb",
        key=f"redis/20250102T030405Z-3fa9c1/{node_id}.rdb",
        size=10,
        sha256="0" * 64,
        redis_version="7.0.15",
        keys=1,
        taken_at="2025-01-02T03:04:05Z",
    )


MANIFEST = Manifest(
    set_id="20250102T030405Z-3fa9c1",
    prefix="redis",
    started_at="2025-01-02T03:04:05Z",
    completed_at="2025-01-02T03:05:00Z",
    entries=(entry(ID_A, ((0, 8000),)), entry(ID_B, ((8001, 16383),))),
)


def test_a_manifest_survives_its_json() -> None:
    assert Manifest.from_json(MANIFEST.to_json(), expected_set_id=MANIFEST.set_id) == MANIFEST


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"entries": (entry(ID_A, ((0, 8000),)),)}, "do not cover every slot"),
        (
            {"entries": (entry(ID_A, ((0, 9000),)), entry(ID_B, ((8001, 16383),)))},
            "do not cover every slot exactly once",
        ),
        (
            {"entries": (replace(entry(ID_A, ((0, 16383),)), file="../../etc/cron.d/x"),)},
            "bad node id or file name",
        ),
        ({"entries": (replace(entry(ID_A, ((0, 16383),)), sha256="abc"),)}, "bad checksum"),
        ({"set_id": "20250101T000000Z-000000"}, "its manifest names set 20250101T000000Z"),
        ({"format": 2}, "unknown manifest format 2"),
        ({"entries": ()}, "lists no files"),
    ],
)
def test_a_manifest_that_cannot_be_trusted_is_refused(
    change: dict[str, object], message: str
) -> None:
    bad = replace(MANIFEST, **change)  # type: ignore[arg-type]
    with pytest.raises(RefusedSetError, match=message):
        Manifest.from_json(bad.to_json(), expected_set_id=MANIFEST.set_id)


def test_a_manifest_that_is_not_json_is_refused() -> None:
    with pytest.raises(RefusedSetError, match=r"manifest\.json is unreadable"):
        Manifest.from_json(b'{"format": 1, "set_id": ')


def test_only_rdb_files_pass_the_header_check(tmp_path: Path) -> None:
    good = tmp_path / "good.rdb"
    good.write_bytes(b"REDIS0010\xfa\x09redis-ver")
    check_rdb_header(good)
    for content in (b"", b"-ERR unknown command", b"REDISxxxx"):
        bad = tmp_path / "bad.rdb"
        bad.write_bytes(content)
        with pytest.raises(BackupError, match="is not an RDB file"):
            check_rdb_header(bad)


def written_by(*versions: str) -> Manifest:
    return replace(
        MANIFEST,
        entries=tuple(
            replace(e, redis_version=v) for e, v in zip(MANIFEST.entries, versions, strict=True)
        ),
    )


def test_load_refuses_a_local_redis_server_older_than_the_snapshots() -> None:
    with pytest.raises(BackupError, match=r"local redis-server is 7\.0\.15 .* Redis 7\.2\.6"):
        check_server_can_load("7.0.15", written_by("7.0.15", "7.2.6"))
    check_server_can_load("7.2.6", written_by("7.0.15", "7.2.6"))
    check_server_can_load("7.10.0", written_by("7.9.1", "7.2.6"))
    check_server_can_load("7.0.15", written_by("unknown", "unknown"))
