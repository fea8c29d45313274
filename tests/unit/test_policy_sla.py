"""SLA policies: one compliant stack, one property changed per test."""

from __future__ import annotations

from typing import Any

import pytest

from policies.sla import TierTtl, tier_ranges, ttl_problems
from stackconfig.adr import TIER_RANGES
from stackconfig.thresholds import AlertThresholds
from tests.support.policy_assertions import assert_has_violation, assert_no_violations
from tests.support.policy_fixtures import (
    cache_rule,
    cache_tiers_binding,
    happy_stack,
    messages,
    props_of,
    redis_bootstrap_job,
    redis_conf,
    redis_config_map,
    redis_statefulset,
    replace,
    sizing_config_map,
    violations_of,
    without,
)

PRIMARIES = "redis-cluster-require-primaries"
REPLICAS = "redis-cluster-require-replicas"
PERSISTENCE = "redis-persistence-require-aof-and-rdb"
EVICTION = "redis-eviction-require-lru"
FAILOVER = "redis-failover-limit-node-timeout"
ANTI_AFFINITY = "redis-pods-require-anti-affinity"
PDB = "redis-pods-require-disruption-budget"
TTLS = "cdn-cache-ttls-require-adr-tiers"
ALERTS = "monitoring-alerts-require-adr-thresholds"
CAPACITY = "redis-capacity-require-spike-headroom"
ALL_SLA = (PRIMARIES, REPLICAS, PERSISTENCE, EVICTION, FAILOVER, ANTI_AFFINITY, PDB, TTLS)


@pytest.mark.parametrize("policy", [*ALL_SLA, ALERTS, CAPACITY])
def test_the_happy_stack_complies(policy: str) -> None:
    assert_no_violations(policy, happy_stack())


@pytest.mark.parametrize("policy", [*ALL_SLA, ALERTS, CAPACITY])
def test_an_empty_stack_reports_nothing(policy: str) -> None:
    assert_no_violations(policy, [])


# --- topology --------------------------------------------------------------------------------


def test_two_primaries_are_too_few() -> None:
    stack = replace(happy_stack(), "redis", redis_statefulset(primaries=2))
    stack = replace(stack, "redis-bootstrap", redis_bootstrap_job(pods=4))
    assert_has_violation(PRIMARIES, stack, "2 primaries", "redis.primaries to 3", count=1)


def test_pods_not_a_multiple_of_the_replica_group() -> None:
    sts = redis_statefulset()
    sts["spec"]["replicas"] = 7.0
    assert_has_violation(PRIMARIES, replace(happy_stack(), "redis", sts), "7 pods, not a multiple")


def test_bootstrap_addresses_must_match_the_pods() -> None:
    sts = redis_statefulset()
    env = sts["spec"]["template"]["spec"]["containers"][0]["env"]
    next(e for e in env if e["name"] == "REDIS_NODES")["value"] = "redis-0.x:6379 redis-1.x:6379"
    assert_has_violation(PRIMARIES, replace(happy_stack(), "redis", sts), "from 2 addresses")


def test_unknown_shape_is_reported() -> None:
    sts = redis_statefulset()
    containers = sts["spec"]["template"]["spec"]["containers"]
    containers[0]["env"] = [e for e in containers[0]["env"] if e["name"] == "REDISCLI_AUTH"]
    stack = without(replace(happy_stack(), "redis", sts), "redis-bootstrap")
    assert_has_violation(PRIMARIES, stack, "REDIS_REPLICAS_PER_PRIMARY")


def test_no_replicas_violates_and_names_replicas() -> None:
    stack = replace(happy_stack(), "redis", redis_statefulset(replicas_per_primary=0))
    assert_has_violation(
        REPLICAS, stack, "0 replicas per primary", "redis.replicasPerPrimary", count=1
    )


