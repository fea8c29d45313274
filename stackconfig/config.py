"""The stack's configuration: `cache-platform:*` keys read into frozen, typed dataclasses.

Defaults are ADR-011's decisions. This module checks that config is *well-formed* (types, ranges,
quantities, enums, unknown keys, references between keys); values that are well-formed but break
the ADR's limits (no replicas, 64Gi nodes, a budget overrun) are the policy pack's to judge, so a
dev stack can try them with an advisory warning.
"""

from __future__ import annotations

import difflib
import enum
import json
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, cast

from stackconfig.settings import (
    CLOUDFLARE_ID,
    DNS_LABEL,
    HOSTNAME,
    IMAGE_REF,
    NAMESPACE,
    Duration,
    Problems,
    Quantity,
    at_least,
    between,
    camel,
    cron_schedule,
    matches,
    pinned_image,
    positive_quantity,
    read_section,
    setting,
)
from stackconfig.tiers import (
    DEFAULT_BYPASS_PATHS,
    DEFAULT_SESSION_COOKIE,
    MEDIUM_PATH_PREFIXES,
    SHORT_PATH_PREFIXES,
    STATIC_EXTENSIONS,
    tier_violations,
)
from stackconfig.tiers import DEFAULT_TIERS as ADR_TIERS

MAXMEMORY_PERCENT_RANGE = (50, 95)
"""Allowed maxmemory as a percentage of the container limit (inclusive); the redis.conf renderer
refuses to render outside it too."""


def _maxmemory_percent_check(value: Any) -> str | None:
    low, high = MAXMEMORY_PERCENT_RANGE
    return between(low, high)(value)


