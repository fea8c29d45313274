"""Scaling a running lab: more primaries and back, through the pods' own bootstrap.sh.

`scale(lab, primaries, replicas)` follows the order the RedisCluster component gives Pulumi:
- scale-out: start the new nodes (the StatefulSet grows), then run bootstrap.sh (the reconcile
  Job): they join, the right number become primaries and receive an even share of the slots, the
  others become replicas;
- scale-in: run bootstrap.sh in drain mode with the smaller REDIS_NODES first (the drain Job, which
  Pulumi runs to completion before the StatefulSet shrinks): the highest-numbered nodes hand their
  slots over and leave the cluster; only then are they stopped and removed, and bootstrap.sh runs
  once more to check the result.

As a command: `python -m lab.scaling --dir D --primaries N [--replicas R]` scales the lab saved in
D (`python -m lab up --dir D`) and prints one JSON object: the step's figures and the new nodes.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NoReturn

import redis
from redis.cluster import RedisCluster
from redis.exceptions import AskError, MovedError

from cachectl.topology import parse_cluster_nodes
from lab.cluster import SCRIPTS_DIR, LabError, LabNode, RedisLab
from stackconfig.sharding import SLOT_COUNT

PROG = "python -m lab.scaling"
EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True)
class ScaleStep:
    """What one change of shape did."""

    primaries_before: int
    primaries_after: int
    nodes_before: int
    nodes_after: int
    seconds: float
    slots_moved: int
    keys_moved: int
    """Keys in the moved slots, counted on their new owners right after the move."""
    slot_spread: int
    """Largest minus smallest slot count among the primaries afterwards."""
    log: str
    """bootstrap.sh's log of every run."""


def slot_owners(lab: RedisLab) -> list[str]:
    """The id of the primary serving each of the 16384 slots ("" when none), as a node sees it."""
    owners = [""] * SLOT_COUNT
    node = next(n for n in lab.nodes if n.running)
    for entry in parse_cluster_nodes(lab.cluster_nodes_text(node)):
        if entry.is_primary and entry.healthy:
            for start, end in entry.slots:
                owners[start : end + 1] = [entry.node_id] * (end - start + 1)
    return owners


def slot_spread(lab: RedisLab) -> int:
    """max - min slots per serving primary."""
    counts: dict[str, int] = {}
    for owner in slot_owners(lab):
        if owner:
            counts[owner] = counts.get(owner, 0) + 1
    return max(counts.values()) - min(counts.values()) if counts else 0


def _count_keys(lab: RedisLab, slots: Iterable[int], owners: Sequence[str]) -> int:
    by_owner: dict[str, list[int]] = {}
    for slot in slots:
        by_owner.setdefault(owners[slot], []).append(slot)
    total = 0
    for owner, owned in by_owner.items():
        node = lab.node_by_id(owner)
        client: Any = lab.node_client(node)
        try:
            pipe: Any = client.pipeline(transaction=False)
            for slot in owned:
                pipe.execute_command("CLUSTER", "COUNTKEYSINSLOT", slot)
            total += sum(int(count) for count in pipe.execute())
        finally:
            client.close()
    return total


def write_machines(lab: RedisLab, machines: Mapping[int, str]) -> Path:
    """The node-to-machine map bootstrap.sh reads (REDIS_NODE_HOSTS_FILE): replicas are never
    placed on their primary's machine. Nodes left out are machines of their own."""
    path = lab.base_dir / "machines"
    path.write_text(
        "".join(f"{n.hostname} {machines[n.index]}\n" for n in lab.nodes if n.index in machines)
    )
    return path


