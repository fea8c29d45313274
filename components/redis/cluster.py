"""RedisCluster: a Redis Cluster of `primaries × (1 + replicasPerPrimary)` pods on Kubernetes.

Config in (RedisClusterArgs), resources out: namespace, one password Secret per ACL user
(components/redis/acl.py), config + scripts ConfigMap, headless and client Services, StatefulSet
(redis + redis_exporter), PodDisruptionBudget, NetworkPolicy, ServiceMonitor, and the bootstrap Job
+ repair CronJob that form, reshape and heal the cluster with the same script the local lab runs
(bootstrap.sh).

Passwords reach containers only as files (Secret volumes, 0400), never as environment variables
(`kubectl exec env` and /proc/<pid>/environ show those); each container mounts only the users it
connects as. No pod here talks to the Kubernetes API, so none mounts a service account token.

A change of `primaries` or `replicasPerPrimary` on a live cluster is ordered for Pulumi, the same
way in both directions (the program never needs to know the size it replaces):

    drain Job  ->  StatefulSet  ->  reconcile Job     (each waits for the one before)

- the drain Job (named by the target topology) empties and forgets the members the new size no
  longer has, while they still run; Pulumi awaits a Job until it completes and stops the update
  when it fails, so the StatefulSet never shrinks under a pod that still serves slots. On a
  scale-out or a first deploy it has nothing to do and exits at once;
- the StatefulSet then grows or shrinks. Its await is `pulumi.com/waitFor` on `.status.replicas`
  (the pods exist), not the default readiness: a new pod is not ready until the reconcile Job has
  joined it, and the default await would wait for that Job forever;
- the reconcile Job (named by the target topology) joins new pods, moves an even share of the slots
  to new primaries and points the rest as replicas.
The repair CronJob runs the same script in repair mode: it never reshapes, so an old schedule
firing in the middle of a change cannot undo it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.redis.acl import APP, BACKUP, MONITOR, OPERATOR, USERS, render_acl_rules
from components.redis.conf import redis_conf_spec, render_redis_conf
from components.workloads import (
    dns_egress,
    labelled_namespaces_peer,
    prometheus_peer,
    restricted_container,
    restricted_pod,
)
from stackconfig import adr
from stackconfig.config import RedisConfig

REDIS_PORT = 6379
BUS_PORT = 16379
METRICS_PORT = 9121
REDIS_UID = 999  # the `redis` user of the official image
SCRIPTS_DIR = Path(__file__).parent / "scripts"
CONFIG_MOUNT = "/etc/redis"
SCRIPTS_MOUNT = "/scripts"
DATA_MOUNT = "/data"
RUNTIME_MOUNT = "/run/redis"
USERS_MOUNT = "/etc/redis-users"
EXPORTER_SECRET_MOUNT = "/etc/redis-exporter"
PASSWORD_KEY = "password"
EXPORTER_PASSWORDS_KEY = "exporter-passwords.json"
"""redis_exporter's password file: a JSON map of redis:// address -> password."""
ACL_RULES_KEY = "users.acl"
"""Labels prometheus-operator gives the Prometheus pods it runs (kube-prometheus-stack)."""
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
# A primary hands over to its replica in preStop (CLUSTER FAILOVER, a few seconds), then the
# process saves and exits; this leaves room for both before the kubelet sends SIGKILL.
TERMINATION_GRACE_SECONDS = 60
# Moving slots takes as long as the data needs (~200 slots/s measured on the lab, more with big
# keys); Pulumi's default 10 minutes could fail a Job that is still making progress.
RESHAPE_JOB_TIMEOUT = "60m"
WAIT_FOR_ANNOTATION = "pulumi.com/waitFor"


@dataclass(frozen=True)
class RedisClusterArgs:
    """Inputs of RedisCluster."""

    settings: RedisConfig
    """The `cache-platform:redis` config: sizes, persistence, images, timeouts."""
    labels: Mapping[str, str] = field(default_factory=lambda: dict[str, str]())
    """Labels added to every object (environment, part-of)."""
    monitoring_namespace: str = "monitoring"
    """Namespace whose Prometheus may scrape the exporter (NetworkPolicy) and reads the
    ServiceMonitor."""
    metrics_depends_on: Sequence[pulumi.Resource] = ()
    """What installs the ServiceMonitor CRD (the monitoring stack's Helm release): on a fresh
    cluster the ServiceMonitor can only be created after it."""


