"""What `pulumi up` would do to go from one plan to another: resources added, removed, changed in
place, and replaced (delete and create) — from the replacement-forcing fields of the providers.

    python -m plan diff build-base/prod build/prod      # Markdown on stdout

Sources of REPLACE_FIELDS (read 2026-12-03):
- pulumi-kubernetes: provider/pkg/provider forceNewProperties (the `forceNew` table: StatefulSet
  podManagementPolicy, revisionHistoryLimit, selector, serviceName, volumeClaimTemplates;
  metadata name/namespace of every kind; ConfigMap/Secret data unless mutable; Job template...),
  https://github.com/pulumi/pulumi-kubernetes. A named object (metadata.name set, as all ours are)
  is replaced delete-first: a replaced StatefulSet deletes every pod before the new one starts.
- pulumi-cloudflare / pulumi-aws are bridged from terraform-provider-cloudflare (v5 schemas,
  `RequiresReplace`) and terraform-provider-aws (`ForceNew`); the identifying fields listed here.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

_K8S_METADATA = ("metadata.name", "metadata.namespace")

REPLACE_FIELDS: Mapping[str, tuple[str, ...]] = {
    "kubernetes:apps/v1:StatefulSet": (
        *_K8S_METADATA,
        "spec.podManagementPolicy",
        "spec.revisionHistoryLimit",
        "spec.selector",
        "spec.serviceName",
        "spec.volumeClaimTemplates",
    ),
    "kubernetes:apps/v1:Deployment": (*_K8S_METADATA, "spec.selector"),
    "kubernetes:core/v1:ConfigMap": (*_K8S_METADATA, "data", "binaryData"),
    "kubernetes:core/v1:Secret": (*_K8S_METADATA, "type", "data", "stringData"),
    "kubernetes:core/v1:Service": (*_K8S_METADATA, "spec.clusterIP"),
    "kubernetes:core/v1:PersistentVolumeClaim": (
        *_K8S_METADATA,
        "spec.accessModes",
        "spec.selector",
        "spec.storageClassName",
        "spec.volumeName",
    ),
    "kubernetes:batch/v1:Job": (
        *_K8S_METADATA,
        "spec.completions",
        "spec.parallelism",
        "spec.selector",
        "spec.template",
    ),
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": (*_K8S_METADATA, "roleRef"),
    "cloudflare:index/zone:Zone": ("name", "account"),
    "cloudflare:index/zoneSubscription:ZoneSubscription": ("zoneId",),
    "cloudflare:index/dnsRecord:DnsRecord": ("zoneId",),
    "cloudflare:index/zoneSetting:ZoneSetting": ("zoneId", "settingId"),
    "cloudflare:index/ruleset:Ruleset": ("zoneId", "accountId", "kind", "phase"),
    "cloudflare:index/workersScript:WorkersScript": ("accountId", "scriptName"),
    "cloudflare:index/workersRoute:WorkersRoute": ("zoneId",),
    "aws:s3/bucket:Bucket": ("bucket", "bucketPrefix", "objectLockEnabled"),
    "aws:kms/key:Key": ("customerMasterKeySpec", "keySpec", "keyUsage", "multiRegion"),
    "aws:iam/role:Role": ("name", "namePrefix", "path"),
}
"""Type token -> input paths whose change replaces the resource."""

_K8S_DEFAULT = _K8S_METADATA


def replace_fields(type_token: str) -> tuple[str, ...]:
    if type_token in REPLACE_FIELDS:
        return REPLACE_FIELDS[type_token]
    if type_token.startswith("kubernetes:") and "helm.sh" not in type_token:
        return _K8S_DEFAULT
    if type_token.startswith("aws:s3/"):
        return ("bucket",)  # every bucket sub-resource is tied to its bucket
    return ()


def changed_paths(before: Any, after: Any, path: str = "") -> list[str]:
    """Dot paths (list items as [i]) where `before` and `after` differ."""
    if isinstance(before, dict) and isinstance(after, dict):
        b, a = cast(dict[str, Any], before), cast(dict[str, Any], after)
        found: list[str] = []
        for key in sorted(set(b) | set(a)):
            found += changed_paths(b.get(key), a.get(key), f"{path}.{key}" if path else key)
        return found
    if isinstance(before, list) and isinstance(after, list):
        b_list, a_list = cast(list[Any], before), cast(list[Any], after)
        if len(b_list) != len(a_list):
            return [path]
        found = []
        for index, (x, y) in enumerate(zip(b_list, a_list, strict=True)):
            found += changed_paths(x, y, f"{path}[{index}]")
        return found
    return [] if before == after else [path]


def _under(path: str, prefix: str) -> bool:
    bare = path.split("[")[0] if path.startswith(prefix + "[") else path
    return bare == prefix or path.startswith(prefix + ".") or path.startswith(prefix + "[")


@dataclass
class Change:
    urn: str
    type: str
    name: str
    paths: list[str]
    replaced_by: list[str] = field(default_factory=lambda: list[str]())
    """Changed paths that force a replacement."""
    ignored: list[str] = field(default_factory=lambda: list[str]())
    """Changed paths the program ignores (ignoreChanges): `up` leaves them as deployed."""
    pods: int = 0

    @property
    def replaced(self) -> bool:
        return bool(self.replaced_by)


@dataclass
class PlanDiff:
    added: list[Mapping[str, Any]]
    removed: list[Mapping[str, Any]]
    changed: list[Change]


def diff_resources(base: Mapping[str, Any], head: Mapping[str, Any]) -> PlanDiff:
    """Compare two resources.json documents."""
    before = {r["urn"]: r for r in base.get("resources", [])}
    after = {r["urn"]: r for r in head.get("resources", [])}
    changed: list[Change] = []
    for urn in sorted(set(before) & set(after)):
        old, new = before[urn], after[urn]
        paths = changed_paths(old.get("inputs"), new.get("inputs"))
        if not paths:
            continue
        ignore = [str(p) for p in new.get("ignoreChanges") or []]
        ignored = [p for p in paths if any(_under(p, i) for i in ignore)]
        effective = [p for p in paths if p not in ignored]
        forcing = replace_fields(str(new["type"]))
        replaced_by = [p for p in effective if any(_under(p, f) for f in forcing)]
        spec = (old.get("inputs") or {}).get("spec") or {}
        pods = int(spec.get("replicas") or 0) if isinstance(spec, dict) else 0
        if effective or ignored:
            changed.append(
                Change(
                    urn, str(new["type"]), str(new["name"]), effective, replaced_by, ignored, pods
                )
            )
    return PlanDiff(
        added=[after[u] for u in sorted(set(after) - set(before))],
        removed=[before[u] for u in sorted(set(before) - set(after))],
        changed=changed,
    )


def _effect(change: Change) -> str:
    is_statefulset = change.type == "kubernetes:apps/v1:StatefulSet"
    if change.replaced:
        fields = ", ".join(sorted({p.split("[")[0] for p in change.replaced_by}))
        text = f"**replaced** (delete, then create) by a change of {fields}"
        if is_statefulset:
            text += f": **deletes {change.pods} pods** at once"
        return text
    parts: list[str] = []
    if change.paths:
        if is_statefulset and any(_under(p, "spec.template") for p in change.paths):
            parts.append(
                f"updated in place: the {change.pods} pods roll one at a time (preStop hands "
                "each primary over; the next pod waits until the cluster is healthy)"
            )
        else:
            parts.append("updated in place")
    if change.ignored:
        fields = ", ".join(sorted({p.split("[")[0] for p in change.ignored}))
        warning = f"**warning: {fields} differs from what is deployed and is ignored**"
        if is_statefulset and any(_under(p, "spec.volumeClaimTemplates") for p in change.ignored):
            warning += (
                " (the StatefulSet is not replaced; resize the volumes by hand: "
                "docs/runbooks/redis-storage-resize.md)"
            )
        parts.append(warning)
    return "; ".join(parts)


def render_diff(diff: PlanDiff) -> str:
    """Markdown for the pull-request comment."""
    replaced = [c for c in diff.changed if c.replaced]
    lines = [
        f"{len(diff.added)} to add, {len(diff.changed) - len(replaced)} to change, "
        f"{len(replaced)} to replace, {len(diff.removed)} to delete.",
        "",
    ]
    if not (diff.added or diff.removed or diff.changed):
        return lines[0] + "\n"
    lines += ["| resource | type | what `pulumi up` does |", "|---|---|---|"]
    for change in sorted(diff.changed, key=lambda c: (not c.replaced, c.name)):
        lines.append(f"| `{change.name}` | `{change.type}` | {_effect(change)} |")
    lines += [f"| `{r['name']}` | `{r['type']}` | created |" for r in diff.added]
    lines += [f"| `{r['name']}` | `{r['type']}` | **deleted** |" for r in diff.removed]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str]) -> int:
    if len(argv) != 2:
        print("usage: python -m plan diff BASE_DIR HEAD_DIR", file=sys.stderr)
        return 2
    documents: list[Mapping[str, Any]] = []
    for directory in argv:
        path = Path(directory) / "resources.json"
        if not path.is_file():
            print(f"plan diff: {path} does not exist", file=sys.stderr)
            return 2
        documents.append(json.loads(path.read_text()))
    print(render_diff(diff_resources(documents[0], documents[1])), end="")
    return 0
