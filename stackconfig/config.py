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
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, cast

from stackconfig.cloudflare_plans import CACHE_API_PURGE_KINDS, capabilities
from stackconfig.edge_consistency import EventPurgedClass
from stackconfig.settings import (
    CLOUDFLARE_ID,
    DNS_LABEL,
    HOSTNAME,
    IMAGE_REF,
    IP_ADDRESS,
    NAMESPACE,
    Duration,
    Problems,
    Quantity,
    between,
    camel,
    cron_schedule,
    matches,
    non_empty,
    pinned_image,
    positive_quantity,
    quantity_between,
    read_section,
    setting,
)
from stackconfig.tiers import (
    DEFAULT_BYPASS_PATHS,
    DEFAULT_PUBLIC_PATHS,
    DEFAULT_SESSION_COOKIE,
    DEFAULT_TIERS,
    MEDIUM_PATH_PREFIXES,
    SHORT_PATH_PREFIXES,
    STATIC_EXTENSIONS,
    CacheTier,
    tier_violations,
)

# Upper bounds of what a sane stack asks for: beyond them a typo (an extra zero) would plan for
# minutes and price millions before any policy speaks. They are sanity limits, not ADR decisions.
MAX_PRIMARIES = 100
"""Redis Cluster scales to ~1000 nodes; 100 primaries x (1 + replicas) stays well inside it."""
MAX_REPLICAS_PER_PRIMARY = 5
MAX_NODE_TIMEOUT_MS = 60_000
MAX_REQUESTS_PER_MINUTE = 1_000_000
MAX_MONTHLY_EGRESS_GB = 10_000_000.0
MAX_MONTHLY_REQUESTS_MILLIONS = 1_000_000.0
MAX_RETENTION_DAYS = 3650

LABEL_KEY_PATTERN = r"([a-z0-9.-]+/)?[A-Za-z0-9][-A-Za-z0-9_.]*"
"""A Kubernetes label key: an optional DNS prefix and a name."""

MAXMEMORY_PERCENT_RANGE = (50, 95)
"""Allowed maxmemory as a percentage of the container limit (inclusive); the redis.conf renderer
refuses to render outside it too."""


EXPORTER_FIRST_SAFE_VERSION = (1, 83, 0)
"""The first redis_exporter release with --disable-scrape-endpoint (the pods pass it)."""