def test_replicas_are_read_from_the_bootstrap_job_when_the_pods_do_not_say() -> None:
    sts = redis_statefulset()
    env = sts["spec"]["template"]["spec"]["containers"][0]["env"]
    sts["spec"]["template"]["spec"]["containers"][0]["env"] = [
        e for e in env if e["name"] not in ("REDIS_REPLICAS_PER_PRIMARY", "REDIS_NODES")
    ]
    stack = replace(happy_stack(), "redis", sts)
    assert_no_violations(REPLICAS, stack)
    stack = replace(stack, "redis-bootstrap", redis_bootstrap_job(replicas_per_primary=0))
    assert "0 replicas per primary" in messages(violations_of(REPLICAS, stack))


# --- redis.conf ------------------------------------------------------------------------------


def with_conf(text: str) -> list[Any]:
    return replace(happy_stack(), "redis-config", redis_config_map(text))


def test_aof_off() -> None:
    found = violations_of(PERSISTENCE, with_conf(redis_conf(appendonly=False)))
    assert len(found) == 1 and "AOF off" in found[0].message


def test_rdb_off() -> None:
    found = violations_of(PERSISTENCE, with_conf(redis_conf(rdb=False)))
    assert len(found) == 1 and "no save points" in found[0].message


def test_eviction_other_than_lru() -> None:
    found = violations_of(EVICTION, with_conf(redis_conf(maxmemory_policy="allkeys-lfu")))
    assert len(found) == 1 and "'allkeys-lfu'" in found[0].message


def test_no_maxmemory_means_no_eviction() -> None:
    text = "\n".join(
        line for line in redis_conf().splitlines() if not line.startswith("maxmemory ")
    )
    found = violations_of(EVICTION, with_conf(text))
    assert len(found) == 1 and "no maxmemory" in found[0].message


@pytest.mark.parametrize(("timeout_ms", "violates"), [(5000, False), (28000, False), (28001, True)])
def test_node_timeout_plus_election_within_30_seconds(timeout_ms: int, violates: bool) -> None:
    found = violations_of(FAILOVER, with_conf(redis_conf(node_timeout_ms=timeout_ms)))
    assert bool(found) is violates, messages(found)
    if violates:
        assert "redis.nodeTimeoutMs to at most 28000" in found[0].message


def test_absent_node_timeout_counts_as_redis_default() -> None:
    text = "\n".join(
        line for line in redis_conf().splitlines() if not line.startswith("cluster-node-timeout")
    )
    assert_no_violations(FAILOVER, with_conf(text))  # 15 s + 2 s
    assert violations_of(FAILOVER, with_conf(text), {"maxFailoverSeconds": 10}) != []


def test_cluster_mode_off_cannot_fail_over() -> None:
    text = redis_conf().replace("cluster-enabled yes", "cluster-enabled no")
    assert "cluster mode" in messages(violations_of(FAILOVER, with_conf(text)))


def test_an_unreadable_redis_conf_is_reported() -> None:
    found = violations_of(PERSISTENCE, with_conf(redis_conf() + "appendonly yes\n"))
    assert "cannot be read" in messages(found)


# --- scheduling ------------------------------------------------------------------------------


def test_missing_anti_affinity() -> None:
    sts = redis_statefulset()
    del sts["spec"]["template"]["spec"]["affinity"]
    found = violations_of(ANTI_AFFINITY, replace(happy_stack(), "redis", sts))
    assert len(found) == 1 and "kubernetes.io/hostname" in found[0].message


def test_anti_affinity_on_zones_only_is_not_enough() -> None:
    sts = redis_statefulset()
    terms = sts["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    terms["requiredDuringSchedulingIgnoredDuringExecution"][0]["topologyKey"] = (
        "topology.kubernetes.io/zone"
    )
    assert violations_of(ANTI_AFFINITY, replace(happy_stack(), "redis", sts)) != []


def test_preferred_anti_affinity_is_not_enough() -> None:
    sts = redis_statefulset()
    affinity = sts["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"]
    affinity["preferredDuringSchedulingIgnoredDuringExecution"] = affinity.pop(
        "requiredDuringSchedulingIgnoredDuringExecution"
    )
    assert violations_of(ANTI_AFFINITY, replace(happy_stack(), "redis", sts)) != []


