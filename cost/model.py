"""The monthly cost of what a stack declares, from its resources' properties (pure).

The policy pack (budget policies) and the offline plan call the same `estimate_cost`, so a budget
verdict and the plan's cost table can never disagree. Prices come from `prices.json`; every
assumption the model makes beyond a list price is a named constant below or in `nodes.py`, and
each line item's `detail` shows the arithmetic.

What is priced, per component:

* redis — one Kubernetes node per Redis pod (the pods' required anti-affinity puts each on its own
  node). The instance type is the one the StatefulSet pins (nodeSelector on
  `node.kubernetes.io/instance-type`, or the `cache-platform/node-type` annotation), else the
  smallest type of the sheet that holds one pod (see `nodes.py`). Plus the volumes:
  volumeClaimTemplates × replicas at the gp3 price.
* monitoring — the kube-prometheus-stack release's pods as a share of a general-purpose node
  (`MONITORING_NODE_TYPE`): the larger of their CPU and memory requests as a fraction of what the
  node leaves for pods, which is what bin-packing them among other pods costs. Components without
  requests count with `MONITORING_DEFAULT_REQUESTS`. Plus their volumes at the gp3 price. The
  node-exporter DaemonSet is part of every node's overhead (`nodes.py`), not priced here.
  Distributed tracing (ADR-011 counts it in the monitoring budget) the same way: the Tempo
  release's pod and volume, and the OpenTelemetry Collector's and Cloudflare exporter's
  Deployments (replicas x requests).
* invalidation — the invalidation service's Deployment (replicas × requests) as a share of the
  same general-purpose node.
* cdn — the Cloudflare plan of each zone (a `ZoneSubscription`'s rate plan, else `cdnPlan` in the
  sizing ConfigMap; Cloudflare does not bill self-serve plans by the GB), Argo Smart Routing per
  GB when turned on (Tiered Cache is free), and Workers Paid when a Worker is deployed: base fee,
  requests beyond the included ones (every request of the configured monthly traffic is assumed
  to run the Worker: an upper bound) and CPU time at `WORKER_CPU_MS_PER_REQUEST`.
* backups — S3 storage of the RDB snapshots at steady state: snapshots per month (the backup
  CronJob's schedule) × primaries × snapshot size (maxmemory × `RDB_SIZE_RATIO`) kept for the
  lifecycle rule's expiration, in STANDARD until its transition to STANDARD_IA; PUT requests of
  multipart uploads (`UPLOAD_PART_BYTES` parts); lifecycle transitions; KMS keys and requests.

Not priced: the Kubernetes control plane and shared nodes (not declared by this stack), data
transfer inside the VPC, restores (GETs), which are rare and cost cents, and Cloudflare add-ons
the stack does not declare today (Cache Reserve, Load Balancing).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cost.cron import DAYS_PER_MONTH, runs_per_month
from cost.inventory import (
    CLOUDFLARE_ARGO_SMART_ROUTING,
    CLOUDFLARE_WORKERS_SCRIPT,
    CLOUDFLARE_ZONE,
    CLOUDFLARE_ZONE_SUBSCRIPTION,
    CRONJOB,
    KMS_KEY,
    S3_BUCKET_TYPES,
    S3_ENCRYPTION_TYPES,
    S3_LIFECYCLE_TYPES,
    ResourceProps,
    helm_releases,
    name_of,
    node_type_hint,
    of_type,
    pod_needs,
    pod_spec,
    redis_clusters,
    sizing,
)
from cost.nodes import GIB, MIB, allocatable, fits, smallest_fitting
from cost.prices import InstanceType, PriceSheet, load_price_sheet
from cost.props import (
    as_bool,
    as_int,
    as_list,
    as_mapping,
    as_number,
    as_str,
    get_path,
    quantity,
)

__all__ = [
    "ComponentCost",
    "CostEstimate",
    "LineItem",
    "ResourceProps",
    "estimate_cost",
    "estimate_cost_with",
]

RDB_SIZE_RATIO = 0.5
"""RDB file size / maxmemory. A full cache (allkeys-lru keeps used memory at maxmemory) dumps to
about half its memory: RDB stores values LZF-compressed (`rdbcompression yes`) and without the
per-key overhead maxmemory counts (dict entries, object headers, expiry index, fragmentation)."""
UPLOAD_PART_BYTES = 8 * MIB
"""Multipart part size of the upload (the AWS CLI's and boto3's default chunk size)."""
KMS_REQUESTS_PER_OBJECT_WITH_BUCKET_KEY = 1
"""With an S3 Bucket Key, S3 asks KMS for a bucket-level key, not one per part (upper bound)."""
UNEXPIRED_RETENTION_DAYS = 365
"""Days priced when no lifecycle rule expires snapshots (they would grow without bound)."""
SNAPSHOTS_PER_MONTH_WITHOUT_SCHEDULE = DAYS_PER_MONTH
"""Daily, when the bucket exists but no backup CronJob is declared."""
MONITORING_NODE_TYPE = "m6g.xlarge"
"""The general-purpose node monitoring pods share with other workloads."""
MONITORING_DEFAULT_REQUESTS: Mapping[str, tuple[str, str]] = {
    "prometheus": ("2Gi", "500m"),
    "alertmanager": ("128Mi", "50m"),
    "grafana": ("256Mi", "100m"),
    "prometheus-operator": ("128Mi", "100m"),
    "kube-state-metrics": ("128Mi", "50m"),
}
"""(memory, cpu) assumed for a kube-prometheus-stack component whose values set no requests."""
WORKER_CPU_MS_PER_REQUEST = 1.0
"""CPU time of the caching Worker per request (a Cache API lookup and header work)."""
MONITORING_CHART = "kube-prometheus-stack"
TRACING_CHART = "tempo"
DEPLOYMENT = "kubernetes:apps/v1:Deployment"
MONITORING_WORKLOADS: Mapping[str, str] = {
    "otel-collector": "OpenTelemetry Collector",
    "cloudflare-exporter": "Cloudflare exporter",
}
"""Deployments of the Observability component (by `app.kubernetes.io/name`), priced like the
chart's pods: a share of a general-purpose node."""
INVALIDATION_APP = "cache-invalidator"
"""`app.kubernetes.io/name` of the invalidation service's Deployment (components/invalidation;
a test keeps the two equal: importing it would pull the Pulumi SDK into every pure caller)."""