def _exporter_without_scrape_leak(value: Any) -> str | None:
    tag = str(value).split("@", 1)[0].rsplit("/", 1)[-1].partition(":")[2]
    found = re.fullmatch(r"v?([0-9]+)\.([0-9]+)\.([0-9]+)(-[A-Za-z0-9.]+)?", tag)
    if found is None:
        return None  # a digest alone: the pods' --disable-scrape-endpoint stops an older binary
    version = tuple(int(part) for part in found.groups()[:3])
    if version >= EXPORTER_FIRST_SAFE_VERSION:
        return None
    return (
        "must be redis_exporter v1.83.0 or later: older releases have no "
        "--disable-scrape-endpoint and their /scrape endpoint leaks the password (issue 1104)"
    )


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
        checks=(between(1, MAX_PRIMARIES),),
    )
    replicas_per_primary: int = setting(
        1,
        "Replicas of each primary.",
        why="ADR-011: one replica each for automatic failover.",
        checks=(between(0, MAX_REPLICAS_PER_PRIMARY),),
    )
    deployed_primaries: int | None = setting(
        None,
        "Primaries the running cluster has now; set it to `primaries` after each deploy. The "
        "plan compares the two to say whether a deploy scales out or in and how many slots move; "
        "null means no change. The deploy itself does not depend on it (docs/runbooks/scaling.md).",
        checks=(between(1, MAX_PRIMARIES),),
    )
    memory: Quantity = setting(
        Quantity("8Gi"),
        "Memory of each Redis container (request = limit).",
        why="ADR-011: 8 GB per node.",
        checks=(positive_quantity, quantity_between("64Mi", "1Ti")),
    )
    cpu: Quantity = setting(
        Quantity("1"),
        "CPU request of each Redis container.",
        why="Redis is single-threaded for commands; one core per node.",
        checks=(positive_quantity, quantity_between("1m", "64")),
    )
    storage: Quantity = setting(
        Quantity("32Gi"),
        "Persistent volume per pod (AOF + RDB).",
        why="AOF rewrite and an RDB of an 8Gi dataset need ~2-3x the data on disk.",
        checks=(positive_quantity, quantity_between("1Gi", "64Ti")),
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
        checks=(between(100, MAX_NODE_TIMEOUT_MS),),
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
        "oliver006/redis_exporter:v1.88.0",
        "redis_exporter sidecar image, pinned (v1.83.0 or later).",
        why="v1.83.0 added --disable-scrape-endpoint: before it, /scrape?target= authenticated "
        "to any address with the exporter's password (redis_exporter issue 1104).",
        checks=(IMAGE_REF, pinned_image, _exporter_without_scrape_leak),
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
        checks=(matches(LABEL_KEY_PATTERN, "a label key"),),
    )


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
        CloudflarePlan.PRO,
        "Cloudflare plan of the zone; what it allows is stackconfig/cloudflare_plans.py.",
    )
    origin_host: str | None = setting(
        None, "Origin the proxied DNS records point to (required when enabled).", checks=(HOSTNAME,)
    )
    origin_address: str | None = setting(
        None,
        "IP address of the origin; required when originHost lies inside the zone (the program "
        "then creates its A/AAAA record).",
        why="A proxied record pointing at a name without a record fails with Cloudflare 1016.",
        checks=(IP_ADDRESS,),
    )
    managed_waf: bool = setting(
        True, "Deploy the Cloudflare Managed and OWASP Core WAF rulesets (Pro and higher plans)."
    )
    entry_point_rulesets: Mapping[str, str] = setting(
        MappingProxyType({}),
        "With zoneId: the adopted zone's existing entry-point ruleset id per phase we manage "
        "(http_request_cache_settings, http_request_firewall_managed, http_ratelimit), or 'none'.",
        why="A zone has one entry-point ruleset per phase; creating a second one fails.",
    )
    session_cookie: str = setting(
        DEFAULT_SESSION_COOKIE,
        "Requests carrying this cookie bypass the edge cache.",
        checks=(matches(r"[A-Za-z0-9_.-]+", "a cookie name"),),
    )
    bypass_paths: tuple[str, ...] = setting(
        DEFAULT_BYPASS_PATHS,
        "Path prefixes never cached (matched on the percent-decoded, lower-cased path).",
        checks=(non_empty, matches(r"/[A-Za-z0-9/_.-]*", "path prefixes starting with '/'")),
    )
    public_paths: tuple[str, ...] = setting(
        DEFAULT_PUBLIC_PATHS,
        "Path prefixes whose responses are the same for every anonymous visitor: the Worker "
        "caches a response without Cache-Control on its tier only there and for static "
        "extensions.",
        why="Elsewhere an uncacheable answer the origin forgot to mark would be shared.",
        checks=(matches(r"/[A-Za-z0-9/_.-]*", "path prefixes starting with '/'"),),
    )
    tiers: Mapping[str, CacheTier] = setting(
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
        checks=(non_empty, matches(r"[a-z0-9]{1,10}", "lowercase extensions without the dot")),
    )
    medium_paths: tuple[str, ...] = setting(
        MEDIUM_PATH_PREFIXES,
        "Path prefixes of catalog/product pages and the API, cached on the medium tier.",
        why="ADR-011: 1-4 h for moderately stable data.",
        checks=(non_empty, matches(r"/[A-Za-z0-9/_.-]*", "path prefixes starting with '/'")),
    )
    short_paths: tuple[str, ...] = setting(
        SHORT_PATH_PREFIXES,
        "Path prefixes of fast-changing data, cached on the short tier (wins over medium).",
        why="ADR-011: 5-15 min for frequently changing data.",
        checks=(non_empty, matches(r"/[A-Za-z0-9/_.-]*", "path prefixes starting with '/'")),
    )
    event_purged: EventPurgedClass = setting(
        EventPurgedClass(),
        "The event-purged consistency class (paths, edgeTtl): docs/invalidation.md.",
    )
    login_paths: tuple[str, ...] = setting(
        ("/login", "/api/auth"),
        "Path prefixes of login endpoints (strict rate limit).",
        checks=(non_empty, matches(r"/[A-Za-z0-9/_.-]*", "path prefixes starting with '/'")),
    )
    login_requests_per_minute: int = setting(
        10,
        "Login requests per minute per client IP before blocking.",
        checks=(between(1, MAX_REQUESTS_PER_MINUTE),),
    )
    api_requests_per_minute: int = setting(
        1200,
        "API requests per minute per client IP before blocking.",
        checks=(between(1, MAX_REQUESTS_PER_MINUTE),),
    )
    rate_limit_period: int = setting(
        60,
        "Seconds over which rate-limited requests are counted (a value the plan allows).",
        checks=(between(1, 86_400),),
    )
    rate_limit_mitigation_timeout: int = setting(
        600,
        "Seconds a client stays blocked after exceeding a rate limit (a value the plan allows).",
        checks=(between(1, 86_400),),
    )
    monthly_egress_gb: float = setting(
        3000.0,
        "Expected monthly edge traffic in GB (cost model).",
        checks=(between(0, MAX_MONTHLY_EGRESS_GB),),
    )
    monthly_requests_millions: float = setting(
        100.0,
        "Expected monthly requests in millions (cost model).",
        checks=(between(0, MAX_MONTHLY_REQUESTS_MILLIONS),),
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
        Quantity("50Gi"),
        "Prometheus volume size.",
        checks=(positive_quantity, quantity_between("1Gi", "64Ti")),
    )
    storage_class: str | None = setting(
        None, "StorageClass of the monitoring volumes; null uses the default.", checks=(DNS_LABEL,)
    )
    grafana_admin_user: str = setting(
        "admin",
        "Grafana admin user (password is generated).",
        checks=(
            matches(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}", "a user name of letters, digits, _.@-"),
        ),
    )
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
    cloudflare_exporter_image: str = setting(
        "ghcr.io/lablabs/cloudflare_exporter:0.0.16",
        "Cloudflare exporter image (lablabs), pinned; deployed when the edge is enabled. Its API "
        "token (Analytics:Read only) is the secret `cache-platform:cloudflareAnalyticsToken`.",
        checks=(IMAGE_REF, pinned_image),
    )
    monthly_cost_usd: float | None = setting(
        None,
        "Monthly cost of the stack for the Business dashboard's cost per request: copy the "
        "plan's estimate (`python -m plan` prints it); null shows the ADR's budget ceiling.",
        why="The estimate is computed from every resource, the dashboard's own included, so "
        "the program cannot know it while composing them.",
        checks=(between(0, 10_000_000),),
    )
    tracing: bool = setting(
        True,
        "Deploy distributed tracing: an OpenTelemetry Collector and Grafana Tempo.",
        why="ADR-011 phase 3: request flow, cache hit/miss per request, bottlenecks.",
    )
    trace_retention: Duration = setting(
        Duration("72h"),
        "How long Tempo keeps traces, in hours, minutes or seconds (Tempo reads a Go duration: "
        "no days).",
        why="Long enough to look back over a weekend incident; traces are the bulkiest signal.",
        checks=(
            matches(r"([0-9]+(h|m|s))+", "a duration in h, m or s such as 72h (Tempo has no 'd')"),
        ),
    )
    trace_storage: Quantity = setting(
        Quantity("20Gi"), "Tempo's volume size.", checks=(positive_quantity,)
    )
    trace_sampling_percent: int = setting(
        10,
        "Share of traces kept (head sampling in the collector), 1-100.",
        why="At 10,000 rps per service every trace would cost more than the monitoring budget.",
        checks=(between(1, 100),),
    )
    collector_image: str = setting(
        "otel/opentelemetry-collector-contrib:0.165.0",
        "OpenTelemetry Collector image, pinned.",
        checks=(IMAGE_REF, pinned_image),
    )


