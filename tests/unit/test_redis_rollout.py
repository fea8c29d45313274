"""A redis.conf or script change reaches running pods: the pod template carries a checksum of
the mounted files (mounted by subPath, which never sees a ConfigMap update)."""

from __future__ import annotations

from typing import Any

import pulumi

from components.redis.cluster import (
    CONFIG_CHECKSUM_ANNOTATION,
    RedisCluster,
    RedisClusterArgs,
    config_checksum,
)
from plan.mocks import ResourceRecord
from stackconfig.config import RedisConfig
from tests.support.mocking import install_mocks, one, when_registered


def checksum_of(settings: RedisConfig) -> pulumi.Output[tuple[str, dict[str, str]]]:
    monitor = install_mocks()
    cluster = RedisCluster("redis", RedisClusterArgs(settings=settings))
    result: dict[str, tuple[str, dict[str, str]]] = {}

    def read() -> None:
        statefulset: ResourceRecord = one(monitor.records, "kubernetes:apps/v1:StatefulSet")
        config_map = next(
            r
            for r in monitor.records
            if r.type == "kubernetes:core/v1:ConfigMap" and "redis.conf" in r.inputs["data"]
        )
        annotations = statefulset.inputs["spec"]["template"]["metadata"]["annotations"]
        result["value"] = (annotations[CONFIG_CHECKSUM_ANNOTATION], config_map.inputs["data"])

    return when_registered(cluster, read).apply(lambda _: result["value"])


@pulumi.runtime.test
def test_a_redis_conf_change_changes_the_pod_template() -> Any:
    base = checksum_of(RedisConfig())

    def check(before: tuple[str, dict[str, str]]) -> Any:
        checksum, files = before
        assert checksum == config_checksum(files)
        changed = checksum_of(RedisConfig(maxmemory_percent=80))
        return changed.apply(lambda after: _differs(checksum, after[0]))

    return base.apply(check)


def _differs(before: str, after: str) -> None:
    assert before != after


def test_the_checksum_covers_every_mounted_file() -> None:
    files = {"redis.conf": "maxmemory 1gb\n", "start.sh": "#!/bin/sh\n"}
    assert config_checksum(files) != config_checksum({**files, "start.sh": "#!/bin/sh\n# x\n"})
    assert config_checksum(files) == config_checksum(dict(reversed(list(files.items()))))