def test_anti_affinity_selecting_other_pods_is_not_enough() -> None:
    sts = redis_statefulset()
    term = sts["spec"]["template"]["spec"]["affinity"]["podAntiAffinity"][
        "requiredDuringSchedulingIgnoredDuringExecution"
    ][0]
    term["labelSelector"] = {"matchLabels": {"app": "something-else"}}
    assert violations_of(ANTI_AFFINITY, replace(happy_stack(), "redis", sts)) != []


def test_missing_pdb() -> None:
    found = violations_of(PDB, without(happy_stack(), "redis-pdb"))
    assert len(found) == 1 and "no PodDisruptionBudget" in found[0].message


@pytest.mark.parametrize(
    ("spec", "violates"),
    [
        ({"maxUnavailable": 2.0}, True),
        ({"maxUnavailable": "50%"}, True),
        ({"maxUnavailable": "10%"}, False),  # 0.6 pods, rounded up to 1
        ({"minAvailable": 5.0}, False),
        ({"minAvailable": 4.0}, True),
    ],
)
def test_pdb_allows_one_pod_at_a_time(spec: dict[str, Any], violates: bool) -> None:
    stack = happy_stack()
    pdb_spec = props_of(stack, "redis-pdb")["spec"]
    del pdb_spec["maxUnavailable"]
    pdb_spec.update(spec)
    assert bool(violations_of(PDB, stack)) is violates


def test_pdb_selecting_other_pods_does_not_count() -> None:
    stack = happy_stack()
    props_of(stack, "redis-pdb")["spec"]["selector"] = {"matchLabels": {"app": "web"}}
    assert "no PodDisruptionBudget" in messages(violations_of(PDB, stack))


# --- TTL tiers -------------------------------------------------------------------------------


def test_tier_ranges_are_adr_011s() -> None:
    assert tier_ranges() is TIER_RANGES
    assert TIER_RANGES == {
        "short": (300, 900),
        "medium": (3600, 14400),
        "long": (86400, 86400),
    }


@pytest.mark.parametrize(
    ("tier", "ttl", "violates"),
    [
        ("short", 300, False),
        ("short", 900, False),
        ("short", 1200, True),  # inside no range for a rule that says it is short
        ("short", 3600, True),  # a medium TTL on a short rule
        ("medium", 200, True),
        ("long", 43200, True),
    ],
)
def test_ruleset_edge_ttls_per_tier(tier: str, ttl: int, violates: bool) -> None:
    stack = happy_stack()
    rules = props_of(stack, "edge-cache")["rules"]
    index = next(i for i, r in enumerate(rules) if r.get("ref") == f"tier_{tier}")
    rules[index] = cache_rule(tier, ttl)
    found = violations_of(TTLS, stack)
    assert bool(found) is violates, messages(found)
    if violates:
        assert f"the {tier} tier's edge TTL is {ttl} s" in found[0].message


def test_an_untiered_rule_must_fall_in_some_tier() -> None:
    stack = happy_stack()
    rule = cache_rule("short", 2000)
    rule["ref"], rule["description"] = "static", "static assets"
    props_of(stack, "edge-cache")["rules"].append(rule)
    assert "in no ADR-011 tier" in messages(violations_of(TTLS, stack))


def test_worker_tier_bindings_are_checked_by_the_shared_tier_rules() -> None:
    stack = happy_stack()
    props_of(stack, "edge-worker")["bindings"][0] = cache_tiers_binding(medium__edgeTtl=20000)
    found = violations_of(TTLS, stack)
    assert len(found) == 1, messages(found)
    assert "binding CACHE_TIERS" in found[0].message and "medium.edgeTtl" in found[0].message


def test_a_browser_ttl_longer_than_the_edge_ttl() -> None:
    stack = happy_stack()
    props_of(stack, "edge-worker")["bindings"][0] = cache_tiers_binding(short__browserTtl=900)
    assert "short.browserTtl" in messages(violations_of(TTLS, stack))


