"""The kit's documentation says what the code does: the README example uses the public API, and
the ServiceMonitor manifest of docs/cachekit.md is one the observability stack would scrape."""

from __future__ import annotations

import ast
import importlib
import re
from pathlib import Path

import yaml

import cachekit

ROOT = Path(__file__).resolve().parents[2]


def _blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, flags=re.DOTALL)


def test_the_readme_example_is_python_of_the_public_api() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Service kit") :]
    example = _blocks(section, "python")[0]
    tree = ast.parse(example)
    assert len([line for line in example.splitlines() if line.strip()]) <= 10
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            assert node.module is not None
            module = importlib.import_module(node.module)
            for alias in node.names:
                assert hasattr(module, alias.name), f"{node.module}.{alias.name}"
    assert set(cachekit.__all__) >= {"CacheAside", "cluster_client"}


def test_the_service_monitor_scrapes_metrics_of_the_services_own_pods() -> None:
    (manifest,) = [
        yaml.safe_load(block)
        for block in _blocks((ROOT / "docs" / "cachekit.md").read_text(), "yaml")
        if "ServiceMonitor" in block
    ]
    assert manifest["apiVersion"] == "monitoring.coreos.com/v1"
    spec = manifest["spec"]
    selected = spec["selector"]["matchLabels"]
    assert selected.items() <= manifest["metadata"]["labels"].items()
    assert spec["namespaceSelector"]["matchNames"] == [manifest["metadata"]["namespace"]]
    (endpoint,) = spec["endpoints"]
    assert endpoint["path"] == "/metrics" and endpoint["port"]


def test_the_public_api_is_small_and_documented() -> None:
    reference = (ROOT / "docs" / "cachekit.md").read_text()
    for name in cachekit.__all__:
        obj = getattr(cachekit, name)
        if callable(obj):
            assert obj.__doc__, name
    for name in ("CacheAside", "AsyncCacheAside", "CacheOptions", "cluster_client", "Consistency"):
        assert f"`{name}" in reference, name
    assert len(cachekit.__all__) <= 16
