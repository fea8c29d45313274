"""Fixtures that run real Redis Clusters through lab.cluster (see tests/integration/conftest.py).

Every lab lives in a pytest temp directory, so its node logs stay there for a failing test to be
read; every process is killed when the fixture ends, whatever the test did.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from components.redis.conf import redis_conf_spec, render_redis_conf
from lab.cluster import RedisLab
from stackconfig.config import RedisConfig
from tests.support.tools import require_tool

LabFactory = Callable[..., RedisLab]


def lab_conf(**changes: object) -> str:
    """The production redis.conf (the stack's defaults: 8Gi, its node timeout) with `changes`."""
    spec = redis_conf_spec(RedisConfig())
    return render_redis_conf(dataclasses.replace(spec, **changes))  # type: ignore[arg-type]


def require_redis_tools() -> None:
    for tool in ("redis-server", "redis-cli", "sh"):
        require_tool(tool)


def _factory(base: Path, labs: list[RedisLab]) -> LabFactory:
    def make(conf_text: str | None = None, **options: object) -> RedisLab:
        lab = RedisLab(
            conf_text or lab_conf(),
            base_dir=base / f"lab-{len(labs)}",
            **options,  # type: ignore[arg-type]
        )
        labs.append(lab)
        return lab.start()

    return make


@pytest.fixture
def make_lab(tmp_path: Path) -> Iterator[LabFactory]:
    """Starts labs on demand: `make_lab(primaries=3, replicas=1, memory="8mb", ...)`."""
    require_redis_tools()
    labs: list[RedisLab] = []
    try:
        yield _factory(tmp_path, labs)
    finally:
        for lab in labs:
            lab.close()


@pytest.fixture
def lab(make_lab: LabFactory) -> RedisLab:
    """A fresh 3 + 3 lab from the production redis.conf, for a test that breaks it."""
    return make_lab()


@pytest.fixture(scope="module")
def shared_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisLab]:
    """One 3 + 3 lab for the tests of a module that leave the cluster as they found it."""
    require_redis_tools()
    labs: list[RedisLab] = []
    try:
        yield _factory(tmp_path_factory.mktemp("shared-redis-lab"), labs)()
    finally:
        for lab in labs:
            lab.close()
