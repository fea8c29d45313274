# pyright: strict, reportUnknownMemberType=false, reportMissingTypeStubs=false
"""`cachectl backup` — back up the Redis Cluster to S3, restore a set, load it into a cluster.

    python -m cachectl.backup_cli backup                   (what the backup CronJob runs)
    python -m cachectl.backup_cli list
    python -m cachectl.backup_cli restore --to DIR [--at 2025-01-02T03:00:00Z | --set SET-ID]
    python -m cachectl.backup_cli load --from DIR --cluster HOST:PORT [--replace]

Configuration (a flag wins over its variable):

    REDIS_NODES              --nodes        host:port of any cluster nodes, space or comma
                                            separated (backup discovers the primaries from them)
    REDIS_PASSWORD_FILE      --password-file
                                            a file holding the cluster's password (mode 0600);
                                            wins over REDISCLI_AUTH, the password itself
                                            (never a flag: flags show in `ps`)
    REDIS_USER_FILE, REDIS_USER
                             --user-file, --user
                                            the Redis ACL user (default: the default user);
                                            precedence as in `cachectl.credentials`
    BACKUP_BUCKET            --bucket       S3 bucket of the backup sets
    BACKUP_PREFIX            --prefix       key prefix inside the bucket (default "redis")
    AWS_REGION, AWS_DEFAULT_REGION
                             --region       region of the bucket
    BACKUP_KMS_KEY_ID        --kms-key-id   KMS key (id, ARN or alias) encrypting the objects;
                                            required by backup
    BACKUP_WORK_DIR          --work-dir     scratch directory for one RDB at a time (default:
                                            the system's temporary directory)
    BACKUP_SNAPSHOT_TIMEOUT  --snapshot-timeout
                                            seconds one primary's snapshot may take (1800)

AWS credentials come from boto3's default chain (IRSA in Kubernetes); AWS_ENDPOINT_URL_S3 points
it at an S3-compatible store. Exit status 0 on success, 1 on any failure with one `error:` line
on stderr, 2 on a usage error.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Generator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from cachectl import backup as lib
from cachectl.connection import parse_endpoint, parse_endpoints
from cachectl.credentials import Credentials, read_credentials
from cachectl.errors import fail, one_line_errors

app = typer.Typer(
    name="backup",
    help="Back up the Redis Cluster's primaries to S3, restore a backup set, load it.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


class RichReporter:
    """Progress bars on a terminal; plain log lines always (the CronJob's log has no terminal)."""

    def __init__(self, console: Console) -> None:
        self.console = console

    def info(self, message: str) -> None:
        stamp = datetime.now(UTC).strftime("%H:%M:%S")
        self.console.print(f"{stamp} {message}", markup=False, highlight=False, soft_wrap=True)

    @contextlib.contextmanager
    def transfer(
        self, description: str, total: int, unit: str = "bytes"
    ) -> Generator[Callable[[int], None]]:
        if not self.console.is_terminal:
            yield _ignore
            return
        counter: list[ProgressColumn] = (
            [DownloadColumn(), TransferSpeedColumn()] if unit == "bytes" else [MofNCompleteColumn()]
        )
        columns = [TextColumn("{task.description}"), BarColumn(), *counter, TimeRemainingColumn()]
        with Progress(*columns, console=self.console) as progress:
            task = progress.add_task(description, total=total)
            # boto3 calls back from its transfer threads; Progress.advance takes a lock.
            yield lambda amount: progress.advance(task, amount)


def _ignore(amount: int) -> None:
    del amount


def _reporter() -> RichReporter:
    return RichReporter(Console(stderr=True))


_fail = fail


def _errors_as_one_line() -> contextlib.AbstractContextManager[None]:
    return one_line_errors()


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
    typer.Option("--user", help="Redis ACL user (default: REDIS_USER_FILE, REDIS_USER)."),
]
UserFileOption = Annotated[
    Path | None, typer.Option("--user-file", help="File holding the ACL user name.")
]


def _credentials(
    password_file: Path | None, user: str | None, user_file: Path | None
) -> Credentials:
    return read_credentials(os.environ, password_file=password_file, user=user, user_file=user_file)


BucketOption = Annotated[
    str, typer.Option("--bucket", envvar="BACKUP_BUCKET", help="S3 bucket of the backup sets.")
]
PrefixOption = Annotated[
    str, typer.Option("--prefix", envvar="BACKUP_PREFIX", help="Key prefix in the bucket.")
]
RegionOption = Annotated[
    str,
    typer.Option(
        "--region", envvar=["AWS_REGION", "AWS_DEFAULT_REGION"], help="Region of the bucket."
    ),
]


def _store(bucket: str, prefix: str, region: str) -> lib.BackupStore:
    return lib.BackupStore(lib.make_s3_client(region or None), bucket, prefix)


