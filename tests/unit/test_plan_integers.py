"""Plan artifacts keep integers as integers: the wire protocol turns every int into a float, the
providers and the API server do not (`port: 6379`, never `6379.0`)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from plan.mocks import restore_integers
from plan.report import kubernetes_manifests
from tests.support.documents import parse_yaml
from tests.support.plan_runs import stack_plan


def floats_in(value: Any, path: str = "") -> list[str]:
    if isinstance(value, float):
        return [f"{path}={value}"]
    if isinstance(value, dict):
        return [f for k, v in value.items() for f in floats_in(v, f"{path}.{k}")]
    if isinstance(value, list):
        return [f for i, v in enumerate(value) for f in floats_in(v, f"{path}[{i}]")]
    return []


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_no_manifest_writes_an_integer_as_a_float(stack: str) -> None:
    run = stack_plan(stack)
    manifests = kubernetes_manifests(run.records)
    found = {
        name: floats_in(parse_yaml(text))
        for name, text in manifests.items()
        if floats_in(parse_yaml(text))
    }
    assert found == {}
    statefulset = next(
        parse_yaml(text)
        for name, text in manifests.items()
        if "statefulset" in name and "redis" in name
    )
    pod = statefulset["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsUser"] == 999
    assert "6379.0" not in yaml.safe_dump(statefulset)


def test_restore_integers_keeps_real_fractions() -> None:
    assert restore_integers({"a": [1.0, 0.5, True, "2.0"]}) == {"a": [1, 0.5, True, "2.0"]}
    assert isinstance(restore_integers(3.0), int)
