"""The creation order a real `pulumi up` follows, from the registrations of the dev and prod
plans: nothing namespaced before its namespace, no custom resource before its CRD's release."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from plan import runner
from plan.dependencies import creation_waves, missing_dependencies, waves_section
from plan.mocks import RecordingMonitor
from plan.report import resources_document
from plan.runner import PlanRun
from tests.support.plan_runs import ROOT, stack_plan


@pytest.fixture(scope="module", params=["dev", "prod"])
def run(request: pytest.FixtureRequest) -> PlanRun:
    return stack_plan(str(request.param))


def test_every_object_is_created_after_its_namespace_and_crd(run: PlanRun) -> None:
    assert [str(m) for m in missing_dependencies(run.records)] == []


def test_the_check_sees_a_missing_dependency(run: PlanRun) -> None:
    # Drop the cluster's ServiceMonitor's edges (its namespace is a literal, not an output that
    # carries the edge itself): the check must notice it could race its namespace and its CRD.
    records = [
        dataclasses.replace(r, depends_on=[]) if r.name == "redis-metrics" else r
        for r in run.records
    ]
    monitor = next(r for r in records if r.name == "redis-metrics")
    found = [m for m in missing_dependencies(records) if m.resource == monitor.urn]
    assert any("monitoring.coreos.com" in m.why for m in found)
    assert any("namespace" in m.why for m in found)


def test_resources_json_records_each_dependency(run: PlanRun) -> None:
    document = resources_document(run)
    by_name = {r["name"]: r for r in document["resources"]}
    sizing = by_name["capacity-sizing"]
    namespace = by_name["redis-namespace"]["urn"]
    assert namespace in sizing["propertyDependencies"]["metadata"]
    monitor = by_name["redis-metrics"]
    assert any("helm.sh/v3:Release" in urn for urn in monitor["dependencies"])
    assert all("parent" in r and "dependencies" in r for r in document["resources"])


def test_waves_put_namespaces_first_and_the_service_monitor_after_the_release(
    run: PlanRun,
) -> None:
    waves = [[r.name for r in wave] for wave in creation_waves(run.records)]
    wave_of = {name: number for number, wave in enumerate(waves) for name in wave}
    assert wave_of["redis-namespace"] == 0
    assert wave_of["redis-metrics"] > wave_of["monitoring-stack"]
    assert wave_of["capacity-sizing"] > wave_of["redis-namespace"]
    section = waves_section(run.records)
    assert "## Creation order" in section and "Missing dependencies" not in section


def test_each_wave_lists_its_resources_by_name_and_tells_apart_those_sharing_one(
    run: PlanRun,
) -> None:
    rows = [line for line in waves_section(run.records).splitlines() if line.startswith("| ")]
    cells = [row.split(" | ")[1] for row in rows[1:]]
    for cell in cells:
        names = [label.split("`")[1] for label in cell.split(", ")]
        assert names == sorted(names), cell
    listed = ", ".join(cells)
    assert "`redis` (StatefulSet)" in listed and "`redis` (Service)" in listed
    assert "`redis-namespace`," in listed or listed.endswith("`redis-namespace`")


def test_name_servers_are_exported(run: PlanRun) -> None:
    assert run.outputs["cdnNameServers"] == ["ada.ns.cloudflare.com", "bob.ns.cloudflare.com"]


STACK = "pulumi:pulumi:Stack"


class _HearsInReverse(RecordingMonitor):
    """A monitor that hears every registration before all the earlier ones."""

    def RegisterResource(self, request: Any) -> Any:
        response = super().RegisterResource(request)
        if self.records:
            self.records.insert(0, self.records.pop())
        return response


def test_a_plan_depends_neither_on_what_ran_before_nor_on_the_order_registrations_arrive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The SDK sends registrations from a thread pool, so their order changes from run to run,
    # and the tests plan several stacks in one process; a plan reviewed as a diff must not care.
    prod = stack_plan("prod")
    monkeypatch.setattr(runner, "RecordingMonitor", _HearsInReverse)
    dev = runner.run_program("dev", ROOT / "Pulumi.dev.yaml")
    for run in (prod, dev):
        stacks = {r.parent for r in run.records if r.parent and r.parent.split("::")[2] == STACK}
        assert stacks == {
            f"urn:pulumi:{run.stack}::cache-platform::{STACK}::cache-platform-{run.stack}"
        }
    assert resources_document(dev) == resources_document(stack_plan("dev"))
    assert waves_section(dev.records) == waves_section(stack_plan("dev").records)