class ConfigError(Exception):
    """The stack config is invalid; `problems` holds one line per problem, each naming its key."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


class Environment(enum.StrEnum):
    DEV = "dev"
    PROD = "prod"


class EvictionPolicy(enum.StrEnum):
    ALLKEYS_LRU = "allkeys-lru"
    VOLATILE_LRU = "volatile-lru"
    ALLKEYS_LFU = "allkeys-lfu"
    VOLATILE_LFU = "volatile-lfu"
    ALLKEYS_RANDOM = "allkeys-random"
    VOLATILE_RANDOM = "volatile-random"
    VOLATILE_TTL = "volatile-ttl"
    NOEVICTION = "noeviction"


class CloudflarePlan(enum.StrEnum):
    FREE = "free"
    PRO = "pro"
    BUSINESS = "business"
    ENTERPRISE = "enterprise"


class ReceiverType(enum.StrEnum):
    PAGERDUTY = "pagerduty"
    SLACK = "slack"
    WEBHOOK = "webhook"


@dataclass(frozen=True)
class RedisConfig:
    """`cache-platform:redis` — the Redis Cluster on Kubernetes."""

    namespace: str = setting(
        "cache", "Kubernetes namespace of the cluster (created).", checks=(DNS_LABEL,)
    )
    primaries: int = setting(
        3,
        "Number of primaries (shards).",
        why="ADR-011: 3 primaries + 3 replicas.",
        checks=(at_least(1),),
    )
    replicas_per_primary: int = setting(
        1,
        "Replicas of each primary.",
        why="ADR-011: one replica each for automatic failover.",
        checks=(at_least(0),),
    )
    deployed_primaries: int | None = setting(
        None,
        "Primaries the running cluster has now; set it to `primaries` after each deploy. The "
        "plan compares the two to say whether a deploy scales out or in and how many slots move; "
        "null means no change. The deploy itself does not depend on it (docs/runbooks/scaling.md).",
        checks=(at_least(1),),
    )
    memory: Quantity = setting(
        Quantity("8Gi"),
        "Memory of each Redis container (request = limit).",
        why="ADR-011: 8 GB per node.",
        checks=(positive_quantity,),
    )
    cpu: Quantity = setting(
        Quantity("1"),
        "CPU request of each Redis container.",
        why="Redis is single-threaded for commands; one core per node.",
        checks=(positive_quantity,),
    )
    storage: Quantity = setting(
        Quantity("32Gi"),
        "Persistent volume per pod (AOF + RDB).",
        why="AOF rewrite and an RDB of an 8Gi dataset need ~2-3x the data on disk.",
        checks=(positive_quantity,),
    )
    storage_class: str | None = setting(
        None, "StorageClass of the volumes; null uses the cluster default.", checks=(DNS_LABEL,)
    )
    maxmemory_percent: int = setting(
        75,
        "maxmemory as a percentage of `memory`.",
        why="Headroom for fork copy-on-write during BGSAVE/AOF rewrite and replication buffers.",
        checks=(_maxmemory_percent_check,),
    )
    node_timeout_ms: int = setting(
        4000,
        "cluster-node-timeout in milliseconds.",
        why="Failover takes about node timeout + 1-2 s (measured 7-9 s at 5000 ms on a loaded "
        "lab); ADR-011 allows 30 s.",
        checks=(at_least(100),),
    )
    appendonly: bool = setting(True, "AOF persistence (appendfsync everysec).", why="ADR-011.")
    rdb: bool = setting(True, "RDB snapshots (save points).", why="ADR-011: RDB + AOF.")
    eviction_policy: EvictionPolicy = setting(
        EvictionPolicy.ALLKEYS_LRU,
        "maxmemory-policy.",
        why="ADR-011: LRU eviction with TTL-based expiration.",
    )
    image: str = setting(
        "redis:7.2.6",
        "Redis container image, pinned.",
        why="The official image (Bitnami's moved to an unmaintained registry in 2025).",
        checks=(IMAGE_REF, pinned_image),
    )
    exporter_image: str = setting(
        "oliver006/redis_exporter:v1.62.0",
        "redis_exporter sidecar image, pinned.",
        checks=(IMAGE_REF, pinned_image),
    )
    node_type: str | None = setting(
        None,
        "Instance type of the Kubernetes nodes that run Redis (cost model); null picks the "
        "smallest type of the price sheet that fits `memory` plus overhead.",
        checks=(matches(r"[a-z0-9]+\.[a-z0-9]+", "an instance type such as r6g.large"),),
    )
    client_namespace_label: str = setting(
        "cache-platform/client",
        "Namespaces labelled `<this>=true` may connect to Redis (NetworkPolicy).",
        checks=(matches(r"([a-z0-9.-]+/)?[A-Za-z0-9][-A-Za-z0-9_.]*", "a label key"),),
    )


@dataclass(frozen=True)
class CacheTierSettings:
    """One TTL tier of the edge (seconds)."""

    edge_ttl: int = setting(600, "Edge cache TTL in seconds.", checks=(at_least(0),))
    browser_ttl: int = setting(60, "Browser cache TTL in seconds.", checks=(at_least(0),))
    stale_while_revalidate: int = setting(
        60, "Seconds a stale copy may be served while it is refreshed.", checks=(at_least(0),)
    )
    stale_if_error: int = setting(
        300, "Seconds a stale copy may be served when the origin fails.", checks=(at_least(0),)
    )


DEFAULT_TIERS: Mapping[str, CacheTierSettings] = MappingProxyType(
    {
        name: CacheTierSettings(
            edge_ttl=tier.edge_ttl,
            browser_ttl=tier.browser_ttl,
            stale_while_revalidate=tier.stale_while_revalidate,
            stale_if_error=tier.stale_if_error,
        )
        for name, tier in ADR_TIERS.items()
    }
)
"""ADR-011's tiers (stackconfig/tiers.py) as config settings."""


