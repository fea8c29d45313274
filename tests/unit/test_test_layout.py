"""The tests' own layout: test modules import helpers from tests/support/, never each other.

A test module imported by another runs its tests twice when its fixtures are re-exported, drags
its imports into every importer, and hides a helper library behind a test module's name.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.sources import syntax_tree

TESTS = Path(__file__).resolve().parents[1]
ROOT = TESTS.parent


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


def imported_modules(tree: ast.Module, module: str) -> list[tuple[int, str]]:
    """(line, module) for every import in `module`'s syntax tree, relative imports resolved."""
    package = module.rsplit(".", 1)[0]
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            found.append((node.lineno, base))
            # `from tests.unit import test_x` imports a module through its package.
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return found


def is_test_module(module: str) -> bool:
    parts = module.split(".")
    return parts[0] == "tests" and (parts[-1].startswith("test_") or parts[-1] == "conftest")


def imports_of_test_modules(tree: ast.Module, module: str) -> list[str]:
    return [
        f"{module}:{line} imports {imported}"
        for line, imported in imported_modules(tree, module)
        if is_test_module(imported)
    ]


def python_files() -> list[Path]:
    return sorted(TESTS.rglob("*.py"))


def test_no_module_under_tests_imports_a_test_module() -> None:
    problems = [
        problem
        for path in python_files()
        for problem in imports_of_test_modules(syntax_tree(path), module_name(path))
    ]
    assert not problems, "move shared helpers to tests/support/:\n" + "\n".join(problems)


@pytest.mark.parametrize(
    "source",
    [
        "from tests.unit.test_backup_store import BUCKET\n",
        "from tests.unit import test_backup_store\n",
        "import tests.integration.test_redis_reliability\n",
        "from .test_backup_store import BUCKET\n",
        "from . import test_backup_store\n",
        "from tests.conftest import monitor\n",
    ],
)
def test_an_import_of_a_test_module_is_caught(source: str) -> None:
    assert imports_of_test_modules(ast.parse(source), "tests.unit.test_probe"), source


def test_imports_of_support_modules_pass() -> None:
    path = TESTS / "unit" / "test_plan.py"
    imported = imported_modules(syntax_tree(path), module_name(path))
    assert any(module.startswith("tests.support.") for _, module in imported)
    assert imports_of_test_modules(syntax_tree(path), module_name(path)) == []


def test_support_holds_no_tests() -> None:
    support = TESTS / "support"
    assert (support / "__init__.py").is_file()
    for path in support.rglob("*.py"):
        assert not path.name.startswith(("test_", "conftest")), path
        tree = syntax_tree(path)
        names = [n.name for n in tree.body if isinstance(n, ast.FunctionDef | ast.ClassDef)]
        assert not [n for n in names if n.startswith(("test_", "Test"))], path
