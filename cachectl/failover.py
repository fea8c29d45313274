# pyright: strict, reportUnknownMemberType=false, reportMissingTypeStubs=false
"""`cachectl failover` (a manual, safe failover) and `cachectl rebalance`.

Failover: CLUSTER FAILOVER on a replica makes it take over its primary's slots. Without FORCE the
replica first waits until it has received every write its primary acknowledged, then the primary
stops taking writes: no acknowledged write is lost. FORCE skips that handshake (for a primary
that no longer answers) and TAKEOVER (not offered) would also skip the cluster's vote.
Given a primary, the replica that is furthest ahead in replication is chosen.

When Redis refuses: a manual failover lasts at most 5 s (Redis's CLUSTER_MF_TIMEOUT), during which
the primary holds writes (without FORCE) while its replica catches up and asks the other
primaries for their votes. A primary votes for one replica of a given shard at most once every
2 x cluster-node-timeout, so a failover requested seconds after the previous one of the same
shard gets no majority ("Failover auth denied ... can't vote about this master before ..." in the
voters' logs, "Failover attempt expired" then "Manual failover timed out" in the replica's).
`failover` tells that case from the replica's CLUSTER INFO counters (votes asked, votes
received), waits for the window to open and tries once more when that fits in --timeout, and
otherwise stops right after Redis gave up, with one line saying why and when to retry. A replica
that is not in sync with its primary (link down, full sync running) is refused before anything
is asked: it could not take over.

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
DEFAULT_RETRY_WITHIN = 10.0
"""Seconds cachectl waits for Redis's retry window to open before it retries by itself."""


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


MANUAL_FAILOVER_TIMEOUT = 5.0
"""Seconds Redis gives a manual failover before it gives up (CLUSTER_MF_TIMEOUT in cluster.h)."""
_SETTLE = 1.5
"""Seconds after that timeout before the outcome is judged (the roles' gossip)."""
_AUTH_REQUESTS = "cluster_stats_messages_auth-req_sent"
_AUTH_ACKS = "cluster_stats_messages_auth-ack_received"


@dataclass(frozen=True)
class FailoverResult:
    plan: FailoverPlan
    seconds: float
    attempts: int = 1


class FailoverRefused(CachectlError):
    """Redis gave up the manual failover; the message says why and when to retry."""


def node_timeout_seconds(view: ClusterView, entry: ClusterEntry) -> float | None:
    """cluster-node-timeout of a member, None when it cannot be read (an ACL user without
    CONFIG)."""
    client = view.node_client(entry)
    try:
        untyped: Any = client
        reply: dict[str, str] = untyped.config_get("cluster-node-timeout")
        return int(reply["cluster-node-timeout"]) / 1000
    except (redis.RedisError, OSError, KeyError, ValueError):
        return None
    finally:
        client.close()


def sync_problem(view: ClusterView, replica: ClusterEntry) -> str | None:
    """Why `replica` is not in sync with its primary (None when it is)."""
    client = view.node_client(replica)
    try:
        details = info(client, "replication")
    except (redis.RedisError, OSError) as error:
        return f"{describe(replica)} does not answer ({error})"
    finally:
        client.close()
    link = str(details.get("master_link_status", "?"))
    if link != "up":
        return f"{describe(replica)} is not in sync with its primary (master_link_status:{link})"
    if int(details.get("master_sync_in_progress", 0)):
        return f"{describe(replica)} is still loading a full sync from its primary"
    return None


def _vote_counters(view: ClusterView, replica: ClusterEntry) -> tuple[int, int]:
    client = view.node_client(replica)
    try:
        stats = cluster_info(client)
    except (redis.RedisError, OSError):
        return (0, 0)
    finally:
        client.close()
    return (int(stats.get(_AUTH_REQUESTS, 0)), int(stats.get(_AUTH_ACKS, 0)))


def _request_failover(view: ClusterView, plan: FailoverPlan, force: bool) -> None:
    client = view.node_client(plan.replica)
    try:
        untyped: Any = client
        untyped.execute_command("CLUSTER", "FAILOVER", *(["FORCE"] if force else []))
    except redis.ResponseError as error:
        raise CachectlError(
            f"{describe(plan.replica)} refused CLUSTER FAILOVER: {error}; check the node's "
            "role with `cachectl health`"
        ) from None
    finally:
        client.close()


def _at(moment: float, clock_now: float) -> str:
    """Wall-clock UTC time of the monotonic `moment`."""
    wall = time.time() + (moment - clock_now)
    return time.strftime("%H:%M:%S UTC", time.gmtime(wall))


def _epochs(view: ClusterView, plan: FailoverPlan) -> tuple[int, int] | None:
    """(config epoch of the replica, of its primary) as the replica's CLUSTER NODES says."""
    client = view.node_client(plan.replica)
    try:
        text = cluster_nodes_text(client)
    except (redis.RedisError, OSError):
        return None
    finally:
        client.close()
    epochs = {fields[0]: int(fields[6]) for fields in map(str.split, text.splitlines())
              if len(fields) >= 8 and fields[6].isdigit()}  # fmt: skip
    if plan.replica.node_id not in epochs or plan.primary.node_id not in epochs:
        return None
    return epochs[plan.replica.node_id], epochs[plan.primary.node_id]


