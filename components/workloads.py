"""Kubernetes pieces every workload of the platform shares, as plain renderers.

One copy of each rule the components must agree on: the restricted security contexts (Pod
Security Standards "restricted": non-root, no privilege escalation, every capability dropped,
the runtime's default seccomp profile, read-only root filesystem) and the NetworkPolicy peers for
cluster DNS and the monitoring namespace's Prometheus.
"""

from __future__ import annotations

import pulumi_kubernetes as k8s

PROMETHEUS_POD_LABELS = {"app.kubernetes.io/name": "prometheus"}
"""Labels of the Prometheus pods kube-prometheus-stack runs (the only scrapers let in)."""

DNS_PORT = 53


def restricted_container(uid: int | None = None) -> k8s.core.v1.SecurityContextArgs:
    """A container that runs as `uid` (its group too), or as the pod's user when None."""
    return k8s.core.v1.SecurityContextArgs(
        allow_privilege_escalation=False,
        read_only_root_filesystem=True,
        run_as_non_root=True if uid is not None else None,
        run_as_user=uid,
        run_as_group=uid,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
    )


def restricted_pod(uid: int, *, owns_volumes: bool = True) -> k8s.core.v1.PodSecurityContextArgs:
    """A pod whose processes run as `uid`; with `owns_volumes`, also as its group, which owns
    the pod's volumes (fsGroup) so the non-root user can read its mounted Secrets and tokens."""
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=uid if owns_volumes else None,
        fs_group=uid if owns_volumes else None,
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def labelled_namespaces_peer(label: str) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    """Every pod of the namespaces labelled `<label>: "true"` (how a team opts its namespace in
    as a client of a platform service)."""
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        namespace_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={label: "true"})
    )


def prometheus_peer(monitoring_namespace: str) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    """Only the Prometheus pods of the monitoring namespace: both selectors in one peer (AND),
    not every pod that runs there."""
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        namespace_selector=k8s.meta.v1.LabelSelectorArgs(
            match_labels={"kubernetes.io/metadata.name": monitoring_namespace}
        ),
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=PROMETHEUS_POD_LABELS),
    )


def dns_egress() -> k8s.networking.v1.NetworkPolicyEgressRuleArgs:
    """Egress to the cluster's DNS (kube-dns in kube-system), UDP and TCP."""
    return k8s.networking.v1.NetworkPolicyEgressRuleArgs(
        to=[
            k8s.networking.v1.NetworkPolicyPeerArgs(
                namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                    match_labels={"kubernetes.io/metadata.name": "kube-system"}
                ),
                pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"k8s-app": "kube-dns"}),
            )
        ],
        ports=[
            k8s.networking.v1.NetworkPolicyPortArgs(port=DNS_PORT, protocol="UDP"),
            k8s.networking.v1.NetworkPolicyPortArgs(port=DNS_PORT, protocol="TCP"),
        ],
    )
