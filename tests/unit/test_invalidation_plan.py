"""The offline plan of the project's stacks with the invalidation service: what `pulumi up`
would create, the alert group in the monitoring PrometheusRule only when the service is on, the
manifests valid for Kubernetes 1.30, the cost, and no secret written out in plain text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from components.monitoring.invalidation_rules import INVALIDATION_GROUP
from plan.mocks import fake_id
from tests.support.documents import read_yaml
from tests.support.plans import StackPlans, changed_stack_file, run_plan

SERVICE_MANIFESTS = {
    "cache-deployment-invalidation.yaml",
    "cache-service-invalidation.yaml",
    "cache-poddisruptionbudget-invalidation-pdb.yaml",
    "cache-networkpolicy-invalidation-network.yaml",
    "cache-servicemonitor-invalidation-metrics.yaml",
    "cache-secret-invalidation-credentials.yaml",
}
RULES = "monitoring-prometheusrule-cache-platform-rules.yaml"
PURGE_TOKEN_KEY = "cache-platform:cloudflarePurgeToken"


def manifests(out: Path) -> dict[str, dict[str, Any]]:
    return {path.name: read_yaml(path) for path in sorted((out / "manifests").glob("*.yaml"))}


def rule_group_names(out: Path) -> list[str]:
    return [group["name"] for group in manifests(out)[RULES]["spec"]["groups"]]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_stacks_deploy_the_service_and_its_alerts(stack_plans: StackPlans, stack: str) -> None:
    result = stack_plans[stack]
    assert result.returncode == 0, result.stderr
    written = manifests(result.out)
    assert set(written) >= SERVICE_MANIFESTS
    assert written["cache-deployment-invalidation.yaml"]["spec"]["replicas"] >= 2
    assert INVALIDATION_GROUP in rule_group_names(result.out)
    cost = json.loads((result.out / "cost.json").read_text())
    assert cost["components"]["invalidation"]["monthlyUsd"] > 0
    outputs = json.loads((result.out / "resources.json").read_text())["outputs"]
    assert outputs["invalidationWebhookSecret"] == "[secret]"
    assert outputs["invalidationWebhookUrl"].endswith(":8080/v1/events")
    plan_md = (result.out / "plan.md").read_text()
    assert f"`{PURGE_TOKEN_KEY}` | **no — set it before `pulumi up`**" in plan_md
    assert "| invalidation | 2 replicas, 100m CPU / 192Mi each, claims after 30 s |" in plan_md


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_service_manifests_validate_strictly_against_kubernetes_1_30(
    stack_plans: StackPlans, stack: str
) -> None:
    import kubernetes_validate

    written = manifests(stack_plans[stack].out)
    for name in sorted(SERVICE_MANIFESTS - {"cache-servicemonitor-invalidation-metrics.yaml"}):
        try:
            kubernetes_validate.validate(written[name], "1.30.0", strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{name}: {error.message}")


def test_no_secret_of_the_service_is_written_out(stack_plans: StackPlans) -> None:
    out = stack_plans["prod"].out
    secret = manifests(out)["cache-secret-invalidation-credentials.yaml"]
    assert secret["stringData"] == {"webhook-secret": "[secret]", "cloudflare-token": "[secret]"}
    # What the plan's mocks give the webhook's RandomPassword: a leak would write it somewhere.
    generated = "mock-secret-" + fake_id(
        "random:index/randomPassword:RandomPassword", "invalidation-webhook-secret"
    )
    for path in out.rglob("*"):
        if path.is_file():
            assert generated[:24] not in path.read_text(), f"{path.name} holds the webhook secret"


def test_a_stack_without_the_service_has_no_trace_of_it(tmp_path: Path) -> None:
    def disable(config: dict[str, Any]) -> None:
        config["cache-platform:invalidation"] = {"enabled": False}

    stack_file = changed_stack_file(tmp_path, "prod", disable)
    result = run_plan("prod", tmp_path / "out", stack_file=stack_file)
    assert result.returncode == 0, result.stderr
    assert not SERVICE_MANIFESTS & set(manifests(result.out))
    assert INVALIDATION_GROUP not in rule_group_names(result.out)
    plan_md = (result.out / "plan.md").read_text()
    assert PURGE_TOKEN_KEY not in plan_md
    assert "| invalidation | disabled |" in plan_md
    assert "invalidation" not in json.loads((result.out / "cost.json").read_text())["components"]


def test_the_pods_start_after_the_cluster_is_formed(stack_plans: StackPlans) -> None:
    """A pod finding no cluster exits: the Deployment waits for the bootstrap Job, and its
    ServiceMonitor for the monitoring stack that brings the CRD."""
    resources = json.loads((stack_plans["prod"].out / "resources.json").read_text())["resources"]
    by_name = {(r["type"], r["name"]): r for r in resources}
    deployment = by_name[("kubernetes:apps/v1:Deployment", "invalidation")]
    bootstrap = by_name[("kubernetes:batch/v1:Job", "redis-bootstrap")]
    assert bootstrap["urn"] in deployment["dependencies"]
    monitor = by_name[
        ("kubernetes:monitoring.coreos.com/v1:ServiceMonitor", "invalidation-metrics")
    ]
    release = by_name[("kubernetes:helm.sh/v3:Release", "monitoring-stack")]
    assert release["urn"] in monitor["dependencies"]
