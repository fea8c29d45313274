"""Rendered configs recovered from what the program registered, one extractor per component.

The files come from the resources' inputs — the ConfigMap that carries redis.conf, the
PrometheusRule, the Worker script — so they are what would be deployed, not a second rendering.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import yaml

from plan.mocks import ResourceRecord
from stackconfig.tiers import format_duration

Extractor = Callable[[Sequence[ResourceRecord]], Mapping[str, str]]
SectionWriter = Callable[[Sequence[ResourceRecord]], str]


def redis_files(records: Sequence[ResourceRecord]) -> dict[str, str]:
    """redis.conf and the lifecycle scripts, from the RedisCluster's ConfigMap."""
    for record in records:
        data = record.inputs.get("data")
        is_config_map = record.type == "kubernetes:core/v1:ConfigMap"
        if is_config_map and isinstance(data, dict) and "redis.conf" in data:
            return {f"redis/{key}": str(value) for key, value in data.items()}
    return {}


def _cache_ruleset(records: Sequence[ResourceRecord]) -> ResourceRecord | None:
    return next(
        (
            r
            for r in records
            if r.type == "cloudflare:index/ruleset:Ruleset"
            and r.inputs.get("phase") == "http_request_cache_settings"
        ),
        None,
    )


def cdn_files(records: Sequence[ResourceRecord]) -> dict[str, str]:
    """The cache rules as deployed, the Worker module and its bindings."""
    files: dict[str, str] = {}
    ruleset = _cache_ruleset(records)
    if ruleset is not None:
        deployed = {k: ruleset.inputs.get(k) for k in ("kind", "phase", "name", "rules")}
        files["cdn/cache-rules.json"] = json.dumps(deployed, indent=2) + "\n"
    for record in records:
        if record.type == "cloudflare:index/workersScript:WorkersScript":
            files["cdn/worker.js"] = str(record.inputs.get("content", ""))
            bindings: dict[str, Any] = {
                b["name"]: b.get("text", b.get("json")) for b in record.inputs.get("bindings", [])
            }
            files["cdn/worker-bindings.json"] = (
                json.dumps(bindings, indent=2, sort_keys=True) + "\n"
            )
    return files


def yaml_text(document: Any) -> str:
    """A document as every YAML artifact of the plan is written: block style, its own key order.

    libyaml's emitter, about ten times faster than PyYAML's pure-Python one on the manifests, which
    are most of what a plan writes. Only libyaml's: the two fold long strings differently, and a
    plan's text must not depend on how PyYAML was built (its wheels all carry libyaml).
    """
    return yaml.dump(document, Dumper=yaml.CSafeDumper, sort_keys=False, width=100)


def monitoring_files(records: Sequence[ResourceRecord]) -> dict[str, str]:
    """The rule file, the full Alertmanager config, the dashboards and the collector's config, as
    deployed, and which producer each series they read comes from (series.md)."""
    from components.monitoring.producers import series_table, series_uses

    files: dict[str, str] = {}
    groups: list[Any] = []
    dashboards: dict[str, Any] = {}
    for record in records:
        if record.type == "kubernetes:monitoring.coreos.com/v1:PrometheusRule":
            groups = record.inputs["spec"]["groups"]
            files["monitoring/rules.yaml"] = yaml_text({"groups": groups})
        elif record.type == "kubernetes:helm.sh/v3:Release":
            config = record.inputs.get("values", {}).get("alertmanager", {}).get("config")
            if config:
                files["monitoring/alertmanager.yaml"] = yaml_text(config)
        elif record.type == "kubernetes:core/v1:ConfigMap":
            labels = record.inputs.get("metadata", {}).get("labels", {})
            if labels.get("grafana_dashboard") == "1":
                for key, text in record.inputs.get("data", {}).items():
                    files[f"monitoring/dashboards/{key}"] = str(text)
                    dashboards[key.removesuffix(".json")] = json.loads(str(text))
            elif "config.yaml" in record.inputs.get("data", {}) and record.name.endswith(
                "-collector-config"
            ):
                files["monitoring/otel-collector.yaml"] = str(record.inputs["data"]["config.yaml"])
    if groups or dashboards:
        files["monitoring/series.md"] = series_table(series_uses(dashboards, groups))
    return files


