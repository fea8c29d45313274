"""Alertmanager config: amtool accepts it, routes each severity to the ADR's levels, inhibits
warning twins, and reads every credential from a mounted file."""

from __future__ import annotations

import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pytest
import yaml

from components.monitoring.alertmanager import (
    ALERTMANAGER_SECRET_NAME,
    SECRETS_MOUNT_DIR,
    EscalationTimings,
    alertmanager_secret_items,
    render_alertmanager_config,
)
from stackconfig.config import DEFAULT_RECEIVERS, AlertReceiver, Escalation, ReceiverType
from tests.support.tools import require_tool

RECEIVERS: Mapping[str, AlertReceiver] = MappingProxyType(
    {
        **DEFAULT_RECEIVERS,
        "audit": AlertReceiver(type=ReceiverType.WEBHOOK, url="https://hooks.example.com/alerts"),
    }
)
ESCALATION = Escalation()  # oncall, senior, manager, team


def write_config(tmp_path: Path, config: Mapping[str, Any]) -> Path:
    path = tmp_path / "alertmanager.yaml"
    path.write_text(yaml.safe_dump(dict(config), sort_keys=False))
    return path


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    return write_config(tmp_path, render_alertmanager_config(RECEIVERS, ESCALATION))


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_tool("amtool"), *args], capture_output=True, text=True, timeout=60
    )


def test_amtool_check_config_accepts_it(config_file: Path) -> None:
    result = amtool("check-config", str(config_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 inhibit rules" in result.stdout
    assert f"{len(RECEIVERS) + 1} receivers" in result.stdout


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (["severity=critical", "alertname=RedisNodeDown", "instance=a:9121"],
         "oncall,senior,manager"),
        (["severity=critical", "alertname=CacheHitRateLow", "service=checkout"],
         "oncall,senior,manager"),
        (["severity=warning", "alertname=CacheHitRateLow", "service=checkout"], "team"),
        (["severity=warning", "alertname=KubePodCrashLooping"], "team"),
        (["alertname=Watchdog", "severity=none"], "null"),
        (["alertname=InfoInhibitor", "severity=none"], "null"),
        (["severity=info", "alertname=Something"], "null"),
        (["alertname=NoSeverityAtAll"], "team"),
    ],
)  # fmt: skip
def test_routes_per_severity(config_file: Path, labels: list[str], receivers: str) -> None:
    result = amtool(
        "config", "routes", "test", f"--config.file={config_file}",
        f"--verify.receivers={receivers}", *labels,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == receivers


def test_routes_test_can_fail(config_file: Path) -> None:
    """The check above would be worthless if amtool accepted any expectation."""
    result = amtool(
        "config", "routes", "test", f"--config.file={config_file}",
        "--verify.receivers=oncall", "severity=critical",
    )  # fmt: skip
    assert result.returncode != 0


def test_l2_and_l3_wait_15_and_30_minutes_and_l1_does_not() -> None:
    routes = render_alertmanager_config(RECEIVERS, ESCALATION)["route"]["routes"]
    critical = [r for r in routes if r["matchers"] == ['severity="critical"']]
    assert [(r["receiver"], r["group_wait"], r.get("continue", False)) for r in critical] == [
        ("oncall", "10s", True),
        ("senior", "15m", True),
        ("manager", "30m", False),
    ]
    warning = [r for r in routes if r["matchers"] == ['severity="warning"']]
    assert [(r["receiver"], r["group_wait"]) for r in warning] == [("team", "30s")]


def test_escalation_delays_can_be_changed() -> None:
    routes = render_alertmanager_config(
        RECEIVERS, ESCALATION, timings=EscalationTimings(l2_after="5m", l3_after="20m")
    )["route"]["routes"]
    assert [r["group_wait"] for r in routes if r["receiver"] in ("senior", "manager")] == [
        "5m",
        "20m",
    ]


def test_a_critical_alert_inhibits_its_warning_twin() -> None:
    (rule,) = render_alertmanager_config(RECEIVERS, ESCALATION)["inhibit_rules"]
    assert rule["source_matchers"] == ['severity="critical"']
    assert rule["target_matchers"] == ['severity="warning"']
    assert {"alertname", "service", "instance"} <= set(rule["equal"])


def test_credentials_are_read_from_mounted_files_only() -> None:
    config = render_alertmanager_config(RECEIVERS, ESCALATION)
    by_name = {r["name"]: r for r in config["receivers"]}
    prefix = f"{SECRETS_MOUNT_DIR}/{ALERTMANAGER_SECRET_NAME}"
    for name in ("oncall", "senior", "manager"):
        (pd,) = by_name[name]["pagerduty_configs"]
        assert pd["routing_key_file"] == f"{prefix}/{name}"
        assert not {"routing_key", "service_key"} & set(pd)
    (slack,) = by_name["team"]["slack_configs"]
    assert slack["api_url_file"] == f"{prefix}/team"
    assert slack["channel"] == "#cache-alerts"
    assert "api_url" not in slack
    assert "global" not in config  # no slack_api_url / pagerduty_url with secrets in them
    (hook,) = by_name["audit"]["webhook_configs"]
    assert hook["url"] == "https://hooks.example.com/alerts"


def test_secret_items_are_the_receivers_that_need_a_credential() -> None:
    items = alertmanager_secret_items(RECEIVERS)
    assert sorted(items) == ["manager", "oncall", "senior", "team"]
    assert "PagerDuty" in items["oncall"] and "Slack" in items["team"]
    config = render_alertmanager_config(RECEIVERS, ESCALATION)
    referenced = {
        path.rsplit("/", 1)[1]
        for receiver in config["receivers"]
        for key in ("pagerduty_configs", "slack_configs")
        for entry in receiver.get(key, [])
        for path in (entry.get("routing_key_file") or entry.get("api_url_file"),)
    }
    assert referenced == set(items)


def test_a_custom_secret_name_moves_the_files() -> None:
    config = render_alertmanager_config(RECEIVERS, ESCALATION, secret_name="am-creds")
    team = next(r for r in config["receivers"] if r["name"] == "team")
    assert team["slack_configs"][0]["api_url_file"] == f"{SECRETS_MOUNT_DIR}/am-creds/team"


@dataclass(frozen=True)
class Levels:
    l1: str = "oncall"
    l2: str = "senior"
    l3: str = "manager"
    team: str = "team"


@pytest.mark.parametrize(
    ("receivers", "escalation", "message"),
    [
        (RECEIVERS, Levels(l2="nobody"), "escalation.l2 names receiver 'nobody'"),
        ({**RECEIVERS, "bad name": DEFAULT_RECEIVERS["oncall"]}, ESCALATION, "'bad name'"),
        ({**RECEIVERS, "null": DEFAULT_RECEIVERS["oncall"]}, ESCALATION, "'null'"),
        ({**RECEIVERS, "team": AlertReceiver(type=ReceiverType.SLACK)}, ESCALATION, "channel"),
        ({**RECEIVERS, "audit": AlertReceiver(type=ReceiverType.WEBHOOK)}, ESCALATION, "url"),
    ],
)
def test_bad_receivers_are_refused_naming_them(
    receivers: Mapping[str, AlertReceiver], escalation: Levels, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        render_alertmanager_config(receivers, escalation)
