"""`python -m lab` end to end, as a person rehearsing the failover runbook drives it: up, status,
kill, restart, wipe, status, down — each a separate process, the cluster running in between."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.tools import require_tool

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def lab_command(*args: str, expect: int = 0) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "lab", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == expect, (args, result.stdout, result.stderr)
    return result


def lab_json(*args: str) -> dict[str, Any]:
    stdout = lab_command(*args).stdout
    assert len(stdout.splitlines()) == 1, stdout
    return json.loads(stdout)


def process_runs(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def by_name(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {node["name"]: node for node in document["nodes"]}


def test_up_status_kill_restart_wipe_status_down(tmp_path: Path) -> None:
    for tool in ("redis-server", "redis-cli", "sh"):
        require_tool(tool)
    redis_cli = require_tool("redis-cli")
    directory = str(tmp_path / "lab")
    where = ("--dir", directory)

    up = lab_json("up", "--stack", "dev", "--memory", "16mb", *where)
    pids: list[int] = []
    try:
        nodes = by_name(up)
        pids = [node["pid"] for node in up["nodes"]]
        assert sorted(nodes) == [f"redis-{index}" for index in range(6)]
        assert sorted(node["role"] for node in nodes.values()) == ["primary"] * 3 + ["replica"] * 3
        assert all(process_runs(pid) for pid in pids)
        assert set(up) == {"nodes", "password"} and up["password"]
        # The command returned; the cluster keeps serving a plain redis-cli (it follows the
        # redirects to every shard).
        first = up["nodes"][0]

        def cli(*args: str) -> str:
            return subprocess.run(
                [redis_cli, "-c", "-h", first["host"], "-p", str(first["port"]), *args],
                env={**os.environ, "REDISCLI_AUTH": up["password"]},
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout.strip()

        assert [cli("set", f"cli:{number}", "x") for number in range(10)] == ["OK"] * 10

        # A second `up` into the same directory is refused, in one line.
        refused = lab_command("up", "--stack", "dev", *where, expect=2)
        assert len(refused.stderr.strip().splitlines()) == 1 and "already runs" in refused.stderr

        healthy = lab_json("status", *where)
        assert healthy["problems"] == []
        assert {node["state"] for node in healthy["nodes"]} == {"up"}

        replica = next(node for node in up["nodes"] if node["role"] == "replica")
        killed = lab_json("kill", *where, "--node", replica["name"])
        assert (killed["state"], killed["pid"]) == ("down", None)
        assert not process_runs(replica["pid"])
        degraded = lab_json("status", *where)
        assert by_name(degraded)[replica["name"]]["state"] == "down"
        assert f"{replica['name']} is down" in degraded["problems"]

        restarted = lab_json("restart", *where, "--node", replica["name"])
        assert restarted["state"] == "up" and restarted["pid"] != replica["pid"]
        pids.append(restarted["pid"])

        # A primary loses its volume: bootstrap.sh promotes its replica and re-adds it, empty,
        # as a replica.
        primary = next(node for node in up["nodes"] if node["role"] == "primary")
        wiped = lab_command("wipe", *where, "--node", primary["name"])
        wiped_node = json.loads(wiped.stdout)
        pids.append(wiped_node["pid"])
        assert "came back empty" in wiped.stderr and "re-adding it" in wiped.stderr
        assert (wiped_node["state"], wiped_node["role"]) == ("up", "replica")

        # The re-added node's new identity reaches every peer by gossip: status settles, it
        # does not have to be clean the instant `wipe` returns.
        deadline = time.monotonic() + 30
        recovered = lab_json("status", *where)
        while recovered["problems"] and time.monotonic() < deadline:
            time.sleep(1)
            recovered = lab_json("status", *where)
        assert recovered["problems"] == []
        assert sorted(node["role"] for node in recovered["nodes"]) == (
            ["primary"] * 3 + ["replica"] * 3
        )

        unknown = lab_command("kill", *where, "--node", "redis-9", expect=2)
        assert len(unknown.stderr.strip().splitlines()) == 1 and "redis-5" in unknown.stderr

        down = lab_json("down", *where)
        assert sorted(down["stopped"]) == sorted(nodes)
        assert not Path(directory).exists()
        assert not any(process_runs(pid) for pid in pids)
    finally:
        for pid in pids:
            if process_runs(pid):
                os.kill(pid, 9)