TOOLS_IMAGE = "ghcr.io/acme/cache-platform-tools:0.1.0"
"""The tools image built from this repo's Dockerfile: the backup job and the invalidator."""


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
        35,
        "Days a snapshot is kept before it expires.",
        checks=(between(1, MAX_RETENTION_DAYS),),
    )
    infrequent_access_after_days: int = setting(
        30,
        "Days after which snapshots move to STANDARD_IA (S3 requires at least 30); no "
        "transition when it is not below `retentionDays`.",
        checks=(between(30, MAX_RETENTION_DAYS),),
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
        TOOLS_IMAGE,
        "Image of the backup job (built from this repo's Dockerfile).",
        checks=(IMAGE_REF, pinned_image),
    )


MIN_INVALIDATION_REPLICAS = 2
MAX_INVALIDATION_REPLICAS = 20
"""Every replica takes 1/replicas of the account's purge rate: at 20, one call every 4 minutes
each on the Free plan."""


@dataclass(frozen=True)
class InvalidationConfig:
    """`cache-platform:invalidation` — the invalidation service (docs/invalidation.md)."""

    enabled: bool = setting(
        False,
        "Deploy the invalidation service: change events from the Redis stream and the signed "
        "webhook remove Redis keys and purge the edge. Needs `cdn.enabled` and the secret "
        "`cache-platform:cloudflarePurgeToken`.",
        why="Off until the stack has its purge token; an existing stack keeps deploying.",
    )
    replicas: int = setting(
        2,
        "Replicas of the service (each takes its share of the zone's purge rate).",
        why="A dead consumer's pending events are claimed by another; a PodDisruptionBudget "
        "keeps one running through node drains.",
        checks=(between(MIN_INVALIDATION_REPLICAS, MAX_INVALIDATION_REPLICAS),),
    )
    image: str = setting(
        TOOLS_IMAGE,
        "Image of the service (this repo's Dockerfile: `python -m invalidator`).",
        checks=(IMAGE_REF, pinned_image),
    )
    claim_idle_seconds: int = setting(
        30,
        "Seconds an event stays pending with a consumer before another replica claims it.",
        why="Longer than a batch normally takes, so a live replica's events are not taken from "
        "it; a dead replica's events wait this long once.",
        checks=(between(5, 600),),
    )
    cpu: Quantity = setting(
        Quantity("100m"),
        "CPU request of each replica.",
        why="The service mostly waits on Redis and Cloudflare; change events come a few a second.",
        checks=(positive_quantity, quantity_between("10m", "8")),
    )
    memory: Quantity = setting(
        Quantity("192Mi"),
        "Memory of each replica (request = limit).",
        why="58 MiB resident after start-up (imports and the Cloudflare client, measured); "
        "the rest holds batches of 100 events and the webhook's threads.",
        checks=(positive_quantity, quantity_between("64Mi", "4Gi")),
    )
    webhook_namespace_label: str | None = setting(
        None,
        "Namespaces labelled `<this>=true` may call the webhook (NetworkPolicy); null: those "
        "of `redis.clientNamespaceLabel`.",
        checks=(matches(LABEL_KEY_PATTERN, "a label key"),),
    )