@dataclass(frozen=True)
class LineItem:
    name: str
    monthly_usd: float
    detail: str = ""
    kind: str = ""
    """What the item pays for: compute, storage, requests, keys, delivery, edge-compute."""


@dataclass
class ComponentCost:
    items: list[LineItem] = field(default_factory=lambda: list[LineItem]())

    @property
    def monthly_usd(self) -> float:
        return round(sum(item.monthly_usd for item in self.items), 2)

    def of_kind(self, *kinds: str) -> float:
        return round(sum(item.monthly_usd for item in self.items if item.kind in kinds), 2)


@dataclass
class CostEstimate:
    components: dict[str, ComponentCost] = field(default_factory=lambda: dict[str, ComponentCost]())
    problems: list[str] = field(default_factory=lambda: list[str]())
    """Why part of the stack could not be priced; a budget cannot be verified while any exist."""
    cdn_monthly_egress_gb: float | None = None
    """Monthly edge traffic from the sizing ConfigMap (for the cost per GB)."""

    @property
    def total_monthly_usd(self) -> float:
        return round(sum(c.monthly_usd for c in self.components.values()), 2)

    def component_usd(self, name: str) -> float:
        component = self.components.get(name)
        return component.monthly_usd if component else 0.0

    def add(self, component: str, item: LineItem) -> None:
        self.components.setdefault(component, ComponentCost()).items.append(item)

    def as_json(self) -> dict[str, Any]:
        return {
            "components": {
                name: {
                    "monthlyUsd": component.monthly_usd,
                    "items": [
                        {"name": i.name, "monthlyUsd": round(i.monthly_usd, 2), "detail": i.detail}
                        for i in component.items
                    ],
                }
                for name, component in self.components.items()
            },
            "totalMonthlyUsd": self.total_monthly_usd,
        }


def estimate_cost(resources: Sequence[ResourceProps]) -> CostEstimate:
    """Price every priced resource kind found in `resources` at the price sheet's prices."""
    return estimate_cost_with(resources, load_price_sheet())


