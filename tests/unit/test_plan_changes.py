"""`python -m plan diff`: what `pulumi up` would do between two plans, replacements from the
providers' replacement-forcing fields — and the program's guard that a storage change never
replaces the Redis StatefulSet."""

from __future__ import annotations

import copy
import importlib.util
import json
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from plan.changes import diff_resources, render_diff
from plan.report import resources_document
from plan.runner import run_program
from tests.support.documents import read_yaml
from tests.support.plan_runs import stack_plan

ROOT = Path(__file__).resolve().parents[2]
STATEFULSET = "kubernetes:apps/v1:StatefulSet"


def statefulset_doc(storage: str, ignore: list[str] | None = None, image: str = "redis:7") -> Any:
    resource: dict[str, Any] = {
        "urn": "urn:redis",
        "type": STATEFULSET,
        "name": "redis",
        "inputs": {
            "metadata": {"name": "redis"},
            "spec": {
                "replicas": 6,
                "template": {"spec": {"containers": [{"image": image}]}},
                "volumeClaimTemplates": [
                    {"spec": {"resources": {"requests": {"storage": storage}}}}
                ],
            },
        },
    }
    if ignore:
        resource["ignoreChanges"] = ignore
    return {"resources": [resource]}


def test_a_storage_change_replaces_the_statefulset_and_deletes_its_pods() -> None:
    text = render_diff(diff_resources(statefulset_doc("32Gi"), statefulset_doc("64Gi")))
    assert "1 to replace" in text
    assert "**deletes 6 pods** at once" in text


def test_with_the_guard_it_is_a_warning_pointing_at_the_runbook() -> None:
    guard = ["spec.volumeClaimTemplates"]
    text = render_diff(
        diff_resources(statefulset_doc("32Gi", guard), statefulset_doc("64Gi", guard))
    )
    assert "0 to replace" in text
    assert "differs from what is deployed and is ignored" in text
    assert "docs/runbooks/redis-storage-resize.md" in text
    assert (ROOT / "docs/runbooks/redis-storage-resize.md").is_file()


def test_a_template_change_rolls_the_pods_one_by_one() -> None:
    text = render_diff(
        diff_resources(statefulset_doc("32Gi"), statefulset_doc("32Gi", image="redis:8"))
    )
    assert "0 to replace" in text
    assert "the 6 pods roll one at a time" in text


def test_added_and_removed() -> None:
    base = statefulset_doc("32Gi")
    head = copy.deepcopy(base)
    head["resources"][0]["urn"] = "urn:other"
    diff = diff_resources(base, head)
    assert [r["urn"] for r in diff.added] == ["urn:other"]
    assert [r["urn"] for r in diff.removed] == ["urn:redis"]


def test_the_program_ignores_volume_claim_template_changes() -> None:
    statefulset = next(r for r in stack_plan("prod").records if r.type == STATEFULSET)
    assert statefulset.ignore_changes == ["spec.volumeClaimTemplates"]


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("storage", "64Gi", "is ignored"),
        ("maxmemoryPercent", 80, "the 6 pods roll one at a time"),
    ],
)
def test_sample_changes_of_the_prod_stack(
    tmp_path: Path, key: str, value: object, expected: str
) -> None:
    document = read_yaml(ROOT / "Pulumi.prod.yaml")
    document["config"]["cache-platform:redis"][key] = value
    stack_file = tmp_path / "Pulumi.prod.yaml"
    stack_file.write_text(yaml.safe_dump(document))
    base = resources_document(stack_plan("prod"))
    head = resources_document(run_program("prod", stack_file))
    text = render_diff(diff_resources(base, head))
    assert expected in text
    assert "deletes" not in text


def _load_plan_comment() -> Any:
    spec = importlib.util.spec_from_file_location(
        "plan_comment_for_changes", ROOT / ".github/scripts/plan_comment.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_the_pr_comment_shows_the_changes_above_the_cost(tmp_path: Path) -> None:
    plan_comment = _load_plan_comment()
    directories = {}
    for name, storage in (("base", "32Gi"), ("head", "64Gi")):
        directory = tmp_path / name
        directory.mkdir()
        (directory / "resources.json").write_text(json.dumps(statefulset_doc(storage)))
        (directory / "cost.json").write_text(json.dumps({"components": {}, "totalMonthlyUsd": 1}))
        (directory / "plan.md").write_text("# Plan\n")
        directories[name] = plan_comment.PlanResult(0, directory)
    changes = plan_comment.resource_changes(directories["head"], directories["base"], ROOT)
    difference = plan_comment.cost_difference(directories["head"], directories["base"], ROOT)
    comment = plan_comment.build_comment("prod", directories["head"], difference, changes=changes)
    assert "deletes 6 pods" in comment
    assert comment.index("What `pulumi up` would do") < comment.index("Cost difference")
