"""The command line: every failure is one `error:` line and exit status 1, never a traceback."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path
from typing import cast

import pytest
from rich.console import Console
from typer.testing import Result

from cachectl.backup import S3Client
from cachectl.backup_cli import RichReporter, app
from tests.support.backup_sandbox import (
    BUCKET,
    JAN_2,
    PREFIX,
    PRIMARIES,
    FlakyClient,
    Sandbox,
    backup_at,
    corrupt,
)
from tests.support.cli import invoke
from tests.support.tools import free_port


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    base = {"BACKUP_BUCKET": BUCKET, "BACKUP_PREFIX": PREFIX}
    return invoke(app, args, env={**base, **(env or {})})


def assert_one_error_line(result: Result, *fragments: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: "), lines[0]
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


def test_restore_with_an_empty_bucket_says_so(aws: Sandbox, tmp_path: Path) -> None:
    assert_one_error_line(
        run("restore", "--to", str(tmp_path / "r")), "no complete backup set in the bucket"
    )


def test_restore_refuses_a_corrupted_set(aws: Sandbox, tmp_path: Path) -> None:
    set_id = backup_at(aws, JAN_2)
    corrupt(aws, f"{PREFIX}/{set_id}/{PRIMARIES[0].node_id}.rdb", keep_metadata=True)
    result = run("restore", "--to", str(tmp_path / "r"))
    assert_one_error_line(result, f"set {set_id} is corrupted")
    assert not list((tmp_path / "r").glob("*.rdb"))


def test_restore_refuses_a_named_incomplete_set_and_skips_it_by_time(
    aws: Sandbox, tmp_path: Path
) -> None:
    complete = backup_at(aws, JAN_2)
    store = aws.store(cast(S3Client, FlakyClient(aws.s3, fail_on_upload=2)))
    with pytest.raises(ConnectionResetError):
        backup_at(aws, JAN_2 + timedelta(hours=1), store)
    (incomplete,) = [s for s in aws.store().list_sets() if s.set_id != complete]
    named = run("restore", "--to", str(tmp_path / "a"), "--set", incomplete.set_id)
    assert_one_error_line(named, f"set {incomplete.set_id} is incomplete")
    by_time = run("restore", "--to", str(tmp_path / "b"), "--at", "2025-01-02T05:00:00Z")
    assert by_time.exit_code == 0, by_time.output
    assert by_time.stdout.split() == [complete, str(tmp_path / "b")]
    assert f"skipping incomplete set {incomplete.set_id}" in by_time.stderr


def test_list_shows_complete_and_incomplete_sets(aws: Sandbox) -> None:
    set_id = backup_at(aws, JAN_2)
    result = run("list")
    assert result.exit_code == 0, result.output
    assert result.stdout.split()[:3] == [set_id, "2025-01-02T03:00:00Z", "complete"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("restore", "--to", "x", "--at", "last tuesday"), "is not an ISO-8601 time"),
        (("restore", "--to", "x", "--at", "2025-01-01", "--set", "y"), "exclude each other"),
        (("restore", "--to", "x", "--set", "../../etc"), "is not a set id"),
    ],
)
def test_bad_restore_arguments_are_one_line(
    aws: Sandbox, args: tuple[str, ...], fragment: str
) -> None:
    assert_one_error_line(run(*args), fragment)


def test_a_missing_bucket_is_one_line(aws: Sandbox, tmp_path: Path) -> None:
    result = run("restore", "--to", str(tmp_path), env={"BACKUP_BUCKET": "no-such-bucket-here"})
    assert_one_error_line(result, "S3:", "NoSuchBucket")


def test_backup_requires_a_kms_key(aws: Sandbox) -> None:
    result = run("backup", env={"REDIS_NODES": "127.0.0.1:6379"})
    assert_one_error_line(result, "no KMS key", "BACKUP_KMS_KEY_ID")


def test_backup_requires_nodes(aws: Sandbox) -> None:
    result = run("backup", env={"BACKUP_KMS_KEY_ID": aws.kms_key_id, "REDIS_NODES": ""})
    assert_one_error_line(result, "no Redis nodes given", "REDIS_NODES")


def test_backup_of_an_unreachable_cluster_is_one_line_and_uploads_nothing(aws: Sandbox) -> None:
    port = free_port()
    env = {"BACKUP_KMS_KEY_ID": aws.kms_key_id, "REDIS_NODES": f"127.0.0.1:{port}"}
    result = run("backup", env=env)
    assert_one_error_line(result, "no node answered CLUSTER NODES", f"127.0.0.1:{port}")
    assert aws.keys() == []


def test_a_password_file_open_to_others_is_refused_without_showing_it(
    aws: Sandbox, tmp_path: Path
) -> None:
    secret = tmp_path / "password"
    secret.write_text("do-not-print-me")
    # Group-readable for a group this process is not in (root in CI may give any group).
    os.chown(secret, -1, max({os.getegid(), *os.getgroups()}) + 4242)
    secret.chmod(0o640)
    env = {
        "BACKUP_KMS_KEY_ID": aws.kms_key_id,
        "REDIS_NODES": "127.0.0.1:6379",
        "REDISCLI_AUTH": "",
        "REDIS_PASSWORD_FILE": str(secret),
    }
    result = run("backup", env=env)
    assert_one_error_line(result, "mode 0640", "chmod 600")
    assert "do-not-print-me" not in result.output


def test_load_needs_a_restored_directory(tmp_path: Path) -> None:
    result = run("load", "--from", str(tmp_path), "--cluster", "127.0.0.1:6379")
    assert_one_error_line(result, "manifest.json not found", "restore --to")


def test_the_module_runs_as_a_program_and_fails_in_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BACKUP_", "AWS_"))}
    completed = subprocess.run(
        [sys.executable, "-m", "cachectl.backup_cli", "restore", "--to", str(tmp_path)],
        env={**env, "AWS_REGION": "eu-west-1"},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert completed.returncode == 1, completed.stderr
    assert completed.stderr == "error: no bucket: pass --bucket or set BACKUP_BUCKET\n"


def test_a_usage_error_exits_with_2() -> None:
    assert invoke(app, ["restore"]).exit_code == 2


def test_progress_bars_show_on_a_terminal_and_plain_lines_in_a_log() -> None:
    terminal = Console(file=io.StringIO(), force_terminal=True, width=120)
    reporter = RichReporter(terminal)
    with reporter.transfer("upload aaaaaaaa", 2_000_000) as advance:
        advance(1_500_000)
        advance(500_000)
    shown = cast(io.StringIO, terminal.file).getvalue()
    assert "upload aaaaaaaa" in shown and "2.0/2.0 MB" in shown, shown

    log = Console(file=io.StringIO(), force_terminal=False, width=40)
    reporter = RichReporter(log)
    with reporter.transfer("upload aaaaaaaa", 10) as advance:
        advance(10)
    reporter.info("a line longer than the forty columns of this console is never wrapped")
    (line,) = cast(io.StringIO, log.file).getvalue().splitlines()
    assert line.endswith("a line longer than the forty columns of this console is never wrapped")
