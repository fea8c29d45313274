"""The package layout: imports point one way and never form a cycle.

The graph is read from the source (ast over every .py), so an import inside a function counts like
one at the top: a lazy import hides a cycle from the interpreter, not from the design.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest

from tests.support.sources import syntax_tree

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = (
    "stackconfig", "cost", "components", "policies", "plan",
    "cachekit", "cachectl", "invalidator", "lab", "loadtest",
)  # fmt: skip
"""The project's library packages (bench/ and tests/ only use them)."""
EVERY_PACKAGE = (*PACKAGES, "bench")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    modules: dict[str, Path] = {}
    for package in EVERY_PACKAGE:
        for path in sorted((ROOT / package).rglob("*.py")):
            modules[module_name(path)] = path
    return modules


def imported_names(path: Path, name: str) -> Iterable[str]:
    """Every module name `path` imports, at any depth, relative imports resolved."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(syntax_tree(path)):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join([*base_parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            yield base
            # `from package import module` imports the submodule.
            yield from (f"{base}.{alias.name}" for alias in node.names)


def import_graph(modules: Mapping[str, Path]) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = {target for target in imported_names(path, name) if target in modules}
        graph[name] = targets - {name}
    return graph


def find_cycle(graph: Mapping[str, set[str]]) -> list[str] | None:
    """One import cycle as a path that ends where it starts, or None."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return [*stack[stack.index(target) :], target]
            if target not in state:
                found = visit(target)
                if found:
                    return found
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None


@functools.cache
def project_graph() -> dict[str, set[str]]:
    """The import graph of the project's modules (read once per test process)."""
    return import_graph(project_modules())


def test_the_graph_sees_the_project() -> None:
    assert "stackconfig.adr" in project_graph()["policies.sla"]
    # A lazy import (inside a function) counts.
    lazy = {"a": {"b"}, "b": {"a"}}
    assert find_cycle(lazy) == ["a", "b", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycle() -> None:
    cycle = find_cycle(project_graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_relative_and_submodule_imports_are_resolved(tmp_path: Path) -> None:
    module = tmp_path / "pkg" / "sub" / "mod.py"
    module.parent.mkdir(parents=True)
    module.write_text(
        "from . import sibling\nfrom ..other import thing\ndef later():\n    import pkg.lazy\n"
    )
    names = set(imported_names(module, "pkg.sub.mod"))
    assert {"pkg.sub.sibling", "pkg.other", "pkg.other.thing", "pkg.lazy"} <= names


def forbidden_imports(importers: str, forbidden: Iterable[str]) -> list[str]:
    banned = tuple(forbidden)
    return sorted(
        f"{module} imports {target}"
        for module, targets in project_graph().items()
        if module == importers or module.startswith(importers + ".")
        for target in targets
        if any(target == ban or target.startswith(ban + ".") for ban in banned)
    )


# Who may not import whom: the arrows of the layout (stackconfig <- cost, components <- policies
# <- plan; cachekit <- cachectl <- lab <- bench; cachekit, cachectl <- invalidator, a service the
# invalidation component deploys).
RULES = {
    "invalidator": ("components", "plan", "policies", "cost", "lab", "loadtest", "bench"),
    "components": ("cost.__main__", "cost.cli", "lab", "cachectl", "plan", "policies", "bench"),
    "cachectl": ("components", "lab", "plan", "policies", "cost", "bench"),
    "cachekit": ("components", "lab", "cachectl", "plan", "policies", "cost", "bench"),
    "stackconfig": ("components", "cost", "policies", "plan", "lab", "cachectl", "bench"),
    "cost": ("policies", "plan", "lab", "cachectl", "bench"),
    "policies": ("plan", "lab", "cachectl", "bench"),
    "plan": ("lab", "cachectl", "bench"),
    "lab": ("policies", "bench"),
}


@pytest.mark.parametrize("importers", sorted(RULES))
def test_imports_point_one_way(importers: str) -> None:
    assert forbidden_imports(importers, RULES[importers]) == []


def imports_pulumi(module: str) -> bool:
    path = project_modules()[module]
    return any(name.split(".")[0].startswith("pulumi") for name in imported_names(path, module))


def test_components_read_only_the_invalidation_services_metric_names() -> None:
    """The monitoring component checks its rules against the service's own metrics registry
    (`components/monitoring/producers.py`); nothing else of the service reaches the Pulumi
    program, and the registry module imports nothing of the project."""
    used = {
        target
        for module, targets in project_graph().items()
        if module.startswith("components.")
        for target in targets
        if target.startswith("invalidator")
    }
    assert used == {"invalidator.metrics"}
    project = {p.split(".")[0] for p in EVERY_PACKAGE}
    assert not {t for t in project_graph()["invalidator.metrics"] if t.split(".")[0] in project}


def test_the_cost_model_reads_only_the_pure_renderers_of_components() -> None:
    """The cost model parses what the components render (redis.conf) but never builds resources."""
    used = {
        target
        for module, targets in project_graph().items()
        if module.startswith("cost.")
        for target in targets
        if target.startswith("components.")
    }
    assert [module for module in sorted(used) if imports_pulumi(module)] == []


def test_one_duration_formatter_for_people() -> None:
    """`format_duration` writes `10 min`; Prometheus' `10m` is `prometheus_duration`."""
    defining = [
        module
        for module, path in project_modules().items()
        if "def format_duration(" in path.read_text()
    ]
    assert defining == ["stackconfig.tiers"]
