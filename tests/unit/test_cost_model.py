"""The cost model: known properties in, known monthly figures out (prices from prices.json)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi_policy.proxy import unknown_checking_proxy

from cost import inventory
from cost.model import (
    RDB_SIZE_RATIO,
    CostEstimate,
    cdn_cost_per_gb,
    estimate_cost,
)
from cost.nodes import GIB, allocatable, fits, smallest_fitting
from cost.prices import load_price_sheet
from tests.support.policy_fixtures import (
    as_cost_input,
    backup_cronjob,
    happy_stack,
    lifecycle,
    props_of,
    redis_conf,
    redis_config_map,
    redis_statefulset,
    replace,
    sizing_config_map,
    without,
    zone_subscription,
)

PRICES = load_price_sheet()
HOURS = 730


def cost_of(stack: list[Any]) -> CostEstimate:
    return estimate_cost(as_cost_input(stack))


def item(estimate: CostEstimate, component: str, name: str) -> float:
    found = [i for i in estimate.components[component].items if i.name == name]
    assert len(found) == 1, [i.name for i in estimate.components[component].items]
    return round(found[0].monthly_usd, 2)


# --- redis -----------------------------------------------------------------------------------


def test_prod_redis_is_six_r6g_large_nodes_and_gp3_volumes() -> None:
    estimate = cost_of(happy_stack())
    assert item(estimate, "redis", "redis nodes") == round(6 * 0.1008 * HOURS, 2) == 441.50
    assert item(estimate, "redis", "redis volumes") == round(6 * 32 * 0.08, 2) == 15.36
    assert estimate.component_usd("redis") == 456.86
    assert "r6g.large" in estimate.components["redis"].items[0].detail


@pytest.mark.parametrize(
    ("memory", "cpu", "expected"),
    [
        ("1Gi", "250m", "m6g.medium"),  # 4 GiB is plenty; cheaper than m7g.medium
        ("6Gi", "1", "m6g.large"),  # r6g.medium has 8 GiB too, but one vCPU cannot fit 1.05 CPU
        ("8Gi", "1", "r6g.large"),  # 8Gi + exporter + overhead no longer fits an 8 GiB node
        ("14Gi", "1", "r6g.large"),
        ("15Gi", "1", "r6g.xlarge"),  # 16 GiB nodes leave ~14.8 GiB: the cheapest 32 GiB type
        ("64Gi", "1", "r6g.4xlarge"),  # 64 GiB nodes cannot hold a 64Gi pod plus overhead
    ],
)
def test_smallest_fitting_node_type(memory: str, cpu: str, expected: str) -> None:
    sts = redis_statefulset(memory=memory)
    sts["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = cpu
    estimate = cost_of(replace(happy_stack(), "redis", sts))
    detail = estimate.components["redis"].items[0].detail
    assert detail.startswith(f"6 × {expected} "), detail
    instance = PRICES.instances[expected]
    assert item(estimate, "redis", "redis nodes") == round(6 * instance.hourly_usd * HOURS, 2)


def test_node_overhead_follows_the_eks_reservation() -> None:
    large = allocatable(PRICES.instances["r6g.large"])
    # 16 GiB - (255 + 11 × 29 pods) MiB kube-reserved - 100 MiB eviction - 512 MiB DaemonSets
    assert large.memory_bytes == 16 * GIB - (255 + 319 + 100 + 512) * 1024 * 1024
    assert large.cpu_cores == pytest.approx(2 - 0.07 - 0.2)
    assert fits(PRICES.instances["r6g.large"], 8 * GIB + 128 * 1024 * 1024, 1.05)
    assert not fits(PRICES.instances["r6g.medium"], 8 * GIB, 0.5)
    assert smallest_fitting(PRICES.instances.values(), 1024 * GIB, 1) is None


def test_a_pinned_node_type_is_priced_instead_of_the_smallest() -> None:
    sts = redis_statefulset()
    sts["spec"]["template"]["spec"]["nodeSelector"] = {
        "node.kubernetes.io/instance-type": "r7g.large"
    }
    estimate = cost_of(replace(happy_stack(), "redis", sts))
    assert item(estimate, "redis", "redis nodes") == round(6 * 0.1071 * HOURS, 2)
    assert "pinned" in estimate.components["redis"].items[0].detail
    assert not estimate.problems


def test_the_node_type_annotation_pins_the_type() -> None:
    sts = redis_statefulset()
    sts["metadata"]["annotations"] = {"cache-platform/node-type": "r6g.xlarge"}
    estimate = cost_of(replace(happy_stack(), "redis", sts))
    assert item(estimate, "redis", "redis nodes") == round(6 * 0.2016 * HOURS, 2)


def test_a_pinned_type_too_small_or_unknown_is_a_problem() -> None:
    small = redis_statefulset()
    small["metadata"]["annotations"] = {"cache-platform/node-type": "m6g.large"}
    assert "leaves" in " ".join(cost_of(replace(happy_stack(), "redis", small)).problems)
    unknown = redis_statefulset()
    unknown["metadata"]["annotations"] = {"cache-platform/node-type": "x9.huge"}
    estimate = cost_of(replace(happy_stack(), "redis", unknown))
    assert "not in the price sheet" in " ".join(estimate.problems)
    assert "redis nodes" not in [i.name for i in estimate.components["redis"].items]


def test_no_node_type_holding_the_pod_is_a_problem_not_a_zero() -> None:
    estimate = cost_of(replace(happy_stack(), "redis", redis_statefulset(memory="512Gi")))
    assert any("no instance type" in p for p in estimate.problems)


def test_dev_sized_cluster() -> None:
    sts = redis_statefulset(memory="1Gi", storage="4Gi")
    sts["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"] = "250m"
    estimate = cost_of([r for r in replace(happy_stack(), "redis", sts) if r.name == "redis"])
    assert estimate.as_json() == {
        "components": {
            "redis": {
                "monthlyUsd": 170.55,
                "items": [
                    {
                        "name": "redis nodes",
                        "monthlyUsd": round(6 * 0.0385 * HOURS, 2),
                        "detail": "6 × m6g.medium (1 vCPU, 4 GiB; smallest type holding "
                        "1.12 GiB + node overhead) at $0.0385/h × 730 h",
                    },
                    {
                        "name": "redis volumes",
                        "monthlyUsd": 1.92,
                        "detail": "6 × 4 GiB gp3 at $0.08/GB-month",
                    },
                ],
            }
        },
        "totalMonthlyUsd": 170.55,
    }


# --- monitoring ------------------------------------------------------------------------------


def test_monitoring_is_a_share_of_a_general_purpose_node_plus_volumes() -> None:
    estimate = cost_of(happy_stack())
    room = allocatable(PRICES.instances["m6g.xlarge"])
    # prometheus 2Gi/500m, alertmanager 64Mi/50m, grafana 256Mi/100m from the values; the
    # operator (128Mi/100m) and kube-state-metrics (128Mi/50m) set none and are assumed.
    memory = (2048 + 64 + 256 + 128 + 128) * 1024 * 1024
    cpu = 0.5 + 0.05 + 0.1 + 0.1 + 0.05
    share = max(memory / room.memory_bytes, cpu / room.cpu_cores)
    assert share == pytest.approx(0.8 / 3.72)  # CPU is the scarcer resource here
    assert item(estimate, "monitoring", "monitoring compute") == round(share * 0.154 * HOURS, 2)
    assert item(estimate, "monitoring", "monitoring volumes") == round((50 + 1) * 0.08, 2)


def test_monitoring_compute_follows_the_requested_resources() -> None:
    stack = happy_stack()
    values = props_of(stack, "monitoring")["values"]
    values["prometheus"]["prometheusSpec"]["resources"]["requests"] = {"cpu": "2", "memory": "8Gi"}
    before = cost_of(happy_stack()).component_usd("monitoring")
    after = cost_of(stack).component_usd("monitoring")
    assert after > before * 2


def test_a_disabled_grafana_costs_nothing() -> None:
    stack = happy_stack()
    props_of(stack, "monitoring")["values"]["grafana"]["enabled"] = False
    assert cost_of(stack).component_usd("monitoring") < cost_of(happy_stack()).component_usd(
        "monitoring"
    )


# --- cdn -------------------------------------------------------------------------------------


def test_cdn_is_the_plan_plus_workers_requests_and_cpu() -> None:
    estimate = cost_of(happy_stack())
    assert item(estimate, "cdn", "pro plan") == 25.0
    # $5 + (100M - 10M) × $0.30 + (100M ms - 30M ms) × $0.02 per million
    assert item(estimate, "cdn", "workers") == round(5 + 90 * 0.30 + 70 * 0.02, 2) == 33.40
    assert cdn_cost_per_gb(estimate, include_edge_compute=False) == pytest.approx(25 / 3000)
    assert cdn_cost_per_gb(estimate, include_edge_compute=True) == pytest.approx(58.40 / 3000)


def test_workers_within_the_included_requests_cost_the_base_fee() -> None:
    stack = replace(
        happy_stack(), "capacity-sizing", sizing_config_map(egress_gb=50, requests_millions=2)
    )
    assert item(cost_of(stack), "cdn", "workers") == 5.0


@pytest.mark.parametrize(("plan", "price"), [("free", 0.0), ("business", 250.0)])
def test_cdn_plan_price(plan: str, price: float) -> None:
    stack = replace(happy_stack(), "edge-plan", zone_subscription(plan))
    assert item(cost_of(stack), "cdn", f"{plan} plan") == price


def test_an_unpriced_plan_is_a_problem() -> None:
    estimate = cost_of(replace(happy_stack(), "edge-plan", zone_subscription("enterprise")))
    assert any("enterprise" in p for p in estimate.problems)


def test_the_sizing_plan_is_used_when_no_subscription_declares_one() -> None:
    stack = without(happy_stack(), "edge-plan")
    sizing = sizing_config_map()
    document = json.loads(sizing["data"]["sizing.json"])
    sizing["data"]["sizing.json"] = json.dumps({**document, "cdnPlan": "business"})
    assert item(cost_of(replace(stack, "capacity-sizing", sizing)), "cdn", "business plan") == 250
    undeclared = cost_of(stack).components["cdn"].items[0]
    assert undeclared.monthly_usd == 0 and "priced as free" in undeclared.detail


def test_no_cloudflare_resources_means_no_cdn_cost() -> None:
    stack = [r for r in happy_stack() if not r.type.startswith("cloudflare:")]
    estimate = cost_of(stack)
    assert "cdn" not in estimate.components
    assert cdn_cost_per_gb(estimate, include_edge_compute=True) is None


# --- backups ---------------------------------------------------------------------------------


def test_backups_store_each_primarys_rdb_for_the_retention() -> None:
    estimate = cost_of(happy_stack())
    snapshot_gib = 8 * 0.75 * RDB_SIZE_RATIO  # maxmemory 75 % of 8Gi, half of it on disk
    per_day = 4 * 3  # every 6 hours, 3 primaries
    stored_gb = per_day * 30 * snapshot_gib
    assert stored_gb == 1080
    assert item(estimate, "backups", "snapshot storage") == round(stored_gb * 0.023, 2)
    objects = 365.25 * 4 / 12 * 3
    assert item(estimate, "backups", "requests") == round(objects * (384 + 2) * 0.005 / 1000, 2)
    assert item(estimate, "backups", "kms") == round(1 + objects * 0.03 / 10000, 2)


def test_snapshots_move_to_infrequent_access_before_they_expire() -> None:
    stack = replace(happy_stack(), "backups-lifecycle", lifecycle(60, ia_after_days=30))
    storage = item(cost_of(stack), "backups", "snapshot storage")
    assert storage == round(12 * 30 * 3 * 0.023 + 12 * 30 * 3 * 0.0125, 2)


def test_a_daily_backup_stores_a_quarter_of_the_six_hourly_one() -> None:
    daily = replace(happy_stack(), "backups-job", backup_cronjob("0 3 * * *"))
    assert item(cost_of(daily), "backups", "snapshot storage") == round(3 * 30 * 3 * 0.023, 2)


def test_snapshots_that_never_expire_are_a_problem() -> None:
    stack = replace(happy_stack(), "backups-lifecycle", lifecycle(None))
    estimate = cost_of(stack)
    assert any("grows without bound" in p for p in estimate.problems)
    assert item(estimate, "backups", "snapshot storage") == round(12 * 365 * 3 * 0.023, 2)


def test_the_snapshot_size_follows_maxmemory() -> None:
    stack = replace(
        happy_stack(), "redis-config", redis_config_map(redis_conf(maxmemory_percent=50))
    )
    assert item(cost_of(stack), "backups", "snapshot storage") == round(12 * 30 * 2 * 0.023, 2)


def test_a_bucket_without_a_redis_cluster_cannot_be_sized() -> None:
    stack = without(happy_stack(), "redis")
    assert any("backups" in p for p in cost_of(stack).problems)


# --- the whole -------------------------------------------------------------------------------


def test_the_happy_prod_stack_stays_inside_adr_011s_budget() -> None:
    estimate = cost_of(happy_stack())
    assert not estimate.problems
    assert estimate.component_usd("redis") <= 500
    assert estimate.component_usd("cdn") <= 200
    assert estimate.component_usd("monitoring") <= 300
    assert estimate.total_monthly_usd <= 1000
    assert estimate.total_monthly_usd == round(
        sum(c.monthly_usd for c in estimate.components.values()), 2
    )


def test_nothing_priced_is_an_empty_estimate() -> None:
    assert estimate_cost([]).as_json() == {"components": {}, "totalMonthlyUsd": 0}


def test_engine_proxies_give_the_same_figures_as_plain_props() -> None:
    """The engine hands policies Mapping/Sequence proxies, not dicts and lists."""
    plain = as_cost_input(happy_stack())
    proxied = [(kind, unknown_checking_proxy(dict(props))) for kind, props in plain]
    assert estimate_cost(proxied).as_json() == estimate_cost(plain).as_json()


def test_sizing_names_match_the_capacity_component() -> None:
    from components import capacity

    assert inventory.SIZING_CONFIGMAP == capacity.SIZING_CONFIGMAP
    assert inventory.SIZING_KEY == capacity.SIZING_KEY


def test_argo_smart_routing_is_billed_per_gb() -> None:
    from policies.evaluate import ResourceInput

    stack = happy_stack()
    stack.append(
        ResourceInput(
            "urn:argo",
            "cloudflare:index/argoSmartRouting:ArgoSmartRouting",
            "edge-argo",
            {"zoneId": "z", "value": "on"},
        )
    )
    estimate = cost_of(stack)
    assert item(estimate, "cdn", "argo smart routing") == 5 + 3000 * 0.10
    assert cdn_cost_per_gb(estimate, include_edge_compute=False) == pytest.approx(330 / 3000)
