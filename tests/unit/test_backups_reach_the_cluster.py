"""The backups reach the cluster through what RedisCluster outputs (peer labels, Secret name and
key), whatever the cluster's component is called: nothing of the cluster is rebuilt here."""

from __future__ import annotations

from typing import Any

import pulumi
import pytest

from components.backups.component import RedisBackups, RedisBackupsArgs
from components.redis.cluster import RedisCluster, RedisClusterArgs
from plan.mocks import ResourceRecord
from stackconfig.config import BackupsConfig, RedisConfig
from tests.support.mocking import install_mocks, of_type, one, when_registered

OIDC_ARN = (
    "arn:aws:iam::210987654321:oidc-provider/"
    "oidc.eks.eu-west-1.amazonaws.com/id/0123456789ABCDEF0123456789ABCDEF"
)
CRONJOB = "kubernetes:batch/v1:CronJob"


@pytest.fixture
def monitor() -> Any:
    return install_mocks()


def cluster_and_backups(cluster_name: str) -> tuple[RedisCluster, RedisBackups]:
    """Both components wired as __main__.py wires them, the cluster under another name."""
    cluster = RedisCluster(cluster_name, RedisClusterArgs(settings=RedisConfig()))
    backups = RedisBackups(
        f"{cluster_name}-backup",
        RedisBackupsArgs(
            settings=BackupsConfig(oidc_provider_arn=OIDC_ARN),
            redis_namespace=cluster_name,
            redis_peer_labels=cluster.peer_labels,
            redis_secret_name=cluster.backup_secret_name,
            redis_secret_key=cluster.secret_key,
            redis_nodes=cluster.client_endpoint,
            scratch_size="8Gi",
        ),
    )
    return cluster, backups


def backup_pod(records: list[ResourceRecord], name: str) -> dict[str, Any]:
    cron = next(r for r in of_type(records, CRONJOB) if r.name == name)
    return cron.inputs["spec"]["jobTemplate"]["spec"]["template"]


def admitted_to_the_client_port(policy: ResourceRecord, pod_labels: dict[str, str]) -> bool:
    return any(
        any(port["port"] == 6379 for port in rule["ports"])
        and any(
            "namespaceSelector" not in peer
            and peer.get("podSelector", {}).get("matchLabels", {}).items() <= pod_labels.items()
            for peer in rule["from"]
        )
        for rule in policy.inputs["spec"]["ingress"]
    )


@pulumi.runtime.test
def test_the_backup_job_of_a_cluster_not_named_redis_passes_its_network_policy(
    monitor: Any,
) -> Any:
    cluster, backups = cluster_and_backups("sessions")

    def check(_: object) -> None:
        policy = one(monitor.records, "kubernetes:networking.k8s.io/v1:NetworkPolicy")
        pod = backup_pod(monitor.records, "sessions-backup")
        labels = pod["metadata"]["labels"]
        assert admitted_to_the_client_port(policy, labels), (
            f"{policy.urn} does not admit the backup pods labelled {labels}"
        )
        assert labels["app.kubernetes.io/component"] == "backup"

    return pulumi.Output.all(
        when_registered(cluster, lambda: None), when_registered(backups, lambda: None)
    ).apply(check)


@pulumi.runtime.test
def test_the_backup_job_reads_the_password_from_the_clusters_secret_and_key(
    monitor: Any,
) -> Any:
    cluster, backups = cluster_and_backups("sessions")

    def check(values: list[Any]) -> None:
        secret_name, secret_key = values[0], values[1]
        (secret,) = [
            r
            for r in monitor.records
            if r.type == "kubernetes:core/v1:Secret" and r.inputs["metadata"]["name"] == secret_name
        ]
        assert secret_key in secret.inputs["stringData"], secret.urn
        pod = backup_pod(monitor.records, "sessions-backup")
        (auth,) = [v for v in pod["spec"]["volumes"] if v["name"] == "redis-auth"]
        assert auth["secret"]["secretName"] == secret_name
        assert [item["key"] for item in auth["secret"]["items"]] == [secret_key]

    return pulumi.Output.all(
        cluster.backup_secret_name,
        cluster.secret_key,
        when_registered(cluster, lambda: None),
        when_registered(backups, lambda: None),
    ).apply(check)
