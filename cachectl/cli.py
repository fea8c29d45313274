# pyright: strict, reportUnknownMemberType=false, reportMissingTypeStubs=false
"""`cachectl`: operations on the caching tier (ADR-011 "Operational Procedures & Runbooks").

    cachectl health [--json] [--prometheus URL] [--node-hosts FILE]
    cachectl warm --plan FILE
    cachectl invalidate --key K | --pattern service:entity[:id] | --bump service:entity --from v1
                        [--edge-url URL] [--edge-prefix HOST/PATH] [--edge-tag TAG]
                        [--edge-everything] [--cloudflare-plan PLAN]
    cachectl failover --node HOST:PORT [--force]
    cachectl rebalance [--use-empty-masters] [--simulate]
    cachectl backup ...   (backup, list, restore, load: see `cachectl backup --help`)

Connection, on every command that talks to Redis (a flag wins over its variable):

    --node HOST:PORT       CACHECTL_NODE        any member; several, comma-separated, are tried
                                                in turn
    --password-file FILE   REDIS_PASSWORD_FILE  a file holding the password (mode 0600); else
                           REDISCLI_AUTH        the password itself, as redis-cli reads it
    --tls, --tls-ca-file FILE

Exit status: 0 done (health: every check passed); 1 a check failed or the operation failed, with
one `error:` line on stderr; 2 a usage error.
"""

from __future__ import annotations

import contextlib
import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn
from rich.table import Table

from cachectl import backup_cli, edge, failover, health, invalidate, scaling, warm, wording
from cachectl.connection import (
    CachectlError,
    ClusterView,
    ConnectionSettings,
    connect,
    describe,
    parse_endpoint,
    settings_from,
)
from cachectl.errors import fail, one_line_errors