@dataclass(frozen=True)
class _Refusal:
    reason: str
    retry_after: float | None
    """Monotonic time from which a retry can succeed (None: unknown)."""


def _attempt(
    view: ClusterView,
    plan: FailoverPlan,
    *,
    force: bool,
    node_timeout: float | None,
    deadline: float,
    clock: Callable[[], float],
    sleep: Callable[[float], None],
) -> _Refusal | None:
    """One CLUSTER FAILOVER; None once the replica is primary with the newest config epoch."""
    started = clock()
    asked_before, acks_before = _vote_counters(view, plan.replica)
    _request_failover(view, plan, force)
    given_up = started + MANUAL_FAILOVER_TIMEOUT + _SETTLE
    window = 2 * node_timeout if node_timeout is not None else None
    while clock() < min(given_up, deadline):
        if _role(view, plan.replica) == "master":
            epochs = _epochs(view, plan)
            if epochs is None or epochs[0] > epochs[1]:
                return None
            # Elected on the votes of its own election seconds ago (Redis reuses them while
            # they are younger than 2 x node timeout), with an older config epoch than the
            # primary's: the primary keeps the slots and the replica turns back, full resync.
            return _Refusal(
                f"{describe(plan.replica)} was itself elected for this shard moments ago; Redis "
                "reused that election's votes, its claim lost to the primary's newer config "
                "epoch and it turns back into a replica (a full resync follows)",
                None if window is None else started + 2 * window,
            )
        sleep(0.2)
    if clock() >= deadline:
        return _Refusal("the replica was not promoted within --timeout", None)
    asked_after, acks_after = _vote_counters(view, plan.replica)
    asked, acks = asked_after - asked_before, acks_after - acks_before
    majority = len(view.primaries) // 2 + 1
    window_text = f" ({window:.0f} s)" if window is not None else ""
    retry_after = None if window is None else started + window
    if asked and acks < majority:
        return _Refusal(
            f"the other primaries gave {acks} of the {majority} votes needed: a primary votes "
            f"about a shard once per 2 x cluster-node-timeout{window_text}, and this shard "
            "failed over less than that ago",
            retry_after,
        )
    if not asked:
        cause = (
            "its previous election for this shard is less than 4 x cluster-node-timeout old "
            "('Failover attempt expired' in its log), or it did not catch up with its primary"
        )
        return _Refusal(f"{describe(plan.replica)} started no election: {cause}", retry_after)
    return _Refusal(f"{describe(plan.replica)} did not win the election", retry_after)


def failover(
    settings: ConnectionSettings,
    target: Endpoint,
    *,
    force: bool = False,
    timeout: float = DEFAULT_TIMEOUT,
    retry_within: float = DEFAULT_RETRY_WITHIN,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> FailoverResult:
    """Promote the replica chosen for `target`; retry once when Redis refused and its retry
    window opens within `retry_within` seconds; FailoverRefused (one line) otherwise."""
    view = connect(settings)
    entry = view.find(target)
    replicas = [entry] if not entry.is_primary else view.replicas_of(entry)
    plan = choose_replica(view, entry, replication_offsets(view, replicas))
    if not force:
        problem = sync_problem(view, plan.replica)
        if problem is not None:
            raise FailoverRefused(
                f"{problem}: it cannot take over without losing writes; retry when "
                "`cachectl health` shows it reachable and in sync (a full sync takes about a "
                "minute per GB), or use --force if the primary is down"
            )
    node_timeout = node_timeout_seconds(view, plan.replica)
    started = clock()
    deadline = started + timeout
    attempts = 0
    while True:
        attempts += 1
        refusal = _attempt(
            view, plan, force=force, node_timeout=node_timeout, deadline=deadline,
            clock=clock, sleep=sleep,
        )  # fmt: skip
        if refusal is None:
            break
        now = clock()
        retry_after = refusal.retry_after
        if (
            attempts == 1
            and retry_after is not None
            and retry_after - now <= retry_within
            and retry_after + MANUAL_FAILOVER_TIMEOUT < deadline
        ):
            sleep(max(0.0, retry_after - now) + 0.5)
            continue
        when = (
            f"retry after {_at(retry_after, now)}"
            if retry_after is not None
            else "retry once `cachectl health` passes"
        )
        raise FailoverRefused(
            f"Redis refused the failover of {describe(plan.primary)}: {refusal.reason}; {when}"
        )
    problems = switched_problems(view, plan)
    while problems:
        if clock() > deadline:
            hint = "" if force else "; if the primary is down, rerun with --force"
            raise CachectlError(
                f"failover not complete after {timeout:.0f} s: {'; '.join(problems)}{hint}"
            )
        sleep(0.2)
        problems = switched_problems(view, plan)
    return FailoverResult(plan, clock() - started, attempts)


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
