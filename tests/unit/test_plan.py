"""The offline plan end to end: the real program under mocks, as `make plan STACK=<s>` runs it.

The stacks' plans come from the session's `stack_plans` (tests/conftest.py); a changed stack file
goes through `tests.support.plans.run_plan`; errors of the command line start a real process.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.documents import read_yaml
from tests.support.plans import StackPlans, changed_stack_file, run_plan

ROOT = Path(__file__).resolve().parents[2]


def run_plan_process(
    stack: str, out: Path, stack_file: Path | None = None, policy_config: Path | None = None
) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "plan", "--stack", stack, "--out", str(out)]
    if stack_file is not None:
        command += ["--stack-file", str(stack_file)]
    if policy_config is not None:
        command += ["--policy-config", str(policy_config)]
    return subprocess.run(
        command,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_plan_succeeds_and_writes_every_file(stack_plans: StackPlans, stack: str) -> None:
    result = stack_plans[stack]
    out = result.out
    assert result.returncode == 0, result.stderr
    for relative in ("resources.json", "cost.json", "policy.json", "plan.md", "redis/redis.conf"):
        assert (out / relative).is_file(), f"{relative} missing from the {stack} plan"
    manifests = list((out / "manifests").glob("*.yaml"))
    assert manifests, "no Kubernetes manifests written"
    for manifest in manifests:
        document = read_yaml(manifest)
        assert {"apiVersion", "kind", "metadata"} <= set(document), manifest.name
    cost = json.loads((out / "cost.json").read_text())
    assert set(cost) == {"components", "totalMonthlyUsd"}
    policy = json.loads((out / "policy.json").read_text())
    assert isinstance(policy["violations"], list)
    plan_md = (out / "plan.md").read_text()
    assert f"# Plan for stack `{stack}`" in plan_md
    assert "## Cost" in plan_md and "## Policy" in plan_md and "## Resources" in plan_md


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_resource_belongs_to_a_component(stack_plans: StackPlans, stack: str) -> None:
    out = stack_plans[stack].out
    resources = json.loads((out / "resources.json").read_text())["resources"]
    by_urn = {r["urn"]: r for r in resources}
    components = {urn for urn, r in by_urn.items() if r["type"].startswith("cache-platform:")}
    assert components, "no component registered"
    for resource in resources:
        # Providers are composed in __main__.py next to the components they configure.
        if resource["urn"] in components or resource["type"].startswith("pulumi:providers:"):
            continue
        assert resource["parent"] in components, (
            f"{resource['urn']} has parent {resource['parent']}, not a cache-platform component"
        )


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_no_secret_value_in_any_artifact(stack_plans: StackPlans, stack: str) -> None:
    out = stack_plans[stack].out
    texts = {p: p.read_text() for p in out.rglob("*") if p.is_file()}
    for path, text in texts.items():
        # The mocks' generated passwords start with this marker.
        assert "mock-secret-" not in text, f"a generated secret leaked into {path}"
    resources = texts[out / "resources.json"]
    assert '"[secret]"' in resources


@pytest.mark.parametrize(
    ("key", "value", "named"),
    [
        ("memory", "8XB", "cache-platform:redis.memory"),
        ("primaries", -1, "cache-platform:redis.primaries"),
        ("replicasPerPrimary", "two", "cache-platform:redis.replicasPerPrimary"),
    ],
)
def test_invalid_redis_value_exits_2_naming_the_key(
    tmp_path: Path, key: str, value: Any, named: str
) -> None:
    stack_file = changed_stack_file(
        tmp_path, "prod", lambda c: c["cache-platform:redis"].__setitem__(key, value)
    )
    out = tmp_path / "out"
    result = run_plan_process(
        "prod", out, stack_file=stack_file, policy_config=ROOT / "policies/config/prod.json"
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert named in result.stderr
    assert "Traceback" not in result.stderr
    assert not out.exists(), "an invalid config must not leave a plan behind"


def test_invalid_environment_exits_2(tmp_path: Path) -> None:
    stack_file = changed_stack_file(
        tmp_path, "prod", lambda c: c.__setitem__("cache-platform:environment", "staging")
    )
    result = run_plan_process(
        "prod",
        tmp_path / "out",
        stack_file=stack_file,
        policy_config=ROOT / "policies/config/prod.json",
    )
    assert result.returncode == 2
    assert "cache-platform:environment: 'staging' is not allowed" in result.stderr


def test_secure_values_are_supported_without_decryption(tmp_path: Path) -> None:
    def add_secrets(config: dict[str, Any]) -> None:
        config["cache-platform:alertingSecrets"] = {
            "oncall": {"secure": "v1:AAAAnotrealciphertext=="},
        }
        config["cloudflare:apiToken"] = {"secure": "v1:BBBBnotrealciphertext=="}

    stack_file = changed_stack_file(tmp_path, "prod", add_secrets)
    out = tmp_path / "out"
    result = run_plan(
        "prod", out, stack_file=stack_file, policy_config=ROOT / "policies/config/prod.json"
    )
    assert result.returncode in (0, 1), result.stderr
    plan_md = (out / "plan.md").read_text()
    assert "| `cache-platform:alertingSecrets.oncall` | yes |" in plan_md
    assert "`cache-platform:alertingSecrets.senior` | **no" in plan_md
    everything = "".join(p.read_text() for p in out.rglob("*") if p.is_file())
    assert "notrealciphertext" not in everything


def test_missing_stack_file_exits_2(tmp_path: Path) -> None:
    result = run_plan_process("nosuchstack", tmp_path / "out")
    assert result.returncode == 2
    assert "does not exist" in result.stderr


@pytest.fixture(autouse=True, scope="module")
def _no_stray_build_dir() -> Any:
    yield
    shutil.rmtree(ROOT / "build" / "nosuchstack", ignore_errors=True)


# Custom resources of the operators we target: not in the Kubernetes schema, checked by shape.
CUSTOM_KINDS = {"ServiceMonitor", "PrometheusRule"}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_manifests_validate_strictly_against_kubernetes_1_30(
    stack_plans: StackPlans, stack: str
) -> None:
    import kubernetes_validate

    out = stack_plans[stack].out
    checked = 0
    for manifest in sorted((out / "manifests").glob("*.yaml")):
        document = read_yaml(manifest)
        if document["kind"] in CUSTOM_KINDS:
            assert document["apiVersion"] == "monitoring.coreos.com/v1", manifest.name
            assert isinstance(document.get("spec"), dict), manifest.name
            continue
        try:
            kubernetes_validate.validate(document, "1.30.0", strict=True)
        except kubernetes_validate.ValidationError as error:
            pytest.fail(f"{manifest.name}: {error.message}")
        checked += 1
    assert checked >= 10
