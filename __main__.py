"""cache-platform: composes the caching tier's components from the validated stack config.

Nothing is registered when the config is invalid: `load_stack_config` raises first, listing every
problem with its key.
"""

import pulumi

from components.capacity import CapacityPlan, CapacityPlanArgs
from components.redis.cluster import RedisCluster, RedisClusterArgs
from stackconfig.stack_file import (
    alerting_secrets,
    cloudflare_analytics_token,
    load_stack_config,
)

config = load_stack_config()

observability = None
edge_zone_id: pulumi.Output[str] | None = None
if config.cdn.enabled:
    # Imported only when used: pulumi_cloudflare alone takes ~3 s to import.
    from components.cdn.edge import CloudflareEdge, CloudflareEdgeArgs

    edge = CloudflareEdge(
        "edge",
        CloudflareEdgeArgs(settings=config.cdn, environment=config.environment.value),
    )
    edge_zone_id = edge.zone_id
    pulumi.export("cdnZoneId", edge.zone_id)
    pulumi.export("cdnWorkerScript", edge.worker_script_name)
    # The zone stays pending until the registrar delegates the domain to these.
    pulumi.export("cdnNameServers", edge.name_servers)

if config.monitoring.enabled:
    from components.monitoring.dashboards import DashboardSizing
    from components.monitoring.observability import (
        CloudflareMetricsArgs,
        Observability,
        ObservabilityArgs,
    )
    from components.monitoring.rules import CdnTrafficBudget
    from policies.budget import DEFAULT_TOTAL_LIMIT
    from stackconfig.config import CloudflarePlan

    cloudflare_metrics = (
        CloudflareMetricsArgs(
            zone_id=edge_zone_id,
            api_token=cloudflare_analytics_token(),
            budget=CdnTrafficBudget(
                monthly_egress_gb=config.cdn.monthly_egress_gb,
                monthly_requests_millions=config.cdn.monthly_requests_millions,
            ),
            free_tier=config.cdn.plan is CloudflarePlan.FREE,
        )
        if edge_zone_id is not None
        else None
    )

    observability = Observability(
        "monitoring",
        ObservabilityArgs(
            settings=config.monitoring,
            receiver_credentials=alerting_secrets(),
            sizing=DashboardSizing(
                services=config.traffic.services,
                peak_rps_per_service=config.traffic.normal_rps_per_service
                * config.traffic.spike_multiplier,
                # The plan's estimate of this stack (`python -m plan` prints it and the
                # setting to copy it into); the ADR's ceiling until it is set.
                monthly_cost_usd=config.monitoring.monthly_cost_usd or DEFAULT_TOTAL_LIMIT,
            ),
            labels=config.labels,
            cloudflare=cloudflare_metrics,
            invalidation_alerts=config.invalidation.enabled,
        ),
    )
    pulumi.export("grafanaAdminSecret", observability.grafana_admin_secret_name)

redis = RedisCluster(
    "redis",
    RedisClusterArgs(
        settings=config.redis,
        labels=config.labels,
        monitoring_namespace=config.monitoring.namespace,
        # The ServiceMonitor's CRD comes with the monitoring stack's Helm release.
        metrics_depends_on=[observability] if observability is not None else [],
    ),
)

if config.invalidation.enabled:
    from components.invalidation.component import InvalidationService, InvalidationServiceArgs
    from stackconfig.stack_file import cloudflare_purge_token

    # The config loader refuses invalidation without the edge: its zone is what is purged.
    assert edge_zone_id is not None
    invalidation = InvalidationService(
        "invalidation",
        InvalidationServiceArgs(
            settings=config.invalidation,
            namespace=redis.namespace_name,
            redis_peer_labels=redis.peer_labels,
            redis_nodes=redis.client_endpoint,
            # The operator user: unlink, scan by pattern, the stream's consumer group.
            redis_secret_name=redis.operator_secret_name,
            redis_secret_key=redis.secret_key,
            zone_id=edge_zone_id,
            cloudflare_plan=config.cdn.plan,
            purge_token=cloudflare_purge_token(),
            webhook_namespace_label=(
                config.invalidation.webhook_namespace_label or config.redis.client_namespace_label
            ),
            monitoring_namespace=config.monitoring.namespace,
            labels=config.labels,
            metrics_depends_on=[observability] if observability is not None else [],
            # The pods need a formed cluster: after the RedisCluster's bootstrap Job.
            workload_depends_on=[redis],
        ),
    )
    pulumi.export("invalidationWebhookUrl", invalidation.webhook_url)
    # Secret: `pulumi stack output --show-secrets invalidationWebhookSecret` for the senders.
    pulumi.export("invalidationWebhookSecret", invalidation.webhook_secret)

CapacityPlan(
    "capacity",
    CapacityPlanArgs(
        traffic=config.traffic,
        cdn=config.cdn,
        namespace=redis.namespace_name,
        labels=config.labels,
    ),
)

if config.backups.enabled:
    import pulumi_aws as aws

    from components.backups.component import RedisBackups, RedisBackupsArgs

    # The bucket's region is config (the job is told the same region); the provider is built
    # here, where components are composed, never inside a component.
    backups_region = aws.Provider("aws-backups", region=config.backups.region)
    backups = RedisBackups(
        "redis-backup",
        RedisBackupsArgs(
            settings=config.backups,
            redis_namespace=config.redis.namespace,
            redis_peer_labels=redis.peer_labels,
            namespace_output=redis.namespace_name,
            # The `backup` ACL user's own Secret: the job can read snapshots, nothing else.
            redis_secret_name=redis.backup_secret_name,
            redis_secret_key=redis.secret_key,
            redis_nodes=redis.client_endpoint,
            scratch_size=config.redis.memory,
            tags=config.tags,
            labels=config.labels,
        ),
        opts=pulumi.ResourceOptions(providers=[backups_region], depends_on=[redis]),
    )
    pulumi.export("backupBucket", backups.bucket_name)
    pulumi.export("backupRoleArn", backups.role_arn)

pulumi.export("environment", config.environment.value)
pulumi.export("redisEndpoint", redis.client_endpoint)
pulumi.export("redisSecretName", redis.secret_name)
pulumi.export("redisNodeCount", redis.node_count)