def run_bootstrap(
    lab: RedisLab,
    nodes: Sequence[LabNode],
    mode: str,
    timeout: float,
    machines_file: Path | None = None,
) -> str:
    """bootstrap.sh in `mode` with REDIS_NODES = `nodes`, as the Job runs it; its log."""
    env = lab.node_env(nodes[0])
    env["REDIS_NODES"] = " ".join(node.name for node in nodes)
    env["REDIS_RECONCILE_MODE"] = mode
    env["REDIS_BOOTSTRAP_TIMEOUT"] = str(int(timeout))
    if machines_file is not None:
        env["REDIS_NODE_HOSTS_FILE"] = str(machines_file)
    result = subprocess.run(
        ["sh", str(SCRIPTS_DIR / "bootstrap.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout * 3 + 60,
        check=False,
    )
    output = result.stdout + result.stderr
    if result.returncode != 0:
        raise LabError(f"bootstrap.sh ({mode}) failed ({result.returncode}):\n{output}")
    return output


def scale(
    lab: RedisLab,
    primaries: int,
    replicas: int | None = None,
    *,
    timeout: float = 120,
    machines: Mapping[int, str] | None = None,
) -> ScaleStep:
    """Give the running `lab` `primaries` primaries with `replicas` replicas each (default: as
    now), adding or removing nodes, through bootstrap.sh as the Jobs run it."""
    replicas = lab.replicas if replicas is None else replicas
    if primaries < 1 or replicas < 0:
        raise ValueError("primaries must be >= 1 and replicas >= 0")
    target = primaries * (1 + replicas)
    before = slot_owners(lab)
    primaries_before, replicas_before, nodes_before = lab.primaries, lab.replicas, len(lab.nodes)
    started = time.monotonic()
    logs: list[str] = []
    staying = sorted(lab.nodes, key=lambda node: node.index)[:target]
    leaving = sorted(lab.nodes, key=lambda node: node.index)[target:]
    lab.primaries, lab.replicas = primaries, replicas
    machines_file = write_machines(lab, machines) if machines is not None else None
    if leaving:
        try:
            logs.append(run_bootstrap(lab, staying, "drain", timeout, machines_file))
        except LabError:
            # Refused or interrupted: the nodes stay; the lab keeps describing the cluster.
            lab.primaries, lab.replicas = primaries_before, replicas_before
            raise
        for node in leaving:
            lab.remove_node(node)
    while len(lab.nodes) < target:
        lab.add_node()
    if machines is not None:
        machines_file = write_machines(lab, machines)
    logs.append(run_bootstrap(lab, lab.nodes, "converge", timeout, machines_file))
    seconds = time.monotonic() - started
    lab.wait_cluster_ok(timeout=timeout)
    after = slot_owners(lab)
    moved = [slot for slot in range(SLOT_COUNT) if before[slot] != after[slot]]
    return ScaleStep(
        primaries_before=primaries_before,
        primaries_after=primaries,
        nodes_before=nodes_before,
        nodes_after=len(lab.nodes),
        seconds=seconds,
        slots_moved=len(moved),
        keys_moved=_count_keys(lab, moved, after),
        slot_spread=slot_spread(lab),
        log="".join(logs),
    )


class AckedWriter:
    """A steady write load for scaling proofs: SET then `WAIT 1` on the same connection, one key
    after another from one thread, until `stop()`.

    A key counts as acknowledged only when WAIT reported a replica. MOVED and ASK replies are
    redirections (the slot moved, or is moving): followed, and counted apart from errors; so is
    a connection error from a node that no longer owns the slot once the slot map is read again
    (a drained node shutting down). Every other failure is an error, kept with its message.
    """

    def __init__(
        self, cluster: RedisCluster, prefix: str = "scale", pause: float = 0.0, wait_ms: int = 1000
    ) -> None:
        """`wait_ms` bounds each WAIT; keep it well below the client's socket timeout."""
        self.cluster = cluster
        self.wait_ms = wait_ms
        self.prefix = prefix
        self.pause = pause
        self.acknowledged: dict[str, str] = {}
        self.attempts = 0
        self.redirections = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="acked-writer", daemon=True)

    def __enter__(self) -> AckedWriter:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _run(self) -> None:
        number = 0
        while not self._stop.is_set():
            key, value = f"{self.prefix}:{number}", str(number)
            self.attempts += 1
            if self._write(key, value):
                self.acknowledged[key] = value
            number += 1
            if self.pause:
                time.sleep(self.pause)

    def _write(self, key: str, value: str) -> bool:
        cluster: Any = self.cluster
        asking = False
        node: Any = cluster.get_node_from_key(key)
        for _ in range(10):
            try:
                pipe: Any = node.redis_connection.pipeline(transaction=False)
                if asking:
                    pipe.execute_command("ASKING")
                pipe.set(key, value)
                pipe.wait(1, self.wait_ms)
                replies: list[Any] = pipe.execute(raise_on_error=False)
            except (redis.RedisError, OSError) as error:
                self._refresh()
                owner: Any = cluster.get_node_from_key(key)
                if owner.name != node.name:
                    # The slot left this node and the node then left the cluster (scale-in
                    # shuts it down): the write never reached it, and the new owner is where it
                    # goes, as a cluster client's retry after a slot-map refresh would send it.
                    self.redirections += 1
                    node, asking = owner, False
                    continue
                self.errors.append(f"{key}: {error}")
                return False
            failure = next((r for r in replies if isinstance(r, Exception)), None)
            if failure is None:
                return int(replies[-1]) >= 1
            if isinstance(failure, AskError | MovedError):
                self.redirections += 1
                asking = isinstance(failure, AskError)
                if not asking:
                    self._refresh()
                node = cluster.get_node(host=failure.host, port=failure.port)
                if node is None:
                    self._refresh()
                    node = cluster.get_node_from_key(key)
                continue
            self.errors.append(f"{key}: {type(failure).__name__}: {failure}")
            return False
        self.errors.append(f"{key}: still redirected after 10 tries")
        return False

    def _refresh(self) -> None:
        try:
            self.cluster.nodes_manager.initialize()
        except (redis.RedisError, OSError) as error:
            self.errors.append(f"refreshing the slot map: {error}")

    def lost(self) -> list[str]:
        """Acknowledged keys that do not read back with their value now."""
        self._refresh()  # members may have left since the last redirection
        cluster: Any = self.cluster
        keys = list(self.acknowledged)
        lost: list[str] = []
        for start in range(0, len(keys), 500):
            batch = keys[start : start + 500]
            values: list[Any] = cluster.mget_nonatomic(batch)
            lost += [k for k, v in zip(batch, values, strict=True) if v != self.acknowledged[k]]
        return lost


# ---- command line ------------------------------------------------------------------------


class UsageError(Exception):
    """A bad option: exit 2 with one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def _count(minimum: int) -> Any:
    def parse(value: str) -> int:
        try:
            number = int(value)
        except ValueError:
            number = minimum - 1
        if number < minimum:
            raise argparse.ArgumentTypeError(f"{value!r} is not a whole number >= {minimum}")
        return number

    return parse


def configure(parser: argparse.ArgumentParser) -> None:
    """The options of `scale` (shared with `python -m lab scale`)."""
    parser.add_argument("--dir", type=Path, required=True, help="the lab's directory")
    parser.add_argument(
        "--primaries", type=_count(1), required=True, help="primaries after the change (>= 1)"
    )
    parser.add_argument(
        "--replicas", type=_count(0), help="replicas per primary after the change (default: as now)"
    )


def run(options: argparse.Namespace) -> int:
    """Scale the lab in `options.dir`; prints one JSON object."""
    directory: Path = options.dir
    try:
        lab = RedisLab.load(directory)
    except LabError as error:
        print(f"{PROG}: --dir {directory}: {error}", file=sys.stderr)
        return EXIT_USAGE
    if not any(node.running for node in lab.nodes):
        print(f"{PROG}: --dir {directory}: no node of the lab is running", file=sys.stderr)
        return EXIT_USAGE
    try:
        step = scale(lab, options.primaries, options.replicas)
    except (LabError, redis.RedisError, subprocess.TimeoutExpired) as error:
        lab.save()
        print(f"{PROG}: {error}", file=sys.stderr)
        return EXIT_FAILED
    lab.save()
    report = {key: value for key, value in asdict(step).items() if key != "log"}
    report["nodes"] = [
        {"name": node.hostname.split(".", 1)[0], "host": node.host, "port": node.port}
        for node in lab.nodes
    ]
    print(json.dumps(report))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    parser = _Parser(
        prog=PROG, description="Scale a running lab to N primaries through bootstrap.sh."
    )
    configure(parser)
    try:
        options = parser.parse_args(argv)
    except UsageError as error:
        print(error, file=sys.stderr)
        return EXIT_USAGE
    return run(options)


if __name__ == "__main__":
    raise SystemExit(main())