def test_partial_tier_bindings_are_read_tier_by_tier() -> None:
    stack = happy_stack()
    props_of(stack, "edge-worker")["bindings"].append(
        {"name": "SHORT_TTL", "type": "plain_text", "text": "1800"}
    )
    found = violations_of(TTLS, stack)
    assert len(found) == 1 and "binding SHORT_TTL" in found[0].message


def test_respect_origin_rules_have_no_ttl_to_check() -> None:
    stack = happy_stack()
    rule = cache_rule("short", 5)
    rule["actionParameters"]["edgeTtl"] = {"mode": "respect_origin"}
    props_of(stack, "edge-cache")["rules"].append(rule)
    assert_no_violations(TTLS, stack)


def test_ttl_problems_switch_to_the_given_ranges() -> None:
    ttl = TierTtl(1200, "short", "rule x")
    assert ttl_problems([ttl], TIER_RANGES)
    assert not ttl_problems([ttl], {"short": (300, 1800)})


# --- alerts ----------------------------------------------------------------------------------


def alerting_rules(stack: list[Any]) -> list[dict[str, Any]]:
    groups = props_of(stack, "monitoring-rules")["spec"]["groups"]
    return next(g for g in groups if any("alert" in r for r in g["rules"]))["rules"]


def test_a_missing_adr_alert() -> None:
    stack = happy_stack()
    rules = alerting_rules(stack)
    rules[:] = [r for r in rules if r.get("alert") != "RedisMemoryHigh"]
    text = messages(violations_of(ALERTS, stack))
    assert "RedisMemoryHigh (critical) is missing" in text
    assert "RedisMemoryHigh (warning) is missing" in text


def test_a_looser_threshold() -> None:
    stack = happy_stack()
    rule = next(
        r
        for r in alerting_rules(stack)
        if r.get("alert") == "CacheHitRateLow" and r["labels"]["severity"] == "critical"
    )
    rule["annotations"]["threshold"] = "0.8"
    found = violations_of(ALERTS, stack)
    assert len(found) == 1 and "raise the threshold to at least 0.9" in found[0].message


def test_a_longer_for() -> None:
    stack = happy_stack()
    rule = next(r for r in alerting_rules(stack) if r.get("alert") == "ResponseTimeHigh")
    rule["for"] = "30m"
    assert "waits 30m before firing" in messages(violations_of(ALERTS, stack))


def test_alerts_shipped_through_the_chart_values_count() -> None:
    stack = happy_stack()
    groups = props_of(stack, "monitoring-rules")["spec"]["groups"]
    props_of(stack, "monitoring")["values"]["additionalPrometheusRulesMap"] = {
        "cache": {"groups": groups}
    }
    assert_no_violations(ALERTS, without(stack, "monitoring-rules"))


def test_monitoring_without_rules_misses_every_alert() -> None:
    found = violations_of(ALERTS, without(happy_stack(), "monitoring-rules"))
    assert len(found) >= len(AlertThresholds().__dataclass_fields__) // 3


# --- capacity --------------------------------------------------------------------------------


def test_prod_traffic_fits_three_primaries_with_headroom() -> None:
    # 8 services × 1,000 rps × 10 × 2 ops × 1.25 = 200,000 <= 3 × 75,000
    assert_no_violations(CAPACITY, happy_stack())


def test_more_traffic_than_the_primaries_serve() -> None:
    stack = replace(happy_stack(), "capacity-sizing", sizing_config_map(services=12))
    found = violations_of(CAPACITY, stack)
    assert len(found) == 1
    assert "needs 300,000 ops/s but 3 primaries serve 225,000" in found[0].message
    assert "redis.primaries to at least 4" in found[0].message


def test_capacity_assumptions_come_from_the_pack_config() -> None:
    found = violations_of(CAPACITY, happy_stack(), {"opsPerPrimary": 50000})
    assert "set redis.primaries to at least 4" in messages(found)
    assert violations_of(CAPACITY, happy_stack(), {"headroomFactor": 1.5}) != []


def test_capacity_reports_nothing_without_declared_sizing() -> None:
    assert_no_violations(CAPACITY, without(happy_stack(), "capacity-sizing"))
