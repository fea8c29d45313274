"""InvalidationService: the event-driven invalidation service (invalidator/) on Kubernetes.

Config in (InvalidationServiceArgs), resources out: the webhook's shared secret (generated), a
Secret holding it and the Cloudflare purge token, a Deployment of `python -m invalidator` from
the tools image, a Service for the webhook and metrics port, a PodDisruptionBudget, a
NetworkPolicy and a ServiceMonitor.

The pods run in the Redis cluster's namespace, carrying its peer labels (RedisCluster.peer_labels):
the cluster's NetworkPolicy admits them on the client port, and the operator user's Secret, which
only pods of that namespace can mount, reaches them as a file. Every secret is a file of one
projected volume (0400, group-readable through the pod's fsGroup only), never an env value.

The component's own Secret is named by Pulumi (a random suffix): pulumi-kubernetes replaces a
Secret whose data changes instead of updating it, so a rotated token or webhook secret gets a new
Secret name, and the Deployment, which mounts it by name, rolls its pods onto it — the service
reads its secrets once, at start.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.invalidation.pod import (
    CLOUDFLARE_API_BLOCKS,
    CLOUDFLARE_TOKEN_FILE,
    CLOUDFLARE_TOKEN_KEY,
    HTTP_PORT,
    HTTP_PORT_NAME,
    HTTPS_PORT,
    LIVENESS_PATH,
    METRICS_PATH,
    READINESS_PATH,
    REDIS_PASSWORD_FILE,
    SCRAPE_INTERVAL,
    SECRETS_MOUNT,
    WEBHOOK_SECRET_FILE,
    WEBHOOK_SECRET_KEY,
    WEBHOOK_SECRET_LENGTH,
    ServiceSettings,
    object_labels,
    pod_labels,
    selector_labels,
    service_environment,
)
from components.redis.acl import OPERATOR
from components.redis.cluster import REDIS_PORT
from components.tools_image import TOOLS_UID
from components.workloads import (
    dns_egress,
    labelled_namespaces_peer,
    prometheus_peer,
    restricted_container,
    restricted_pod,
)
from stackconfig.config import CloudflarePlan, InvalidationConfig

TERMINATION_GRACE_SECONDS = 30
"""SIGTERM ends the loop after the current batch; what is left pending is claimed by a peer."""


@dataclass(frozen=True)
class InvalidationServiceArgs:
    """Inputs of InvalidationService."""

    settings: InvalidationConfig
    """The `cache-platform:invalidation` config: replicas, image, claim idle time, resources."""
    namespace: pulumi.Input[str]
    """The Redis cluster's namespace as its Namespace outputs it (RedisCluster.namespace_name):
    the service runs there, created after it."""
    redis_peer_labels: pulumi.Input[Mapping[str, str]]
    """Labels the cluster's NetworkPolicy admits (RedisCluster.peer_labels); the pods carry
    them, and the service's egress is limited to the pods they select."""
    redis_nodes: pulumi.Input[str]
    """host:port of the cluster's client Service (RedisCluster.client_endpoint)."""
    redis_secret_name: pulumi.Input[str]
    """Secret of the `operator` ACL user (RedisCluster.operator_secret_name): the service unlinks
    keys, scans patterns and runs the stream's consumer group."""
    redis_secret_key: pulumi.Input[str]
    """Key of the password in that Secret (RedisCluster.secret_key)."""
    zone_id: pulumi.Input[str]
    """The Cloudflare zone whose cache is purged (CloudflareEdge.zone_id)."""
    cloudflare_plan: CloudflarePlan
    """The zone's plan: the purge rate and batch size the service keeps to."""
    purge_token: pulumi.Input[str]
    """Secret: a Cloudflare API token allowed Cache Purge on the zone, nothing else."""
    webhook_namespace_label: str
    """Namespaces labelled `<this>=true` may call the webhook."""
    monitoring_namespace: str = "monitoring"
    """Namespace whose Prometheus pods may scrape the metrics."""
    labels: Mapping[str, str] = field(default_factory=lambda: dict[str, str]())
    """Labels added to every object (environment, part-of)."""
    metrics_depends_on: Sequence[pulumi.Resource] = ()
    """What installs the ServiceMonitor CRD (the monitoring stack's Helm release)."""
    workload_depends_on: Sequence[pulumi.Resource] = ()
    """What must be done before the pods start (the RedisCluster, whose bootstrap Job forms the
    cluster): a pod that finds no cluster exits, and the Deployment's rollout would wait on pods
    crash-looping until it forms. A component's own depends_on does not reach its children."""


def _cidr_block(cidr: str, excluded: Sequence[str]) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        ip_block=k8s.networking.v1.IPBlockArgs(cidr=cidr, except_=list(excluded))
    )


