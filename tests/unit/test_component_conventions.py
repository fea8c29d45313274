"""Static checks of every ComponentResource: what mocks cannot catch."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.support.sources import syntax_tree

COMPONENTS = Path(__file__).resolve().parents[2] / "components"


def component_classes() -> list[tuple[Path, ast.ClassDef]]:
    found: list[tuple[Path, ast.ClassDef]] = []
    for path in sorted(COMPONENTS.rglob("*.py")):
        tree = syntax_tree(path)
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(
                ast.unparse(base).endswith("ComponentResource") for base in node.bases
            ):
                found.append((path, node))
    return found


CLASSES = component_classes()


def test_components_exist() -> None:
    assert len(CLASSES) >= 2


@pytest.mark.parametrize(("path", "cls"), CLASSES, ids=[c.name for _, c in CLASSES])
def test_register_outputs_is_the_last_statement_exactly_once(path: Path, cls: ast.ClassDef) -> None:
    init = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    calls = [
        n
        for n in ast.walk(init)
        if isinstance(n, ast.Call) and ast.unparse(n.func) == "self.register_outputs"
    ]
    assert len(calls) == 1, f"{path.name}:{cls.name} calls register_outputs {len(calls)} times"
    last = init.body[-1]
    assert isinstance(last, ast.Expr) and last.value is calls[0], (
        f"{path.name}:{cls.name}: register_outputs must be the constructor's last statement"
    )


@pytest.mark.parametrize(("path", "cls"), CLASSES, ids=[c.name for _, c in CLASSES])
def test_type_token_and_signature(path: Path, cls: ast.ClassDef) -> None:
    init = next(n for n in cls.body if isinstance(n, ast.FunctionDef) and n.name == "__init__")
    params = [a.arg for a in init.args.args]
    assert params[:4] == ["self", "name", "args", "opts"], f"{cls.name}{params}"
    first = init.body[0]
    assert isinstance(first, ast.Expr) and isinstance(first.value, ast.Call)
    assert ast.unparse(first.value.func) == "super().__init__", cls.name
    token = first.value.args[0]
    assert isinstance(token, ast.Constant) and isinstance(token.value, str)
    package, module, name = token.value.split(":")
    assert package == "cache-platform" and module.islower() and name == cls.name, token.value
