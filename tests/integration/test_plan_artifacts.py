"""What `make plan` writes is accepted by the real tools: promtool, amtool, redis-server."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from tests.support.plans import StackPlans
from tests.support.tools import free_port, require_tool

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def prod_plan(stack_plans: StackPlans) -> Path:
    result = stack_plans["prod"]
    assert result.returncode == 0, result.stderr
    return result.out


def test_rules_pass_promtool(prod_plan: Path) -> None:
    promtool = require_tool("promtool")
    result = subprocess.run(
        [promtool, "check", "rules", str(prod_plan / "monitoring/rules.yaml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_alertmanager_config_passes_amtool(prod_plan: Path) -> None:
    amtool = require_tool("amtool")
    result = subprocess.run(
        [amtool, "check-config", str(prod_plan / "monitoring/alertmanager.yaml")],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_rendered_redis_conf_loads_in_redis_server(prod_plan: Path, tmp_path: Path) -> None:
    """The prod redis.conf starts a real cluster-mode node (maxmemory as rendered: 6 GiB)."""
    redis_server = require_tool("redis-server")
    redis_cli = require_tool("redis-cli")
    port = free_port()
    process = subprocess.Popen(
        [
            redis_server,
            str(prod_plan / "redis/redis.conf"),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--dir",
            str(tmp_path),
            "--cluster-config-file",
            str(tmp_path / "nodes.conf"),
            "--daemonize",
            "no",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            ping = subprocess.run(
                [redis_cli, "-p", str(port), "ping"], capture_output=True, text=True
            )
            if ping.stdout.strip() == "PONG":
                break
            if process.poll() is not None:
                output = process.stdout.read() if process.stdout else ""
                pytest.fail(f"redis-server refused the rendered config:\n{output}")
            assert time.monotonic() < deadline, "redis-server did not answer within 30 s"
            time.sleep(0.1)
        info = subprocess.run(
            [redis_cli, "-p", str(port), "config", "get", "maxmemory-policy"],
            capture_output=True,
            text=True,
        ).stdout
        assert "allkeys-lru" in info
        cluster = subprocess.run(
            [redis_cli, "-p", str(port), "info", "cluster"], capture_output=True, text=True
        ).stdout
        assert "cluster_enabled:1" in cluster
    finally:
        process.terminate()
        process.wait(timeout=10)