def node_count(settings: RedisConfig) -> int:
    return settings.primaries * (1 + settings.replicas_per_primary)


CONFIG_CHECKSUM_ANNOTATION = "cache-platform/config-checksum"


def config_checksum(files: Mapping[str, str]) -> str:
    """sha256 over the pods' mounted files (redis.conf and the lifecycle scripts)."""
    digest = hashlib.sha256()
    for name in sorted(files):
        digest.update(name.encode() + b"\0" + files[name].encode() + b"\0")
    return digest.hexdigest()


def topology_suffix(settings: RedisConfig) -> str:
    """`p<primaries>-r<replicas per primary>`: names the Jobs after the shape they make, so a
    change of shape is a new Job (a Job's spec cannot be changed in place)."""
    return f"p{settings.primaries}-r{settings.replicas_per_primary}"


def scripts() -> dict[str, str]:
    """The lifecycle scripts mounted into every pod and Job (the lab runs the same files)."""
    return {path.name: path.read_text() for path in sorted(SCRIPTS_DIR.glob("*.sh"))}


class RedisCluster(pulumi.ComponentResource):
    """A Redis Cluster with AUTH, persistence, anti-affinity, metrics and self-repair."""

    client_endpoint: pulumi.Output[str]
    """host:port of the client Service (any node; cluster-aware clients discover the rest)."""
    headless_service_name: pulumi.Output[str]
    """Name of the headless Service that gives each pod a stable DNS name."""
    secret_name: pulumi.Output[str]
    """Name of the Secret holding the application user's password (key `password`; the user
    is `app`, see `components/redis/acl.py`)."""
    secret_key: pulumi.Output[str]
    """Key of the AUTH password in the Secret `secret_name`."""
    peer_labels: pulumi.Output[dict[str, str]]
    """Labels that let a pod of the cluster's namespace reach the nodes (client and bus port)
    through the NetworkPolicy: what its jobs, and another component's (backups), carry."""
    operator_secret_name: pulumi.Output[str]
    """Name of the Secret holding the `operator` user's password (cachectl, runbooks)."""
    backup_secret_name: pulumi.Output[str]
    """Name of the Secret holding the `backup` user's password (the backup job)."""
    node_count: pulumi.Output[int]
    """Number of Redis pods."""

    def __init__(
        self, name: str, args: RedisClusterArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cache-platform:redis:RedisCluster", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self)
        namespace_name = settings.namespace
        selector = {"app.kubernetes.io/name": "redis-cluster", "app.kubernetes.io/instance": name}
        # Jobs (bootstrap, repair, and others' through `peer_labels`) share `selector` so the
        # NetworkPolicy admits them; only the Redis servers themselves repel each other, or a job
        # could block a Redis pod's node.
        server_selector = {**selector, "app.kubernetes.io/component": "server"}
        server_labels = {**args.labels, **server_selector}
        headless_name = f"{name}-headless"
        replicas = node_count(settings)

        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=namespace_name, labels=dict(args.labels)),
            opts=child,
        )
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[namespace])

        def metadata(resource_name: str, **extra_labels: str) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(
                name=resource_name,
                namespace=namespace_name,
                labels={**args.labels, **selector, **extra_labels},
            )

        secrets: dict[str, k8s.core.v1.Secret] = {}
        for user in USERS:
            # The application user keeps the names of the single password it replaces: same
            # URNs, same value, so the services keep their password (and now send a user name).
            prefix = name if user is APP else f"{name}-{user.name}"
            password = random.RandomPassword(
                f"{prefix}-password",
                length=48,
                special=False,  # the password is written into a redis.conf-style include
                opts=child,
            )
            data: dict[str, pulumi.Input[str]] = {PASSWORD_KEY: password.result}
            if user is MONITOR:
                data[EXPORTER_PASSWORDS_KEY] = password.result.apply(
                    lambda secret: json.dumps({f"redis://127.0.0.1:{REDIS_PORT}": secret})
                )
            secrets[user.name] = k8s.core.v1.Secret(
                f"{prefix}-auth",
                metadata=metadata(f"{prefix}-auth"),
                type="Opaque",
                string_data=data,
                opts=pulumi.ResourceOptions(
                    parent=self,
                    depends_on=[namespace],
                    additional_secret_outputs=["stringData", "data"],
                ),
            )
        secret = secrets[APP.name]

        def users_volume(volume_name: str, users: list[str]) -> k8s.core.v1.VolumeArgs:
            """The password files of `users`, one file per user named after it.

            0400 as written; the kubelet adds group read for the pod's fs_group (the redis
            group), the only way a non-root container reads a Secret volume.
            """
            return k8s.core.v1.VolumeArgs(
                name=volume_name,
                projected=k8s.core.v1.ProjectedVolumeSourceArgs(
                    default_mode=0o400,
                    sources=[
                        k8s.core.v1.VolumeProjectionArgs(
                            secret=k8s.core.v1.SecretProjectionArgs(
                                name=secrets[user].metadata.name,
                                items=[k8s.core.v1.KeyToPathArgs(key=PASSWORD_KEY, path=user)],
                            )
                        )
                        for user in users
                    ],
                ),
            )

        config_files = {
            "redis.conf": render_redis_conf(redis_conf_spec(settings, REDIS_PORT)),
            ACL_RULES_KEY: render_acl_rules(),
            **scripts(),
        }
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-config",
            metadata=metadata(f"{name}-config"),
            data=config_files,
            opts=in_namespace,
        )

        headless = k8s.core.v1.Service(
            headless_name,
            metadata=metadata(headless_name, **{"cache-platform/metrics": "true"}),
            spec=k8s.core.v1.ServiceSpecArgs(
                cluster_ip="None",
                # Pods must resolve each other before they are ready, or the cluster can
                # never form (readiness requires cluster_state:ok).
                publish_not_ready_addresses=True,
                selector={**selector, "app.kubernetes.io/component": "server"},
                ports=[
                    k8s.core.v1.ServicePortArgs(name="redis", port=REDIS_PORT),
                    k8s.core.v1.ServicePortArgs(name="bus", port=BUS_PORT),
                    k8s.core.v1.ServicePortArgs(name="metrics", port=METRICS_PORT),
                ],
            ),
            opts=in_namespace,
        )
        client = k8s.core.v1.Service(
            name,
            metadata=metadata(name),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector={**selector, "app.kubernetes.io/component": "server"},
                ports=[k8s.core.v1.ServicePortArgs(name="redis", port=REDIS_PORT)],
            ),
            opts=in_namespace,
        )

        node_addresses = " ".join(
            f"{name}-{i}.{headless_name}.{namespace_name}.svc.cluster.local:{REDIS_PORT}"
            for i in range(replicas)
        )
        common_env = [
            # The scripts connect as the operator; its password is a file, never an env var.
            k8s.core.v1.EnvVarArgs(name="REDIS_USER", value=OPERATOR.name),
            k8s.core.v1.EnvVarArgs(
                name="REDIS_PASSWORD_FILE", value=f"{USERS_MOUNT}/{OPERATOR.name}"
            ),
            k8s.core.v1.EnvVarArgs(name="REDIS_PORT", value=str(REDIS_PORT)),
            k8s.core.v1.EnvVarArgs(name="REDIS_NODES", value=node_addresses),
            k8s.core.v1.EnvVarArgs(name="REDIS_PRIMARIES", value=str(settings.primaries)),
            k8s.core.v1.EnvVarArgs(
                name="REDIS_REPLICAS_PER_PRIMARY", value=str(settings.replicas_per_primary)
            ),
        ]
        container_security = restricted_container(REDIS_UID)
        pod_security = restricted_pod(REDIS_UID)
        config_volume = k8s.core.v1.VolumeArgs(
            name="config",
            config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                name=config_map.metadata.name, default_mode=0o555
            ),
        )

        def exec_probe(script: str, period: int, failures: int) -> k8s.core.v1.ProbeArgs:
            return k8s.core.v1.ProbeArgs(
                exec_=k8s.core.v1.ExecActionArgs(command=["sh", f"{SCRIPTS_MOUNT}/{script}"]),
                period_seconds=period,
                timeout_seconds=5,
                failure_threshold=failures,
            )

        redis_container = k8s.core.v1.ContainerArgs(
            name="redis",
            image=settings.image,
            command=["sh", f"{SCRIPTS_MOUNT}/start.sh"],
            env=[
                *common_env,
                k8s.core.v1.EnvVarArgs(
                    name="POD_NAME",
                    value_from=k8s.core.v1.EnvVarSourceArgs(
                        field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path="metadata.name")
                    ),
                ),
                k8s.core.v1.EnvVarArgs(
                    # Announced to clients and peers instead of the pod IP, which changes on
                    # every restart.
                    name="REDIS_ANNOUNCE_HOSTNAME",
                    value=f"$(POD_NAME).{headless_name}.{namespace_name}.svc.cluster.local",
                ),
                k8s.core.v1.EnvVarArgs(
                    # Announced to peers, so a restarted pod's new IP spreads at once instead of
                    # being learnt from its first connections.
                    name="REDIS_ANNOUNCE_IP",
                    value_from=k8s.core.v1.EnvVarSourceArgs(
                        field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path="status.podIP")
                    ),
                ),
                k8s.core.v1.EnvVarArgs(name="REDIS_CONF", value=f"{CONFIG_MOUNT}/redis.conf"),
                k8s.core.v1.EnvVarArgs(name="REDIS_DATA_DIR", value=DATA_MOUNT),
                k8s.core.v1.EnvVarArgs(name="REDIS_RUNTIME_DIR", value=RUNTIME_MOUNT),
                k8s.core.v1.EnvVarArgs(
                    name="REDIS_ACL_RULES", value=f"{SCRIPTS_MOUNT}/{ACL_RULES_KEY}"
                ),
                k8s.core.v1.EnvVarArgs(name="REDIS_USERS_DIR", value=USERS_MOUNT),
            ],
            ports=[
                k8s.core.v1.ContainerPortArgs(name="redis", container_port=REDIS_PORT),
                k8s.core.v1.ContainerPortArgs(name="bus", container_port=BUS_PORT),
            ],
            resources=k8s.core.v1.ResourceRequirementsArgs(
                # request = limit: the Guaranteed QoS class, never evicted for memory pressure of
                # other pods; maxmemory stays below the limit (see redis.conf).
                requests={"memory": settings.memory, "cpu": settings.cpu},
                limits={"memory": settings.memory},
            ),
            readiness_probe=exec_probe("readiness.sh", period=5, failures=3),
            liveness_probe=exec_probe("liveness.sh", period=10, failures=6),
            startup_probe=exec_probe("liveness.sh", period=5, failures=120),
            lifecycle=k8s.core.v1.LifecycleArgs(
                pre_stop=k8s.core.v1.LifecycleHandlerArgs(
                    exec_=k8s.core.v1.ExecActionArgs(command=["sh", f"{SCRIPTS_MOUNT}/prestop.sh"])
                )
            ),
            security_context=container_security,
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(name="data", mount_path=DATA_MOUNT),
                k8s.core.v1.VolumeMountArgs(
                    name="config", mount_path=f"{CONFIG_MOUNT}/redis.conf", sub_path="redis.conf"
                ),
                k8s.core.v1.VolumeMountArgs(name="config", mount_path=SCRIPTS_MOUNT),
                k8s.core.v1.VolumeMountArgs(name="runtime", mount_path=RUNTIME_MOUNT),
                k8s.core.v1.VolumeMountArgs(name="users", mount_path=USERS_MOUNT, read_only=True),
            ],
        )
        exporter_probe = k8s.core.v1.HTTPGetActionArgs(path="/health", port="metrics")
        exporter_container = k8s.core.v1.ContainerArgs(
            name="exporter",
            image=settings.exporter_image,
            # /scrape?target= would authenticate to any address it is given with this password
            # (redis_exporter issue 1104): this pod only ever exports its own node.
            args=["--is-cluster", "--disable-scrape-endpoint"],
            env=[
                k8s.core.v1.EnvVarArgs(name="REDIS_ADDR", value=f"redis://127.0.0.1:{REDIS_PORT}"),
                k8s.core.v1.EnvVarArgs(name="REDIS_USER", value=MONITOR.name),
                k8s.core.v1.EnvVarArgs(
                    name="REDIS_PASSWORD_FILE",
                    value=f"{EXPORTER_SECRET_MOUNT}/{EXPORTER_PASSWORDS_KEY}",
                ),
            ],
            ports=[k8s.core.v1.ContainerPortArgs(name="metrics", container_port=METRICS_PORT)],
            readiness_probe=k8s.core.v1.ProbeArgs(
                http_get=exporter_probe, period_seconds=10, timeout_seconds=5
            ),
            liveness_probe=k8s.core.v1.ProbeArgs(
                http_get=exporter_probe, period_seconds=20, timeout_seconds=5, failure_threshold=6
            ),
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": "50m", "memory": "64Mi"}, limits={"memory": "128Mi"}
            ),
            security_context=container_security,
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(
                    name="exporter-auth", mount_path=EXPORTER_SECRET_MOUNT, read_only=True
                )
            ],
        )

        def job_pod(extra_env: list[k8s.core.v1.EnvVarArgs]) -> k8s.core.v1.PodTemplateSpecArgs:
            return k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    labels={**args.labels, **selector, "app.kubernetes.io/component": "bootstrap"}
                ),
                spec=k8s.core.v1.PodSpecArgs(
                    restart_policy="OnFailure",
                    automount_service_account_token=False,
                    security_context=pod_security,
                    containers=[
                        k8s.core.v1.ContainerArgs(
                            name="bootstrap",
                            image=settings.image,
                            command=["sh", f"{SCRIPTS_MOUNT}/bootstrap.sh"],
                            env=[*common_env, *extra_env],
                            security_context=container_security,
                            resources=k8s.core.v1.ResourceRequirementsArgs(
                                requests={"cpu": "50m", "memory": "32Mi"},
                                limits={"memory": "64Mi"},
                            ),
                            volume_mounts=[
                                k8s.core.v1.VolumeMountArgs(
                                    name="config", mount_path=SCRIPTS_MOUNT
                                ),
                                k8s.core.v1.VolumeMountArgs(
                                    name="users", mount_path=USERS_MOUNT, read_only=True
                                ),
                            ],
                        )
                    ],
                    volumes=[config_volume, users_volume("users", [OPERATOR.name])],
                ),
            )

        def reshape_job_pod(mode: str) -> k8s.core.v1.PodTemplateSpecArgs:
            return job_pod(
                [
                    k8s.core.v1.EnvVarArgs(name="REDIS_RECONCILE_MODE", value=mode),
                    k8s.core.v1.EnvVarArgs(
                        name="REDIS_SCALE_MAX_FILL_PERCENT",
                        value=str(round(adr.MEMORY_WARNING * 100)),
                    ),
                ]
            )

        topology = topology_suffix(settings)
        reshape_timeouts = pulumi.CustomTimeouts(
            create=RESHAPE_JOB_TIMEOUT, update=RESHAPE_JOB_TIMEOUT
        )
        # Runs to completion before the StatefulSet changes (it depends on this Job): members the
        # new size drops hand over their slots and leave while their pods still run.
        drain_job = k8s.batch.v1.Job(
            f"{name}-drain",
            metadata=metadata(
                f"{name}-drain-{topology}", **{"app.kubernetes.io/component": "bootstrap"}
            ),
            spec=k8s.batch.v1.JobSpecArgs(backoff_limit=10, template=reshape_job_pod("drain")),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[headless, config_map, secrets[OPERATOR.name]],
                replace_on_changes=["spec"],
                delete_before_replace=True,
                custom_timeouts=reshape_timeouts,
            ),
        )

        statefulset = k8s.apps.v1.StatefulSet(
            name,
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=name,
                namespace=namespace_name,
                labels={**args.labels, **selector},
                annotations={
                    # Done when the pods exist, ready or not: new pods only become ready after
                    # the reconcile Job (which comes after this) has joined them.
                    WAIT_FOR_ANNOTATION: f"jsonpath={{.status.replicas}}={replicas}"
                },
            ),
            spec=k8s.apps.v1.StatefulSetSpecArgs(
                service_name=headless.metadata.name,
                replicas=replicas,
                # All pods start together: the cluster can only form once every node runs.
                pod_management_policy="Parallel",
                selector=k8s.meta.v1.LabelSelectorArgs(
                    match_labels={**selector, "app.kubernetes.io/component": "server"}
                ),
                update_strategy=k8s.apps.v1.StatefulSetUpdateStrategyArgs(type="RollingUpdate"),
                # A pod the StatefulSet drops (scale-in) was drained and reset first: its volume
                # holds nothing and would only cost money. Deleting the StatefulSet keeps them.
                persistent_volume_claim_retention_policy=(
                    k8s.apps.v1.StatefulSetPersistentVolumeClaimRetentionPolicyArgs(
                        when_scaled="Delete", when_deleted="Retain"
                    )
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=server_labels,
                        # The files are mounted by subPath, which never sees a ConfigMap update:
                        # a changed file changes this, and the StatefulSet rolls its pods.
                        annotations={CONFIG_CHECKSUM_ANNOTATION: config_checksum(config_files)},
                    ),
                    spec=k8s.core.v1.PodSpecArgs(
                        automount_service_account_token=False,
                        termination_grace_period_seconds=TERMINATION_GRACE_SECONDS,
                        # Pins the instance type the cost model prices (when one is chosen).
                        node_selector=(
                            {INSTANCE_TYPE_LABEL: settings.node_type}
                            if settings.node_type
                            else None
                        ),
                        security_context=pod_security,
                        affinity=k8s.core.v1.AffinityArgs(
                            pod_anti_affinity=k8s.core.v1.PodAntiAffinityArgs(
                                # One Redis pod per node: a replica never shares a node (or its
                                # failure) with its primary.
                                required_during_scheduling_ignored_during_execution=[
                                    k8s.core.v1.PodAffinityTermArgs(
                                        topology_key="kubernetes.io/hostname",
                                        label_selector=k8s.meta.v1.LabelSelectorArgs(
                                            match_labels=server_selector
                                        ),
                                    )
                                ]
                            )
                        ),
                        topology_spread_constraints=[
                            k8s.core.v1.TopologySpreadConstraintArgs(
                                max_skew=1,
                                topology_key="topology.kubernetes.io/zone",
                                # ScheduleAnyway: a zone outage must not block rescheduling.
                                when_unsatisfiable="ScheduleAnyway",
                                label_selector=k8s.meta.v1.LabelSelectorArgs(
                                    match_labels=server_selector
                                ),
                            )
                        ],
                        containers=[redis_container, exporter_container],
                        volumes=[
                            config_volume,
                            users_volume("users", [user.name for user in USERS]),
                            k8s.core.v1.VolumeArgs(
                                name="exporter-auth",
                                secret=k8s.core.v1.SecretVolumeSourceArgs(
                                    secret_name=secrets[MONITOR.name].metadata.name,
                                    default_mode=0o400,
                                    items=[
                                        k8s.core.v1.KeyToPathArgs(
                                            key=EXPORTER_PASSWORDS_KEY, path=EXPORTER_PASSWORDS_KEY
                                        )
                                    ],
                                ),
                            ),
                            k8s.core.v1.VolumeArgs(
                                name="runtime",
                                empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(
                                    medium="Memory", size_limit="1Mi"
                                ),
                            ),
                        ],
                    ),
                ),
                volume_claim_templates=[
                    k8s.core.v1.PersistentVolumeClaimArgs(
                        metadata=k8s.meta.v1.ObjectMetaArgs(name="data", labels=server_labels),
                        spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
                            access_modes=["ReadWriteOnce"],
                            storage_class_name=settings.storage_class,
                            resources=k8s.core.v1.VolumeResourceRequirementsArgs(
                                requests={"storage": settings.storage}
                            ),
                        ),
                    )
                ],
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[namespace, *secrets.values(), drain_job],
                # volumeClaimTemplates is immutable: pulumi-kubernetes would replace the named
                # StatefulSet delete-first (every pod at once) and the old PVCs would come back at
                # their old size. Storage changes follow docs/runbooks/redis-storage-resize.md.
                ignore_changes=["spec.volumeClaimTemplates"],
            ),
        )

        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=metadata(f"{name}-pdb"),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=1,
                selector=k8s.meta.v1.LabelSelectorArgs(
                    match_labels={**selector, "app.kubernetes.io/component": "server"}
                ),
            ),
            opts=in_namespace,
        )

        k8s.networking.v1.NetworkPolicy(
            f"{name}-network",
            metadata=metadata(f"{name}-network"),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(
                    match_labels={**selector, "app.kubernetes.io/component": "server"}
                ),
                policy_types=["Ingress", "Egress"],
                ingress=[
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        # Cluster peers, the bootstrap/repair jobs and the backup job.
                        from_=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector)
                            )
                        ],
                        ports=[
                            k8s.networking.v1.NetworkPolicyPortArgs(port=REDIS_PORT),
                            k8s.networking.v1.NetworkPolicyPortArgs(port=BUS_PORT),
                        ],
                    ),
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=[labelled_namespaces_peer(settings.client_namespace_label)],
                        ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=REDIS_PORT)],
                    ),
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=[prometheus_peer(args.monitoring_namespace)],
                        ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=METRICS_PORT)],
                    ),
                ],
                # A Redis pod talks to its peers (replication, cluster bus) and to DNS (the
                # peers' names, nodes.conf repair), nothing else: a compromised node cannot
                # reach out.
                egress=[
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        to=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                pod_selector=k8s.meta.v1.LabelSelectorArgs(
                                    match_labels=server_selector
                                )
                            )
                        ],
                        ports=[
                            k8s.networking.v1.NetworkPolicyPortArgs(port=REDIS_PORT),
                            k8s.networking.v1.NetworkPolicyPortArgs(port=BUS_PORT),
                        ],
                    ),
                    dns_egress(),
                ],
            ),
            opts=in_namespace,
        )

        k8s.apiextensions.CustomResource(
            f"{name}-metrics",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata=metadata(f"{name}-metrics"),
            spec={
                "selector": {"matchLabels": {**selector, "cache-platform/metrics": "true"}},
                "namespaceSelector": {"matchNames": [namespace_name]},
                "endpoints": [{"port": "metrics", "interval": "15s", "path": "/metrics"}],
            },
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[namespace, *args.metrics_depends_on]
            ),
        )

        # Forms the cluster on the first deploy and gives it its new shape on later ones; runs
        # after the StatefulSet has its new size (see the module docstring for the order).
        k8s.batch.v1.Job(
            f"{name}-bootstrap",
            metadata=metadata(
                f"{name}-reconcile-{topology}", **{"app.kubernetes.io/component": "bootstrap"}
            ),
            spec=k8s.batch.v1.JobSpecArgs(backoff_limit=10, template=reshape_job_pod("converge")),
            opts=pulumi.ResourceOptions(
                parent=self,
                depends_on=[headless, config_map, secrets[OPERATOR.name], statefulset],
                replace_on_changes=["spec"],
                delete_before_replace=True,
                custom_timeouts=reshape_timeouts,
            ),
        )
        # The same script every few minutes heals what no deploy will: a pod that came back
        # with an empty volume is an empty primary that never rejoins by itself.
        k8s.batch.v1.CronJob(
            f"{name}-repair",
            metadata=metadata(f"{name}-repair", **{"app.kubernetes.io/component": "bootstrap"}),
            spec=k8s.batch.v1.CronJobSpecArgs(
                schedule="*/5 * * * *",
                concurrency_policy="Forbid",
                successful_jobs_history_limit=1,
                failed_jobs_history_limit=3,
                job_template=k8s.batch.v1.JobTemplateSpecArgs(
                    spec=k8s.batch.v1.JobSpecArgs(
                        backoff_limit=2,
                        template=job_pod(
                            [k8s.core.v1.EnvVarArgs(name="REDIS_RECONCILE_MODE", value="repair")]
                        ),
                    )
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[statefulset]),
        )

        self.client_endpoint = pulumi.Output.concat(
            client.metadata.name, f".{namespace_name}.svc.cluster.local:{REDIS_PORT}"
        )
        self.headless_service_name = headless.metadata.name
        self.secret_name = secret.metadata.name
        self.secret_key = pulumi.Output.from_input(PASSWORD_KEY)
        self.peer_labels = pulumi.Output.from_input(dict(selector))
        # Namespaced objects of other components take the name from here, so they are created
        # after the namespace (a component's depends_on does not reach its children).
        self.namespace_name = namespace.metadata.name
        self.operator_secret_name = secrets[OPERATOR.name].metadata.name
        self.backup_secret_name = secrets[BACKUP.name].metadata.name
        self.node_count = pulumi.Output.from_input(replicas)
        self.register_outputs(
            {
                "client_endpoint": self.client_endpoint,
                "headless_service_name": self.headless_service_name,
                "secret_name": self.secret_name,
                "secret_key": self.secret_key,
                "peer_labels": self.peer_labels,
                "operator_secret_name": self.operator_secret_name,
                "backup_secret_name": self.backup_secret_name,
                "node_count": self.node_count,
            }
        )
