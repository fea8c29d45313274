"""`python -m invalidator.pg_relay` refuses bad options and files up front: exit 2, one line
naming the option and what is allowed, before any connection; and the trigger SQL shown in
docs/invalidation.md is the file the integration test loads, to the letter."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from invalidator.options import EXIT_USAGE
from invalidator.pg_relay import main

ROOT = Path(__file__).resolve().parents[2]


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *changes: str) -> tuple[int, str]:
    redis_password = tmp_path / "redis"
    redis_password.write_text("pw")
    redis_password.chmod(0o600)
    args = [
        "--pg-dsn", "host=127.0.0.1 port=1 dbname=shop user=relay",
        "--node", "127.0.0.1:1",
        "--redis-password-file", str(redis_password),
    ]  # fmt: skip
    code = main([*args, *changes])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        (["--pg-dsn", ""], "--pg-dsn: required"),
        (["--pg-dsn", "host=db port"], "--pg-dsn: not a libpq connection string"),
        (["--pg-dsn", "host=db password=hunter2"], "put it in --pg-password-file"),
        (["--pg-dsn", "postgresql://relay:hunter2@db/shop"], "put it in --pg-password-file"),
        (["--channel", "Cache-Events"], "--channel 'Cache-Events': a lowercase SQL name"),
        (["--outbox", "x; DROP TABLE prices"], "--outbox 'x; DROP TABLE prices'"),
        (["--poll", "0"], "--poll '0': a positive number"),
        (["--batch", "many"], "--batch 'many': a positive whole number"),
        (["--stream", ""], "--stream: required"),
        (["--pg-password-file", "/nonexistent/pg"], "/nonexistent/pg"),
        (["--redis-password-file", ""], "--redis-password-file: required"),
        (["--node", "nowhere"], "nowhere"),
    ],
)
def test_a_bad_option_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], changes: list[str], named: str
) -> None:
    code, err = run(tmp_path, capsys, *changes)
    assert code == EXIT_USAGE
    assert named in err and len(err.strip().splitlines()) == 1, err
    assert "hunter2" not in err


def test_the_documented_trigger_is_the_tested_file() -> None:
    doc = (ROOT / "docs" / "invalidation.md").read_text()
    blocks = re.findall(r"```sql\n(.*?)```", doc, re.S)
    assert blocks == [(ROOT / "invalidator" / "sql" / "price_invalidation.sql").read_text()]
