"""The price sheet (`prices.json`) read into typed values (pure).

Prices are data with provenance: each one in the JSON names the page it was read from and the date.
The model reads them only through `PriceSheet`, so a price change is a one-line edit of the JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, cast

PRICE_SHEET = Path(__file__).with_name("prices.json")


@dataclass(frozen=True)
class InstanceType:
    """An EC2 instance type as a Kubernetes node."""

    name: str
    vcpu: int
    memory_gib: float
    max_pods: int
    hourly_usd: float


@dataclass(frozen=True)
class PriceSheet:
    hours_per_month: float
    instances: Mapping[str, InstanceType]
    ebs_gp3_gb_month: float
    s3_standard_gb_month: float
    s3_standard_ia_gb_month: float
    s3_put_per_1000: float
    s3_get_per_1000: float
    s3_ia_transition_per_1000: float
    kms_key_month: float
    kms_per_10000_requests: float
    cloudflare_plans: Mapping[str, float | None]
    """Monthly price of each Cloudflare plan; None when there is no public list price."""
    workers_base_month: float
    workers_included_requests_millions: float
    workers_extra_million_requests: float
    workers_included_cpu_ms_millions: float
    workers_extra_million_cpu_ms: float
    argo_base_month: float
    argo_per_gb: float

    def monthly(self, instance: InstanceType) -> float:
        return instance.hourly_usd * self.hours_per_month


def _usd(entry: Any) -> float:
    value = cast(Mapping[str, Any], entry)["usd"]
    return float(value)


def parse_price_sheet(document: Mapping[str, Any]) -> PriceSheet:
    """A PriceSheet from the JSON document; KeyError/TypeError name a malformed entry."""
    instances = {
        name: InstanceType(
            name=name,
            vcpu=int(spec["vcpu"]),
            memory_gib=float(spec["memoryGiB"]),
            max_pods=int(spec["maxPods"]["value"]),
            hourly_usd=_usd(spec["hourly"]),
        )
        for name, spec in cast(Mapping[str, Any], document["ec2"]["instances"]).items()
    }
    s3 = document["s3"]
    kms = document["kms"]
    workers = document["cloudflare"]["workers"]
    plans = {
        name: (None if entry["usd"] is None else float(entry["usd"]))
        for name, entry in cast(Mapping[str, Any], document["cloudflare"]["plans"]).items()
    }
    return PriceSheet(
        hours_per_month=float(document["hoursPerMonth"]),
        instances=instances,
        ebs_gp3_gb_month=_usd(document["ebs"]["gp3"]),
        s3_standard_gb_month=_usd(s3["standard"]),
        s3_standard_ia_gb_month=_usd(s3["standardIa"]),
        s3_put_per_1000=_usd(s3["standardPut"]),
        s3_get_per_1000=_usd(s3["standardGet"]),
        s3_ia_transition_per_1000=_usd(s3["iaTransition"]),
        kms_key_month=_usd(kms["key"]),
        kms_per_10000_requests=_usd(kms["requests"]),
        cloudflare_plans=plans,
        workers_base_month=_usd(workers["paidBase"]),
        workers_included_requests_millions=_usd(workers["includedRequestsMillions"]),
        workers_extra_million_requests=_usd(workers["extraRequests"]),
        workers_included_cpu_ms_millions=_usd(workers["includedCpuMsMillions"]),
        workers_extra_million_cpu_ms=_usd(workers["extraCpuMs"]),
        argo_base_month=_usd(document["cloudflare"]["argoSmartRouting"]["base"]),
        argo_per_gb=_usd(document["cloudflare"]["argoSmartRouting"]["perGb"]),
    )


@cache
def load_price_sheet(path: Path = PRICE_SHEET) -> PriceSheet:
    return parse_price_sheet(json.loads(path.read_text()))
