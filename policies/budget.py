"""Budget policies: ADR-011's monthly cost limits, priced by the plan's own cost model.

Both policies call `cost.model.estimate_cost` on the stack's resources, the function the
offline plan writes `cost.json` with, so a verdict here and the plan's cost table cannot disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import (
    EnforcementLevel,
    PolicyConfigSchema,
    ReportViolation,
    StackValidationArgs,
    StackValidationPolicy,
)

from cost.model import CostEstimate, cdn_cost_per_gb, estimate_cost
from policies.props import as_bool, as_number, stack_props
from stackconfig import adr

DEFAULT_LIMITS: Mapping[str, float] = adr.MONTHLY_BUDGET_USD
DEFAULT_TOTAL_LIMIT = adr.TOTAL_MONTHLY_BUDGET_USD
DEFAULT_MAX_CDN_USD_PER_GB = adr.MAX_CDN_USD_PER_GB

_LIMIT_KEYS: Mapping[str, str] = {
    "redis": "redisMonthlyUsd",
    "cdn": "cdnMonthlyUsd",
    "monitoring": "monitoringMonthlyUsd",
}
_ADVICE: Mapping[str, str] = {
    "redis": (
        "lower redis.memory (the node type follows it), redis.primaries or "
        "redis.replicasPerPrimary, or pin a cheaper redis.nodeType"
    ),
    "cdn": "choose a smaller cdn.plan or route fewer requests through the Worker",
    "monitoring": (
        "lower the Prometheus/Grafana resource requests, monitoring.storage or the retention"
    ),
}


def _breakdown(estimate: CostEstimate, component: str) -> str:
    cost = estimate.components.get(component)
    if cost is None:
        return ""
    return "; ".join(f"{i.name} ${i.monthly_usd:,.2f} ({i.detail})" for i in cost.items)


def _limit(config: Mapping[str, Any], key: str, default: float) -> float:
    value = as_number(config.get(key))
    return default if value is None else value


def _validate_budget(args: StackValidationArgs, report: ReportViolation) -> None:
    estimate = estimate_cost(stack_props(args.resources))
    config = args.get_config() or {}
    for problem in estimate.problems:
        report(f"The monthly cost cannot be verified against the budget: {problem}.", None)
    for component, key in _LIMIT_KEYS.items():
        limit = _limit(config, key, DEFAULT_LIMITS[component])
        spent = estimate.component_usd(component)
        if spent > limit:
            report(
                f"{component} costs ${spent:,.2f}/month, over its ${limit:,.2f} budget "
                f"(ADR-011; pack config `{key}`): {_breakdown(estimate, component)}. "
                f"To fit, {_ADVICE[component]}.",
                None,
            )
    total_limit = _limit(config, "totalMonthlyUsd", DEFAULT_TOTAL_LIMIT)
    total = estimate.total_monthly_usd
    if total > total_limit:
        parts = ", ".join(
            f"{name} ${component.monthly_usd:,.2f}"
            for name, component in estimate.components.items()
        )
        report(
            f"The stack costs ${total:,.2f}/month, over the ${total_limit:,.2f} budget "
            f"(ADR-011; pack config `totalMonthlyUsd`): {parts}. Reduce the largest component.",
            None,
        )


stack_cost_stay_within_budget = StackValidationPolicy(
    name="stack-cost-stay-within-budget",
    description=(
        "The stack's estimated monthly cost stays within ADR-011's budget: Redis at most $500, "
        "CDN at most $200, monitoring at most $300 and the whole stack at most $1,000, priced by "
        "the same cost model as the plan; a stack part that cannot be priced is reported too."
    ),
    validate=_validate_budget,
    enforcement_level=EnforcementLevel.ADVISORY,
    config_schema=PolicyConfigSchema(
        properties={
            "redisMonthlyUsd": {"type": "number", "default": DEFAULT_LIMITS["redis"]},
            "cdnMonthlyUsd": {"type": "number", "default": DEFAULT_LIMITS["cdn"]},
            "monitoringMonthlyUsd": {"type": "number", "default": DEFAULT_LIMITS["monitoring"]},
            "totalMonthlyUsd": {"type": "number", "default": DEFAULT_TOTAL_LIMIT},
        }
    ),
)


def _validate_cdn_per_gb(args: StackValidationArgs, report: ReportViolation) -> None:
    config = args.get_config() or {}
    include_edge_compute = as_bool(config.get("includeEdgeCompute")) is True
    ceiling = _limit(config, "maxUsdPerGb", DEFAULT_MAX_CDN_USD_PER_GB)
    estimate = estimate_cost(stack_props(args.resources))
    per_gb = cdn_cost_per_gb(estimate, include_edge_compute=include_edge_compute)
    if per_gb is None or per_gb < ceiling:
        return
    scope = "plan and Workers" if include_edge_compute else "plan"
    report(
        f"The CDN's {scope} cost ${per_gb:.4f} per GB at the declared "
        f"{estimate.cdn_monthly_egress_gb:,.0f} GB/month, not below ADR-011's ${ceiling:g}/GB "
        f"target: {_breakdown(estimate, 'cdn')}. Choose a smaller cdn.plan, or correct "
        "cdn.monthlyEgressGb if the traffic assumption is wrong.",
        None,
    )


cdn_cost_per_gb_stay_below_target = StackValidationPolicy(
    name="cdn-cost-per-gb-stay-below-target",
    description=(
        "The CDN's monthly cost divided by the declared monthly edge traffic stays below "
        "ADR-011's $0.01 per GB. By default the zone plans count (Cloudflare bills no bandwidth); "
        "Workers, billed per request rather than per GB, count when `includeEdgeCompute` is true."
    ),
    validate=_validate_cdn_per_gb,
    enforcement_level=EnforcementLevel.ADVISORY,
    config_schema=PolicyConfigSchema(
        properties={
            "maxUsdPerGb": {"type": "number", "default": DEFAULT_MAX_CDN_USD_PER_GB},
            "includeEdgeCompute": {"type": "boolean", "default": False},
        }
    ),
)
