"""How `make test-fast` shares the mock and unit tests between its two xdist workers.

Tests that plan a stack or build the Cloudflare edge go to one worker, as one unit: the worker that
plans imports every provider SDK (seconds) and plans dev and prod once (seconds more), work that
both workers would otherwise pay for. Every other test is its own unit, as with `--dist load`.

Such a module is recognised from its source: it imports the plan runners or the edge factory of
`tests/support`, or a slow SDK itself (even inside a function), or a test asks for the
`stack_plans` fixture. (xdist's own `xdist_group` mark cannot carry this: pytest 9.2 ignores the
node-id suffix xdist 3.8 uses to pass groups to the scheduler, pytest-xdist issue 1386.)
"""

from __future__ import annotations

import ast
import functools
import sys
from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling

PROVIDER_SDK_UNIT = "provider-sdks"
SDK_USERS = frozenset({"tests.support.plans", "tests.support.plan_runs", "tests.support.edge"})
SDK_FIXTURES = frozenset({"stack_plans"})

SLOW_IMPORTS = ("pulumi_cloudflare",)
"""Modules that take seconds to import: collection must not import them, or every worker pays."""
IMPORTED_AT_COLLECTION = pytest.StashKey[list[str]]()
"""Which of SLOW_IMPORTS the test process had imported when collection finished."""


def slow_imports_loaded() -> list[str]:
    return [name for name in SLOW_IMPORTS if name in sys.modules]


def _is_sdk_user(module: str) -> bool:
    return module in SDK_USERS or module.split(".", 1)[0] in SLOW_IMPORTS


def loads_every_provider_sdk(source: str) -> bool:
    """Whether a test module's source imports an SDK-loading helper or a slow SDK, or asks for the
    plans."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and _is_sdk_user(node.module or ""):
            return True
        if isinstance(node, ast.Import) and any(_is_sdk_user(a.name) for a in node.names):
            return True
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and any(
            argument.arg in SDK_FIXTURES for argument in node.args.args
        ):
            return True
    return False


class ProviderSdkScheduling(LoadScopeScheduling):
    """`--dist load`, except that the SDK-loading tests are one unit (see the module doc)."""

    def __init__(self, *args: object, root: Path, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._root = root

    @functools.cache  # noqa: B019 - one scheduler per session; a few hundred paths
    def _module_loads_sdks(self, path: str) -> bool:
        module = self._root / path
        return module.suffix == ".py" and loads_every_provider_sdk(module.read_text())

    def _split_scope(self, nodeid: str) -> str:
        if self._module_loads_sdks(nodeid.split("::", 1)[0]):
            return PROVIDER_SDK_UNIT
        return nodeid
