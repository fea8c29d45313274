"""The Cloudflare exporter: deployed with the edge, its token only ever in a mounted file (proven
with the container's real shell line), scraped through a ServiceMonitor."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.monitoring.cloudflare_exporter import (
    EXPORTER_PORT,
    TOKEN_KEY,
    TOKEN_MOUNT,
    exporter_command,
)
from components.monitoring.dashboards import DashboardSizing
from components.monitoring.observability import (
    CloudflareMetricsArgs,
    Observability,
    ObservabilityArgs,
)
from components.monitoring.rules import CDN_ALERT, CdnTrafficBudget
from plan.mocks import SECRET_PLACEHOLDER
from stackconfig.config import MonitoringConfig
from tests.support.mocking import install_mocks, of_type, when_registered

TOKEN = "cf-analytics-token-0123456789"
ZONE_ID = "0123456789abcdef0123456789abcdef"
SIZING = DashboardSizing(services=8, peak_rps_per_service=10_000, monthly_cost_usd=600)
CREDENTIALS = {"oncall": "pd-1", "senior": "pd-2", "manager": "pd-3", "team": "https://hooks/x"}


@pytest.fixture
def monitor() -> Any:
    return install_mocks()


def build(cloudflare: CloudflareMetricsArgs | None) -> Observability:
    return Observability(
        "monitoring",
        ObservabilityArgs(
            settings=MonitoringConfig(),
            receiver_credentials=pulumi.Output.secret(CREDENTIALS),
            sizing=SIZING,
            cloudflare=cloudflare,
        ),
    )


def edge(free_tier: bool = False) -> CloudflareMetricsArgs:
    return CloudflareMetricsArgs(
        zone_id=pulumi.Output.from_input(ZONE_ID),
        api_token=pulumi.Output.secret(TOKEN),
        budget=CdnTrafficBudget(monthly_egress_gb=3000, monthly_requests_millions=100),
        free_tier=free_tier,
    )


def named(records: list[Any], type_token: str, name: str) -> Any:
    found = [r for r in of_type(records, type_token) if r.inputs["metadata"]["name"] == name]
    assert len(found) == 1, f"{type_token} {name}: {[r.urn for r in found]}"
    return found[0]


@pulumi.runtime.test
def test_exporter_reads_its_token_from_a_mounted_secret_file(monitor: Any) -> Any:
    observability = build(edge())

    def check() -> None:
        secret = named(monitor.records, "kubernetes:core/v1:Secret", "cloudflare-exporter-token")
        assert "stringData" in secret.secret_paths, secret.urn
        assert secret.inputs["stringData"] == {TOKEN_KEY: SECRET_PLACEHOLDER}
        deployment = named(monitor.records, "kubernetes:apps/v1:Deployment", "cloudflare-exporter")
        pod = deployment.inputs["spec"]["template"]["spec"]
        (container,) = pod["containers"]
        assert container["image"] == MonitoringConfig().cloudflare_exporter_image
        assert ":" in container["image"] and not container["image"].endswith(":latest")
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env == {"CF_ZONES": ZONE_ID, "FREE_TIER": "false", "LISTEN": f":{EXPORTER_PORT}"}
        assert all("valueFrom" not in e for e in container["env"]), "no secretKeyRef env"
        (mount,) = container["volumeMounts"]
        assert mount["mountPath"] == TOKEN_MOUNT and mount["readOnly"] is True
        (volume,) = pod["volumes"]
        assert volume["secret"]["secretName"] == "cloudflare-exporter-token"
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert pod["securityContext"]["runAsNonRoot"] is True
        everything = json.dumps([r.inputs for r in monitor.records])
        assert TOKEN not in everything

    return when_registered(observability, check)


@pulumi.runtime.test
def test_a_service_monitor_scrapes_the_exporter_service(monitor: Any) -> Any:
    observability = build(edge(free_tier=True))

    def check() -> None:
        service = named(monitor.records, "kubernetes:core/v1:Service", "cloudflare-exporter")
        monitor_ = named(
            monitor.records,
            "kubernetes:monitoring.coreos.com/v1:ServiceMonitor",
            "cloudflare-exporter",
        )
        selector = monitor_.inputs["spec"]["selector"]["matchLabels"]
        labels = service.inputs["metadata"]["labels"]
        assert selector.items() <= labels.items(), monitor_.urn
        (endpoint,) = monitor_.inputs["spec"]["endpoints"]
        assert endpoint["port"] in {p["name"] for p in service.inputs["spec"]["ports"]}
        deployment = named(monitor.records, "kubernetes:apps/v1:Deployment", "cloudflare-exporter")
        (container,) = deployment.inputs["spec"]["template"]["spec"]["containers"]
        assert {"name": "FREE_TIER", "value": "true"} in container["env"]
        assert service.inputs["spec"]["selector"].items() <= (
            deployment.inputs["spec"]["template"]["metadata"]["labels"].items()
        )
        rules = of_type(monitor.records, "kubernetes:monitoring.coreos.com/v1:PrometheusRule")
        alerts = {r.get("alert") for g in rules[0].inputs["spec"]["groups"] for r in g["rules"]}
        assert CDN_ALERT in alerts

    return when_registered(observability, check)


@pulumi.runtime.test
def test_no_exporter_and_no_cdn_alert_without_an_edge(monitor: Any) -> Any:
    observability = build(None)

    def check() -> None:
        names = [r.name for r in monitor.records]
        assert not [n for n in names if "cloudflare" in n], names
        (rule,) = of_type(monitor.records, "kubernetes:monitoring.coreos.com/v1:PrometheusRule")
        alerts = {r.get("alert") for g in rule.inputs["spec"]["groups"] for r in g["rules"]}
        assert CDN_ALERT not in alerts

    return when_registered(observability, check)


def _command_lines() -> list[str]:
    lines: list[str] = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                lines.append((entry / "cmdline").read_bytes().replace(b"\0", b" ").decode())
            except OSError:
                continue
    return lines


@pytest.mark.parametrize("trailing_newline", [True, False], ids=["newline", "no-newline"])
def test_the_shell_line_hands_the_token_over_without_any_command_line(
    tmp_path: Path, trailing_newline: bool
) -> None:
    """The container's own command under /bin/sh, with a stand-in for the exporter that records
    its environment: the token arrives, and no process's command line ever shows it."""
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + ("\n" if trailing_newline else ""))
    seen = tmp_path / "seen"
    fake = tmp_path / "cloudflare_exporter"
    # Written aside, then renamed: the test reads "seen" only once it holds the whole token.
    fake.write_text(
        f'#!/bin/sh\nprintf %s "$CF_API_TOKEN" > "{seen}.part"\nmv "{seen}.part" "{seen}"\n'
        "exec sleep 5\n"
    )
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    env = {k: v for k, v in os.environ.items() if k != "CF_API_TOKEN"}
    process = subprocess.Popen(exporter_command(str(token_file), str(fake)), env=env)
    try:
        deadline = time.monotonic() + 30
        while not seen.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert seen.read_text() == TOKEN
        assert not [line for line in _command_lines() if TOKEN in line]
        assert TOKEN not in " ".join(exporter_command())
    finally:
        process.kill()
        process.wait()


def test_a_missing_token_file_stops_before_the_exporter_starts(tmp_path: Path) -> None:
    started = tmp_path / "started"
    fake = tmp_path / "cloudflare_exporter"
    fake.write_text(f'#!/bin/sh\ntouch "{started}"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    result = subprocess.run(
        exporter_command(str(tmp_path / "absent"), str(fake)), capture_output=True, timeout=30
    )
    assert result.returncode != 0 and not started.exists()
