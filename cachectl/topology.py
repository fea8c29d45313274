"""Redis Cluster topology as the ops tools read it: CLUSTER NODES entries and slot ranges.

One parser for every reader (cachectl, the backup program, the local lab, benchmarks), so a flag
or a slot range means the same thing to all of them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from redis.crc import key_slot

_FAILING_FLAGS = ("fail", "noaddr", "handshake")


@dataclass(frozen=True)
class ClusterEntry:
    """One line of CLUSTER NODES."""

    node_id: str
    ip: str
    port: int
    hostname: str
    flags: frozenset[str]
    primary_id: str | None
    connected: bool
    """The cluster bus link to this node is up (always true for the `myself` line)."""
    slots: tuple[tuple[int, int], ...]

    @property
    def is_primary(self) -> bool:
        return "master" in self.flags

    @property
    def healthy(self) -> bool:
        return not any(flag.startswith(_FAILING_FLAGS) for flag in self.flags)

    @property
    def slot_count(self) -> int:
        return sum(last - first + 1 for first, last in self.slots)


def parse_cluster_nodes(text: str) -> list[ClusterEntry]:
    """CLUSTER NODES output as entries (slots being migrated, `[...]`, are skipped)."""
    entries: list[ClusterEntry] = []
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 8:
            continue
        address, _, hostname_and_aux = fields[1].partition(",")
        endpoint = address.split("@", 1)[0]
        ip, _, port = endpoint.rpartition(":")
        slots: list[tuple[int, int]] = []
        for item in fields[8:]:
            if item.startswith("["):
                continue
            first, _, last = item.partition("-")
            slots.append((int(first), int(last or first)))
        entries.append(
            ClusterEntry(
                node_id=fields[0],
                ip=ip,
                port=int(port or 0),
                hostname=hostname_and_aux.split(",", 1)[0],
                flags=frozenset(fields[2].split(",")),
                primary_id=None if fields[3] == "-" else fields[3],
                connected=fields[7] == "connected",
                slots=tuple(slots),
            )
        )
    return entries


def key_in_ranges(key: str, ranges: Iterable[tuple[int, int]]) -> bool:
    """Whether `key` hashes to a slot inside one of `ranges`."""
    slot = key_slot(key.encode())
    return any(first <= slot <= last for first, last in ranges)
