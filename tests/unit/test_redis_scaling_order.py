"""RedisCluster under mocks: a change of size is ordered drain Job -> StatefulSet -> reconcile Job.

What a real `pulumi up` does with that order comes from pulumi-kubernetes itself: a Job's await
ends when the Job is Complete and fails the update when it is Failed (the provider's Job docs), so
a resource that depends on a Job is only touched after the Job succeeded; `pulumi.com/waitFor`
replaces the default await of the StatefulSet (provider/pkg/metadata/overrides.go, ReadyCondition).
"""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from components.redis.cluster import RedisCluster, RedisClusterArgs
from plan.mocks import ResourceRecord
from stackconfig.config import RedisConfig
from tests.support.mocking import install_mocks, of_type, one, when_registered


@pytest.fixture
def monitor() -> Any:
    return install_mocks()


def job(records: list[ResourceRecord], logical_name: str) -> ResourceRecord:
    return next(r for r in of_type(records, "kubernetes:batch/v1:Job") if r.name == logical_name)


def env_of(record: ResourceRecord) -> dict[str, str]:
    container = record.inputs["spec"]["template"]["spec"]["containers"][0]
    return {e["name"]: e.get("value") for e in container["env"] if "value" in e}


@pulumi.runtime.test
def test_drain_then_statefulset_then_reconcile(monitor: Any) -> Any:
    cluster = RedisCluster("redis", RedisClusterArgs(settings=RedisConfig(primaries=4)))

    def check() -> None:
        statefulset = one(monitor.records, "kubernetes:apps/v1:StatefulSet")
        drain = job(monitor.records, "redis-drain")
        reconcile = job(monitor.records, "redis-bootstrap")
        assert drain.urn in statefulset.depends_on, statefulset.urn
        assert statefulset.urn in reconcile.depends_on, reconcile.urn
        assert statefulset.urn not in drain.depends_on, drain.urn
        assert statefulset.inputs["spec"]["replicas"] == 8
        # Named by the shape they make: a new size is a new Job, run again.
        assert drain.inputs["metadata"]["name"] == "redis-drain-p4-r1"
        assert reconcile.inputs["metadata"]["name"] == "redis-reconcile-p4-r1"
        assert env_of(drain)["REDIS_RECONCILE_MODE"] == "drain"
        assert env_of(reconcile)["REDIS_RECONCILE_MODE"] == "converge"
        for record in (drain, reconcile):
            env = env_of(record)
            assert env["REDIS_PRIMARIES"] == "4"
            assert len(env["REDIS_NODES"].split()) == 8
            assert env["REDIS_SCALE_MAX_FILL_PERCENT"] == "80"

    return when_registered(cluster, check)


@pulumi.runtime.test
def test_statefulset_waits_for_its_pods_not_their_readiness(monitor: Any) -> Any:
    cluster = RedisCluster("redis", RedisClusterArgs(settings=RedisConfig(primaries=4)))

    def check() -> None:
        statefulset = one(monitor.records, "kubernetes:apps/v1:StatefulSet")
        annotations = statefulset.inputs["metadata"]["annotations"]
        # New pods become ready only after the reconcile Job, which waits for the StatefulSet:
        # the default readiness await would deadlock a scale-out.
        assert annotations["pulumi.com/waitFor"] == "jsonpath={.status.replicas}=8"
        retention = statefulset.inputs["spec"]["persistentVolumeClaimRetentionPolicy"]
        assert retention == {"whenScaled": "Delete", "whenDeleted": "Retain"}

    return when_registered(cluster, check)
