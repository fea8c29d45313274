"""The incident runbook's commands on a real lab when something else is down: `cachectl health
--json` with Prometheus unreachable still saves the Redis checklist; a forgotten --hash-tag gets a
hint; a missing or refused password says so and names where it came from."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from cachectl.cli import app
from lab.cluster import RedisLab
from tests.support.tools import free_port

pytestmark = pytest.mark.integration


def cli(redis_lab: RedisLab, *args: str, **env: str) -> Result:
    base = {
        "CACHECTL_NODE": ",".join(node.address for node in redis_lab.nodes),
        "REDISCLI_AUTH": redis_lab.password or "",
        "REDIS_PASSWORD_FILE": "",
    }
    return CliRunner().invoke(app, list(args), env={**base, **env})


def test_health_json_with_prometheus_down_keeps_the_redis_checklist(
    shared_lab: RedisLab,
    tmp_path: Path,
) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    result = cli(shared_lab, "health", "--json", "--prometheus", down)
    saved = tmp_path / "health.json"
    saved.write_text(result.stdout)  # what `cachectl health --json > health-<time>.json` keeps
    assert result.exit_code == 1
    report: dict[str, Any] = json.loads(saved.read_text())
    statuses = {check["name"]: check["status"] for check in report["checks"]}
    hit_rate = next(name for name in statuses if name.startswith("cache hit rate"))
    assert statuses.pop(hit_rate) == "unknown"
    assert set(statuses.values()) == {"pass"}, statuses
    assert len(report["nodes"]) == 6
    detail = next(c["detail"] for c in report["checks"] if c["name"] == hit_rate)
    assert f"Prometheus at {down} is unreachable" in detail
    assert "1 unknown" in result.stderr and len(result.stderr.splitlines()) == 1


def test_health_text_with_prometheus_down_prints_every_check(
    shared_lab: RedisLab,
) -> None:
    result = cli(shared_lab, "health", "--prometheus", f"http://127.0.0.1:{free_port()}")
    lines = result.stdout.splitlines()
    assert sum(line.startswith("✓ ") for line in lines) == 7, result.stdout
    assert any(line.startswith("? cache hit rate") for line in lines), result.stdout


@pytest.fixture
def tagged_keys(shared_lab: RedisLab) -> Iterator[list[str]]:
    client = shared_lab.client()
    keys = [f"{{hinttest:item:{n}}}:v1" for n in range(5)]
    for key in keys:
        client.set(key, "x", ex=600)
    yield keys
    for key in keys:
        client.delete(key)
    client.close()


def test_a_pattern_without_hash_tag_on_tagged_keys_hints_at_it(
    shared_lab: RedisLab,
    tagged_keys: list[str],
) -> None:
    result = cli(shared_lab, "invalidate", "--pattern", "hinttest:item", "--dry-run")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("0 keys matching hinttest:item:*")
    assert "hint: 5 keys matching the hash-tagged form" in result.stdout
    assert "rerun with --hash-tag" in result.stdout
    tagged = cli(shared_lab, "invalidate", "--pattern", "hinttest:item", "--hash-tag", "--dry-run")
    assert tagged.stdout.startswith(
        "5 keys matching {hinttest:item:*}"
    ) or tagged.stdout.startswith("5 keys matching"), tagged.stdout


def test_no_password_says_so(shared_lab: RedisLab) -> None:
    result = cli(shared_lab, "health", REDISCLI_AUTH="")
    assert result.exit_code == 1
    assert "no password given: set REDISCLI_AUTH or pass --password-file" in result.stderr
    assert "HELLO" not in result.stderr


def test_a_refused_password_from_a_file_names_the_file(
    shared_lab: RedisLab,
    tmp_path: Path,
) -> None:
    secret = tmp_path / "password"
    secret.write_text("not-the-password\n")
    secret.chmod(0o600)
    result = cli(shared_lab, "health", "--password-file", str(secret))
    assert result.exit_code == 1
    assert f"refused the password from the password file {secret}" in result.stderr
    assert "not-the-password" not in result.output