class InvalidationService(pulumi.ComponentResource):
    """The invalidation service: stream consumers and the signed webhook, highly available."""

    deployment_name: pulumi.Output[str]
    """Name of the Deployment (`kubectl rollout status deployment/<name>`)."""
    service_name: pulumi.Output[str]
    """Name of the Service in front of the webhook and metrics port."""
    webhook_url: pulumi.Output[str]
    """In-cluster URL senders POST events to (`/v1/events`)."""
    webhook_secret: pulumi.Output[str]
    """Secret: the webhook's shared HMAC key, for the senders' configuration."""
    credentials_secret_name: pulumi.Output[str]
    """Name of the Secret holding the webhook secret and the purge token."""

    def __init__(
        self,
        name: str,
        args: InvalidationServiceArgs,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("cache-platform:invalidation:InvalidationService", name, None, opts)
        settings = args.settings
        child = pulumi.ResourceOptions(parent=self)
        stack_labels = dict(args.labels)
        labels = object_labels(stack_labels, name)
        peer = pulumi.Output.from_input(args.redis_peer_labels)
        selector = peer.apply(lambda given: selector_labels(given, name))

        def metadata(object_name: str | None = None) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(
                name=object_name, namespace=args.namespace, labels=labels
            )

        webhook_secret = random.RandomPassword(
            f"{name}-webhook-secret", length=WEBHOOK_SECRET_LENGTH, special=False, opts=child
        )
        credentials = k8s.core.v1.Secret(
            f"{name}-credentials",
            # No name: Pulumi names it, so changed data is a new Secret and a rollout (module doc).
            metadata=metadata(),
            type="Opaque",
            string_data={
                WEBHOOK_SECRET_KEY: webhook_secret.result,
                CLOUDFLARE_TOKEN_KEY: pulumi.Output.secret(args.purge_token),
            },
            opts=pulumi.ResourceOptions(
                parent=self, additional_secret_outputs=["stringData", "data"]
            ),
        )

        environment = pulumi.Output.all(args.redis_nodes, args.zone_id).apply(
            lambda values: [
                k8s.core.v1.EnvVarArgs(name=key, value=value)
                for key, value in service_environment(
                    ServiceSettings(
                        redis_nodes=str(values[0]),
                        redis_user=OPERATOR.name,
                        zone_id=str(values[1]),
                        plan=args.cloudflare_plan.value,
                        replicas=settings.replicas,
                        claim_idle_seconds=settings.claim_idle_seconds,
                    )
                ).items()
            ]
        )

        def http_probe(
            path: str, period: int, timeout: int, failures: int
        ) -> k8s.core.v1.ProbeArgs:
            return k8s.core.v1.ProbeArgs(
                http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port=HTTP_PORT_NAME),
                period_seconds=period,
                timeout_seconds=timeout,
                failure_threshold=failures,
            )

        container = k8s.core.v1.ContainerArgs(
            name="invalidator",
            image=settings.image,
            # Explicit: the tools image's entrypoint is the backup program.
            command=["python", "-m", "invalidator"],
            env=environment,
            ports=[k8s.core.v1.ContainerPortArgs(name=HTTP_PORT_NAME, container_port=HTTP_PORT)],
            # Ready while the stream's node answers (webhook traffic goes elsewhere otherwise);
            # restarted only when the server stops answering for a minute. Redis's client
            # timeout is 5 s, with one retry: the readiness probe waits longer than both.
            readiness_probe=http_probe(READINESS_PATH, period=10, timeout=12, failures=3),
            liveness_probe=http_probe(LIVENESS_PATH, period=10, timeout=5, failures=6),
            resources=k8s.core.v1.ResourceRequirementsArgs(
                requests={"cpu": settings.cpu, "memory": settings.memory},
                limits={"memory": settings.memory},
            ),
            security_context=restricted_container(TOOLS_UID),
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(
                    name="secrets", mount_path=SECRETS_MOUNT, read_only=True
                )
            ],
        )
        secrets_volume = k8s.core.v1.VolumeArgs(
            name="secrets",
            projected=k8s.core.v1.ProjectedVolumeSourceArgs(
                # The kubelet adds group read for fs_group (the pod's own group): 0440,
                # root:TOOLS_UID, which the service accepts and no other user can read.
                default_mode=0o400,
                sources=[
                    k8s.core.v1.VolumeProjectionArgs(
                        secret=k8s.core.v1.SecretProjectionArgs(
                            name=args.redis_secret_name,
                            items=[
                                k8s.core.v1.KeyToPathArgs(
                                    key=args.redis_secret_key, path=REDIS_PASSWORD_FILE
                                )
                            ],
                        )
                    ),
                    k8s.core.v1.VolumeProjectionArgs(
                        secret=k8s.core.v1.SecretProjectionArgs(
                            name=credentials.metadata.name,
                            items=[
                                k8s.core.v1.KeyToPathArgs(
                                    key=WEBHOOK_SECRET_KEY, path=WEBHOOK_SECRET_FILE
                                ),
                                k8s.core.v1.KeyToPathArgs(
                                    key=CLOUDFLARE_TOKEN_KEY, path=CLOUDFLARE_TOKEN_FILE
                                ),
                            ],
                        )
                    ),
                ],
            ),
        )
        spread_selector = k8s.meta.v1.LabelSelectorArgs(match_labels=selector)
        deployment = k8s.apps.v1.Deployment(
            name,
            metadata=metadata(name),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=settings.replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                # Never more pods than `replicas`: each paces its purges at 1/replicas of the
                # account's rate, so a surge pod would push the account over it.
                strategy=k8s.apps.v1.DeploymentStrategyArgs(
                    type="RollingUpdate",
                    rolling_update=k8s.apps.v1.RollingUpdateDeploymentArgs(
                        max_surge=0, max_unavailable=1
                    ),
                ),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=peer.apply(lambda given: pod_labels(stack_labels, given, name))
                    ),
                    spec=k8s.core.v1.PodSpecArgs(
                        # The service never talks to the Kubernetes API.
                        automount_service_account_token=False,
                        termination_grace_period_seconds=TERMINATION_GRACE_SECONDS,
                        security_context=restricted_pod(TOOLS_UID),
                        affinity=k8s.core.v1.AffinityArgs(
                            pod_anti_affinity=k8s.core.v1.PodAntiAffinityArgs(
                                # Preferred, not required: a small cluster still runs both.
                                preferred_during_scheduling_ignored_during_execution=[
                                    k8s.core.v1.WeightedPodAffinityTermArgs(
                                        weight=100,
                                        pod_affinity_term=k8s.core.v1.PodAffinityTermArgs(
                                            topology_key="kubernetes.io/hostname",
                                            label_selector=spread_selector,
                                        ),
                                    )
                                ]
                            )
                        ),
                        topology_spread_constraints=[
                            k8s.core.v1.TopologySpreadConstraintArgs(
                                max_skew=1,
                                topology_key="topology.kubernetes.io/zone",
                                when_unsatisfiable="ScheduleAnyway",
                                label_selector=spread_selector,
                            )
                        ],
                        containers=[container],
                        volumes=[secrets_volume],
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[credentials, *args.workload_depends_on]
            ),
        )

        service = k8s.core.v1.Service(
            name,
            metadata=metadata(name),
            spec=k8s.core.v1.ServiceSpecArgs(
                type="ClusterIP",
                selector=selector,
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name=HTTP_PORT_NAME, port=HTTP_PORT, target_port=HTTP_PORT_NAME
                    )
                ],
            ),
            opts=child,
        )

        k8s.policy.v1.PodDisruptionBudget(
            f"{name}-pdb",
            metadata=metadata(f"{name}-pdb"),
            spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                max_unavailable=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
            ),
            opts=child,
        )

        k8s.networking.v1.NetworkPolicy(
            f"{name}-network",
            metadata=metadata(f"{name}-network"),
            spec=k8s.networking.v1.NetworkPolicySpecArgs(
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=selector),
                policy_types=["Ingress", "Egress"],
                ingress=[
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        # Senders of the webhook.
                        from_=[labelled_namespaces_peer(args.webhook_namespace_label)],
                        ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=HTTP_PORT)],
                    ),
                    k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                        from_=[prometheus_peer(args.monitoring_namespace)],
                        ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=HTTP_PORT)],
                    ),
                ],
                egress=[
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        # The Redis nodes' client port (the consumer follows MOVED to any node).
                        to=[
                            k8s.networking.v1.NetworkPolicyPeerArgs(
                                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=peer)
                            )
                        ],
                        ports=[k8s.networking.v1.NetworkPolicyPortArgs(port=REDIS_PORT)],
                    ),
                    # The nodes announce DNS names, and the Cloudflare API is one.
                    dns_egress(),
                    k8s.networking.v1.NetworkPolicyEgressRuleArgs(
                        # Cloudflare's purge API.
                        to=[
                            _cidr_block(cidr, excluded) for cidr, excluded in CLOUDFLARE_API_BLOCKS
                        ],
                        ports=[
                            k8s.networking.v1.NetworkPolicyPortArgs(port=HTTPS_PORT, protocol="TCP")
                        ],
                    ),
                ],
            ),
            opts=child,
        )

        k8s.apiextensions.CustomResource(
            f"{name}-metrics",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata=metadata(f"{name}-metrics"),
            spec={
                "selector": {"matchLabels": labels},
                "namespaceSelector": {"matchNames": [args.namespace]},
                "endpoints": [
                    {"port": HTTP_PORT_NAME, "interval": SCRAPE_INTERVAL, "path": METRICS_PATH}
                ],
            },
            # The CRD arrives with the monitoring stack.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[*args.metrics_depends_on]),
        )

        self.deployment_name = deployment.metadata.apply(lambda meta: meta.name or name)
        self.service_name = service.metadata.apply(lambda meta: meta.name or name)
        self.webhook_url = pulumi.Output.concat(
            "http://",
            self.service_name,
            ".",
            args.namespace,
            f".svc.cluster.local:{HTTP_PORT}/v1/events",
        )
        self.webhook_secret = pulumi.Output.secret(webhook_secret.result)
        self.credentials_secret_name = credentials.metadata.apply(lambda meta: meta.name or "")
        self.register_outputs(
            {
                "deployment_name": self.deployment_name,
                "service_name": self.service_name,
                "webhook_url": self.webhook_url,
                "webhook_secret": self.webhook_secret,
                "credentials_secret_name": self.credentials_secret_name,
            }
        )
