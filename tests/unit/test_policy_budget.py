"""Budget policies, run through `policies.evaluate` with the pack's real policy objects."""

from __future__ import annotations

import json

from tests.support.policy_assertions import assert_no_violations
from tests.support.policy_fixtures import (
    happy_stack,
    messages,
    redis_statefulset,
    replace,
    sizing_config_map,
    violations_of,
    zone_subscription,
)

BUDGET = "stack-cost-stay-within-budget"
PER_GB = "cdn-cost-per-gb-stay-below-target"


def test_the_happy_stack_is_within_budget() -> None:
    assert_no_violations(BUDGET, happy_stack())
    assert_no_violations(PER_GB, happy_stack())


def test_64gi_redis_nodes_break_the_redis_and_total_budgets() -> None:
    stack = replace(happy_stack(), "redis", redis_statefulset(memory="64Gi"))
    found = violations_of(BUDGET, stack)
    text = messages(found)
    assert len(found) == 2, text
    assert "redis costs $3,547.39/month, over its $500.00 budget" in text
    assert "r6g.4xlarge" in text and "redis.memory" in text
    assert "over the $1,000.00 budget" in text
    assert {v.enforcement for v in found} == {"mandatory"}


def test_a_business_plan_breaks_the_cdn_budget() -> None:
    stack = replace(happy_stack(), "edge-plan", zone_subscription("business"))
    text = messages(violations_of(BUDGET, stack))
    assert "cdn costs $283.40/month, over its $200.00 budget" in text
    assert "cdn.plan" in text


def test_heavy_monitoring_breaks_its_budget() -> None:
    stack = happy_stack()
    values = next(r for r in stack if r.name == "monitoring").props["values"]
    values["prometheus"]["prometheusSpec"]["resources"]["requests"] = {"cpu": "12", "memory": "4Gi"}
    text = messages(violations_of(BUDGET, stack))
    assert "monitoring costs" in text and "over its $300.00 budget" in text


def test_limits_come_from_the_pack_config() -> None:
    found = violations_of(BUDGET, happy_stack(), {"redisMonthlyUsd": 400, "totalMonthlyUsd": 500})
    text = messages(found)
    assert "redis costs $456.86/month, over its $400.00 budget" in text
    assert "The stack costs $570.07/month, over the $500.00 budget" in text


def test_a_stack_part_that_cannot_be_priced_is_reported() -> None:
    stack = replace(happy_stack(), "edge-plan", zone_subscription("enterprise"))
    assert "cannot be verified" in messages(violations_of(BUDGET, stack))


def test_cdn_per_gb_counts_the_plan_by_default() -> None:
    # $25 pro plan / 3,000 GB = $0.0083 per GB; Workers ($33.40, billed per request) excluded.
    assert_no_violations(PER_GB, happy_stack())
    found = violations_of(PER_GB, happy_stack(), {"includeEdgeCompute": True})
    assert "$0.0195 per GB" in messages(found)


def test_cdn_per_gb_breaks_when_traffic_is_low_for_the_plan() -> None:
    stack = replace(happy_stack(), "capacity-sizing", sizing_config_map(egress_gb=2000))
    text = messages(violations_of(PER_GB, stack))
    assert "$0.0125 per GB at the declared 2,000 GB/month" in text
    assert "cdn.plan" in text


def test_cdn_per_gb_reports_nothing_without_a_cdn() -> None:
    stack = [r for r in happy_stack() if not r.type.startswith("cloudflare:")]
    assert_no_violations(PER_GB, stack)


def test_no_sizing_means_no_per_gb_figure() -> None:
    stack = happy_stack()
    sizing = next(r for r in stack if r.name == "capacity-sizing").props
    document = json.loads(sizing["data"]["sizing.json"])
    del document["cdnMonthlyEgressGb"]
    sizing["data"]["sizing.json"] = json.dumps(document)
    assert_no_violations(PER_GB, stack)
