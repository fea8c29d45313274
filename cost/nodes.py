"""Which node a pod needs (pure): what an instance type leaves for pods after the node's own needs.

A node never gives its whole memory to pods. Per node we reserve, as EKS-optimised AMIs do:

* kube-reserved memory: 255 MiB + 11 MiB per pod the node may run (its ENI max-pods);
* kube-reserved CPU: 6 % of the first core, 1 % of the second, 0.5 % of cores 3-4, 0.25 % above;
* the kubelet's hard eviction threshold: 100 MiB;
* DaemonSets every node runs (VPC CNI, kube-proxy, EBS CSI node driver, node-exporter, a log
  shipper): 512 MiB and 0.2 CPU — our assumption, not a measured figure.

The pod itself counts with all its containers (Redis plus the exporter sidecar), memory at the
larger of request and limit, since a cache node has to hold what the pod may grow to.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from cost.prices import InstanceType

MIB = 1024 * 1024
GIB = 1024 * MIB
KUBE_RESERVED_BASE_MIB = 255
KUBE_RESERVED_PER_POD_MIB = 11
EVICTION_HARD_MIB = 100
DAEMONSET_MEMORY_MIB = 512
DAEMONSET_CPU = 0.2


def kube_reserved_cpu(vcpu: int) -> float:
    """CPU cores the kubelet and runtime reserve (the EKS AMI's formula)."""
    steps = ((1, 0.06), (1, 0.01), (2, 0.005))
    reserved, left = 0.0, vcpu
    for cores, share in steps:
        used = min(cores, left)
        reserved += used * share
        left -= used
    return reserved + max(left, 0) * 0.0025


@dataclass(frozen=True)
class Allocatable:
    """What an instance type leaves for workload pods."""

    memory_bytes: float
    cpu_cores: float


def allocatable(instance: InstanceType) -> Allocatable:
    reserved_mib = (
        KUBE_RESERVED_BASE_MIB
        + KUBE_RESERVED_PER_POD_MIB * instance.max_pods
        + EVICTION_HARD_MIB
        + DAEMONSET_MEMORY_MIB
    )
    return Allocatable(
        memory_bytes=instance.memory_gib * GIB - reserved_mib * MIB,
        cpu_cores=instance.vcpu - kube_reserved_cpu(instance.vcpu) - DAEMONSET_CPU,
    )


def fits(instance: InstanceType, memory_bytes: float, cpu_cores: float) -> bool:
    room = allocatable(instance)
    return memory_bytes <= room.memory_bytes and cpu_cores <= room.cpu_cores


def smallest_fitting(
    instances: Iterable[InstanceType], memory_bytes: float, cpu_cores: float
) -> InstanceType | None:
    """The type with the least memory that holds one pod of this size, cheapest on a tie."""
    candidates = sorted(instances, key=lambda i: (i.memory_gib, i.hourly_usd, i.name))
    return next((i for i in candidates if fits(i, memory_bytes, cpu_cores)), None)
