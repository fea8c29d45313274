"""`cachectl health`, `cachectl backup` and the lifecycle scripts authenticate alike: with a
password file AND a different REDISCLI_AUTH (and a user file AND a different REDIS_USER) set,
all three log in as the file's user, against a real redis-server with ACL users."""

from __future__ import annotations

import os
import secrets
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from cachectl import backup_cli
from cachectl.backup.snapshot import connect as backup_connect
from cachectl.connection import Endpoint, settings_from
from lab.cluster import SCRIPTS_DIR
from tests.support.tools import free_port, require_tool

pytestmark = pytest.mark.integration

USER = "operator"


@pytest.fixture
def acl_server(tmp_path: Path) -> Iterator[tuple[int, str]]:
    """A standalone redis-server whose default user is off and whose `operator` user has a
    password with a leading space (whitespace handling must agree too)."""
    port = free_port()
    password = " " + secrets.token_urlsafe(12)
    process = subprocess.Popen(
        [require_tool("redis-server"), "-"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    assert process.stdin is not None
    quoted = password.replace("\\", "\\\\").replace('"', '\\"')
    process.stdin.write(
        f'port {port}\nbind 127.0.0.1\nsave ""\ndir "{tmp_path}"\n'
        f'user default off\nuser {USER} on ">{quoted}" ~* &* +@all\n'.encode()
    )
    process.stdin.close()
    try:
        client = redis.Redis(port=port, username=USER, password=password)
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise
                time.sleep(0.05)
        client.close()
        yield port, password
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_health_backup_and_scripts_log_in_as_the_files_user(
    acl_server: tuple[int, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    port, password = acl_server
    password_file = tmp_path / "password"
    password_file.write_text(password + "\r\n", newline="")
    password_file.chmod(0o600)
    user_file = tmp_path / "user"
    user_file.write_text(USER + "\n")
    env = {
        "REDISCLI_AUTH": "a-leftover-password",
        "REDIS_PASSWORD_FILE": str(password_file),
        "REDIS_USER": "someone-else",
        "REDIS_USER_FILE": str(user_file),
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    # cachectl health, failover, invalidate...: the settings every Redis command builds.
    settings = settings_from(f"127.0.0.1:{port}", None, False, None, environ=env)
    health_client = redis.Redis(host="127.0.0.1", port=port, **settings.client_options())
    as_health = health_client.acl_whoami()
    health_client.close()

    # cachectl backup / load: the credentials its commands read.
    credentials = backup_cli._credentials(None, None, None)  # pyright: ignore[reportPrivateUsage]
    backup_client = backup_connect(Endpoint("127.0.0.1", port), credentials)
    as_backup = backup_client.acl_whoami()
    backup_client.close()

    # The lifecycle scripts: common.sh's load_password, then its redis-cli wrapper.
    script = f'. "{SCRIPTS_DIR}/common.sh"; load_password; cli 127.0.0.1 {port} ACL WHOAMI'
    result = subprocess.run(
        [require_tool("sh"), "-c", script],
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    as_scripts = result.stdout.strip()

    assert (as_health, as_backup, as_scripts) == (USER, USER, USER), result.stderr
