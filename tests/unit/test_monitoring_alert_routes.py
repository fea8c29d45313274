"""Every alert the rules render (the ADR's and the CDN overage) reaches a receiver: amtool routes
the alert's own labels through the rendered Alertmanager config to the severity's levels."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.monitoring.alertmanager import render_alertmanager_config
from components.monitoring.rules import CdnTrafficBudget, render_rule_groups
from stackconfig.config import DEFAULT_RECEIVERS, Escalation
from stackconfig.thresholds import AlertThresholds
from tests.support.tools import require_tool

EXPECTED = {"critical": "oncall,senior,manager", "warning": "team"}
RULES = [
    rule
    for group in render_rule_groups(
        AlertThresholds(), "https://x.test", CdnTrafficBudget(3000, 100)
    )
    for rule in group["rules"]
    if "alert" in rule
]


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("alertmanager") / "alertmanager.yaml"
    path.write_text(yaml.safe_dump(render_alertmanager_config(DEFAULT_RECEIVERS, Escalation())))
    return path


@pytest.mark.parametrize(
    "rule", RULES, ids=[f"{r['alert']}-{r['labels']['severity']}" for r in RULES]
)
def test_each_alert_routes_to_its_severitys_receivers(
    config_file: Path, rule: dict[str, Any]
) -> None:
    labels = {"alertname": rule["alert"], **rule["labels"], "service": "checkout"}
    expected = EXPECTED[rule["labels"]["severity"]]
    result = subprocess.run(
        [
            require_tool("amtool"), "config", "routes", "test",
            f"--config.file={config_file}", f"--verify.receivers={expected}",
            *(f"{key}={value}" for key, value in labels.items()),
        ],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
