# pyright: strict, reportUnknownMemberType=false, reportMissingTypeStubs=false
"""`cachectl failover` (a manual, safe failover) and `cachectl rebalance`.

Failover: CLUSTER FAILOVER on a replica makes it take over its primary's slots. Without FORCE the
replica first waits until it has received every write its primary acknowledged, then the primary
stops taking writes: no acknowledged write is lost. FORCE skips that handshake (for a primary
that no longer answers) and TAKEOVER (not offered) would also skip the cluster's vote.
Given a primary, the replica that is furthest ahead in replication is chosen.

Rebalance: `redis-cli --cluster rebalance`, the tool Redis ships for moving slots after nodes
were added or removed; the password reaches it through REDISCLI_AUTH, never its command line.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from cachectl.connection import (
    SLOT_COUNT,
    CachectlError,
    ClusterEntry,
    ClusterView,
    ConnectionSettings,
    Endpoint,
    cluster_info,
    cluster_nodes_text,
    connect,
    describe,
    info,
)
from cachectl.credentials import PASSWORD_ENV
from cachectl.topology import parse_cluster_nodes

DEFAULT_TIMEOUT = 60.0


@dataclass(frozen=True)
class FailoverPlan:
    replica: ClusterEntry
    primary: ClusterEntry


def choose_replica(
    view: ClusterView, target: ClusterEntry, offsets: Mapping[str, int]
) -> FailoverPlan:
    """Which replica to promote for `target` (a replica: itself; a primary: its healthy replica
    with the highest replication offset, per `offsets` by node id)."""
    if not target.is_primary:
        if target.primary_id is None:
            raise CachectlError(f"{describe(target)} is neither a primary nor a replica")
        primary = view.by_id(target.primary_id)
        if primary is None:
            raise CachectlError(f"the primary of {describe(target)} is not a cluster member")
        if not target.healthy:
            raise CachectlError(f"{describe(target)} is flagged failing; it cannot take over")
        return FailoverPlan(target, primary)
    if not target.slots:
        raise CachectlError(f"{describe(target)} is a primary without slots: nothing to move")
    candidates = [r for r in view.replicas_of(target) if r.healthy and r.node_id in offsets]
    if not candidates:
        raise CachectlError(
            f"primary {describe(target)} has no healthy replica to fail over to; "
            "add one first (see docs/runbooks/redis-failover.md)"
        )
    best = max(candidates, key=lambda r: (offsets[r.node_id], r.node_id))
    return FailoverPlan(best, target)


def replication_offsets(view: ClusterView, replicas: Sequence[ClusterEntry]) -> dict[str, int]:
    """Replication offset of every replica that answers, by node id."""
    offsets: dict[str, int] = {}
    for replica in replicas:
        client = view.node_client(replica)
        try:
            details = info(client, "replication")
            offsets[replica.node_id] = int(details.get("slave_repl_offset", 0))
        except (redis.RedisError, OSError):
            continue
        finally:
            client.close()
    return offsets


def _role(view: ClusterView, entry: ClusterEntry) -> str | None:
    client = view.node_client(entry)
    try:
        untyped: Any = client
        reply: list[object] = untyped.execute_command("ROLE")
        return str(reply[0])
    except (redis.RedisError, OSError):
        return None
    finally:
        client.close()


def switched_problems(view: ClusterView, plan: FailoverPlan) -> list[str]:
    """What is still missing for the failover to be complete (empty: done): both nodes state
    their new roles, and every member that answers has learnt them, serves all slots and says
    cluster_state:ok. Clients asking a member that has not learnt them yet would be sent to the
    old primary."""
    problems: list[str] = []
    if _role(view, plan.replica) != "master":
        problems.append(f"{describe(plan.replica)} is not a primary yet")
    old_primary_answers = _role(view, plan.primary) is not None
    if old_primary_answers and _role(view, plan.primary) != "slave":
        problems.append(f"{describe(plan.primary)} is still a primary")
    for entry in view.entries:
        client = view.node_client(entry)
        try:
            state = cluster_info(client).get("cluster_state")
            seen = parse_cluster_nodes(cluster_nodes_text(client))
        except (redis.RedisError, OSError):
            continue  # a member that is down (the FORCE case) has no say
        finally:
            client.close()
        if state != "ok":
            problems.append(f"{describe(entry)} says cluster_state:{state}")
        served = sum(e.slot_count for e in seen if e.is_primary and e.healthy)
        if served != SLOT_COUNT:
            problems.append(f"{describe(entry)} sees {served} of {SLOT_COUNT} slots served")
        roles = {e.node_id: e for e in seen}
        promoted = roles.get(plan.replica.node_id)
        demoted = roles.get(plan.primary.node_id)
        if promoted is None or not promoted.is_primary:
            problems.append(f"{describe(entry)} does not see {describe(plan.replica)} as primary")
        if old_primary_answers and (
            demoted is None or demoted.is_primary or demoted.primary_id != plan.replica.node_id
        ):
            problems.append(f"{describe(entry)} still sees {describe(plan.primary)} as primary")
    return problems


@dataclass(frozen=True)
class FailoverResult:
    plan: FailoverPlan
    seconds: float


def failover(
    settings: ConnectionSettings,
    target: Endpoint,
    *,
    force: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    clock: Callable[[], float] = time.monotonic,
) -> FailoverResult:
    view = connect(settings)
    entry = view.find(target)
    replicas = [entry] if not entry.is_primary else view.replicas_of(entry)
    plan = choose_replica(view, entry, replication_offsets(view, replicas))
    client = view.node_client(plan.replica)
    started = clock()
    try:
        untyped: Any = client
        untyped.execute_command("CLUSTER", "FAILOVER", *(["FORCE"] if force else []))
    except redis.ResponseError as error:
        raise CachectlError(f"{describe(plan.replica)} refused CLUSTER FAILOVER: {error}") from None
    finally:
        client.close()
    problems = switched_problems(view, plan)
    while problems:
        if clock() - started > timeout:
            hint = "" if force else "; if the primary is down, rerun with --force"
            raise CachectlError(
                f"failover not complete after {timeout:.0f} s: {'; '.join(problems)}{hint}"
            )
        time.sleep(0.2)
        problems = switched_problems(view, plan)
    return FailoverResult(plan, clock() - started)


def rebalance_command(
    redis_cli: str,
    seed: Endpoint,
    settings: ConnectionSettings,
    *,
    threshold: float | None = None,
    use_empty_masters: bool = False,
    simulate: bool = False,
) -> list[str]:
    """The redis-cli command line; it never holds the password."""
    command = [redis_cli, "--no-auth-warning"]
    if settings.credentials.user:
        command += ["--user", settings.credentials.user]
    if settings.tls:
        command.append("--tls")
        if settings.tls_ca_file is not None:
            command += ["--cacert", str(settings.tls_ca_file)]
    command += ["--cluster", "rebalance", f"{seed.host}:{seed.port}"]
    if threshold is not None:
        command += ["--cluster-threshold", f"{threshold:g}"]
    if use_empty_masters:
        command.append("--cluster-use-empty-masters")
    if simulate:
        command.append("--cluster-simulate")
    return command


def rebalance(
    settings: ConnectionSettings,
    *,
    threshold: float | None = None,
    use_empty_masters: bool = False,
    simulate: bool = False,
    output: Callable[[str], None] = print,
) -> None:
    """Run redis-cli's rebalance against a member that answers, relaying its output."""
    redis_cli = shutil.which("redis-cli")
    if redis_cli is None:
        raise CachectlError("redis-cli is not installed (Debian: apt-get install redis-tools)")
    view = connect(settings)
    # redis-cli --cluster needs an IP (it sends CLUSTER MEET-style addresses); any member does.
    seed_entry = next((e for e in view.entries if e.healthy and e.is_primary), view.entries[0])
    seed = Endpoint(seed_entry.ip, seed_entry.port)
    command = rebalance_command(
        redis_cli,
        seed,
        settings,
        threshold=threshold,
        use_empty_masters=use_empty_masters,
        simulate=simulate,
    )
    env = dict(os.environ)
    env.pop(PASSWORD_ENV, None)
    if settings.credentials.password is not None:
        env[PASSWORD_ENV] = settings.credentials.password
    with subprocess.Popen(
        command,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            output(line.rstrip("\n"))
        code = process.wait()
    if code != 0:
        raise CachectlError(f"redis-cli --cluster rebalance failed (exit {code}); see above")