def estimate_cost_with(resources: Sequence[ResourceProps], prices: PriceSheet) -> CostEstimate:
    """`estimate_cost` with an explicit price sheet."""
    estimate = CostEstimate()
    _price_redis(resources, prices, estimate)
    _price_monitoring(resources, prices, estimate)
    _price_tracing(resources, prices, estimate)
    _price_invalidation(resources, prices, estimate)
    _price_cdn(resources, prices, estimate)
    _price_backups(resources, prices, estimate)
    return estimate


def _gib(size_bytes: float) -> str:
    return f"{size_bytes / GIB:,.2f}".rstrip("0").rstrip(".") + " GiB"


def _usd(amount: float) -> str:
    """Money with cents, and with up to four decimals for unit prices ($0.1008, $0.30)."""
    text = f"{amount:,.4f}"
    while text.endswith("0") and len(text.split(".")[1]) > 2:
        text = text[:-1]
    return f"${text}"


# --- redis -----------------------------------------------------------------------------------


def _redis_node(
    hint: str | None, memory: float, cpu: float, prices: PriceSheet, problems: list[str], name: str
) -> tuple[InstanceType | None, str]:
    if hint is not None:
        instance = prices.instances.get(hint)
        if instance is None:
            problems.append(
                f"redis '{name}': node type '{hint}' is not in the price sheet; add it to "
                "cost/prices.json or pin a listed type"
            )
            return None, ""
        if not fits(instance, memory, cpu):
            room = allocatable(instance)
            problems.append(
                f"redis '{name}': a pod needs {_gib(memory)} and {cpu:g} CPU but a {hint} node "
                f"leaves {_gib(room.memory_bytes)} and {room.cpu_cores:.2f} CPU for pods; pin a "
                "larger node type or lower redis.memory"
            )
        return instance, "pinned by the StatefulSet"
    instance = smallest_fitting(prices.instances.values(), memory, cpu)
    if instance is None:
        problems.append(
            f"redis '{name}': no instance type of the price sheet holds a pod of "
            f"{_gib(memory)} and {cpu:g} CPU; lower redis.memory or add a larger type"
        )
        return None, ""
    return instance, f"smallest type holding {_gib(memory)} + node overhead"


def _volume_claims(props: Mapping[str, Any], replicas: int) -> float:
    """Bytes of all volumes a StatefulSet's claim templates create."""
    per_pod = sum(
        quantity(get_path(as_mapping(claim), "spec", "resources", "requests", "storage")) or 0.0
        for claim in as_list(get_path(props, "spec", "volumeClaimTemplates"))
    )
    return per_pod * replicas


def _price_redis(resources: Sequence[ResourceProps], prices: PriceSheet, out: CostEstimate) -> None:
    for cluster in redis_clusters(resources):
        pods = cluster.pods if cluster.pods is not None else 1
        needs = pod_needs(cluster.spec)
        instance, how = _redis_node(
            node_type_hint(cluster.statefulset),
            needs.memory_bytes,
            needs.cpu_cores,
            prices,
            out.problems,
            cluster.name,
        )
        if instance is not None:
            monthly = prices.monthly(instance)
            out.add(
                "redis",
                LineItem(
                    f"{cluster.name} nodes",
                    pods * monthly,
                    f"{pods} × {instance.name} ({instance.vcpu} vCPU, "
                    f"{instance.memory_gib:g} GiB; {how}) at {_usd(instance.hourly_usd)}/h × "
                    f"{prices.hours_per_month:g} h",
                    "compute",
                ),
            )
        volume_bytes = _volume_claims(cluster.statefulset, pods)
        if volume_bytes:
            out.add(
                "redis",
                LineItem(
                    f"{cluster.name} volumes",
                    volume_bytes / GIB * prices.ebs_gp3_gb_month,
                    f"{pods} × {_gib(volume_bytes / pods)} gp3 at "
                    f"{_usd(prices.ebs_gp3_gb_month)}/GB-month",
                    "storage",
                ),
            )


# --- monitoring ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _MonitoringPart:
    name: str
    enabled_path: tuple[str, ...]
    replicas_path: tuple[str, ...] | None
    requests_path: tuple[str, ...]
    storage_paths: tuple[tuple[str, ...], ...] = ()


