"""What the tools image (the repo's Dockerfile) installs, and what its programs import."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement

from tests.support.sources import syntax_tree

ROOT = Path(__file__).resolve().parents[2]
IMAGE_PACKAGES = ("cachectl", "cachekit", "invalidator", "stackconfig")
"""The project's packages the Dockerfile copies into the image."""


def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def image_libraries() -> list[str]:
    """The distributions the Dockerfile installs with requirements.txt as constraints."""
    match = re.search(r"pip install --constraint constraints\.txt ([^\n\\&]+)", dockerfile())
    assert match, "the Dockerfile must install its libraries constrained by requirements.txt"
    return match[1].split()


def dependency_closure(roots: list[str]) -> set[str]:
    """`roots` and everything they require on Linux (as installed here), extras left out."""
    seen: set[str] = set()
    todo = [canonical(r) for r in roots]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(canonical(requirement.name))
    return seen


def third_party_imports(files: Iterable[Path]) -> set[str]:
    """Top-level modules imported anywhere in `files` (lazy imports included)."""
    local = {*IMAGE_PACKAGES, "__future__"}
    found: set[str] = set()
    for path in files:
        for node in ast.walk(syntax_tree(path)):
            if isinstance(node, ast.Import):
                found.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module.split(".")[0])
    return {m for m in found - local if m not in sys.stdlib_module_names}


def loaded_project_files(*modules: str) -> list[Path]:
    """The project's source files a fresh interpreter loads to import `modules` (a program's
    entry point and what it imports lazily), so the image must hold their imports."""
    script = (
        "import importlib, sys\n"
        f"for name in {list(modules)!r}:\n"
        "    importlib.import_module(name)\n"
        f"local = {list(IMAGE_PACKAGES)!r}\n"
        "for name, module in sorted(sys.modules.items()):\n"
        "    if name.split('.')[0] in local and getattr(module, '__file__', None):\n"
        "        print(module.__file__)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": ""},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return [Path(line) for line in result.stdout.splitlines()]


def missing_libraries(files: Iterable[Path]) -> dict[str, list[str]]:
    """Modules imported by `files` that no library the image installs provides."""
    provided = dependency_closure(image_libraries())
    distributions = metadata.packages_distributions()
    return {
        module: distributions.get(module, [module])
        for module in sorted(third_party_imports(files))
        if not any(canonical(d) in provided for d in distributions.get(module, [module]))
    }