def _duration(seconds: Any) -> str:
    return format_duration(int(seconds)) if isinstance(seconds, (int, float)) else "—"


def cdn_section(records: Sequence[ResourceRecord]) -> str:
    """path pattern → tier → edge TTL → browser TTL, read back from the deployed rules."""
    ruleset = _cache_ruleset(records)
    if ruleset is None:
        return ""
    lines = [
        "## Edge cache rules (evaluation order; later rules win)",
        "",
        "Tiers under the plan's minimum edge TTL are not cached by the zone's cache rules: the",
        "Worker's Cache API (no plan minimum) holds them (docs/cloudflare.md).",
        "",
        "| path pattern | tier | zone cache edge TTL | browser TTL | held by |",
        "|---|---|---|---|---|",
    ]
    for rule in ruleset.inputs.get("rules", []):
        description = str(rule.get("description", ""))
        label, _, patterns = description.rpartition(": ")
        tier = (
            label.rsplit("ADR-011 ", 1)[-1].removesuffix(" tier")
            if "ADR-011" in label
            else "bypass"
        )
        if "event-purged" in label:
            tier += ", event-purged"
        parameters = rule.get("actionParameters", {})
        edge = parameters.get("edgeTtl", {}).get("default")
        browser = parameters.get("browserTtl", {}).get("default")
        if tier == "bypass":
            holder = "nobody (never cached)"
        elif "event-purged" in tier:
            holder = "Worker (Cache API) alone"
        elif parameters.get("cache") is False:
            holder = "Worker (Cache API)"
        else:
            holder = "cache rule and Worker"
        if parameters.get("browserTtl", {}).get("mode") == "respect_origin":
            browser = None
        lines.append(
            f"| {patterns} | {tier} | {_duration(edge)} | {_duration(browser)} | {holder} |"
        )
    return "\n".join([*lines, "", *_event_purged_lines(records)])


def _event_purged_lines(records: Sequence[ResourceRecord]) -> list[str]:
    """Which paths invalidation events purge, from the Worker's EVENT_PURGED binding."""
    for record in records:
        if record.type != "cloudflare:index/workersScript:WorkersScript":
            continue
        for binding in record.inputs.get("bindings", []):
            if binding.get("name") != "EVENT_PURGED":
                continue
            event_purged = json.loads(str(binding.get("text", "{}")))
            paths = [f"`{p}*`" for p in event_purged.get("pathPrefixes", [])]
            if not paths:
                return [
                    "## Paths purged by events",
                    "",
                    "None: every cached path waits out its TTL.",
                ]
            return [
                "## Paths purged by events",
                "",
                f"{', '.join(paths)} (matched on the decoded, lower-cased path): invalidation "
                "events purge them by the `Cache-Tag` the Worker stores every copy with "
                "(`path:<host><path>`) and by prefix; never served stale, browsers keep no copy, "
                f"edge TTL {_duration(event_purged.get('edgeTtl'))} as the backstop for a lost "
                "event (docs/invalidation.md). Other paths' URLs and prefixes in an event are "
                "purged too, but they also expire on their tier's TTL and may be served stale.",
            ]
    return []


EXTRACTORS: list[Extractor] = [redis_files, cdn_files, monitoring_files]
"""Each returns {path relative to build/<stack>/: file text}."""

SECTIONS: list[SectionWriter] = [cdn_section]
"""Each returns a Markdown section for plan.md (empty string for none)."""


def extract_all(records: Sequence[ResourceRecord]) -> dict[str, str]:
    files: dict[str, str] = {}
    for extractor in EXTRACTORS:
        files.update(extractor(records))
    return files


def sections(records: Sequence[ResourceRecord]) -> list[str]:
    return [text for writer in SECTIONS if (text := writer(records))]
