"""Every `@pulumi.runtime.test` function returns what it checks, so the check really runs.

Under mocks an `apply` callback only runs when something awaits its Output: a mock test that
returns nothing passes without ever asserting.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

from tests.support.sources import syntax_tree

TESTS = Path(__file__).resolve().parents[1]


@functools.cache
def mock_tests() -> list[tuple[Path, ast.FunctionDef]]:
    found: list[tuple[Path, ast.FunctionDef]] = []
    for path in sorted(TESTS.rglob("test_*.py")):
        for node in ast.walk(syntax_tree(path)):
            if isinstance(node, ast.FunctionDef) and any(
                ast.unparse(d).endswith("runtime.test") for d in node.decorator_list
            ):
                found.append((path, node))
    return found


def returns_a_value(function: ast.FunctionDef) -> bool:
    own_returns = [
        n
        for n in ast.walk(function)
        if isinstance(n, ast.Return)
        and n.value is not None
        and not any(
            n in ast.walk(inner)
            for inner in function.body
            if isinstance(inner, (ast.FunctionDef, ast.Lambda)) and inner is not function
        )
    ]
    last = function.body[-1]
    return bool(own_returns) and isinstance(last, ast.Return) and last.value is not None


def test_there_are_mock_tests() -> None:
    assert len(mock_tests()) >= 10


def test_every_mock_test_returns_its_output() -> None:
    offenders = [
        f"{path.relative_to(TESTS)}::{function.name}"
        for path, function in mock_tests()
        if not returns_a_value(function)
    ]
    assert not offenders, f"mock tests that return nothing (their checks never run): {offenders}"


def test_the_detector_catches_a_test_returning_nothing() -> None:
    source = (
        "@pulumi.runtime.test\n"
        "def test_x():\n"
        "    def check(v):\n"
        "        return v\n"
        "    out.apply(check)\n"
    )
    function = next(n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.FunctionDef))
    assert not returns_a_value(function)