@dataclass(frozen=True)
class CdnConfig:
    """`cache-platform:cdn` — the Cloudflare edge."""

    enabled: bool = setting(True, "Manage the Cloudflare edge.")
    zone_name: str | None = setting(
        None, "The zone's domain (required when enabled).", checks=(HOSTNAME,)
    )
    zone_id: str | None = setting(
        None, "Adopt this existing zone instead of creating one.", checks=(CLOUDFLARE_ID,)
    )
    account_id: str | None = setting(
        None, "Cloudflare account id (required when enabled).", checks=(CLOUDFLARE_ID,)
    )
    plan: CloudflarePlan = setting(
        CloudflarePlan.PRO, "Cloudflare plan of the zone (cost model, WAF features)."
    )
    origin_host: str | None = setting(
        None, "Origin the proxied DNS records point to (required when enabled).", checks=(HOSTNAME,)
    )
    session_cookie: str = setting(
        DEFAULT_SESSION_COOKIE,
        "Requests carrying this cookie bypass the edge cache.",
        checks=(matches(r"[A-Za-z0-9_.-]+", "a cookie name"),),
    )
    bypass_paths: tuple[str, ...] = setting(
        DEFAULT_BYPASS_PATHS,
        "Path prefixes never cached.",
        checks=(matches(r"/[A-Za-z0-9/_.-]*", "path prefixes starting with '/'"),),
    )
    tiers: Mapping[str, CacheTierSettings] = setting(
        DEFAULT_TIERS,
        "TTL tiers `short`, `medium`, `long` (edgeTtl, browserTtl, staleWhileRevalidate, "
        "staleIfError in seconds).",
        why="ADR-011: short 5-15 min, medium 1-4 h, long 24 h.",
        merge=True,
    )
    long_extensions: tuple[str, ...] = setting(
        STATIC_EXTENSIONS,
        "File extensions of static assets, cached on the long tier.",
        why="ADR-011: 24 h for rarely changing data.",
        checks=(matches(r"[a-z0-9]{1,10}", "lowercase extensions without the dot"),),
    )
    medium_paths: tuple[str, ...] = setting(
        MEDIUM_PATH_PREFIXES,
        "Path prefixes of catalog/product pages and the API, cached on the medium tier.",
        why="ADR-011: 1-4 h for moderately stable data.",
        checks=(matches(r"/[A-Za-z0-9/_.-]*", "path prefixes starting with '/'"),),
    )
    short_paths: tuple[str, ...] = setting(
        SHORT_PATH_PREFIXES,
        "Path prefixes of fast-changing data, cached on the short tier (wins over medium).",
        why="ADR-011: 5-15 min for frequently changing data.",
        checks=(matches(r"/[A-Za-z0-9/_.-]*", "path prefixes starting with '/'"),),
    )
    login_paths: tuple[str, ...] = setting(
        ("/login", "/api/auth"),
        "Path prefixes of login endpoints (strict rate limit).",
        checks=(matches(r"/[A-Za-z0-9/_.-]*", "path prefixes starting with '/'"),),
    )
    login_requests_per_minute: int = setting(
        10, "Login requests per minute per client IP before blocking.", checks=(at_least(1),)
    )
    api_requests_per_minute: int = setting(
        1200, "API requests per minute per client IP before blocking.", checks=(at_least(1),)
    )
    monthly_egress_gb: float = setting(
        3000.0, "Expected monthly edge traffic in GB (cost model).", checks=(at_least(0),)
    )
    monthly_requests_millions: float = setting(
        100.0, "Expected monthly requests in millions (cost model).", checks=(at_least(0),)
    )


@dataclass(frozen=True)
class AlertReceiver:
    """One Alertmanager receiver; its credential is the secret `alertingSecrets.<name>`."""

    type: ReceiverType = setting(ReceiverType.WEBHOOK, "pagerduty, slack or webhook.")
    channel: str | None = setting(None, "Slack channel (slack receivers).")
    url: str | None = setting(
        None,
        "Webhook URL without credentials (webhook receivers).",
        checks=(matches(r"https?://[^\s@]+", "an http(s) URL without user info"),),
    )


