"""What a stack deploys, recognised from its resources' properties (pure).

The cost model and the policy pack see the same thing the engine sends a policy: type tokens and
properties, no stack config. Other components are matched on type tokens and well-known properties,
never on resource names, and every lookup is guarded: whatever is absent is "not deployed".
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from components.redis.conf import parse_redis_conf
from cost.props import as_int, as_list, as_mapping, as_str, get_path, quantity

ResourceProps = tuple[str, Mapping[str, Any]]
"""(Pulumi type token, properties) of one resource."""

STATEFULSET = "kubernetes:apps/v1:StatefulSet"
CONFIGMAP = "kubernetes:core/v1:ConfigMap"
SECRET = "kubernetes:core/v1:Secret"
JOB = "kubernetes:batch/v1:Job"
CRONJOB = "kubernetes:batch/v1:CronJob"
PDB = "kubernetes:policy/v1:PodDisruptionBudget"
NETWORK_POLICY = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
HELM_RELEASE = "kubernetes:helm.sh/v3:Release"
PROMETHEUS_RULE = "kubernetes:monitoring.coreos.com/v1:PrometheusRule"
WORKLOAD_TYPES = frozenset(
    {
        STATEFULSET,
        JOB,
        CRONJOB,
        "kubernetes:apps/v1:Deployment",
        "kubernetes:apps/v1:DaemonSet",
        "kubernetes:apps/v1:ReplicaSet",
        "kubernetes:core/v1:Pod",
    }
)
S3_BUCKET_TYPES = frozenset({"aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"})
S3_LIFECYCLE_TYPES = frozenset(
    {
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "aws:s3/bucketLifecycleConfigurationV2:BucketLifecycleConfigurationV2",
    }
)
S3_ENCRYPTION_TYPES = frozenset(
    {
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
    }
)
S3_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
S3_BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
KMS_KEY = "aws:kms/key:Key"
CLOUDFLARE_ZONE = "cloudflare:index/zone:Zone"
CLOUDFLARE_ZONE_SUBSCRIPTION = "cloudflare:index/zoneSubscription:ZoneSubscription"
CLOUDFLARE_ZONE_SETTING = "cloudflare:index/zoneSetting:ZoneSetting"
CLOUDFLARE_RULESET = "cloudflare:index/ruleset:Ruleset"
CLOUDFLARE_WORKERS_SCRIPT = "cloudflare:index/workersScript:WorkersScript"
CLOUDFLARE_ARGO_SMART_ROUTING = "cloudflare:index/argoSmartRouting:ArgoSmartRouting"

# The names components/capacity.py gives the sizing ConfigMap (a test keeps them equal; importing
# that module would pull the Pulumi SDK into every pure caller).
SIZING_CONFIGMAP = "cache-platform-sizing"
SIZING_KEY = "sizing.json"

NODE_TYPE_ANNOTATION = "cache-platform/node-type"
"""Annotation on a StatefulSet (or its pod template) naming the instance type of its nodes."""
INSTANCE_TYPE_LABEL = "node.kubernetes.io/instance-type"
"""The well-known node label; a nodeSelector on it pins the instance type."""
REPLICAS_ENV = ("REDIS_REPLICAS_PER_PRIMARY", "REDIS_CLUSTER_REPLICAS")
NODES_ENV = ("REDIS_NODES", "REDIS_CLUSTER_NODES")
REDIS_CONF_KEY = "redis.conf"


def of_type(resources: Iterable[ResourceProps], *types: str) -> list[Mapping[str, Any]]:
    return [props for kind, props in resources if kind in types]


def name_of(props: Mapping[str, Any]) -> str | None:
    return as_str(get_path(props, "metadata", "name"))


def namespace_of(props: Mapping[str, Any]) -> str | None:
    return as_str(get_path(props, "metadata", "namespace"))


def pod_spec(kind: str, props: Mapping[str, Any]) -> Mapping[str, Any]:
    """The pod spec of any workload kind (CronJobs nest it in their job template)."""
    if kind == "kubernetes:core/v1:Pod":
        return as_mapping(props.get("spec"))
    if kind == CRONJOB:
        return as_mapping(get_path(props, "spec", "jobTemplate", "spec", "template", "spec"))
    return as_mapping(get_path(props, "spec", "template", "spec"))


def containers(spec: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [
        as_mapping(c)
        for c in [*as_list(spec.get("initContainers")), *as_list(spec.get("containers"))]
    ]


def env_value(container: Mapping[str, Any], *names: str) -> str | None:
    """The literal value of the first env var of `names` the container sets."""
    for entry in as_list(container.get("env")):
        entry = as_mapping(entry)
        if entry.get("name") in names:
            value = entry.get("value")
            if isinstance(value, str):
                return value
    return None


def image_repository(image: str) -> str:
    """`docker.io/library/redis:7.2@sha256:…` -> `redis`."""
    without_digest = image.split("@", 1)[0]
    last = without_digest.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def is_redis_container(container: Mapping[str, Any]) -> bool:
    image = as_str(container.get("image")) or ""
    repository = image_repository(image)
    return repository.startswith(("redis", "valkey")) and "exporter" not in repository


def memory_bytes(resources: Mapping[str, Any]) -> float:
    """The memory a container may use: the larger of its request and limit."""
    request = quantity(get_path(resources, "requests", "memory")) or 0.0
    limit = quantity(get_path(resources, "limits", "memory")) or 0.0
    return max(request, limit)


def cpu_cores(resources: Mapping[str, Any]) -> float:
    return quantity(get_path(resources, "requests", "cpu")) or 0.0


@dataclass(frozen=True)
class PodNeeds:
    memory_bytes: float
    cpu_cores: float


def pod_needs(spec: Mapping[str, Any]) -> PodNeeds:
    """What one pod reserves on its node: its app containers' memory (max of request and limit:
    a cache node must hold the limit it may grow to) and CPU requests."""
    app = [as_mapping(c) for c in as_list(spec.get("containers"))]
    return PodNeeds(
        memory_bytes=sum(memory_bytes(as_mapping(c.get("resources"))) for c in app),
        cpu_cores=sum(cpu_cores(as_mapping(c.get("resources"))) for c in app),
    )


@dataclass(frozen=True)
class RedisCluster:
    """One Redis StatefulSet and what belongs to it."""

    name: str
    namespace: str | None
    statefulset: Mapping[str, Any]
    pods: int | None
    """`spec.replicas` of the StatefulSet."""
    replicas_per_primary: int | None
    """From the pods' or the bootstrap Job's environment."""
    node_addresses: int | None
    """Addresses the bootstrap forms the cluster from (`REDIS_NODES`)."""
    conf_text: str | None
    """redis.conf of the ConfigMap the pods mount."""
    conf_map: Mapping[str, Any] | None

    @property
    def primaries(self) -> int | None:
        if self.pods is None or self.replicas_per_primary is None:
            return None
        group = 1 + self.replicas_per_primary
        return self.pods // group if group > 0 and self.pods % group == 0 else None

    @property
    def template(self) -> Mapping[str, Any]:
        return as_mapping(get_path(self.statefulset, "spec", "template"))

    @property
    def spec(self) -> Mapping[str, Any]:
        return as_mapping(self.template.get("spec"))

    @property
    def redis_container(self) -> Mapping[str, Any]:
        found = [c for c in containers(self.spec) if is_redis_container(c)]
        return found[0] if found else {}

    def conf(self) -> dict[str, list[str]] | None:
        """Parsed redis.conf; None when absent; ValueError when unreadable."""
        return None if self.conf_text is None else parse_redis_conf(self.conf_text)


def _first_address_host(addresses: str) -> str:
    return addresses.split()[0].split(":")[0] if addresses.split() else ""


def _topology_from_jobs(
    resources: Sequence[ResourceProps], sts_name: str, namespace: str | None
) -> tuple[int | None, int | None]:
    """Replicas per primary and address count from a Job/CronJob that forms this cluster."""
    for kind, props in resources:
        if kind not in (JOB, CRONJOB) or namespace_of(props) != namespace:
            continue
        for container in containers(pod_spec(kind, props)):
            nodes = env_value(container, *NODES_ENV)
            if nodes is None or not _first_address_host(nodes).startswith(f"{sts_name}-0"):
                continue
            return as_int(env_value(container, *REPLICAS_ENV)), len(nodes.split())
    return None, None


def _mounted_conf(
    resources: Sequence[ResourceProps], spec: Mapping[str, Any], namespace: str | None
) -> tuple[str | None, Mapping[str, Any] | None]:
    mounted = {
        as_str(get_path(as_mapping(volume), "configMap", "name"))
        for volume in as_list(spec.get("volumes"))
    } - {None}
    candidates = [
        props
        for props in of_type(resources, CONFIGMAP)
        if namespace_of(props) == namespace
        and isinstance(get_path(props, "data", REDIS_CONF_KEY), str)
    ]
    chosen = [props for props in candidates if name_of(props) in mounted]
    if not chosen and len(candidates) == 1:
        chosen = candidates
    if not chosen:
        return None, None
    return as_str(get_path(chosen[0], "data", REDIS_CONF_KEY)), chosen[0]


def redis_clusters(resources: Sequence[ResourceProps]) -> list[RedisCluster]:
    """Every StatefulSet running a Redis container, with its topology and redis.conf."""
    found: list[RedisCluster] = []
    for props in of_type(resources, STATEFULSET):
        spec = as_mapping(get_path(props, "spec", "template", "spec"))
        redis = next((c for c in containers(spec) if is_redis_container(c)), None)
        if redis is None:
            continue
        name = name_of(props) or "redis"
        namespace = namespace_of(props)
        replicas = as_int(env_value(redis, *REPLICAS_ENV))
        nodes_env = env_value(redis, *NODES_ENV)
        addresses = len(nodes_env.split()) if nodes_env is not None else None
        if replicas is None or addresses is None:
            job_replicas, job_addresses = _topology_from_jobs(resources, name, namespace)
            replicas = replicas if replicas is not None else job_replicas
            addresses = addresses if addresses is not None else job_addresses
        conf_text, conf_map = _mounted_conf(resources, spec, namespace)
        found.append(
            RedisCluster(
                name=name,
                namespace=namespace,
                statefulset=props,
                pods=as_int(get_path(props, "spec", "replicas")),
                replicas_per_primary=replicas,
                node_addresses=addresses,
                conf_text=conf_text,
                conf_map=conf_map,
            )
        )
    return found


def sizing(resources: Sequence[ResourceProps]) -> Mapping[str, Any] | None:
    """The declared sizing assumptions (components/capacity.py), or None when not declared."""
    for props in of_type(resources, CONFIGMAP):
        if name_of(props) != SIZING_CONFIGMAP:
            continue
        text = get_path(props, "data", SIZING_KEY)
        if not isinstance(text, str):
            return None
        try:
            document = json.loads(text)
        except ValueError:
            return None
        return as_mapping(document)
    return None


def node_type_hint(props: Mapping[str, Any]) -> str | None:
    """The instance type a workload pins: nodeSelector, else the cache-platform annotation."""
    spec = as_mapping(get_path(props, "spec", "template", "spec"))
    selected = as_str(get_path(spec, "nodeSelector", INSTANCE_TYPE_LABEL))
    if selected:
        return selected
    for found in (
        get_path(props, "metadata", "annotations"),
        get_path(props, "spec", "template", "metadata", "annotations"),
    ):
        value = as_str(as_mapping(found).get(NODE_TYPE_ANNOTATION))
        if value:
            return value
    return None


def helm_releases(resources: Sequence[ResourceProps], chart: str) -> list[Mapping[str, Any]]:
    """Helm releases of `chart` (matched on the chart name, with or without a repo prefix)."""
    return [
        props
        for props in of_type(resources, HELM_RELEASE)
        if (as_str(props.get("chart")) or "").rsplit("/", 1)[-1] == chart
    ]
