"""Rendered configs recovered from what the program registered, one extractor per component.

The files come from the resources' inputs — the ConfigMap that carries redis.conf, the
PrometheusRule, the Worker script — so they are what would be deployed, not a second rendering.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from plan.mocks import ResourceRecord

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


EXTRACTORS: list[Extractor] = [redis_files]
"""Each returns {path relative to build/<stack>/: file text}."""

SECTIONS: list[SectionWriter] = []
"""Each returns a Markdown section for plan.md (empty string for none)."""


def extract_all(records: Sequence[ResourceRecord]) -> dict[str, str]:
    files: dict[str, str] = {}
    for extractor in EXTRACTORS:
        files.update(extractor(records))
    return files


def sections(records: Sequence[ResourceRecord]) -> list[str]:
    return [text for writer in SECTIONS if (text := writer(records))]
