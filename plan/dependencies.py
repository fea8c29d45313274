"""The order a real `pulumi up` creates resources in, from the registrations' dependencies.

The engine creates a resource only after everything it depends on: its explicit `depends_on`,
the resources its inputs come from (property dependencies) and a custom-resource parent. A
component parent is no such edge: `depends_on` given to a component is not inherited by its
children, so a child that needs the component's dependency must name it itself.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from plan.mocks import ResourceRecord

NAMESPACE_TYPE = "kubernetes:core/v1:Namespace"
HELM_RELEASE_TYPE = "kubernetes:helm.sh/v3:Release"

CRD_CHARTS: Mapping[str, str] = {"monitoring.coreos.com": "kube-prometheus-stack"}
"""API group of a custom resource -> the Helm chart whose release installs its CRDs."""


def direct_dependencies(records: Sequence[ResourceRecord]) -> dict[str, set[str]]:
    """URN -> URNs the engine waits for before creating it."""
    custom = {r.urn for r in records if r.custom}
    graph: dict[str, set[str]] = {}
    for record in records:
        edges = set(record.depends_on)
        for urns in record.property_dependencies.values():
            edges.update(urns)
        if record.parent in custom:
            edges.add(record.parent)
        edges.discard(record.urn)
        graph[record.urn] = edges
    return graph


def reachable(graph: Mapping[str, set[str]], start: str) -> set[str]:
    """Everything `start` depends on, directly or through its dependencies."""
    seen: set[str] = set()
    stack = list(graph.get(start, ()))
    while stack:
        urn = stack.pop()
        if urn in seen:
            continue
        seen.add(urn)
        stack.extend(graph.get(urn, ()))
    return seen


def creation_waves(records: Sequence[ResourceRecord]) -> list[list[ResourceRecord]]:
    """Custom resources grouped by the step a real `up` can create them in (wave 1 first).

    A resource's wave is one more than the latest wave among the custom resources it depends on
    (components pass their dependencies through).
    """
    graph = direct_dependencies(records)
    by_urn = {r.urn: r for r in records}
    wave: dict[str, int] = {}

    def wave_of(urn: str, visiting: frozenset[str] = frozenset()) -> int:
        if urn in wave:
            return wave[urn]
        if urn in visiting:
            raise ValueError(f"dependency cycle through {urn}")
        own = 1 if by_urn[urn].custom else 0
        deps = [wave_of(d, visiting | {urn}) for d in graph[urn] if d in by_urn]
        wave[urn] = max(deps, default=0) + own
        return wave[urn]

    waves: dict[int, list[ResourceRecord]] = {}
    for record in records:
        if record.custom:
            waves.setdefault(wave_of(record.urn), []).append(record)
    return [waves[n] for n in sorted(waves)]


@dataclass(frozen=True)
class MissingDependency:
    resource: str
    needs: str
    why: str

    def __str__(self) -> str:
        return f"{self.resource} does not depend on {self.needs}: {self.why}"


def _metadata(record: ResourceRecord) -> Mapping[str, object]:
    metadata = record.inputs.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def missing_dependencies(records: Sequence[ResourceRecord]) -> list[MissingDependency]:
    """Namespaced objects not ordered after their namespace, custom resources not after the
    Helm release installing their CRD."""
    graph = direct_dependencies(records)
    namespaces = {
        str(_metadata(r).get("name")): r for r in records if r.type == NAMESPACE_TYPE and r.custom
    }
    releases = [r for r in records if r.type == HELM_RELEASE_TYPE]
    missing: list[MissingDependency] = []
    for record in records:
        if not record.custom or not record.type.startswith("kubernetes:"):
            continue
        deps = reachable(graph, record.urn)
        namespace = _metadata(record).get("namespace") or record.inputs.get("namespace")
        creator = namespaces.get(str(namespace)) if namespace else None
        if creator is not None and creator.urn != record.urn and creator.urn not in deps:
            missing.append(
                MissingDependency(
                    record.urn,
                    creator.urn,
                    f"it lives in namespace {namespace}, created by {creator.name}",
                )
            )
        api_version = str(record.inputs.get("apiVersion") or "")
        group = api_version.split("/")[0] if "/" in api_version else ""
        chart = CRD_CHARTS.get(group)
        if chart is None:
            continue
        installers = [r for r in releases if chart in str(r.inputs.get("chart") or "")]
        if not installers:
            missing.append(
                MissingDependency(
                    record.urn, f"a {chart} release", f"nothing in the program installs {group}"
                )
            )
        elif not any(r.urn in deps for r in installers):
            missing.append(
                MissingDependency(
                    record.urn,
                    installers[0].urn,
                    f"its kind comes from a CRD ({group}) that release installs",
                )
            )
    return missing


def waves_section(records: Sequence[ResourceRecord]) -> str:
    """Markdown for plan.md: the creation waves of a first `pulumi up`."""
    lines = [
        "## Creation order (a first `pulumi up`)",
        "",
        "Each wave starts once everything an earlier wave created that it depends on exists.",
        "",
        "| wave | resources |",
        "|---:|---|",
    ]
    # By name, and a name two resources share (the Service and the StatefulSet `redis`) with its
    # kind, so a reviewer can find each one.
    shared = {name for name, n in Counter(r.name for r in records if r.custom).items() if n > 1}

    def label(record: ResourceRecord) -> str:
        kind = record.type.rsplit(":", 1)[-1]
        return f"`{record.name}` ({kind})" if record.name in shared else f"`{record.name}`"

    for number, wave in enumerate(creation_waves(records), start=1):
        names = ", ".join(label(r) for r in sorted(wave, key=lambda r: (r.name, r.type)))
        lines.append(f"| {number} | {names} |")
    problems = missing_dependencies(records)
    if problems:
        lines += ["", "**Missing dependencies** (a real `up` would fail or race):", ""]
        lines += [f"- {problem}" for problem in problems]
    return "\n".join(lines)
