"""The deploy workflow checks what it deployed: after each stack's `pulumi up`, `cachectl health
--json` against the cluster (failing the job), the stack's warming plan, the report kept."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.documents import read_yaml

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / ".github/scripts/post-deploy-check.sh"


def deploy_jobs() -> dict[str, Any]:
    return read_yaml(ROOT / ".github/workflows/deploy.yml")["jobs"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_deploy_validates_and_keeps_the_health_report(stack: str) -> None:
    steps = deploy_jobs()[stack]["steps"]
    up = next(i for i, s in enumerate(steps) if str(s.get("uses", "")).startswith("pulumi/actions"))
    assert steps[up]["with"]["command"] == "up"
    check = next(i for i, s in enumerate(steps) if "post-deploy-check.sh" in s.get("run", ""))
    assert check > up
    assert f"post-deploy-check.sh {stack} " in steps[check]["run"]
    assert "if" not in steps[check], "a failing checklist must fail the job"
    upload = steps[check + 1]
    assert str(upload["uses"]).startswith("actions/upload-artifact@")
    assert upload["if"] == "${{ !cancelled() }}"
    assert upload["with"]["name"] == f"health-{stack}"


def test_the_check_script_runs_health_json_then_the_warming_plan() -> None:
    text = SCRIPT.read_text()
    health = text.index("cachectl health --json")
    warm = text.index("cachectl warm --plan")
    assert health < warm
    assert "exit 1" in text[health:warm]
    assert "warming/$stack.yaml" in text
    # The password comes from the Secret inside the pod, never on a command line here.
    assert "secretKeyRef" in text and "REDISCLI_AUTH=" not in text


def test_the_check_script_is_valid_shell() -> None:
    bash = shutil.which("bash")
    assert bash is not None
    result = subprocess.run([bash, "-n", str(SCRIPT)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