@dataclass(frozen=True)
class Escalation:
    """Receivers per escalation level (ADR-011: L1 at once, L2 after 15 min, L3 after 30 min)."""

    l1: str = setting("oncall", "On-call engineer, paged at once for critical alerts.")
    l2: str = setting("senior", "Senior engineer, paged when critical persists 15 min.")
    l3: str = setting("manager", "Engineering manager, paged when critical persists 30 min.")
    team: str = setting("team", "Team channel for warnings (within 15 min).")


DEFAULT_RECEIVERS: Mapping[str, AlertReceiver] = MappingProxyType(
    {
        "oncall": AlertReceiver(type=ReceiverType.PAGERDUTY),
        "senior": AlertReceiver(type=ReceiverType.PAGERDUTY),
        "manager": AlertReceiver(type=ReceiverType.PAGERDUTY),
        "team": AlertReceiver(type=ReceiverType.SLACK, channel="#cache-alerts"),
    }
)


@dataclass(frozen=True)
class MonitoringConfig:
    """`cache-platform:monitoring` — kube-prometheus-stack, rules, alerting, dashboards."""

    enabled: bool = setting(True, "Deploy the monitoring stack.")
    namespace: str = setting(
        "monitoring", "Namespace of the monitoring stack (created).", checks=(DNS_LABEL,)
    )
    retention: Duration = setting(Duration("15d"), "Prometheus retention.")
    storage: Quantity = setting(
        Quantity("50Gi"), "Prometheus volume size.", checks=(positive_quantity,)
    )
    storage_class: str | None = setting(
        None, "StorageClass of the monitoring volumes; null uses the default.", checks=(DNS_LABEL,)
    )
    grafana_admin_user: str = setting("admin", "Grafana admin user (password is generated).")
    runbook_base_url: str = setting(
        "https://github.com/acme/cache-platform/blob/main/docs/runbooks",
        "Base URL of docs/runbooks, used in every alert's runbook_url.",
        checks=(matches(r"https?://\S+[^/]", "an http(s) URL without a trailing '/'"),),
    )
    receivers: Mapping[str, AlertReceiver] = setting(
        DEFAULT_RECEIVERS,
        "Alertmanager receivers by name; credentials come from the secret "
        "`cache-platform:alertingSecrets.<name>`.",
    )
    escalation: Escalation = setting(Escalation(), "Receiver of each escalation level.")


@dataclass(frozen=True)
class BackupsConfig:
    """`cache-platform:backups` — RDB snapshots to S3."""

    enabled: bool = setting(True, "Back up the primaries' RDB snapshots to S3.")
    region: str = setting(
        "us-east-1",
        "AWS region of the bucket.",
        checks=(matches(r"[a-z]{2}(-gov)?-[a-z]+-[0-9]", "an AWS region such as eu-west-1"),),
    )
    bucket_prefix: str = setting(
        "cache-platform-redis-backups",
        "Prefix of the bucket's name (a unique suffix is added).",
        checks=(matches(r"[a-z0-9][a-z0-9.-]{2,36}", "3-37 lowercase letters, digits, '.', '-'"),),
    )
    schedule: str = setting(
        "0 3 * * *", "Cron schedule of the backup job.", checks=(cron_schedule,)
    )
    retention_days: int = setting(
        35, "Days a snapshot is kept before it expires.", checks=(at_least(1),)
    )
    infrequent_access_after_days: int = setting(
        30,
        "Days after which snapshots move to STANDARD_IA (S3 requires at least 30); no "
        "transition when it is not below `retentionDays`.",
        checks=(at_least(30),),
    )
    oidc_provider_arn: str | None = setting(
        None,
        "ARN of the Kubernetes cluster's IAM OIDC provider (IRSA); required when enabled.",
        checks=(
            matches(
                r"arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/\S+",
                "an IAM OIDC provider ARN",
            ),
        ),
    )
    service_account: str = setting(
        "redis-backup", "Kubernetes service account of the backup job.", checks=(DNS_LABEL,)
    )
    image: str = setting(
        "ghcr.io/acme/cache-platform-tools:0.1.0",
        "Image of the backup job (built from this repo's Dockerfile).",
        checks=(IMAGE_REF, pinned_image),
    )