@dataclass(frozen=True)
class TrafficConfig:
    """`cache-platform:traffic` — the normal load the tier is sized for."""

    services: int = setting(8, "Services using the cache.", checks=(between(1, 10_000),))
    normal_rps_per_service: int = setting(
        1000,
        "Normal requests per second per service.",
        why="ADR-011 sizes for 10x spikes, up to 10,000 rps per service.",
        checks=(between(0, 10_000_000),),
    )
    spike_multiplier: int = setting(
        10,
        "Traffic spike the tier must absorb.",
        why="ADR-011: 10x.",
        checks=(between(1, 1000),),
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
    invalidation: InvalidationConfig
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
    "invalidation": InvalidationConfig,
}
CLOUDFLARE_TOKEN_KEY = "cloudflareAnalyticsToken"
"""Secret: a Cloudflare API token with Analytics:Read only, for the Cloudflare exporter."""
CLOUDFLARE_PURGE_TOKEN_KEY = "cloudflarePurgeToken"
"""Secret: a Cloudflare API token with Cache Purge on the zone only, for the invalidator."""
SECRET_KEYS = ("alertingSecrets", CLOUDFLARE_TOKEN_KEY, CLOUDFLARE_PURGE_TOKEN_KEY)
"""Top-level keys that hold credentials and must be set with `pulumi config set --secret`."""


