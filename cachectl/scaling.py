"""`cachectl scale` — what an operator checks before and after scaling the cluster.

    cachectl scale slots [--node H:P]                      slots and memory per primary, spread
    cachectl scale check-in --primaries N [--node H:P]     would N primaries hold today's data?

`slots` exits 1 when the slots are not evenly spread (max - min above 1 % of 16384) or some slot
has no live primary; `check-in` exits 1 when the data in use, spread over N primaries, would put
each above the memory warning threshold (ADR-011: 80 %) of its maxmemory — the same check
bootstrap.sh makes before it empties a primary. See docs/runbooks/scaling.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from cachectl.connection import (
    CachectlError,
    ClusterView,
    connect,
    describe,
    info,
    settings_from,
)
from cachectl.errors import fail, one_line_errors
from stackconfig import adr
from stackconfig.sharding import EVEN_SPREAD_SLOTS, SLOT_COUNT, scale_in_fits, slots_moved_by

app = typer.Typer(
    name="scale",
    help="Before and after scaling: slot distribution, and whether a scale-in fits in memory.",
    no_args_is_help=True,
    add_completion=False,
)


@dataclass(frozen=True)
class Shard:
    """One slot-serving primary."""

    node: str
    slots: int
    used_bytes: int
    """used_memory_dataset: the data, without the server's own overhead."""
    maxmemory_bytes: int
    replicas: int


@dataclass(frozen=True)
class Distribution:
    shards: tuple[Shard, ...]

    @property
    def covered(self) -> int:
        return sum(shard.slots for shard in self.shards)

    @property
    def spread(self) -> int:
        counts = [shard.slots for shard in self.shards]
        return max(counts) - min(counts) if counts else 0

    @property
    def even(self) -> bool:
        return self.covered == SLOT_COUNT and self.spread <= EVEN_SPREAD_SLOTS

    @property
    def used_bytes(self) -> int:
        return sum(shard.used_bytes for shard in self.shards)


@dataclass(frozen=True)
class ScaleInCheck:
    primaries_before: int
    primaries_after: int
    used_bytes: int
    maxmemory_bytes: float
    fill: float
    slots_moving: int

    @property
    def per_primary_bytes(self) -> float:
        return self.used_bytes / self.primaries_after

    @property
    def limit_bytes(self) -> float:
        return self.maxmemory_bytes * self.fill

    @property
    def fits(self) -> bool:
        return scale_in_fits(self.used_bytes, self.primaries_after, self.maxmemory_bytes, self.fill)


def distribution(view: ClusterView) -> Distribution:
    """Slots, data and maxmemory of every live primary that serves slots."""
    shards: list[Shard] = []
    for entry in view.primaries:
        if not entry.healthy:
            continue
        client = view.node_client(entry)
        try:
            memory = info(client, "memory")
        finally:
            client.close()
        shards.append(
            Shard(
                node=describe(entry),
                slots=entry.slot_count,
                used_bytes=int(memory.get("used_memory_dataset", memory.get("used_memory", 0))),
                maxmemory_bytes=int(memory.get("maxmemory", 0)),
                replicas=sum(1 for r in view.replicas_of(entry) if r.healthy),
            )
        )
    return Distribution(tuple(sorted(shards, key=lambda shard: shard.node)))


def check_scale_in(
    current: Distribution, primaries_after: int, fill: float = adr.MEMORY_WARNING
) -> ScaleInCheck:
    """Whether today's data fits on `primaries_after` primaries below `fill` of maxmemory (the
    smallest maxmemory among today's primaries stands for the ones that stay)."""
    if not current.shards:
        raise CachectlError("no live primary serves slots: nothing to measure")
    if primaries_after < 1:
        raise CachectlError("--primaries must be at least 1")
    limits = [shard.maxmemory_bytes for shard in current.shards if shard.maxmemory_bytes > 0]
    room = min(limits) if limits else float("inf")
    before = len(current.shards)
    return ScaleInCheck(
        primaries_before=before,
        primaries_after=primaries_after,
        used_bytes=current.used_bytes,
        maxmemory_bytes=room,
        fill=fill,
        slots_moving=slots_moved_by(before, primaries_after),
    )


def _mib(value: float) -> str:
    return "unlimited" if value == float("inf") else f"{value / 2**20:,.1f} MiB"


NodeOption = Annotated[
    str | None,
    typer.Option("--node", envvar="CACHECTL_NODE", help="host:port of any cluster member."),
]
PasswordFileOption = Annotated[
    Path | None,
    typer.Option(
        "--password-file", envvar="REDIS_PASSWORD_FILE", help="File holding the password."
    ),
]


@app.command("slots")
def slots_command(node: NodeOption = None, password_file: PasswordFileOption = None) -> None:
    """Slots, data and maxmemory per primary; exit 1 when not evenly spread or not covered."""
    with one_line_errors(((CachectlError, str),)):
        current = distribution(connect(settings_from(node, password_file, False, None)))
    typer.echo(f"{'primary':<48} {'slots':>6} {'share':>7} {'data':>12} {'maxmemory':>12} replicas")
    for shard in current.shards:
        typer.echo(
            f"{shard.node:<48} {shard.slots:6d} {shard.slots / SLOT_COUNT:7.1%} "
            f"{_mib(shard.used_bytes):>12} {_mib(shard.maxmemory_bytes):>12} {shard.replicas:8d}"
        )
    typer.echo(
        f"{len(current.shards)} primaries, {current.covered} of {SLOT_COUNT} slots served, "
        f"spread {current.spread} slots (max - min; even: <= {EVEN_SPREAD_SLOTS})"
    )
    if not current.even:
        raise fail("slots are not evenly spread over live primaries")


@app.command("check-in")
def check_in_command(
    primaries: Annotated[int, typer.Option("--primaries", help="Primaries after the scale-in.")],
    node: NodeOption = None,
    password_file: PasswordFileOption = None,
) -> None:
    """Would `--primaries` primaries hold today's data below the memory warning threshold?"""
    with one_line_errors(((CachectlError, str),)):
        current = distribution(connect(settings_from(node, password_file, False, None)))
        check = check_scale_in(current, primaries)
    verdict = "fits" if check.fits else "does NOT fit"
    typer.echo(
        f"scale-in {check.primaries_before} -> {check.primaries_after} primaries {verdict}: "
        f"{_mib(check.used_bytes)} of data, {_mib(check.per_primary_bytes)} per primary after, "
        f"limit {_mib(check.limit_bytes)} ({adr.MEMORY_WARNING:.0%} of maxmemory); "
        f"{check.slots_moving} slots move"
    )
    if not check.fits:
        raise fail("keep more primaries, or give them more memory first")