@app.command()
def backup(
    nodes: Annotated[
        str,
        typer.Option(
            "--nodes", envvar="REDIS_NODES", help="host:port of cluster nodes to discover from."
        ),
    ] = "",
    bucket: BucketOption = "",
    prefix: PrefixOption = lib.DEFAULT_PREFIX,
    region: RegionOption = "",
    kms_key_id: Annotated[
        str,
        typer.Option(
            "--kms-key-id", envvar="BACKUP_KMS_KEY_ID", help="KMS key encrypting the objects."
        ),
    ] = "",
    work_dir: Annotated[
        Path | None,
        typer.Option("--work-dir", envvar="BACKUP_WORK_DIR", help="Scratch directory."),
    ] = None,
    snapshot_timeout: Annotated[
        float,
        typer.Option(
            "--snapshot-timeout",
            envvar="BACKUP_SNAPSHOT_TIMEOUT",
            help="Seconds one primary's snapshot may take.",
        ),
    ] = lib.DEFAULT_SNAPSHOT_TIMEOUT_SECONDS,
    password_file: PasswordFileOption = None,
    user: UserOption = None,
    user_file: UserFileOption = None,
) -> None:
    """Snapshot every primary, upload the RDB files, then write the set's manifest."""
    with _errors_as_one_line():
        if not kms_key_id:
            raise lib.BackupError("no KMS key: pass --kms-key-id or set BACKUP_KMS_KEY_ID")
        store = _store(bucket, prefix, region)
        credentials = _credentials(password_file, user, user_file)
        primaries = lib.discover_primaries(parse_endpoints(nodes), credentials)
        manifest = lib.run_backup(
            store,
            primaries,
            partial(_snapshot, credentials=credentials, timeout=snapshot_timeout),
            kms_key_id=kms_key_id,
            work_dir=work_dir,
            reporter=_reporter(),
        )
        typer.echo(manifest.set_id)


def _snapshot(
    node: lib.ClusterNode, work_dir: Path, *, credentials: Credentials, timeout: float
) -> lib.Snapshot:
    return lib.take_snapshot(node, work_dir, credentials, timeout=timeout)


@app.command("list")
def list_sets(
    bucket: BucketOption = "",
    prefix: PrefixOption = lib.DEFAULT_PREFIX,
    region: RegionOption = "",
) -> None:
    """List the backup sets, oldest first: set id, start time, complete or not, files, bytes."""
    with _errors_as_one_line():
        for summary in _store(bucket, prefix, region).list_sets():
            state = "complete" if summary.complete else "INCOMPLETE"
            typer.echo(
                f"{summary.set_id}  {lib.iso(summary.started_at)}  {state:<10}  "
                f"{summary.files} files  {summary.size} bytes"
            )


@app.command()
def restore(
    to: Annotated[Path, typer.Option("--to", help="New (or empty) directory to restore into.")],
    at: Annotated[
        str | None,
        typer.Option(
            "--at",
            help="ISO-8601 time (UTC when no zone): the newest complete set started at or "
            "before it. Default: the newest complete set.",
        ),
    ] = None,
    set_id: Annotated[
        str | None, typer.Option("--set", help="Restore this set id exactly (see `list`).")
    ] = None,
    bucket: BucketOption = "",
    prefix: PrefixOption = lib.DEFAULT_PREFIX,
    region: RegionOption = "",
) -> None:
    """Download a complete set into a directory, verifying every checksum."""
    with _errors_as_one_line():
        if at is not None and set_id is not None:
            raise lib.BackupError("--at and --set exclude each other")
        moment = lib.parse_time(at) if at is not None else None
        store = _store(bucket, prefix, region)
        reporter = _reporter()
        if set_id is None:
            sets = store.list_sets()
            chosen = lib.choose_set(sets, moment)
            newer_incomplete = [
                s for s in sets if not s.complete and s.started_at > chosen.started_at
                and (moment is None or s.started_at <= moment)
            ]  # fmt: skip
            for skipped in newer_incomplete:
                reporter.info(f"skipping incomplete set {skipped.set_id} (no manifest)")
            set_id = chosen.set_id
        manifest = lib.restore_set(store, set_id, to, reporter)
        typer.echo(f"{manifest.set_id} {to}")


@app.command()
def load(
    from_dir: Annotated[Path, typer.Option("--from", help="Directory filled by `restore --to`.")],
    cluster: Annotated[
        str, typer.Option("--cluster", help="host:port of any node of the target cluster.")
    ],
    replace: Annotated[
        bool,
        typer.Option("--replace", help="Overwrite keys that already exist in the target."),
    ] = False,
    load_timeout: Annotated[
        float,
        typer.Option("--load-timeout", help="Seconds a temporary server may take to load."),
    ] = lib.DEFAULT_LOAD_TIMEOUT_SECONDS,
    password_file: PasswordFileOption = None,
    user: UserOption = None,
    user_file: UserFileOption = None,
) -> None:
    """Copy every key of the restored RDB files into a cluster (any slot layout)."""
    with _errors_as_one_line():
        seed = parse_endpoint(cluster)
        credentials = _credentials(password_file, user, user_file)
        manifest = lib.read_restored_set(from_dir)
        target = lib.connect_cluster(seed, credentials)
        try:
            counts = lib.load_set(
                from_dir, target, replace=replace, reporter=_reporter(), timeout=load_timeout
            )
        finally:
            target.close()
        if counts.existing:
            raise lib.BackupError(
                f"{counts.existing} keys already existed in {seed} and were left unchanged "
                "(rerun with --replace to overwrite them)"
            )
        at_backup = sum(entry.keys for entry in manifest.entries)
        typer.echo(
            f"set {manifest.set_id}: {counts.restored} keys loaded into {seed} "
            f"({at_backup} at backup time; the difference expired since)"
        )


def main() -> None:
    app(prog_name="backup")


if __name__ == "__main__":
    main()
