"""A throwaway PostgreSQL server for integration tests: `initdb` into a temporary directory,
`pg_ctl start` on 127.0.0.1 on a free port with no Unix socket, password authentication for
every connection, and `pg_ctl stop` plus the directory removed at the end, whatever the test did.

PostgreSQL refuses to run as root. A test run as root (CI, containers) runs initdb and the server
as the unprivileged `nobody`, in a directory made for it that no one else can read; the test
process itself stays root and talks to the server over TCP like any client.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from tests.support.tools import free_port, require_tool

UNPRIVILEGED_USER = "nobody"
SUPERUSER = "postgres"


def _major(path: str) -> int:
    found = re.search(r"/postgresql/(\d+)/bin$", path)
    return int(found.group(1)) if found else 0


def postgres_bin_dir() -> Path:
    """Where initdb and pg_ctl are: Debian keeps them out of PATH, in /usr/lib/postgresql/<N>/bin
    (the newest wins); elsewhere PATH. Missing: skipped locally, a failure in CI."""
    for directory in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_major, reverse=True):
        if all(os.access(os.path.join(directory, tool), os.X_OK) for tool in ("initdb", "pg_ctl")):
            return Path(directory)
    require_tool("initdb")
    return Path(require_tool("pg_ctl")).parent


@dataclass(frozen=True)
class Postgres:
    host: str
    port: int
    password: str
    user: str = SUPERUSER
    dbname: str = "postgres"
    log: Path | None = None

    @property
    def conninfo(self) -> str:
        """libpq's connection string, without the password (it goes in a file or a keyword)."""
        return f"host={self.host} port={self.port} dbname={self.dbname} user={self.user}"

    def connect(self, **options: Any) -> psycopg.Connection[Any]:
        return psycopg.connect(self.conninfo, password=self.password, **options)


def _run(command: list[str], what: str, log: Path | None = None, **options: Any) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, **options)
    if done.returncode != 0:
        server_log = log.read_text() if log is not None and log.exists() else ""
        raise RuntimeError(f"{what} failed ({done.returncode}): {done.stderr}{server_log}")


@contextmanager
def throwaway_postgres() -> Iterator[Postgres]:
    bin_dir = postgres_bin_dir()
    base = Path(tempfile.mkdtemp(prefix="pg-test-"))  # mode 0700
    run_as: dict[str, Any] = {}
    if os.geteuid() == 0:
        account = pwd.getpwnam(UNPRIVILEGED_USER)
        os.chown(base, account.pw_uid, account.pw_gid)
        run_as = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}
    # The server's own processes get a minimal environment: nothing of the test run leaks in.
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "TZ": "UTC"}
    data, log, password_file = base / "data", base / "server.log", base / "superuser-password"
    password = secrets.token_urlsafe(24)
    password_file.write_text(password)
    password_file.chmod(0o600)
    if run_as:
        os.chown(password_file, run_as["user"], run_as["group"])
    port = free_port()
    pg_ctl = str(bin_dir / "pg_ctl")
    started = False
    try:
        _run(
            [
                str(bin_dir / "initdb"),
                "--pgdata",
                str(data),
                "--username",
                SUPERUSER,
                "--auth",
                "scram-sha-256",
                "--pwfile",
                str(password_file),
                "--encoding",
                "UTF8",
                "--locale",
                "C",
                "--no-sync",
            ],
            "initdb",
            cwd=base,
            env=env,
            **run_as,
        )
        password_file.unlink()
        # No Unix socket (nothing in /var/run/postgresql to collide with), loopback only, and
        # no fsync: the data dies with the test.
        server_options = (
            f"-c listen_addresses=127.0.0.1 -c port={port} -c unix_socket_directories='' "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        start = [
            pg_ctl, "--pgdata", str(data), "--log", str(log), "--wait", "--timeout", "60",
            "--options", server_options, "start",
        ]  # fmt: skip
        _run(
            start,
            "pg_ctl start",
            log,
            cwd=base,
            env=env,
            **run_as,
        )
        started = True
        yield Postgres("127.0.0.1", port, password, log=log)
    finally:
        if started or (data / "postmaster.pid").exists():
            subprocess.run(
                [pg_ctl, "--pgdata", str(data), "--mode", "immediate", "--wait", "stop"],
                capture_output=True,
                timeout=60,
                check=False,
                cwd=base,
                env=env,
                **run_as,
            )
        shutil.rmtree(base, ignore_errors=True)