_MONITORING_PARTS = (
    _MonitoringPart(
        "prometheus",
        ("prometheus", "enabled"),
        ("prometheus", "prometheusSpec", "replicas"),
        ("prometheus", "prometheusSpec", "resources", "requests"),
        (
            (
                "prometheus",
                "prometheusSpec",
                "storageSpec",
                "volumeClaimTemplate",
                "spec",
                "resources",
                "requests",
                "storage",
            ),
        ),
    ),
    _MonitoringPart(
        "alertmanager",
        ("alertmanager", "enabled"),
        ("alertmanager", "alertmanagerSpec", "replicas"),
        ("alertmanager", "alertmanagerSpec", "resources", "requests"),
        (
            (
                "alertmanager",
                "alertmanagerSpec",
                "storage",
                "volumeClaimTemplate",
                "spec",
                "resources",
                "requests",
                "storage",
            ),
        ),
    ),
    _MonitoringPart(
        "grafana",
        ("grafana", "enabled"),
        ("grafana", "replicas"),
        ("grafana", "resources", "requests"),
    ),
    _MonitoringPart(
        "prometheus-operator",
        ("prometheusOperator", "enabled"),
        None,
        ("prometheusOperator", "resources", "requests"),
    ),
    _MonitoringPart(
        "kube-state-metrics",
        ("kubeStateMetrics", "enabled"),
        None,
        ("kube-state-metrics", "resources", "requests"),
    ),
)


def _grafana_storage(values: Mapping[str, Any]) -> float:
    if as_bool(get_path(values, "grafana", "persistence", "enabled")) is not True:
        return 0.0
    return quantity(get_path(values, "grafana", "persistence", "size")) or 10 * GIB


def _price_monitoring(
    resources: Sequence[ResourceProps], prices: PriceSheet, out: CostEstimate
) -> None:
    node = prices.instances.get(MONITORING_NODE_TYPE)
    for release in helm_releases(resources, MONITORING_CHART):
        values = as_mapping(release.get("values"))
        label = as_str(release.get("name")) or MONITORING_CHART
        memory = cpu = storage = 0.0
        assumed: list[str] = []
        for part in _MONITORING_PARTS:
            if as_bool(get_path(values, *part.enabled_path)) is False:
                continue
            replicas = as_int(get_path(values, *part.replicas_path)) if part.replicas_path else 1
            replicas = 1 if replicas is None else replicas
            requests = as_mapping(get_path(values, *part.requests_path))
            default_memory, default_cpu = MONITORING_DEFAULT_REQUESTS[part.name]
            part_memory = quantity(requests.get("memory"))
            part_cpu = quantity(requests.get("cpu"))
            if part_memory is None or part_cpu is None:
                assumed.append(part.name)
            memory += replicas * (part_memory or quantity(default_memory) or 0.0)
            cpu += replicas * (part_cpu or quantity(default_cpu) or 0.0)
            storage += replicas * sum(
                quantity(get_path(values, *path)) or 0.0 for path in part.storage_paths
            )
        storage += _grafana_storage(values)
        if node is None:
            out.problems.append(
                f"monitoring: the reference node type {MONITORING_NODE_TYPE} is not in the sheet"
            )
        else:
            room = allocatable(node)
            share = max(memory / room.memory_bytes, cpu / room.cpu_cores)
            note = f"; requests assumed for {', '.join(assumed)}" if assumed else ""
            out.add(
                "monitoring",
                LineItem(
                    f"{label} compute",
                    share * prices.monthly(node),
                    f"{_gib(memory)} / {cpu:g} CPU requested = {share:.1%} of a "
                    f"{node.name} (${prices.monthly(node):,.2f}/month){note}",
                    "compute",
                ),
            )
        if storage:
            out.add(
                "monitoring",
                LineItem(
                    f"{label} volumes",
                    storage / GIB * prices.ebs_gp3_gb_month,
                    f"{_gib(storage)} gp3 at {_usd(prices.ebs_gp3_gb_month)}/GB-month",
                    "storage",
                ),
            )


def _node_share_item(
    label: str,
    memory: float,
    cpu: float,
    prices: PriceSheet,
    out: CostEstimate,
    component: str = "monitoring",
) -> None:
    node = prices.instances.get(MONITORING_NODE_TYPE)
    if node is None:
        out.problems.append(
            f"{component}: the reference node type {MONITORING_NODE_TYPE} is not in the sheet"
        )
        return
    room = allocatable(node)
    share = max(memory / room.memory_bytes, cpu / room.cpu_cores)
    out.add(
        component,
        LineItem(
            f"{label} compute",
            share * prices.monthly(node),
            f"{_gib(memory)} / {cpu:g} CPU requested = {share:.1%} of a "
            f"{node.name} (${prices.monthly(node):,.2f}/month)",
            "compute",
        ),
    )