@dataclass(frozen=True)
class TrafficConfig:
    """`cache-platform:traffic` — the normal load the tier is sized for."""

    services: int = setting(8, "Services using the cache.", checks=(at_least(1),))
    normal_rps_per_service: int = setting(
        1000,
        "Normal requests per second per service.",
        why="ADR-011 sizes for 10x spikes, up to 10,000 rps per service.",
        checks=(at_least(0),),
    )
    spike_multiplier: int = setting(
        10, "Traffic spike the tier must absorb.", why="ADR-011: 10x.", checks=(at_least(1),)
    )


@dataclass(frozen=True)
class StackConfig:
    """Everything the program needs, validated."""

    environment: Environment
    redis: RedisConfig
    cdn: CdnConfig
    monitoring: MonitoringConfig
    backups: BackupsConfig
    traffic: TrafficConfig
    secret_names: frozenset[str]
    """Names of the `alertingSecrets` entries present (their values are never read here)."""

    @property
    def labels(self) -> dict[str, str]:
        """Labels every Kubernetes object carries (the policy pack requires them)."""
        return {
            "app.kubernetes.io/part-of": NAMESPACE,
            "app.kubernetes.io/managed-by": "pulumi",
            "cache-platform/environment": self.environment.value,
        }

    @property
    def tags(self) -> dict[str, str]:
        """Tags every AWS resource carries."""
        return {"Project": NAMESPACE, "Environment": self.environment.value, "ManagedBy": "pulumi"}


SECTIONS: Mapping[str, type[Any]] = {
    "redis": RedisConfig,
    "cdn": CdnConfig,
    "monitoring": MonitoringConfig,
    "backups": BackupsConfig,
    "traffic": TrafficConfig,
}
SECRET_KEYS = ("alertingSecrets",)
"""Top-level keys that hold credentials and must be set with `pulumi config set --secret`."""


def parse_stack_config(raw: Mapping[str, Any], *, require_secrets: bool = True) -> StackConfig:
    """Validate `raw` — the `cache-platform:` keys without their prefix — into a StackConfig.

    Raises ConfigError with every problem found. `require_secrets=False` skips the check that
    every receiver's credential is set (the offline plan uses it to list what must be set).
    """
    problems = Problems()
    known = ["environment", *SECTIONS, *SECRET_KEYS]
    for key in sorted(set(raw) - set(known)):
        close = difflib.get_close_matches(key, known, n=1)
        hint = f"did you mean '{close[0]}'?" if close else "known keys: " + ", ".join(known)
        problems.add(key, raw[key], f"unknown key; {hint}")

    environment: Environment | None = None
    if "environment" not in raw:
        problems.missing("environment", "expected 'dev' or 'prod'")
    else:
        try:
            environment = Environment(raw["environment"])
        except ValueError:
            problems.add("environment", raw["environment"], "expected 'dev' or 'prod'")

    sections = {
        name: read_section(cls, raw.get(name), name, problems) for name, cls in SECTIONS.items()
    }
    secret_names = _secret_names(raw.get("alertingSecrets"), problems)

    redis = cast(RedisConfig | None, sections["redis"])
    cdn = cast(CdnConfig | None, sections["cdn"])
    monitoring = cast(MonitoringConfig | None, sections["monitoring"])
    backups = cast(BackupsConfig | None, sections["backups"])
    if cdn is not None:
        _check_cdn(cdn, problems)
    if monitoring is not None:
        _check_monitoring(monitoring, secret_names if require_secrets else None, problems)
    if backups is not None:
        _check_backups(backups, problems)
    if problems.lines or environment is None:
        raise ConfigError(problems.lines)
    assert redis is not None and cdn is not None and monitoring is not None and backups is not None
    traffic = cast(TrafficConfig, sections["traffic"])
    return StackConfig(
        environment=environment,
        redis=redis,
        cdn=cdn,
        monitoring=monitoring,
        backups=backups,
        traffic=traffic,
        secret_names=frozenset(secret_names),
    )


