"""Fixtures shared by the test modules. Helpers, fakes and factories live in tests/support/.

Heavy imports (moto, the plan) happen inside the fixtures, so a module that does not use one
does not pay for it.
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest
from hypothesis import settings

from plan.mocks import RecordingMonitor
from tests.support.mocking import install_mocks

if TYPE_CHECKING:
    from tests.support.backup_sandbox import Sandbox
    from tests.support.plans import StackPlans


@pytest.fixture
def mock_stack() -> str:
    """The stack the Pulumi mocks report; override it in a module to change it."""
    return "test"


@pytest.fixture
def monitor(mock_stack: str) -> RecordingMonitor:
    """Fresh Pulumi mocks for one test; its `records` are every registration, in order."""
    return install_mocks(mock_stack)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """A mocked AWS account (moto) with the backup bucket and a KMS key; nothing reaches AWS."""
    from tests.support.backup_sandbox import aws_sandbox

    with aws_sandbox(monkeypatch) as sandbox:
        yield sandbox


@pytest.fixture(scope="session")
def stack_plans(tmp_path_factory: pytest.TempPathFactory) -> StackPlans:
    """`python -m plan --stack dev|prod` of the repository's stack files, each run once per session
    (per test process), when a test first asks for it."""
    from tests.support.plans import plan_each_stack

    return plan_each_stack(tmp_path_factory.mktemp("stack-plans"))


def pytest_collection_finish(session: pytest.Session) -> None:
    from tests.support.scheduling import IMPORTED_AT_COLLECTION, slow_imports_loaded

    session.config.stash[IMPORTED_AT_COLLECTION] = slow_imports_loaded()


_modules_loaded_when_frozen = 0


def pytest_runtest_logfinish() -> None:
    """After a test that imported modules, collect once and freeze what is left.

    The provider SDKs bring hundreds of thousands of objects that live as long as the process,
    and every full collection walked them again: about 5 s of garbage collection per worker, and
    seconds more when each worker's interpreter finalised. Frozen objects sit in the permanent
    generation, so later collections walk only what the tests themselves make. Freezing only when
    sys.modules grew keeps test garbage collectable (the collect runs first).
    """
    global _modules_loaded_when_frozen
    if len(sys.modules) != _modules_loaded_when_frozen:
        gc.collect()
        gc.freeze()
        _modules_loaded_when_frozen = len(sys.modules)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadgroup` (`make test-fast`): the tests that load every provider SDK run on one
    worker, the rest is shared by load (tests/support/scheduling.py says why)."""
    if config.getvalue("dist") != "loadgroup":
        return None
    from tests.support.scheduling import ProviderSdkScheduling

    return ProviderSdkScheduling(config, log, root=config.rootpath)


# Property tests (hypothesis): few examples, so they stay fast, and no deadline, since the
# machines running the suite are shared and a slow example is not a failure. No example database:
# nothing is written into the working tree.
settings.register_profile("cache-platform", max_examples=25, deadline=None, database=None)
settings.load_profile("cache-platform")