def parse_stack_config(
    raw: Mapping[str, Any],
    *,
    require_secrets: bool = True,
    other_zones: Collection[str] = (),
) -> StackConfig:
    """Validate `raw` — the `cache-platform:` keys without their prefix — into a StackConfig.

    Raises ConfigError with every problem found. `require_secrets=False` skips the check that
    every receiver's credential is set (the offline plan uses it to list what must be set).
    `other_zones`: the zone names of the project's other stacks (a zone inside one of them is a
    subdomain zone).
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
    invalidation = cast(InvalidationConfig | None, sections["invalidation"])
    if cdn is not None:
        _check_cdn(cdn, problems, other_zones)
    if monitoring is not None:
        _check_monitoring(monitoring, secret_names if require_secrets else None, problems)
    if backups is not None:
        _check_backups(backups, problems)
    if (
        require_secrets
        and cdn is not None
        and monitoring is not None
        and needs_cloudflare_token(cdn, monitoring)
        and CLOUDFLARE_TOKEN_KEY not in raw
    ):
        problems.missing(
            CLOUDFLARE_TOKEN_KEY,
            "the Cloudflare exporter needs an API token with Analytics:Read: pulumi config set "
            f"--secret {NAMESPACE}:{CLOUDFLARE_TOKEN_KEY} <token>",
        )
    if invalidation is not None and cdn is not None:
        _check_invalidation(invalidation, cdn, problems)
        if require_secrets and invalidation.enabled and CLOUDFLARE_PURGE_TOKEN_KEY not in raw:
            problems.missing(
                CLOUDFLARE_PURGE_TOKEN_KEY,
                "the invalidation service purges the edge with an API token allowed Cache Purge "
                f"on the zone: pulumi config set --secret {NAMESPACE}:{CLOUDFLARE_PURGE_TOKEN_KEY} "
                "<token>",
            )
    if problems.lines or environment is None:
        raise ConfigError(problems.lines)
    assert redis is not None and cdn is not None and monitoring is not None and backups is not None
    traffic = cast(TrafficConfig, sections["traffic"])
    assert invalidation is not None
    return StackConfig(
        environment=environment,
        redis=redis,
        cdn=cdn,
        monitoring=monitoring,
        backups=backups,
        traffic=traffic,
        invalidation=invalidation,
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


MANAGED_PHASES = ("http_request_cache_settings", "http_request_firewall_managed", "http_ratelimit")
"""Ruleset phases whose zone entry point the edge owns."""

RATE_LIMIT_RULES = 2
"""The edge's rate limiting rules: login and API."""


def origin_in_zone(cdn: CdnConfig) -> bool:
    """The origin name is inside the zone, so the zone must hold its record."""
    zone, origin = cdn.zone_name, cdn.origin_host
    return bool(zone and origin and (origin == zone or origin.endswith("." + zone)))


def _check_cdn(cdn: CdnConfig, problems: Problems, other_zones: Collection[str] = ()) -> None:
    if cdn.enabled:
        for key, value in (
            ("zoneName", cdn.zone_name),
            ("accountId", cdn.account_id),
            ("originHost", cdn.origin_host),
        ):
            if value is None:
                problems.missing(f"cdn.{key}", "it is needed when cdn.enabled is true")
        _check_cdn_plan(cdn, problems, other_zones)
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

    for path in cdn.event_purged.paths:
        bypassed = [b for b in cdn.bypass_paths if path.lower().startswith(b.lower())]
        if bypassed:
            problems.add(
                "cdn.eventPurged.paths",
                path,
                f"it lies under the bypass path {bypassed[0]!r}, which is never cached; "
                "remove it from one of the two",
            )


