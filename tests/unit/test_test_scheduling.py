"""`make test-fast` keeps every SDK-loading test on one worker; the rest is shared by load."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.scheduling import IMPORTED_AT_COLLECTION, loads_every_provider_sdk

UNIT = Path(__file__).resolve().parent


def test_modules_that_plan_or_build_the_edge_are_recognised() -> None:
    assert loads_every_provider_sdk("from tests.support.plans import run_plan")
    assert loads_every_provider_sdk("from tests.support.edge import cloudflare_edge")
    assert loads_every_provider_sdk("import tests.support.plan_runs")
    assert loads_every_provider_sdk("def test_x(stack_plans):\n    pass")
    assert loads_every_provider_sdk("def register():\n    import pulumi_cloudflare as cloudflare")
    assert loads_every_provider_sdk("from pulumi_cloudflare.ruleset import Ruleset")
    assert not loads_every_provider_sdk("from tests.support.mocking import one\ndef test_x(): ...")


def test_the_repository_modules_that_plan_are_in_the_unit() -> None:
    chosen = {p.name for p in UNIT.glob("test_*.py") if loads_every_provider_sdk(p.read_text())}
    assert {
        "test_plan.py",
        "test_policy_plan.py",
        "test_cdn_edge.py",
        "test_policy_fixtures.py",
    } <= chosen
    assert "test_keys_properties.py" not in chosen


def test_collecting_the_tests_imports_no_slow_sdk(request: pytest.FixtureRequest) -> None:
    """A test module importing `components.cdn.edge` at the top made each worker import
    pulumi_cloudflare while collecting (seconds each); tests/support/edge.py imports it lazily."""
    assert request.config.stash[IMPORTED_AT_COLLECTION] == []
