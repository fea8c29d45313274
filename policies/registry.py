"""All policies of the pack, importable without starting the policy server."""

from __future__ import annotations

from pulumi_policy import Policy, ResourceValidationPolicy, StackValidationPolicy

from policies.budget import cdn_cost_per_gb_stay_below_target, stack_cost_stay_within_budget
from policies.security import (
    cdn_zone_require_tls_1_2,
    config_forbid_plaintext_credentials,
    redis_auth_require_secret_password,
    redis_pods_require_network_policy,
    s3_buckets_block_public_access,
    s3_buckets_require_kms_encryption,
    s3_buckets_require_tls,
)
from policies.sla import (
    cdn_cache_ttls_require_adr_tiers,
    monitoring_alerts_require_adr_thresholds,
    redis_capacity_require_spike_headroom,
    redis_cluster_require_primaries,
    redis_cluster_require_replicas,
    redis_eviction_require_lru,
    redis_failover_limit_node_timeout,
    redis_persistence_require_aof_and_rdb,
    redis_pods_require_anti_affinity,
    redis_pods_require_disruption_budget,
)
from policies.tagging import resources_require_environment_label

RESOURCE_POLICIES: list[ResourceValidationPolicy] = [
    resources_require_environment_label,
    redis_persistence_require_aof_and_rdb,
    redis_eviction_require_lru,
    redis_failover_limit_node_timeout,
    redis_pods_require_anti_affinity,
    cdn_cache_ttls_require_adr_tiers,
    config_forbid_plaintext_credentials,
]
STACK_POLICIES: list[StackValidationPolicy] = [
    stack_cost_stay_within_budget,
    cdn_cost_per_gb_stay_below_target,
    redis_cluster_require_primaries,
    redis_cluster_require_replicas,
    redis_pods_require_disruption_budget,
    redis_capacity_require_spike_headroom,
    monitoring_alerts_require_adr_thresholds,
    redis_auth_require_secret_password,
    redis_pods_require_network_policy,
    s3_buckets_block_public_access,
    s3_buckets_require_kms_encryption,
    s3_buckets_require_tls,
    cdn_zone_require_tls_1_2,
]

ALL_POLICIES: list[Policy] = [
    *RESOURCE_POLICIES,
    *STACK_POLICIES,
]