def _check_cdn_plan(cdn: CdnConfig, problems: Problems, other_zones: Collection[str]) -> None:
    """What the zone's plan cannot serve (stackconfig/cloudflare_plans.py), and names the zone
    must hold."""
    plan = capabilities(cdn.plan.value)
    named = f"the {plan.plan} plan"
    if cdn.managed_waf and not plan.managed_waf_rulesets:
        problems.add(
            "cdn.managedWaf",
            True,
            f"{named} has no Cloudflare Managed or OWASP Core ruleset (Pro and higher); "
            "set it false or choose a higher cdn.plan",
        )
    if plan.rate_limit_rules < RATE_LIMIT_RULES:
        problems.add(
            "cdn.plan",
            plan.plan,
            f"the edge needs {RATE_LIMIT_RULES} rate limiting rules (login and API); {named} "
            f"allows {plan.rate_limit_rules}",
        )
    # The Worker's Cache API entries are purged by tag or prefix, never by URL.
    reaching = sorted(plan.purge_kinds & CACHE_API_PURGE_KINDS)
    if cdn.event_purged.paths and not reaching:
        problems.add(
            "cdn.eventPurged.paths",
            list(cdn.event_purged.paths),
            f"{named} cannot purge the Worker's cache (it needs purge by tag, prefix, hostname "
            "or everything); leave the list empty or choose a plan that can",
        )
    for key, value, allowed in (
        ("cdn.rateLimitPeriod", cdn.rate_limit_period, plan.rate_limit_periods()),
        (
            "cdn.rateLimitMitigationTimeout",
            cdn.rate_limit_mitigation_timeout,
            plan.mitigation_timeouts(),
        ),
    ):
        if value not in allowed:
            problems.add(key, value, f"{named} allows " + ", ".join(f"{v} s" for v in allowed))
    zone = cdn.zone_name
    if zone and not plan.subdomain_zones:
        parents = sorted(z for z in other_zones if zone.endswith("." + z))
        if parents:
            problems.add(
                "cdn.zoneName",
                zone,
                f"it lies inside the zone {parents[0]} (another stack's): a subdomain zone is "
                f"Enterprise only, {named} cannot create it; use a domain of its own",
            )
    if cdn.zone_id is None and cdn.entry_point_rulesets:
        problems.add(
            "cdn.entryPointRulesets",
            dict(cdn.entry_point_rulesets),
            "only for an adopted zone (cdn.zoneId); a new zone has no rulesets yet",
        )
    if cdn.zone_id is not None:
        for phase in MANAGED_PHASES:
            if phase == "http_request_firewall_managed" and not cdn.managed_waf:
                continue
            ruleset = cdn.entry_point_rulesets.get(phase)
            if ruleset is None:
                problems.missing(
                    f"cdn.entryPointRulesets.{phase}",
                    "an adopted zone may already have this phase's entry-point ruleset (one per "
                    "phase): give its id to import it, or 'none'",
                )
            elif ruleset != "none" and CLOUDFLARE_ID(ruleset) is not None:
                problems.add(
                    f"cdn.entryPointRulesets.{phase}", ruleset, "expected a ruleset id or 'none'"
                )
        for phase in sorted(set(cdn.entry_point_rulesets) - set(MANAGED_PHASES)):
            problems.add(
                f"cdn.entryPointRulesets.{phase}",
                cdn.entry_point_rulesets[phase],
                "unknown phase; the edge manages " + ", ".join(MANAGED_PHASES),
            )
    if cdn.enabled and origin_in_zone(cdn) and cdn.origin_address is None:
        problems.missing(
            "cdn.originAddress",
            f"originHost {cdn.origin_host} lies inside the zone {zone}, which must then hold its "
            "record (else Cloudflare error 1016)",
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


def _check_invalidation(
    invalidation: InvalidationConfig, cdn: CdnConfig, problems: Problems
) -> None:
    if invalidation.enabled and not cdn.enabled:
        problems.add(
            "invalidation.enabled",
            True,
            "the service purges the edge this stack manages: set cdn.enabled true, or "
            "invalidation.enabled false",
        )


def needs_cloudflare_token(cdn: CdnConfig, monitoring: MonitoringConfig) -> bool:
    """The Cloudflare exporter runs (and needs its token) when the edge and monitoring do."""
    return cdn.enabled and monitoring.enabled


def receivers_needing_secrets(monitoring: MonitoringConfig) -> list[str]:
    """Receivers whose credential is read from `cache-platform:alertingSecrets.<name>`."""
    return [
        name
        for name, receiver in sorted(monitoring.receivers.items())
        if receiver.type is not ReceiverType.WEBHOOK
    ]


def yaml_key(section: str, field_name: str) -> str:
    return f"{NAMESPACE}:{section}.{camel(field_name)}"
