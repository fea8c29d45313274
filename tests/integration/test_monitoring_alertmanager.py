"""The escalation tree in a real Alertmanager: L1 is paged first, L2 and L3 only once their delay
has passed and only for alerts still firing; warnings go to the team; a critical alert silences
its warning twin.

The routing tree is the production one with the delays shrunk (L2 after 3 s, L3 after 6 s) and
every receiver a webhook on a local HTTP server that records what arrives. Assertions are lower
bounds (Alertmanager cannot notify before a route's group_wait) and what never arrives.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from components.monitoring.alertmanager import EscalationTimings, render_alertmanager_config
from stackconfig.config import AlertReceiver, Escalation, ReceiverType
from tests.support.tools import free_port, require_tool

pytestmark = pytest.mark.integration

TIMINGS = EscalationTimings(l1_wait="1s", l2_after="3s", l3_after="6s", team_wait="1s")
LEVELS = ("l1", "l2", "l3", "team")


@dataclass(frozen=True)
class Notification:
    receiver: str
    at: float
    status: str
    instances: tuple[str, ...]


class Recorder(BaseHTTPRequestHandler):
    received: list[Notification]
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        note = Notification(
            receiver=self.path.strip("/"),
            at=time.monotonic(),
            status=body["status"],
            instances=tuple(sorted(a["labels"].get("instance", "") for a in body["alerts"])),
        )
        with self.lock:
            self.received.append(note)
        self.send_response(200)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        del format, args


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[Notification]]]:
    received: list[Notification] = []
    handler = type("Handler", (Recorder,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", received
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def alertmanager(tmp_path: Path, webhook: tuple[str, list[Notification]]) -> Iterator[str]:
    binary = require_tool("prometheus-alertmanager")
    base, _ = webhook
    receivers = {
        level: AlertReceiver(type=ReceiverType.WEBHOOK, url=f"{base}/{level}") for level in LEVELS
    }
    escalation = Escalation(l1="l1", l2="l2", l3="l3", team="team")
    config = tmp_path / "alertmanager.yaml"
    config.write_text(
        yaml.safe_dump(render_alertmanager_config(receivers, escalation, timings=TIMINGS))
    )
    port = free_port()
    log = (tmp_path / "alertmanager.log").open("wb")
    proc = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.path={tmp_path / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address="],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                if requests.get(f"{url}/-/ready", timeout=1).ok:
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail(
                    "alertmanager did not start:\n"
                    + (tmp_path / "alertmanager.log").read_text(errors="replace")
                )
            time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        log.close()


def post(url: str, *alerts: tuple[str, str, bool], started_seconds_ago: float = 0) -> None:
    """(severity, instance, still firing) each; a resolved alert ends now."""
    now = datetime.now(UTC)
    body = [
        {
            "labels": {"alertname": "RedisNodeDown", "severity": severity, "instance": instance},
            "annotations": {"summary": f"{instance} is down"},
            "startsAt": (now - timedelta(seconds=started_seconds_ago)).isoformat(),
            "endsAt": (now + (timedelta(minutes=5) if firing else timedelta(0))).isoformat(),
        }
        for severity, instance, firing in alerts
    ]
    requests.post(f"{url}/api/v2/alerts", json=body, timeout=5).raise_for_status()


def wait_until(received: list[Notification], receiver: str, instance: str) -> Notification:
    deadline = time.monotonic() + 25
    while time.monotonic() < deadline:
        for note in list(received):
            if note.receiver == receiver and instance in note.instances:
                return note
        time.sleep(0.1)
    pytest.fail(f"{receiver} never notified about {instance}: {received}")


def test_critical_escalates_over_time_warnings_go_to_the_team_and_twins_are_inhibited(
    alertmanager: str, webhook: tuple[str, list[Notification]]
) -> None:
    _, received = webhook
    posted = time.monotonic()
    post(
        alertmanager,
        ("critical", "lasting", True),  # pages L1, then L2, then L3
        ("critical", "brief", True),  # resolved before L2's delay: only L1 hears of it
        ("warning", "warned", True),  # team only
        ("critical", "twin", True),  # its warning twin below is inhibited
        ("warning", "twin", True),
    )
    # Prometheus sends an alert's StartsAt as the time it began firing, and Alertmanager counts
    # group_wait from there: an alert firing for longer than L3's delay reaches all three at once.
    post(alertmanager, ("critical", "old", True), started_seconds_ago=60)
    l1 = wait_until(received, "l1", "lasting")
    post(alertmanager, ("critical", "brief", False))
    l2 = wait_until(received, "l2", "lasting")
    l3 = wait_until(received, "l3", "lasting")
    team = wait_until(received, "team", "warned")
    time.sleep(1.5)

    assert l1.at < l2.at < l3.at
    assert l2.at - posted >= 3 and l3.at - posted >= 6
    assert l1.status == l2.status == l3.status == "firing"
    assert team.status == "firing"

    def heard(receiver: str, instance: str) -> bool:
        return any(n.receiver == receiver and instance in n.instances for n in received)

    assert heard("l1", "brief") and heard("l1", "twin")
    assert not heard("l2", "brief") and not heard("l3", "brief"), received
    assert heard("l2", "twin") and heard("l3", "twin")
    assert not any(heard(level, "warned") for level in ("l1", "l2", "l3")), received
    assert not heard("team", "twin"), received
    assert not heard("team", "lasting"), received
    old = [wait_until(received, level, "old") for level in ("l1", "l2", "l3")]
    assert max(n.at for n in old) < l2.at, "the L2/L3 clocks start when the alert started firing"
