"""Write what a preview would show into build/<stack>/: resources, manifests, files, verdicts."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from components.redis.scaling import scaling_summary
from plan.artifacts import yaml_text
from plan.dependencies import waves_section
from plan.mocks import ResourceRecord
from plan.runner import PlanRun
from policies.evaluate import Violation


def component_of(record: ResourceRecord, by_urn: Mapping[str, ResourceRecord]) -> str:
    """The name of the top-level component a resource belongs to (itself when it is one)."""
    current = record
    while current.parent and current.parent in by_urn:
        current = by_urn[current.parent]
    return current.name


def kubernetes_manifests(records: Sequence[ResourceRecord]) -> dict[str, str]:
    """Every Kubernetes object (not Helm releases) as plain YAML, keyed by file name."""
    files: dict[str, str] = {}
    for record in records:
        props = record.inputs
        if not record.type.startswith("kubernetes:") or "kind" not in props:
            continue
        manifest = {
            key: props[key]
            for key in (
                "apiVersion",
                "kind",
                "metadata",
                "spec",
                "data",
                "stringData",
                "type",
                "rules",
                "subjects",
                "roleRef",
            )
            if key in props
        }
        namespace = (props.get("metadata") or {}).get("namespace") or "cluster"
        name = (props.get("metadata") or {}).get("name") or record.name
        slug = re.sub(r"[^a-z0-9.-]+", "-", f"{namespace}-{props['kind']}-{name}".lower())
        files[f"manifests/{slug}.yaml"] = yaml_text(manifest)
    return files


def resources_document(run: PlanRun) -> dict[str, Any]:
    return {
        "stack": run.stack,
        "resources": [
            {
                "urn": r.urn,
                "type": r.type,
                "name": r.name,
                "parent": r.parent,
                "custom": r.custom,
                "dependencies": r.depends_on,
                "propertyDependencies": r.property_dependencies,
                **({"importId": r.import_id} if r.import_id else {}),
                **({"ignoreChanges": r.ignore_changes} if r.ignore_changes else {}),
                "inputs": r.inputs,
            }
            for r in run.records
        ],
        "outputs": run.outputs,
    }


def write_files(out_dir: Path, files: Mapping[str, str]) -> None:
    for relative, text in files.items():
        path = out_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def counts_by_component(run: PlanRun) -> list[tuple[str, str, int]]:
    by_urn = {r.urn: r for r in run.records}
    counter: Counter[tuple[str, str]] = Counter(
        (component_of(r, by_urn), r.type) for r in run.records
    )
    return sorted((c, t, n) for (c, t), n in counter.items())


def cost_table(cost: Mapping[str, Any]) -> list[str]:
    lines = ["| component | item | how it is priced | monthly USD |", "|---|---|---|---:|"]
    components: Mapping[str, Any] = cost.get("components", {})
    for name, component in components.items():
        for item in component.get("items", []):
            detail = str(item.get("detail", "")).replace("|", "\\|")
            lines.append(f"| {name} | {item['name']} | {detail} | {item['monthlyUsd']:,.2f} |")
        lines.append(f"| **{name}** | **subtotal** | | **{component['monthlyUsd']:,.2f}** |")
    lines.append(f"| **total** | | | **{cost.get('totalMonthlyUsd', 0):,.2f}** |")
    return lines


def policy_lines(violations: Sequence[Violation]) -> list[str]:
    if not violations:
        return ["No policy violations."]
    lines = ["| enforcement | policy | resource | message |", "|---|---|---|---|"]
    for v in sorted(violations, key=lambda v: (v.enforcement != "mandatory", v.policy)):
        resource = (v.resource or "stack").split("::")[-1]
        lines.append(f"| {v.enforcement} | {v.policy} | {resource} | {v.message} |")
    return lines


def render_plan_md(
    run: PlanRun,
    cost: Mapping[str, Any],
    violations: Sequence[Violation],
    sections: Sequence[str],
) -> str:
    config = run.config
    mandatory = [v for v in violations if v.enforcement == "mandatory"]
    verdict = (
        f"**{len(mandatory)} mandatory policy violation(s): `pulumi up` would be blocked.**"
        if mandatory
        else "Policy verdict: no mandatory violation."
    )
    cdn = (
        f"zone {config.cdn.zone_name}, plan {config.cdn.plan.value}"
        if config.cdn.enabled
        else "disabled"
    )
    monitoring = (
        f"retention {config.monitoring.retention}, {config.monitoring.storage} storage"
        if config.monitoring.enabled
        else "disabled"
    )
    backups = (
        f"`{config.backups.schedule}`, kept {config.backups.retention_days} days, "
        f"{config.backups.region}"
        if config.backups.enabled
        else "disabled"
    )
    service = config.invalidation
    invalidation = (
        f"{service.replicas} replicas, {service.cpu} CPU / {service.memory} each, "
        f"claims after {service.claim_idle_seconds} s"
        if service.enabled
        else "disabled"
    )
    scaling = scaling_summary(config.redis)
    lines = [
        f"# Plan for stack `{run.stack}`",
        "",
        verdict,
        f"Estimated cost: **${cost.get('totalMonthlyUsd', 0):,.2f}/month**.",
        "",
        "## Key config",
        "",
        "| key | value |",
        "|---|---|",
        f"| environment | {config.environment.value} |",
        f"| redis | {config.redis.primaries} primaries × (1 + {config.redis.replicas_per_primary}) "
        f"nodes, {config.redis.memory} memory, {config.redis.storage} storage |",
        *([f"| redis scaling | {scaling} |"] if scaling else []),
        f"| redis persistence | AOF {'on' if config.redis.appendonly else 'off'}, "
        f"RDB {'on' if config.redis.rdb else 'off'}, {config.redis.eviction_policy.value}, "
        f"node timeout {config.redis.node_timeout_ms} ms |",
        f"| cdn | {cdn} |",
        f"| monitoring | {monitoring} |",
        f"| backups | {backups} |",
        f"| invalidation | {invalidation} |",
        "",
    ]
    if run.secrets:
        lines += ["## Secrets", "", "| key | set in stack file |", "|---|---|"]
        unset = "**no — set it before `pulumi up`**"
        lines += [f"| `{s.key}` | {'yes' if s.set_in_stack_file else unset} |" for s in run.secrets]
        lines.append("")
    lines += ["## Cost (monthly estimate)", "", *cost_table(cost), ""]
    lines += ["## Policy", "", *policy_lines(violations), ""]
    lines += ["## Resources", "", "| component | type | count |", "|---|---|---:|"]
    lines += [f"| {c} | `{t}` | {n} |" for c, t, n in counts_by_component(run)]
    lines.append(f"| **total** | | **{len(run.records)}** |")
    lines.append("")
    for section in sections:
        lines += [section.rstrip(), ""]
    return "\n".join(lines)


def write_report(
    out_dir: Path,
    run: PlanRun,
    artifacts: Mapping[str, str],
    cost: Mapping[str, Any],
    violations: Sequence[Violation],
    sections: Sequence[str],
) -> None:
    files: dict[str, str] = {
        "resources.json": json.dumps(resources_document(run), indent=2, sort_keys=False) + "\n",
        **kubernetes_manifests(run.records),
        **artifacts,
        "cost.json": json.dumps(cost, indent=2) + "\n",
        "policy.json": json.dumps({"violations": [v.as_json() for v in violations]}, indent=2)
        + "\n",
        "plan.md": render_plan_md(run, cost, violations, [*sections, waves_section(run.records)]),
    }
    write_files(out_dir, files)