def _price_tracing(
    resources: Sequence[ResourceProps], prices: PriceSheet, out: CostEstimate
) -> None:
    for release in helm_releases(resources, TRACING_CHART):
        values = as_mapping(release.get("values"))
        label = as_str(release.get("name")) or TRACING_CHART
        replicas = as_int(values.get("replicas")) or 1
        requests = as_mapping(get_path(values, "tempo", "resources", "requests"))
        _node_share_item(
            f"{label} (traces)",
            replicas * (quantity(requests.get("memory")) or 0.0),
            replicas * (quantity(requests.get("cpu")) or 0.0),
            prices,
            out,
        )
        if as_bool(get_path(values, "persistence", "enabled")) is True:
            size = replicas * (quantity(get_path(values, "persistence", "size")) or 10 * GIB)
            out.add(
                "monitoring",
                LineItem(
                    f"{label} (traces) volume",
                    size / GIB * prices.ebs_gp3_gb_month,
                    f"{_gib(size)} gp3 at {_usd(prices.ebs_gp3_gb_month)}/GB-month",
                    "storage",
                ),
            )
    for props in of_type(resources, DEPLOYMENT):
        spec = pod_spec(DEPLOYMENT, props)
        app = as_str(
            get_path(props, "spec", "template", "metadata", "labels", "app.kubernetes.io/name")
        )
        if app is None or app not in MONITORING_WORKLOADS:
            continue
        replicas = as_int(get_path(props, "spec", "replicas")) or 1
        needs = pod_needs(spec)
        _node_share_item(
            MONITORING_WORKLOADS[app],
            replicas * needs.memory_bytes,
            replicas * needs.cpu_cores,
            prices,
            out,
        )


def _price_invalidation(
    resources: Sequence[ResourceProps], prices: PriceSheet, out: CostEstimate
) -> None:
    for props in of_type(resources, DEPLOYMENT):
        app = as_str(get_path(props, "metadata", "labels", "app.kubernetes.io/name"))
        if app != INVALIDATION_APP:
            continue
        replicas = as_int(get_path(props, "spec", "replicas")) or 1
        needs = pod_needs(pod_spec(DEPLOYMENT, props))
        _node_share_item(
            f"invalidation service ({replicas} replicas)",
            replicas * needs.memory_bytes,
            replicas * needs.cpu_cores,
            prices,
            out,
            component="invalidation",
        )


# --- cdn -------------------------------------------------------------------------------------


def _declared_plans(resources: Sequence[ResourceProps], declared: Mapping[str, Any]) -> list[str]:
    subscriptions = [
        as_str(get_path(props, "ratePlan", "id"))
        for props in of_type(resources, CLOUDFLARE_ZONE_SUBSCRIPTION)
    ]
    plans = [plan for plan in subscriptions if plan]
    if plans:
        return plans
    fallback = as_str(declared.get("cdnPlan"))
    zones = len(of_type(resources, CLOUDFLARE_ZONE)) or 1
    return [fallback] * zones if fallback else []


