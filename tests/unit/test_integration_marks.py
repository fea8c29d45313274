"""Every module under tests/integration carries the `integration` mark, so `make test-fast`
(`-m "not integration"`) never runs one: a module there without it ran with the mock tests."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.sources import syntax_tree

INTEGRATION = Path(__file__).resolve().parents[1] / "integration"


def marks_the_module_integration(module: ast.Module) -> bool:
    """`pytestmark = pytest.mark.integration` (alone or in a list) at the module's top level."""
    for statement in module.body:
        if not isinstance(statement, ast.Assign):
            continue
        if not any(isinstance(t, ast.Name) and t.id == "pytestmark" for t in statement.targets):
            continue
        value = statement.value
        marks = value.elts if isinstance(value, ast.List | ast.Tuple) else [value]
        if any(ast.unparse(mark) == "pytest.mark.integration" for mark in marks):
            return True
    return False


def test_there_are_integration_modules() -> None:
    assert len(list(INTEGRATION.glob("test_*.py"))) >= 10


def test_every_integration_module_is_marked_integration() -> None:
    unmarked = [
        path.name
        for path in sorted(INTEGRATION.glob("test_*.py"))
        if not marks_the_module_integration(syntax_tree(path))
    ]
    assert unmarked == [], f"no `pytestmark = pytest.mark.integration` in {unmarked}"


def test_the_check_finds_a_missing_mark() -> None:
    assert marks_the_module_integration(
        ast.parse("import pytest\npytestmark = pytest.mark.integration")
    )
    assert marks_the_module_integration(
        ast.parse("pytestmark = [pytest.mark.integration, pytest.mark.timeout(9)]")
    )
    assert not marks_the_module_integration(ast.parse("import pytest\n\ndef test_x(): ..."))
    assert not marks_the_module_integration(ast.parse("pytestmark = pytest.mark.slow"))