app = typer.Typer(
    name="cachectl",
    help="Operate the caching tier: health, warming, invalidation, failover, backups.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.add_typer(backup_cli.app, name="backup")
app.add_typer(scaling.app, name="scale")


_fail = fail


def _one_line_errors() -> contextlib.AbstractContextManager[None]:
    return one_line_errors()


NodeOption = Annotated[
    str | None,
    typer.Option(
        "--node",
        envvar="CACHECTL_NODE",
        help="host:port of any cluster member (several: comma-separated).",
        show_default=False,
    ),
]
PasswordFileOption = Annotated[
    Path | None,
    typer.Option(
        "--password-file",
        envvar="REDIS_PASSWORD_FILE",
        help="File holding the password (mode 0600). Default: REDISCLI_AUTH.",
    ),
]
UserOption = Annotated[
    str | None,
    typer.Option(
        "--user",
        help="Redis ACL user to authenticate as (default: REDIS_USER_FILE, REDIS_USER, "
        "else the default user).",
        show_default=False,
    ),
]
UserFileOption = Annotated[
    Path | None,
    typer.Option("--user-file", help="File holding the ACL user name.", show_default=False),
]
TlsOption = Annotated[bool, typer.Option("--tls", help="Connect with TLS.")]
TlsCaOption = Annotated[
    Path | None,
    typer.Option(
        "--tls-ca-file", help="CA bundle that signed the nodes' certificates (implies --tls)."
    ),
]


def _settings(
    node: str | None,
    password_file: Path | None,
    tls: bool,
    tls_ca_file: Path | None,
    user: str | None = None,
    user_file: Path | None = None,
) -> ConnectionSettings:
    return settings_from(node, password_file, tls, tls_ca_file, user=user, user_file=user_file)


def _console() -> Console:
    # Off a terminal (logs, pipes) rich would wrap tables at 80 columns: give them room instead.
    width = None if sys.stdout.isatty() else 160
    return Console(highlight=False, soft_wrap=True, width=width)


# ---- health ------------------------------------------------------------------------------


def _node_table(report: health.HealthReport) -> Table:
    table = Table(show_edge=False, pad_edge=False, box=None, header_style="bold")
    for column in ("node", "address", "role", "slots", "memory", "evicted", "keys", "state"):
        numeric = column in ("slots", "evicted", "keys")
        table.add_column(column, justify="right" if numeric else "left", no_wrap=True)
    for node in report.nodes:
        entry = node.entry
        name = entry.hostname.split(".", 1)[0] if entry.hostname else "-"
        address = f"{entry.ip}:{entry.port}"
        role = "primary" if entry.is_primary else "replica"
        if not node.reachable:
            table.add_row(name, address, role, str(entry.slot_count), "-", "-", "-", "unreachable")
            continue
        ratio = node.memory_ratio
        memory = f"{node.used_memory / 2**20:.1f}/{node.maxmemory / 2**20:.0f} MiB"
        memory += f" {ratio * 100:.0f}%" if ratio is not None else " (no max)"
        state = node.cluster_state if entry.healthy else ",".join(sorted(entry.flags - {"myself"}))
        table.add_row(
            name, address, role, str(entry.slot_count), memory, str(node.evicted_keys),
            str(node.keys), state,
        )  # fmt: skip
    return table


@app.command("health")
def health_command(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    prometheus: Annotated[
        str | None,
        typer.Option(
            "--prometheus",
            help="Prometheus base URL: the hit rate is read from its cache_hit_rate series "
            "instead of the nodes' keyspace_hits/misses.",
        ),
    ] = None,
    node_hosts: Annotated[
        Path | None,
        typer.Option(
            "--node-hosts",
            help="Lines '<announced host name or IP> <host>' giving where each node runs; "
            "default: a node's host is its announced host name.",
        ),
    ] = None,
    node: NodeOption = None,
    password_file: PasswordFileOption = None,
    user: UserOption = None,
    user_file: UserFileOption = None,
    tls: TlsOption = False,
    tls_ca_file: TlsCaOption = None,
) -> None:
    """Check the cluster against ADR-011's validation checklist; exit 1 when a check fails."""
    with _one_line_errors():
        settings = _settings(node, password_file, tls, tls_ca_file, user, user_file)
        try:
            view = connect(settings)
        except CachectlError as error:
            # Still a checklist (every check unknown, and why): the incident runbook saves it.
            seeds = ",".join(str(seed) for seed in settings.seeds)
            report = health.unreachable_report(seeds, str(error))
        else:
            report = health.check_health(
                view, node_hosts_file=node_hosts, prometheus_url=prometheus
            )
    if as_json:
        typer.echo(json.dumps(report.as_json(), indent=2))
    else:
        primaries = sum(1 for n in report.nodes if n.entry.is_primary and n.entry.slots)
        if report.error is None:
            typer.echo(
                f"Redis Cluster seen from {report.seed}: {len(report.nodes)} nodes, "
                f"{primaries} primaries (host of a node: {report.host_source})"
            )
        else:
            typer.echo(f"Redis Cluster at {report.seed}: not reached")
        for check in report.checks:
            typer.echo(check.line)
        if report.nodes:
            typer.echo("")
            _console().print(_node_table(report))
    if report.error is not None:
        raise _fail(report.error)
    failed = [check for check in report.checks if check.status is health.Status.FAIL]
    unknown = [check for check in report.checks if check.status is health.Status.UNKNOWN]
    if failed or unknown:
        parts = [f"{len(failed)} of {len(report.checks)} checks failed"]
        parts += [f"{len(unknown)} unknown"] if unknown else []
        names = ", ".join(check.name for check in [*failed, *unknown])
        raise _fail(
            f"{', '.join(parts)}: {names}; see the lines above and "
            "docs/runbooks/ for the matching runbook"
        )


# ---- warm --------------------------------------------------------------------------------


class _WarmReporter(warm.Reporter):
    """A progress bar on a terminal; one plain line per step always (logs have no terminal)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.progress: Progress | None = None
        self.task: TaskID | None = None

    def step_started(self, label: str, total: int | None) -> None:
        self.console.print(f"{label} ...", markup=False)
        if self.console.is_terminal and total:
            self.progress = Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                console=self.console, transient=True,
            )  # fmt: skip
            self.progress.start()
            self.task = self.progress.add_task(label, total=total)

    def advance(self, amount: int) -> None:
        if self.progress is not None and self.task is not None:
            self.progress.advance(self.task, amount)

    def step_done(self, label: str, summary: str) -> None:
        self.close()
        self.console.print(f"✓ {label}: {summary}", markup=False)

    def step_failed(self, label: str, reason: str) -> None:
        self.close()
        self.console.print(f"✗ {label}: {reason}", markup=False)

    def close(self) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None
            self.task = None


def _mib(value: int) -> str:
    return f"{value / 2**20:.1f} MiB"


@app.command("warm")
def warm_command(
    plan: Annotated[Path, typer.Option("--plan", help="Warming plan (YAML or JSON).")],
    node: NodeOption = None,
    password_file: PasswordFileOption = None,
    user: UserOption = None,
    user_file: UserFileOption = None,
    tls: TlsOption = False,
    tls_ca_file: TlsCaOption = None,
) -> None:
    """Warm the cache tier by tier (hot, warm, cold); stop at the first failing step."""
    console = _console()
    reporter = _WarmReporter(console)
    with _one_line_errors():
        warm_plan = warm.load_plan(plan)
        view = connect(_settings(node, password_file, tls, tls_ca_file, user, user_file))
        before = warm.cluster_figures(view)
        started = time.monotonic()
        cluster: Any = view.cluster_client()
        try:
            result = warm.run_plan(warm_plan, warm.cluster_writer(cluster), reporter)
        finally:
            reporter.close()
            cluster.close()
        elapsed = time.monotonic() - started
        after = warm.cluster_figures(view)
    limit_seconds = warm_plan.completion_limit_minutes * 60
    hit_rate = after.hit_rate
    console.print(
        f"keys added: {after.keys - before.keys} ({result.keys_written} written by key "
        f"sources; {after.keys} keys in the cluster)",
        markup=False,
    )
    memory_line = f"memory used: {_mib(after.used_memory)} on the primaries"
    if after.maxmemory:
        memory_line += f" (fullest node at {after.highest_memory_ratio * 100:.1f} % of maxmemory)"
    console.print(memory_line, markup=False)
    console.print(
        "hit rate after: "
        + (
            f"{hit_rate * 100:.1f} % (INFO stats since start)"
            if hit_rate is not None
            else "no lookups yet"
        ),
        markup=False,
    )
    in_time = elapsed < limit_seconds
    limit_text = f"limit {warm_plan.completion_limit_minutes:g} min"
    if result.failure is not None:
        console.print(
            f"✗ warming failed after {elapsed:.1f} s ({len(result.steps_done)} steps done, "
            f"{limit_text})",
            markup=False,
        )
        raise _fail(
            f"warming stopped at {result.failure}; fix that step and rerun the plan "
            "(the keys already written stay, rewriting them is harmless)"
        )
    console.print(f"{'✓' if in_time else '✗'} elapsed {elapsed:.1f} s ({limit_text})", markup=False)
    if not in_time:
        raise _fail(
            f"warming took {elapsed / 60:.1f} min, "
            f"over the {warm_plan.completion_limit_minutes:g} min limit; warm fewer keys per "
            "tier or ask the services to warm faster (docs/runbooks/)"
        )


# ---- invalidate --------------------------------------------------------------------------


@app.command("invalidate")
def invalidate_command(
    key: Annotated[
        list[str] | None, typer.Option("--key", help="Remove this exact key (repeatable).")
    ] = None,
    pattern: Annotated[
        str | None,
        typer.Option(
            "--pattern",
            help="service:entity (every key of the type) or service:entity:id (every version).",
        ),
    ] = None,
    all_keys: Annotated[
        bool, typer.Option("--all", help="Confirm a pattern that matches every key ('*').")
    ] = False,
    hash_tag: Annotated[
        bool, typer.Option("--hash-tag", help="The keys use the hash-tagged form {s:e:id}:v.")
    ] = False,
    bump: Annotated[
        str | None,
        typer.Option("--bump", help="service:entity whose cache version to bump (with --from)."),
    ] = None,
    from_version: Annotated[
        str | None, typer.Option("--from", help="The version deployed now, e.g. v1.")
    ] = None,
    remove_old: Annotated[
        bool, typer.Option("--remove-old", help="With --bump: also remove the old version's keys.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count the keys and list the purges; change nothing.")
    ] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    confirm_above: Annotated[
        int, typer.Option("--confirm-above", help="Ask before removing more keys than this.")
    ] = invalidate.DEFAULT_CONFIRM_ABOVE,
    batch: Annotated[
        int, typer.Option("--batch", help="Keys per UNLINK pipeline.")
    ] = invalidate.DEFAULT_BATCH,
    edge_url: Annotated[
        list[str] | None, typer.Option("--edge-url", help="Purge this URL at the edge.")
    ] = None,
    edge_prefix: Annotated[
        list[str] | None,
        typer.Option("--edge-prefix", help="Purge everything under host/path at the edge."),
    ] = None,
    edge_tag: Annotated[
        list[str] | None, typer.Option("--edge-tag", help="Purge responses with this Cache-Tag.")
    ] = None,
    edge_everything: Annotated[
        bool, typer.Option("--edge-everything", help="Purge the whole zone (asks first).")
    ] = False,
    zone_id: Annotated[
        str | None,
        typer.Option("--zone-id", envvar=edge.ZONE_ENV, help="Cloudflare zone id."),
    ] = None,
    cloudflare_base_url: Annotated[
        str | None,
        typer.Option(
            "--cloudflare-base-url",
            envvar=edge.BASE_URL_ENV,
            help="Cloudflare API base URL (default: the public API).",
        ),
    ] = None,
    cloudflare_plan: Annotated[
        str | None,
        typer.Option(
            "--cloudflare-plan",
            envvar=edge.PLAN_ENV,
            help="The zone's plan (free, pro, business, enterprise): items per purge call "
            "(default: what every plan accepts).",
        ),
    ] = None,
    node: NodeOption = None,
    password_file: PasswordFileOption = None,
    user: UserOption = None,
    user_file: UserFileOption = None,
    tls: TlsOption = False,
    tls_ca_file: TlsCaOption = None,
) -> None:
    """Remove keys from Redis and/or purge the Cloudflare edge (Redis first, then the edge)."""
    console = _console()
    with _one_line_errors():
        keys = key or []
        if bump is not None and (keys or pattern is not None):
            raise CachectlError("--bump works alone: remove keys or patterns in another run")
        if (from_version is not None or remove_old) and bump is None:
            raise CachectlError("--from and --remove-old go with --bump service:entity")
        if all_keys and pattern is None:
            raise CachectlError("--all confirms a --pattern: pass --pattern '*' --all")
        selection = (
            invalidate.pattern_selection(pattern, hash_tag=hash_tag, allow_all=all_keys)
            if pattern is not None
            else None
        )
        version: invalidate.VersionBump | None = None
        if bump is not None:
            if from_version is None:
                raise CachectlError("--bump needs --from <the version deployed now>, e.g. v1")
            version = invalidate.version_bump(bump, from_version)
            if remove_old:
                selection = version.old_keys(hash_tag=hash_tag)
        purges = edge.purge_requests(
            urls=edge_url or [],
            prefixes=edge_prefix or [],
            tags=edge_tag or [],
            everything=edge_everything,
            batch=edge.purge_batch(cloudflare_plan),
        )
        if not (keys or selection or version or purges):
            raise CachectlError(
                "nothing to invalidate: give --key, --pattern, --bump or an --edge-* option"
            )
        # Also for a dry run: it is where an operator finds out a purge could not be sent.
        zone_token = edge.zone_and_token(zone_id) if purges else None

        if version is not None:
            console.print(
                f"{version.service}:{version.entity}: deploy version {version.new} "
                f"(keys like {version.example_key}); {version.old} keys expire by their TTL"
                + (" or are removed now" if remove_old else ""),
                markup=False,
            )
        if keys or selection is not None:
            view = connect(_settings(node, password_file, tls, tls_ca_file, user, user_file))
            if keys:
                _remove_exact(console, view, keys, dry_run)
            if selection is not None:
                twin = (
                    invalidate.hash_tag_twin(pattern)
                    if pattern is not None and not hash_tag
                    else None
                )
                _remove_selection(
                    console, view, selection, dry_run=dry_run, yes=yes,
                    confirm_above=confirm_above, batch=batch, hash_tag_twin=twin,
                )  # fmt: skip
        if purges:
            _purge(console, purges, zone_token, cloudflare_base_url, dry_run=dry_run, yes=yes)


def _remove_exact(console: Console, view: ClusterView, keys: list[str], dry_run: bool) -> None:
    if dry_run:
        client: Any = view.cluster_client()
        try:
            present = sum(int(client.exists(k)) for k in keys)
        finally:
            client.close()
        console.print(
            f"dry run: {present} of {wording.count(len(keys), 'key')} exist", markup=False
        )
        return
    removed = invalidate.remove_keys(view, keys)
    console.print(f"removed {removed} of {wording.count(len(keys), 'key')}", markup=False)


def _remove_selection(
    console: Console,
    view: ClusterView,
    selection: invalidate.Selection,
    *,
    dry_run: bool,
    yes: bool,
    confirm_above: int,
    batch: int,
    hash_tag_twin: invalidate.Selection | None = None,
) -> None:
    counts = invalidate.count_matches(view, selection)
    total = sum(counts.values())
    shards = ", ".join(f"{number} on {where}" for where, number in counts.items())
    console.print(
        f"{wording.count(total, 'key')} matching {selection.description} ({shards})",
        markup=False,
    )
    if total == 0 and hash_tag_twin is not None:
        tagged = sum(invalidate.count_matches(view, hash_tag_twin).values())
        if tagged:
            console.print(
                f"hint: {wording.count(tagged, 'key')} matching the hash-tagged form "
                f"{hash_tag_twin.description}: rerun with --hash-tag",
                markup=False,
            )
    if dry_run:
        console.print("dry run: nothing removed", markup=False)
        return
    if total == 0:
        return
    if total > confirm_above and not yes:
        if not sys.stdin.isatty():
            raise CachectlError(
                f"{wording.count(total, 'key')} match, more than --confirm-above {confirm_above}: "
                "rerun with --yes to remove them"
            )
        if not typer.confirm(f"Remove {total} keys?", default=False):
            raise CachectlError("not confirmed: nothing removed")
    if console.is_terminal:
        with Progress(
            TextColumn("removing"), BarColumn(), MofNCompleteColumn(), console=console,
            transient=True,
        ) as progress:  # fmt: skip
            task = progress.add_task("remove", total=total)
            removal = invalidate.remove_matches(
                view, selection, batch=batch, advance=lambda n: progress.advance(task, n)
            )
    else:
        removal = invalidate.remove_matches(view, selection, batch=batch)
    console.print(f"removed {wording.count(removal.removed, 'key')}", markup=False)
    if removal.errors:
        sample = "; ".join(removal.errors[:3])
        raise CachectlError(f"{len(removal.errors)} keys could not be removed (rerun): {sample}")


def _purge(
    console: Console,
    purges: list[edge.PurgeRequest],
    zone_token: tuple[str, str] | None,
    base_url: str | None,
    *,
    dry_run: bool,
    yes: bool,
) -> None:
    if dry_run or zone_token is None:  # zone_token is None only when there is nothing to purge
        for request in purges:
            console.print(f"dry run: would purge {request.describe()}", markup=False)
        return
    zone, token = zone_token
    if any(r.kind == "purge_everything" for r in purges) and not yes:
        if not sys.stdin.isatty():
            raise CachectlError("--edge-everything empties the zone's cache: rerun with --yes")
        if not typer.confirm(f"Purge everything cached in zone {zone}?", default=False):
            raise CachectlError("not confirmed: nothing purged")
    ids = edge.send_purges(purges, zone, token, base_url)
    for request, purge_id in zip(purges, ids, strict=True):
        console.print(f"purged {request.describe()} (id {purge_id})", markup=False)


# ---- failover and rebalance --------------------------------------------------------------


@app.command("failover")
def failover_command(
    target: Annotated[
        str,
        typer.Option(
            "--node",
            help="The replica to promote, or a primary (its most up-to-date replica is "
            "promoted). Also where the cluster is discovered from, unless --seed is given.",
        ),
    ],
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="FORCE: for a primary that is down (acked writes may be lost)."
        ),
    ] = False,
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds to wait for the switch.")
    ] = failover.DEFAULT_TIMEOUT,
    retry_within: Annotated[
        float,
        typer.Option(
            "--retry-within",
            help="When Redis refuses (a failover of the shard moments ago), retry by itself if "
            "its retry window opens within these seconds; else stop and say when to retry.",
        ),
    ] = failover.DEFAULT_RETRY_WITHIN,
    seed: Annotated[
        str | None,
        typer.Option("--seed", envvar="CACHECTL_NODE", help="Other members to discover from."),
    ] = None,
    password_file: PasswordFileOption = None,
    user: UserOption = None,
    user_file: UserFileOption = None,
    tls: TlsOption = False,
    tls_ca_file: TlsCaOption = None,
) -> None:
    """Promote a replica (CLUSTER FAILOVER); wait until roles switched and the cluster is ok."""
    with _one_line_errors():
        endpoint = parse_endpoint(target)
        settings = settings_from(
            seed,
            password_file,
            tls,
            tls_ca_file,
            extra_seeds=[endpoint],
            user=user,
            user_file=user_file,
        )
        result = failover.failover(
            settings, endpoint, force=force, timeout=timeout, retry_within=retry_within
        )
    plan = result.plan
    retried = " (retried once the other primaries could vote again)" if result.attempts > 1 else ""
    typer.echo(
        f"failover done in {result.seconds:.1f} s{retried}: {describe(plan.replica)} is now "
        "the primary "
        f"of {plan.primary.slot_count} slots; {describe(plan.primary)} replicates it "
        "when it answers"
    )


@app.command("rebalance")
def rebalance_command(
    use_empty_masters: Annotated[
        bool,
        typer.Option("--use-empty-masters", help="Give slots to primaries that have none (new)."),
    ] = False,
    threshold: Annotated[
        float | None,
        typer.Option("--threshold", help="Percent of imbalance tolerated (redis-cli: 2)."),
    ] = None,
    simulate: Annotated[
        bool, typer.Option("--simulate", help="Show the moves without making them.")
    ] = False,
    node: NodeOption = None,
    password_file: PasswordFileOption = None,
    user: UserOption = None,
    user_file: UserFileOption = None,
    tls: TlsOption = False,
    tls_ca_file: TlsCaOption = None,
) -> None:
    """Move slots so primaries hold even shares (after adding or removing nodes)."""
    with _one_line_errors():
        failover.rebalance(
            _settings(node, password_file, tls, tls_ca_file, user, user_file),
            threshold=threshold,
            use_empty_masters=use_empty_masters,
            simulate=simulate,
            output=typer.echo,
        )


def main() -> None:
    try:
        app(prog_name="cachectl")
    except Exception as error:  # a failure outside every command's own handler
        typer.echo(f"error: unexpected {type(error).__name__}: {error}", err=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    main()