def _price_cdn(resources: Sequence[ResourceProps], prices: PriceSheet, out: CostEstimate) -> None:
    cloudflare = [kind for kind, _ in resources if kind.startswith("cloudflare:")]
    if not cloudflare:
        return
    declared = sizing(resources) or {}
    egress = as_number(declared.get("cdnMonthlyEgressGb"))
    requests_millions = as_number(declared.get("cdnMonthlyRequestsMillions"))
    out.cdn_monthly_egress_gb = egress
    plans = _declared_plans(resources, declared)
    if not plans:
        out.add(
            "cdn",
            LineItem(
                "zone plan",
                0.0,
                "no ZoneSubscription or sizing `cdnPlan` declares the plan: priced as free",
                "delivery",
            ),
        )
    for plan in plans:
        price = prices.cloudflare_plans.get(plan)
        if price is None:
            out.problems.append(
                f"cdn: the Cloudflare plan '{plan}' has no list price in the sheet; add the "
                "contracted price to cost/prices.json"
            )
            continue
        out.add(
            "cdn",
            LineItem(
                f"{plan} plan",
                price,
                f"Cloudflare {plan} zone plan; no per-GB charge",
                "delivery",
            ),
        )
    for argo in of_type(resources, CLOUDFLARE_ARGO_SMART_ROUTING):
        if as_str(argo.get("value")) != "on":
            continue
        routed = egress or 0.0
        out.add(
            "cdn",
            LineItem(
                "argo smart routing",
                prices.argo_base_month + routed * prices.argo_per_gb,
                f"{_usd(prices.argo_base_month)} + {routed:,.0f} GB at "
                f"{_usd(prices.argo_per_gb)}/GB",
                "delivery",
            ),
        )
    if not of_type(resources, CLOUDFLARE_WORKERS_SCRIPT):
        return
    if requests_millions is None:
        out.add(
            "cdn",
            LineItem(
                "workers",
                prices.workers_base_month,
                "Workers Paid base fee; request volume not declared (no sizing ConfigMap)",
                "edge-compute",
            ),
        )
        return
    extra_requests = max(0.0, requests_millions - prices.workers_included_requests_millions)
    cpu_ms_millions = requests_millions * WORKER_CPU_MS_PER_REQUEST
    extra_cpu = max(0.0, cpu_ms_millions - prices.workers_included_cpu_ms_millions)
    out.add(
        "cdn",
        LineItem(
            "workers",
            prices.workers_base_month
            + extra_requests * prices.workers_extra_million_requests
            + extra_cpu * prices.workers_extra_million_cpu_ms,
            f"{_usd(prices.workers_base_month)} base + {extra_requests:g}M requests beyond "
            f"{prices.workers_included_requests_millions:g}M at "
            f"{_usd(prices.workers_extra_million_requests)}/M + {extra_cpu:g}M CPU-ms beyond "
            f"{prices.workers_included_cpu_ms_millions:g}M at "
            f"{_usd(prices.workers_extra_million_cpu_ms)}/M "
            f"({requests_millions:g}M requests/month × {WORKER_CPU_MS_PER_REQUEST:g} ms)",
            "edge-compute",
        ),
    )


def cdn_cost_per_gb(estimate: CostEstimate, *, include_edge_compute: bool) -> float | None:
    """CDN cost per GB delivered at the declared traffic; None without traffic or a CDN."""
    cdn = estimate.components.get("cdn")
    egress = estimate.cdn_monthly_egress_gb
    if cdn is None or not egress:
        return None
    kinds = ("delivery", "edge-compute") if include_edge_compute else ("delivery",)
    return cdn.of_kind(*kinds) / egress


# --- backups ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Lifecycle:
    expiration_days: int | None
    ia_after_days: int | None


def _lifecycle(resources: Sequence[ResourceProps]) -> _Lifecycle:
    """The longest enabled expiration and the earliest STANDARD_IA transition declared."""
    expirations: list[int] = []
    transitions: list[int] = []
    rules: list[tuple[Mapping[str, Any], bool]] = []
    for props in of_type(resources, *S3_LIFECYCLE_TYPES):
        for rule in as_list(props.get("rules")):
            rule = as_mapping(rule)
            rules.append((rule, as_str(rule.get("status")) == "Enabled"))
    for props in of_type(resources, *S3_BUCKET_TYPES):
        for rule in as_list(props.get("lifecycleRules")):
            rule = as_mapping(rule)
            rules.append((rule, as_bool(rule.get("enabled")) is True))
    for rule, enabled in rules:
        if not enabled:
            continue
        days = as_int(get_path(rule, "expiration", "days"))
        if days is not None:
            expirations.append(days)
        for transition in as_list(rule.get("transitions")):
            transition = as_mapping(transition)
            if as_str(transition.get("storageClass")) == "STANDARD_IA":
                after = as_int(transition.get("days"))
                if after is not None:
                    transitions.append(after)
    return _Lifecycle(
        max(expirations) if expirations else None, min(transitions) if transitions else None
    )


def _backup_schedule(resources: Sequence[ResourceProps]) -> str | None:
    for props in of_type(resources, CRONJOB):
        labels = as_mapping(get_path(props, "metadata", "labels"))
        is_backup = "backup" in (name_of(props) or "") or (
            labels.get("app.kubernetes.io/component") == "backup"
        )
        schedule = as_str(get_path(props, "spec", "schedule"))
        if is_backup and schedule:
            return schedule
    return None


