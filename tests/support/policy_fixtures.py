"""A compliant ("happy") prod-sized stack as the engine shows it to policies, and its shape.

The factories build each resource's properties with the camelCased names the engine sends (the
Pulumi SDKs' arg names); tests/unit/test_policy_fixtures.py registers the non-Kubernetes ones
through the real SDKs under mocks and compares, so a renamed property fails there rather than
silently passing a policy. Policy and cost tests take `happy_stack()` and change one property.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any, cast

from components.monitoring.chart_values import render_chart_values
from components.monitoring.rules import render_rule_groups
from components.redis.conf import RedisConfSpec, render_redis_conf
from policies.evaluate import ResourceInput, Violation, evaluate
from policies.props import REDACTED_SECRET
from stackconfig.thresholds import AlertThresholds

GIB = 1024**3
NAMESPACE = "cache"
ENVIRONMENT_LABELS = {
    "app.kubernetes.io/part-of": "cache-platform",
    "app.kubernetes.io/managed-by": "pulumi",
    "cache-platform/environment": "prod",
}
SELECTOR = {"app.kubernetes.io/name": "redis-cluster", "app.kubernetes.io/instance": "redis"}
SERVER_LABELS = {**ENVIRONMENT_LABELS, **SELECTOR, "app.kubernetes.io/component": "server"}
ZONE_ID = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
ACCOUNT_ID = "0123456789abcdef0123456789abcdef"
BUCKET = "cache-platform-redis-backups-1a2b3c4d"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/1a2b3c4d-0000-1111-2222-333344445555"
TAGS = {"Project": "cache-platform", "Environment": "prod", "ManagedBy": "pulumi"}

Props = dict[str, Any]


def _metadata(name: str, **labels: str) -> Props:
    return {"name": name, "namespace": NAMESPACE, "labels": {**ENVIRONMENT_LABELS, **labels}}


def _password_env(name: str) -> Props:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": "redis-auth", "key": "password"}}}


def redis_nodes(pods: int) -> str:
    return " ".join(
        f"redis-{i}.redis-headless.{NAMESPACE}.svc.cluster.local:6379" for i in range(pods)
    )


def redis_conf(memory_bytes: int = 8 * GIB, **spec: Any) -> str:
    return render_redis_conf(RedisConfSpec(container_memory_bytes=memory_bytes, **spec))


def redis_statefulset(
    primaries: int = 3, replicas_per_primary: int = 1, memory: str = "8Gi", storage: str = "32Gi"
) -> Props:
    pods = primaries * (1 + replicas_per_primary)
    env = [
        {"name": "REDIS_USER", "value": "operator"},
        {"name": "REDIS_PASSWORD_FILE", "value": "/etc/redis-users/operator"},
        {"name": "REDIS_USERS_DIR", "value": "/etc/redis-users"},
        {"name": "REDIS_PORT", "value": "6379"},
        {"name": "REDIS_NODES", "value": redis_nodes(pods)},
        {"name": "REDIS_REPLICAS_PER_PRIMARY", "value": str(replicas_per_primary)},
    ]
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": _metadata("redis", **SELECTOR),
        "spec": {
            "serviceName": "redis-headless",
            "replicas": float(pods),  # the engine's JSON turns integers into floats
            "podManagementPolicy": "Parallel",
            "selector": {"matchLabels": {**SELECTOR, "app.kubernetes.io/component": "server"}},
            "template": {
                "metadata": {"labels": dict(SERVER_LABELS)},
                "spec": {
                    "affinity": {
                        "podAntiAffinity": {
                            "requiredDuringSchedulingIgnoredDuringExecution": [
                                {
                                    "topologyKey": "kubernetes.io/hostname",
                                    "labelSelector": {"matchLabels": dict(SELECTOR)},
                                }
                            ]
                        }
                    },
                    "containers": [
                        {
                            "name": "redis",
                            "image": "redis:7.2.6",
                            "command": ["sh", "/scripts/start.sh"],
                            "env": env,
                            "resources": {
                                "requests": {"memory": memory, "cpu": "1"},
                                "limits": {"memory": memory},
                            },
                            "volumeMounts": [
                                {"name": "users", "mountPath": "/etc/redis-users"},
                            ],
                        },
                        {
                            "name": "exporter",
                            "image": "oliver006/redis_exporter:v1.62.0",
                            "env": [
                                {"name": "REDIS_ADDR", "value": "redis://127.0.0.1:6379"},
                                {"name": "REDIS_USER", "value": "monitor"},
                            ],
                            "resources": {
                                "requests": {"cpu": "50m", "memory": "64Mi"},
                                "limits": {"memory": "128Mi"},
                            },
                        },
                    ],
                    "volumes": [
                        {"name": "config", "configMap": {"name": "redis-config"}},
                        {"name": "runtime", "emptyDir": {"medium": "Memory"}},
                        {
                            "name": "users",
                            "projected": {
                                "sources": [
                                    {
                                        "secret": {
                                            "name": "redis-auth",
                                            "items": [{"key": "password", "path": "operator"}],
                                        }
                                    }
                                ]
                            },
                        },
                    ],
                },
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "storageClassName": "gp3",
                        "resources": {"requests": {"storage": storage}},
                    },
                }
            ],
        },
    }


def redis_config_map(text: str | None = None) -> Props:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": _metadata("redis-config", **SELECTOR),
        "data": {"redis.conf": text if text is not None else redis_conf(), "start.sh": "#!/bin/sh"},
    }


def redis_secret() -> Props:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "Opaque",
        "metadata": _metadata("redis-auth", **SELECTOR),
        "stringData": {"password": REDACTED_SECRET},
    }


def redis_bootstrap_job(pods: int = 6, replicas_per_primary: int = 1) -> Props:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": _metadata("redis-bootstrap", **SELECTOR),
        "spec": {
            "template": {
                "spec": {
                    "restartPolicy": "OnFailure",
                    "containers": [
                        {
                            "name": "bootstrap",
                            "image": "redis:7.2.6",
                            "env": [
                                _password_env("REDISCLI_AUTH"),
                                {"name": "REDIS_NODES", "value": redis_nodes(pods)},
                                {
                                    "name": "REDIS_REPLICAS_PER_PRIMARY",
                                    "value": str(replicas_per_primary),
                                },
                            ],
                        }
                    ],
                }
            }
        },
    }


def redis_pdb() -> Props:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata("redis-pdb", **SELECTOR),
        "spec": {
            "maxUnavailable": 1.0,
            "selector": {"matchLabels": {**SELECTOR, "app.kubernetes.io/component": "server"}},
        },
    }


def redis_network_policy() -> Props:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": _metadata("redis-network", **SELECTOR),
        "spec": {
            "podSelector": {"matchLabels": {**SELECTOR, "app.kubernetes.io/component": "server"}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [{"podSelector": {"matchLabels": dict(SELECTOR)}}],
                    "ports": [{"port": 6379.0}, {"port": 16379.0}],
                },
                {
                    "from": [
                        {"namespaceSelector": {"matchLabels": {"cache-platform/client": "true"}}}
                    ],
                    "ports": [{"port": 6379.0}],
                },
            ],
        },
    }


def sizing_config_map(
    services: int = 8,
    rps: int = 1000,
    spike: int = 10,
    egress_gb: float = 3000.0,
    requests_millions: float = 100.0,
) -> Props:
    document = {
        "cdnMonthlyEgressGb": egress_gb,
        "cdnMonthlyRequestsMillions": requests_millions,
        "normalRpsPerService": rps,
        "services": services,
        "spikeMultiplier": spike,
    }
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "cache-platform-sizing",
            "namespace": NAMESPACE,
            "labels": dict(ENVIRONMENT_LABELS),
        },
        "data": {"sizing.json": json.dumps(document, sort_keys=True)},
    }


def monitoring_release() -> Props:
    alertmanager_config = {
        "route": {"receiver": "team"},
        "receivers": [
            {
                "name": "oncall",
                "pagerduty_configs": [
                    {"routing_key_file": "/etc/alertmanager/secrets/alerting/oncall"}
                ],
            },
            {
                "name": "team",
                "slack_configs": [{"api_url_file": "/etc/alertmanager/secrets/alerting/team"}],
            },
        ],
    }
    return {
        "chart": "kube-prometheus-stack",
        "version": "75.18.1",
        "name": "monitoring",
        "namespace": "monitoring",
        "repositoryOpts": {"repo": "https://prometheus-community.github.io/helm-charts"},
        "values": render_chart_values(
            alertmanager_config=alertmanager_config,
            alertmanager_secret_name="alerting",
            grafana_admin_secret_name="grafana-admin",
            retention="15d",
            storage_size="50Gi",
            storage_class="gp3",
        ),
    }


def prometheus_rule() -> Props:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {
            "name": "cache-rules",
            "namespace": "monitoring",
            "labels": dict(ENVIRONMENT_LABELS),
        },
        "spec": {"groups": render_rule_groups(AlertThresholds(), "https://example.org/runbooks")},
    }


def zone() -> Props:
    return {"account": {"id": ACCOUNT_ID}, "name": "shop.example.com", "type": "full"}


def zone_subscription(plan: str = "pro") -> Props:
    return {"zoneId": ZONE_ID, "frequency": "monthly", "ratePlan": {"id": plan}}


def zone_setting(setting_id: str = "min_tls_version", value: Any = "1.2") -> Props:
    return {"zoneId": ZONE_ID, "settingId": setting_id, "value": value}


def cache_rule(tier: str, edge_ttl: int) -> Props:
    return {
        "ref": f"tier_{tier}",
        "description": f"{tier} tier",
        "expression": f'(http.request.uri.path matches "^/{tier}/")',
        "action": "set_cache_settings",
        "actionParameters": {
            "cache": True,
            "edgeTtl": {"mode": "override_origin", "default": edge_ttl},
            "browserTtl": {"mode": "override_origin", "default": 60},
        },
    }


def cache_ruleset() -> Props:
    return {
        "zoneId": ZONE_ID,
        "kind": "zone",
        "name": "cache settings",
        "phase": "http_request_cache_settings",
        "rules": [
            {
                "ref": "bypass_session",
                "description": "requests with a session bypass the cache",
                "expression": '(http.cookie contains "session_id")',
                "action": "set_cache_settings",
                "actionParameters": {"cache": False},
            },
            cache_rule("short", 600),
            cache_rule("medium", 7200),
            cache_rule("long", 86400),
        ],
    }


def cache_tiers_binding(**changes: Any) -> Props:
    """The Worker's CACHE_TIERS binding (components/cdn/bindings.py's shape); `changes` maps
    "tier.key" to a new value."""
    tiers: dict[str, dict[str, int]] = {
        "short": {
            "edgeTtl": 600,
            "browserTtl": 60,
            "staleWhileRevalidate": 60,
            "staleIfError": 300,
        },
        "medium": {
            "edgeTtl": 7200,
            "browserTtl": 300,
            "staleWhileRevalidate": 600,
            "staleIfError": 3600,
        },
        "long": {
            "edgeTtl": 86400,
            "browserTtl": 86400,
            "staleWhileRevalidate": 3600,
            "staleIfError": 86400,
        },
    }
    for path, value in changes.items():
        tier, key = path.split("__")
        tiers[tier][key] = value
    return {"name": "CACHE_TIERS", "type": "plain_text", "text": json.dumps(tiers, sort_keys=True)}


def workers_script() -> Props:
    rules = [{"tier": "long", "extensions": ["css", "js"]}]
    return {
        "accountId": ACCOUNT_ID,
        "scriptName": "cache-platform-edge-prod",
        "mainModule": "worker.js",
        "content": "export default { async fetch(request) { return fetch(request); } };",
        "bindings": [
            cache_tiers_binding(),
            {"name": "TIER_RULES", "type": "plain_text", "text": json.dumps(rules)},
            {"name": "SESSION_COOKIE", "type": "plain_text", "text": "session_id"},
        ],
    }


def bucket() -> Props:
    return {"bucketPrefix": "cache-platform-redis-backups-", "forceDestroy": False, "tags": TAGS}


def public_access_block() -> Props:
    return {
        "bucket": BUCKET,
        "blockPublicAcls": True,
        "blockPublicPolicy": True,
        "ignorePublicAcls": True,
        "restrictPublicBuckets": True,
    }


def encryption() -> Props:
    return {
        "bucket": BUCKET,
        "rules": [
            {
                "applyServerSideEncryptionByDefault": {
                    "sseAlgorithm": "aws:kms",
                    "kmsMasterKeyId": KEY_ARN,
                },
                "bucketKeyEnabled": True,
            }
        ],
    }


def tls_only_document() -> Props:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [f"arn:aws:s3:::{BUCKET}", f"arn:aws:s3:::{BUCKET}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def bucket_policy() -> Props:
    return {"bucket": BUCKET, "policy": json.dumps(tls_only_document())}


def lifecycle(expiration_days: int | None = 30, ia_after_days: int | None = None) -> Props:
    rule: Props = {"id": "expire-snapshots", "status": "Enabled", "filter": {"prefix": ""}}
    if expiration_days is not None:
        rule["expiration"] = {"days": expiration_days}
    if ia_after_days is not None:
        rule["transitions"] = [{"days": ia_after_days, "storageClass": "STANDARD_IA"}]
    return {"bucket": BUCKET, "rules": [rule]}


def kms_key() -> Props:
    return {
        "description": "cache-platform Redis backups",
        "enableKeyRotation": True,
        "deletionWindowInDays": 30,
        "tags": TAGS,
    }


def backup_cronjob(schedule: str = "0 */6 * * *") -> Props:
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": _metadata("redis-backup", **{"app.kubernetes.io/component": "backup"}),
        "spec": {
            "schedule": schedule,
            "jobTemplate": {
                "spec": {
                    "template": {
                        "spec": {
                            "containers": [
                                {
                                    "name": "backup",
                                    "image": "ghcr.io/acme/cache-platform-tools:0.1.0",
                                    "env": [
                                        {"name": "BACKUP_BUCKET", "value": BUCKET},
                                        {
                                            "name": "AWS_WEB_IDENTITY_TOKEN_FILE",
                                            "value": "/var/run/secrets/eks/token",
                                        },
                                        _password_env("REDISCLI_AUTH"),
                                    ],
                                }
                            ]
                        }
                    }
                }
            },
        },
    }


HAPPY_FACTORIES: tuple[tuple[str, str, Callable[[], Props]], ...] = (
    ("kubernetes:apps/v1:StatefulSet", "redis", redis_statefulset),
    ("kubernetes:core/v1:ConfigMap", "redis-config", redis_config_map),
    ("kubernetes:core/v1:Secret", "redis-auth", redis_secret),
    ("kubernetes:batch/v1:Job", "redis-bootstrap", redis_bootstrap_job),
    ("kubernetes:policy/v1:PodDisruptionBudget", "redis-pdb", redis_pdb),
    ("kubernetes:networking.k8s.io/v1:NetworkPolicy", "redis-network", redis_network_policy),
    ("kubernetes:core/v1:ConfigMap", "capacity-sizing", sizing_config_map),
    ("kubernetes:helm.sh/v3:Release", "monitoring", monitoring_release),
    ("kubernetes:monitoring.coreos.com/v1:PrometheusRule", "monitoring-rules", prometheus_rule),
    ("cloudflare:index/zone:Zone", "edge-zone", zone),
    ("cloudflare:index/zoneSubscription:ZoneSubscription", "edge-plan", zone_subscription),
    ("cloudflare:index/zoneSetting:ZoneSetting", "edge-min-tls", zone_setting),
    ("cloudflare:index/ruleset:Ruleset", "edge-cache", cache_ruleset),
    ("cloudflare:index/workersScript:WorkersScript", "edge-worker", workers_script),
    ("aws:s3/bucket:Bucket", "backups", bucket),
    (
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "backups-public",
        public_access_block,
    ),
    (
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "backups-encryption",
        encryption,
    ),
    ("aws:s3/bucketPolicy:BucketPolicy", "backups-tls", bucket_policy),
    (
        "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
        "backups-lifecycle",
        lifecycle,
    ),
    ("aws:kms/key:Key", "backups-key", kms_key),
    ("kubernetes:batch/v1:CronJob", "backups-job", backup_cronjob),
)


def urn(type_token: str, name: str) -> str:
    return f"urn:pulumi:prod::cache-platform::{type_token}::{name}"


def happy_stack() -> list[ResourceInput]:
    """Every kind of resource the policies judge, compliant with each policy."""
    return [
        ResourceInput(urn(kind, name), kind, name, factory())
        for kind, name, factory in HAPPY_FACTORIES
    ]


def props_of(stack: list[ResourceInput], name: str) -> Props:
    """The (mutable) properties of the resource named `name`."""
    found = [r for r in stack if r.name == name]
    assert len(found) == 1, f"expected one resource named {name!r}, found {len(found)}"
    return cast(Props, found[0].props)


def replace(stack: list[ResourceInput], name: str, props: Props) -> list[ResourceInput]:
    return [ResourceInput(r.urn, r.type, r.name, props) if r.name == name else r for r in stack]


def without(stack: list[ResourceInput], *names: str) -> list[ResourceInput]:
    return [r for r in stack if r.name not in names]


def as_cost_input(stack: list[ResourceInput]) -> list[tuple[str, Mapping[str, Any]]]:
    return [(r.type, r.props) for r in stack]


def violations_of(
    policy_name: str, stack: list[ResourceInput], config: Mapping[str, Any] | None = None
) -> list[Violation]:
    """Violations of one registered policy (mandatory, as in prod) with an optional config."""
    from policies.registry import ALL_POLICIES

    policies = [p for p in ALL_POLICIES if p.name == policy_name]
    assert policies, f"no policy named {policy_name!r} is registered"
    pack: dict[str, Any] = {"all": "mandatory"}
    if config:
        pack[policy_name] = dict(config)
    return evaluate(stack, pack, policies)


def messages(found: list[Violation]) -> str:
    return "\n".join(v.message for v in found)
