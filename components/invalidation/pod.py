"""What the invalidation service's pods run with, as plain data (no Pulumi runtime).

The container speaks `python -m invalidator`'s contract: `INVALIDATOR_*` variables naming
values that are no secret and the *files* the secrets are mounted as (invalidator/__main__.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

APP_NAME = "cache-invalidator"
"""`app.kubernetes.io/name` of the service's objects (the cost model prices the Deployment by
it; a test keeps cost/model.py's copy equal)."""
COMPONENT = "invalidator"
"""`app.kubernetes.io/component` of the pods; their `app.kubernetes.io/name` is the Redis
cluster's, one of the peer labels its NetworkPolicy admits."""
INSTANCE_LABEL = "cache-platform/invalidation"
"""Names the component instance on every object and pod, so two instances never select each
other's pods."""

HTTP_PORT = 8080
"""The webhook (`POST /v1/events`), `GET /metrics`, `/healthz` and `/readyz`: one server."""
HTTP_PORT_NAME = "http"
SECRETS_MOUNT = "/etc/invalidator"
REDIS_PASSWORD_FILE = "redis-password"
WEBHOOK_SECRET_FILE = "webhook-secret"
CLOUDFLARE_TOKEN_FILE = "cloudflare-token"
WEBHOOK_SECRET_KEY = "webhook-secret"
"""Keys of the component's own Secret."""
CLOUDFLARE_TOKEN_KEY = "cloudflare-token"
WEBHOOK_SECRET_LENGTH = 64
"""Characters of the generated webhook secret (the service refuses fewer than 32 bytes)."""
LIVENESS_PATH = "/healthz"
READINESS_PATH = "/readyz"
METRICS_PATH = "/metrics"
SCRAPE_INTERVAL = "15s"
"""The lag histogram's 5-minute rates need a few samples per window; the Redis exporter's
interval, so the dashboards line up."""

HTTPS_PORT = 443
CLOUDFLARE_API_BLOCKS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("0.0.0.0/0", ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16")),
    ("::/0", ("fc00::/7", "fe80::/10")),
)
"""Where HTTPS may go: the internet (api.cloudflare.com is anycast, its addresses are not
ours to pin), never private ranges nor link-local, which holds the cloud's instance-metadata
endpoint and its credentials."""


@dataclass(frozen=True)
class ServiceSettings:
    """What the service is told, none of it secret."""

    redis_nodes: str
    """host:port of the cluster's client Service; the client discovers every node from it."""
    redis_user: str
    zone_id: str
    plan: str
    replicas: int
    claim_idle_seconds: int


def service_environment(settings: ServiceSettings) -> dict[str, str]:
    """The container's environment: values and the paths of the secret files, never a secret."""
    return {
        "INVALIDATOR_REDIS_NODES": settings.redis_nodes,
        "INVALIDATOR_REDIS_USER": settings.redis_user,
        "INVALIDATOR_REDIS_PASSWORD_FILE": f"{SECRETS_MOUNT}/{REDIS_PASSWORD_FILE}",
        "INVALIDATOR_WEBHOOK_SECRET_FILE": f"{SECRETS_MOUNT}/{WEBHOOK_SECRET_FILE}",
        "INVALIDATOR_CLOUDFLARE_TOKEN_FILE": f"{SECRETS_MOUNT}/{CLOUDFLARE_TOKEN_FILE}",
        "INVALIDATOR_CLOUDFLARE_ZONE_ID": settings.zone_id,
        "INVALIDATOR_CLOUDFLARE_PLAN": settings.plan,
        # Each replica paces its purges at 1/replicas of the account's rate; the rollout never
        # runs more pods than this (maxSurge 0).
        "INVALIDATOR_REPLICAS": str(settings.replicas),
        "INVALIDATOR_CLAIM_IDLE_SECONDS": str(settings.claim_idle_seconds),
        "INVALIDATOR_LISTEN": f"0.0.0.0:{HTTP_PORT}",
    }


def pod_labels(
    stack_labels: Mapping[str, str], peer_labels: Mapping[str, str], instance: str
) -> dict[str, str]:
    """The pods' labels: the stack's, the Redis cluster's peer labels (its NetworkPolicy admits
    them on the client port) and the service's own."""
    return {**stack_labels, **selector_labels(peer_labels, instance)}


def selector_labels(peer_labels: Mapping[str, str], instance: str) -> dict[str, str]:
    """What the Deployment, Service and PodDisruptionBudget select: only this instance's pods
    (the peer labels alone also match the Redis servers and their jobs)."""
    return {
        **peer_labels,
        "app.kubernetes.io/component": COMPONENT,
        INSTANCE_LABEL: instance,
    }


def object_labels(stack_labels: Mapping[str, str], instance: str) -> dict[str, str]:
    """Labels of the Deployment, Service, Secret and policies (not pods): the service's name,
    which no Redis selector (the cluster's ServiceMonitor included) matches."""
    return {
        **stack_labels,
        "app.kubernetes.io/name": APP_NAME,
        "app.kubernetes.io/component": COMPONENT,
        INSTANCE_LABEL: instance,
    }