def _secret_names(raw: Any, problems: Problems) -> set[str]:
    if raw is None:
        return set()
    if isinstance(raw, str):
        # A whole-object secret arrives as a JSON string; only its keys are looked at.
        try:
            raw = json.loads(raw)
        except ValueError:
            raw = None
    if not isinstance(raw, dict):
        problems.lines.append(
            f"{NAMESPACE}:alertingSecrets: expected an object of receiver name -> credential, "
            "set with `pulumi config set --secret --path 'cache-platform:alertingSecrets.<name>'`"
        )
        return set()
    return {str(name) for name in cast(dict[str, Any], raw)}


def _check_cdn(cdn: CdnConfig, problems: Problems) -> None:
    if cdn.enabled:
        for key, value in (
            ("zoneName", cdn.zone_name),
            ("accountId", cdn.account_id),
            ("originHost", cdn.origin_host),
        ):
            if value is None:
                problems.missing(f"cdn.{key}", "it is needed when cdn.enabled is true")
    # TTL tiers are ADR-011's decision, so out-of-range tiers are config errors (the policy
    # pack checks the deployed rules with the same function).
    for message in tier_violations(cdn.tiers):
        key, _, what = message.partition(" ")  # "short.edgeTtl is 1200 s; ..."
        problems.lines.append(f"{NAMESPACE}:cdn.tiers.{key}: {what}")
    # The edge applies cache rules in order (short after medium: the later one wins) while the
    # Worker takes the longest prefix; a medium prefix inside a short one would split them.
    for medium in cdn.medium_paths:
        for short in cdn.short_paths:
            if medium != short and medium.startswith(short):
                problems.add(
                    "cdn.mediumPaths",
                    medium,
                    f"it lies under the short path {short!r}: the edge would cache it on the "
                    "short tier and the Worker on the medium one; list it under shortPaths or "
                    "narrow the short path",
                )


def _check_monitoring(
    monitoring: MonitoringConfig, secret_names: set[str] | None, problems: Problems
) -> None:
    for level in ("l1", "l2", "l3", "team"):
        name = getattr(monitoring.escalation, level)
        if name not in monitoring.receivers:
            problems.add(
                f"monitoring.escalation.{level}",
                name,
                "expected one of the receivers: " + ", ".join(sorted(monitoring.receivers)),
            )
    for name, receiver in monitoring.receivers.items():
        if receiver.type is ReceiverType.SLACK and not receiver.channel:
            problems.missing(f"monitoring.receivers.{name}.channel", "slack receivers need one")
        if receiver.type is ReceiverType.WEBHOOK and not receiver.url:
            problems.missing(f"monitoring.receivers.{name}.url", "webhook receivers need one")
    if secret_names is None or not monitoring.enabled:
        return
    for name in receivers_needing_secrets(monitoring):
        if name not in secret_names:
            problems.missing(
                f"alertingSecrets.{name}",
                f"the {monitoring.receivers[name].type.value} receiver '{name}' needs its "
                "credential: pulumi config set --secret --path "
                f"'{NAMESPACE}:alertingSecrets.{name}'",
            )


def _check_backups(backups: BackupsConfig, problems: Problems) -> None:
    if backups.enabled and backups.oidc_provider_arn is None:
        problems.missing(
            "backups.oidcProviderArn", "IRSA needs the cluster's OIDC provider when enabled"
        )


def receivers_needing_secrets(monitoring: MonitoringConfig) -> list[str]:
    """Receivers whose credential is read from `cache-platform:alertingSecrets.<name>`."""
    return [
        name
        for name, receiver in sorted(monitoring.receivers.items())
        if receiver.type is not ReceiverType.WEBHOOK
    ]


def yaml_key(section: str, field_name: str) -> str:
    return f"{NAMESPACE}:{section}.{camel(field_name)}"
