"""The pack through the offline plan (`python -m plan`): exit status and reports per environment."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.support.plans import PlanResult, changed_stack_file, run_plan

ROOT = Path(__file__).resolve().parents[2]


def plan(stack: str, file: Path, out: Path) -> PlanResult:
    return run_plan(
        stack, out, stack_file=file, policy_config=ROOT / "policies" / "config" / f"{stack}.json"
    )


def violations(out: Path) -> list[dict[str, Any]]:
    return json.loads((out / "policy.json").read_text())["violations"]


def no_replicas(config: dict[str, Any]) -> None:
    config["cache-platform:redis"]["replicasPerPrimary"] = 0


def test_prod_without_replicas_fails_on_a_mandatory_violation_naming_replicas(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    result = plan("prod", changed_stack_file(tmp_path, "prod", no_replicas), out)
    assert result.returncode == 1, result.stdout + result.stderr
    found = [v for v in violations(out) if v["policy"] == "redis-cluster-require-replicas"]
    assert len(found) == 1, violations(out)
    assert found[0]["enforcement"] == "mandatory"
    assert "replicas" in found[0]["message"]
    assert "mandatory violation of redis-cluster-require-replicas" in result.stderr


def test_dev_without_replicas_passes_with_an_advisory_violation(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = plan("dev", changed_stack_file(tmp_path, "dev", no_replicas), out)
    assert result.returncode == 0, result.stdout + result.stderr
    found = [v for v in violations(out) if v["policy"] == "redis-cluster-require-replicas"]
    assert len(found) == 1 and found[0]["enforcement"] == "advisory"
    assert "replicas" in found[0]["message"]
    assert all(v["enforcement"] == "advisory" for v in violations(out))


def test_prod_with_64gi_nodes_fails_on_the_budget(tmp_path: Path) -> None:
    def big(config: dict[str, Any]) -> None:
        config["cache-platform:redis"]["memory"] = "64Gi"

    out = tmp_path / "out"
    result = plan("prod", changed_stack_file(tmp_path, "prod", big), out)
    assert result.returncode == 1, result.stdout + result.stderr
    budget = [v for v in violations(out) if v["policy"] == "stack-cost-stay-within-budget"]
    assert budget and all(v["enforcement"] == "mandatory" for v in budget)
    assert any("over its $500.00 budget" in v["message"] for v in budget)
    cost = json.loads((out / "cost.json").read_text())
    assert cost["components"]["redis"]["monthlyUsd"] > 500
