"""CapacityPlan: the load the tier is sized for, declared as a ConfigMap next to the cluster.

The policy pack sees resources, not stack config; declaring the sizing assumptions as a resource
lets the budget and capacity policies (and the services' owners) read the same numbers the plan
priced. Changing an assumption shows up in a preview like any other change.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from stackconfig.config import CdnConfig, TrafficConfig

SIZING_CONFIGMAP = "cache-platform-sizing"
SIZING_KEY = "sizing.json"


def sizing_document(traffic: TrafficConfig, cdn: CdnConfig) -> dict[str, float | int | str]:
    """The sizing assumptions as plain data (also what the cost model and policies parse)."""
    return {
        "services": traffic.services,
        "normalRpsPerService": traffic.normal_rps_per_service,
        "spikeMultiplier": traffic.spike_multiplier,
        "cdnMonthlyEgressGb": cdn.monthly_egress_gb if cdn.enabled else 0.0,
        "cdnMonthlyRequestsMillions": cdn.monthly_requests_millions if cdn.enabled else 0.0,
        # Priced when the zone is adopted (zoneId): then no ZoneSubscription declares the plan.
        "cdnPlan": cdn.plan.value,
    }


@dataclass(frozen=True)
class CapacityPlanArgs:
    """Inputs of CapacityPlan."""

    traffic: TrafficConfig
    """Normal load: services × requests per second, and the spike to absorb."""
    cdn: CdnConfig
    """Edge traffic per month (priced by the cost model)."""
    namespace: pulumi.Input[str]
    """Namespace the ConfigMap lives in (the cache's), as the resource creating it outputs it."""
    labels: Mapping[str, str] = field(default_factory=lambda: dict[str, str]())
    """Labels of the ConfigMap."""


class CapacityPlan(pulumi.ComponentResource):
    """The declared sizing assumptions of the stack."""

    config_map_name: pulumi.Output[str]
    """Name of the ConfigMap holding `sizing.json`."""

    def __init__(
        self, name: str, args: CapacityPlanArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cache-platform:capacity:CapacityPlan", name, None, opts)
        config_map = k8s.core.v1.ConfigMap(
            f"{name}-sizing",
            metadata=k8s.meta.v1.ObjectMetaArgs(
                name=SIZING_CONFIGMAP, namespace=args.namespace, labels=dict(args.labels)
            ),
            data={SIZING_KEY: json.dumps(sizing_document(args.traffic, args.cdn), sort_keys=True)},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.config_map_name = config_map.metadata.name
        self.register_outputs({"config_map_name": self.config_map_name})