def _bucket_key_enabled(resources: Sequence[ResourceProps]) -> bool:
    for props in of_type(resources, *S3_ENCRYPTION_TYPES):
        for rule in as_list(props.get("rules")):
            if as_bool(as_mapping(rule).get("bucketKeyEnabled")) is True:
                return True
    return False


def _price_backups(
    resources: Sequence[ResourceProps], prices: PriceSheet, out: CostEstimate
) -> None:
    if not of_type(resources, *S3_BUCKET_TYPES):
        return
    clusters = redis_clusters(resources)
    primaries = sum(c.primaries or 0 for c in clusters)
    maxmemory = 0.0
    for cluster in clusters:
        try:
            conf = cluster.conf() or {}
        except ValueError:
            conf = {}
        maxmemory = max(maxmemory, as_number((conf.get("maxmemory") or [None])[0]) or 0.0)
    if not primaries or not maxmemory:
        out.problems.append(
            "backups: a bucket is declared but no Redis cluster with a known primary count and "
            "maxmemory was found to size the snapshots"
        )
        return

    schedule = _backup_schedule(resources)
    try:
        snapshots = runs_per_month(schedule) if schedule else SNAPSHOTS_PER_MONTH_WITHOUT_SCHEDULE
    except ValueError:
        out.problems.append(f"backups: cannot read the backup CronJob's schedule {schedule!r}")
        return
    schedule_note = f"`{schedule}`" if schedule else "no backup CronJob found: daily assumed"
    lifecycle = _lifecycle(resources)
    retention = lifecycle.expiration_days
    if retention is None:
        retention = UNEXPIRED_RETENTION_DAYS
        out.problems.append(
            "backups: no enabled lifecycle rule expires the snapshots, so storage grows without "
            f"bound (priced at {UNEXPIRED_RETENTION_DAYS} days); add an expiration rule"
        )
    size = maxmemory * RDB_SIZE_RATIO
    per_day = snapshots / DAYS_PER_MONTH * primaries
    ia_after = lifecycle.ia_after_days
    standard_days = min(retention, ia_after) if ia_after is not None else retention
    # STANDARD_IA bills at least 30 days per object, however soon it expires after moving.
    ia_days = max(retention - ia_after, 30) if ia_after is not None and ia_after < retention else 0
    standard_gb = per_day * standard_days * size / GIB
    ia_gb = per_day * ia_days * size / GIB
    out.add(
        "backups",
        LineItem(
            "snapshot storage",
            standard_gb * prices.s3_standard_gb_month + ia_gb * prices.s3_standard_ia_gb_month,
            f"{snapshots:,.1f} snapshots/month ({schedule_note}) × {primaries} primaries × "
            f"{_gib(size)} (maxmemory × {RDB_SIZE_RATIO:g}) kept {retention} days: "
            f"{standard_gb:,.0f} GB STANDARD"
            + (f" + {ia_gb:,.0f} GB STANDARD_IA" if ia_gb else ""),
            "storage",
        ),
    )
    objects = snapshots * primaries
    parts = math.ceil(size / UPLOAD_PART_BYTES)
    puts = objects * (parts + 2)
    transitions = objects if ia_days else 0.0
    out.add(
        "backups",
        LineItem(
            "requests",
            puts / 1000 * prices.s3_put_per_1000
            + transitions / 1000 * prices.s3_ia_transition_per_1000,
            f"{puts:,.0f} PUTs ({parts} parts of {UPLOAD_PART_BYTES // MIB} MiB + 2 per object)"
            + (f" + {transitions:,.0f} transitions" if transitions else ""),
            "requests",
        ),
    )
    keys = len(of_type(resources, KMS_KEY))
    if keys:
        per_object = (
            KMS_REQUESTS_PER_OBJECT_WITH_BUCKET_KEY if _bucket_key_enabled(resources) else parts + 2
        )
        kms_requests = objects * per_object
        out.add(
            "backups",
            LineItem(
                "kms",
                keys * prices.kms_key_month + kms_requests / 10000 * prices.kms_per_10000_requests,
                f"{keys} key(s) at {_usd(prices.kms_key_month)}/month + {kms_requests:,.0f} "
                f"requests at {_usd(prices.kms_per_10000_requests)}/10k",
                "keys",
            ),
        )
