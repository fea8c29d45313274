"""Observability: kube-prometheus-stack with ADR-011's rules, alert routing and dashboards.

Config in (ObservabilityArgs), resources out: namespace, Grafana admin Secret (generated
password), Alertmanager receivers Secret (credentials from `cache-platform:alertingSecrets`), the
Helm release, a PrometheusRule with the recording rules and alerts, and one sidecar-loaded
ConfigMap per dashboard. Every credential reaches the pods as a mounted file or a Secret
reference: the chart's values hold none.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random

from components.monitoring.alertmanager import (
    ALERTMANAGER_SECRET_NAME,
    alertmanager_secret_items,
    render_alertmanager_config,
)
from components.monitoring.chart_values import (
    CHART_NAME,
    CHART_VERSION,
    DASHBOARD_LABEL,
    DASHBOARD_LABEL_VALUE,
    GRAFANA_ADMIN_PASSWORD_KEY,
    GRAFANA_ADMIN_USER_KEY,
    render_chart_values,
)
from components.monitoring.dashboards import DashboardSizing, render_dashboards
from components.monitoring.rules import render_rule_groups
from stackconfig.config import MonitoringConfig
from stackconfig.thresholds import AlertThresholds

CHART_REPOSITORY = "https://prometheus-community.github.io/helm-charts"
GRAFANA_ADMIN_SECRET_NAME = "grafana-admin"


@dataclass(frozen=True)
class ObservabilityArgs:
    """Inputs of Observability."""

    settings: MonitoringConfig
    """The `cache-platform:monitoring` config: namespace, retention, storage, receivers."""
    receiver_credentials: pulumi.Input[Mapping[str, str]]
    """Secret receiver name -> credential (PagerDuty routing key, Slack webhook URL)."""
    sizing: DashboardSizing
    """Traffic and cost the Business dashboard compares against."""
    thresholds: AlertThresholds = field(default_factory=AlertThresholds)
    """Alert thresholds; the defaults are ADR-011's."""
    labels: Mapping[str, str] = field(default_factory=lambda: dict[str, str]())
    """Labels added to every object."""


class Observability(pulumi.ComponentResource):
    """Prometheus, Alertmanager and Grafana for the caching tier."""

    namespace: pulumi.Output[str]
    """Namespace of the monitoring stack."""
    release_name: pulumi.Output[str]
    """Name of the kube-prometheus-stack Helm release."""
    grafana_admin_secret_name: pulumi.Output[str]
    """Secret holding Grafana's admin user and generated password."""

    def __init__(
        self, name: str, args: ObservabilityArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("cache-platform:monitoring:Observability", name, None, opts)
        settings = args.settings
        labels = dict(args.labels)
        namespace_name = settings.namespace
        rule_groups = render_rule_groups(args.thresholds, settings.runbook_base_url)
        alertmanager_config = render_alertmanager_config(settings.receivers, settings.escalation)
        dashboards = render_dashboards(args.thresholds, args.sizing)

        namespace = k8s.core.v1.Namespace(
            f"{name}-namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=namespace_name, labels=labels),
            opts=pulumi.ResourceOptions(parent=self),
        )
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[namespace])

        def metadata(
            object_name: str, extra: Mapping[str, str] | None = None
        ) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(
                name=object_name, namespace=namespace_name, labels={**labels, **(extra or {})}
            )

        grafana_password = random.RandomPassword(
            f"{name}-grafana-password",
            length=32,
            special=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        grafana_secret = k8s.core.v1.Secret(
            f"{name}-grafana-admin",
            metadata=metadata(GRAFANA_ADMIN_SECRET_NAME),
            type="Opaque",
            string_data={
                GRAFANA_ADMIN_USER_KEY: settings.grafana_admin_user,
                GRAFANA_ADMIN_PASSWORD_KEY: grafana_password.result,
            },
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[namespace], additional_secret_outputs=["stringData"]
            ),
        )

        wanted = sorted(alertmanager_secret_items(settings.receivers))
        credentials = pulumi.Output.secret(args.receiver_credentials).apply(
            lambda given: {key: given[key] for key in wanted}
        )
        receivers_secret = k8s.core.v1.Secret(
            f"{name}-alertmanager-receivers",
            metadata=metadata(ALERTMANAGER_SECRET_NAME),
            type="Opaque",
            string_data=credentials,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[namespace], additional_secret_outputs=["stringData"]
            ),
        )

        release = k8s.helm.v3.Release(
            f"{name}-stack",
            name="kube-prometheus-stack",
            chart=CHART_NAME,
            version=CHART_VERSION,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=CHART_REPOSITORY),
            namespace=namespace_name,
            values=render_chart_values(
                alertmanager_config=alertmanager_config,
                alertmanager_secret_name=ALERTMANAGER_SECRET_NAME,
                grafana_admin_secret_name=GRAFANA_ADMIN_SECRET_NAME,
                retention=settings.retention,
                storage_size=settings.storage,
                storage_class=settings.storage_class,
            ),
            # The chart's CRDs and pods take a while on a fresh cluster.
            timeout=900,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[namespace, grafana_secret, receivers_secret]
            ),
        )

        k8s.apiextensions.CustomResource(
            f"{name}-rules",
            api_version="monitoring.coreos.com/v1",
            kind="PrometheusRule",
            metadata=metadata("cache-platform-rules"),
            spec={"groups": rule_groups},
            # The CRD arrives with the chart.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[release]),
        )

        for slug, model in dashboards.items():
            k8s.core.v1.ConfigMap(
                f"{name}-dashboard-{slug}",
                metadata=metadata(f"dashboard-{slug}", {DASHBOARD_LABEL: DASHBOARD_LABEL_VALUE}),
                data={f"{slug}.json": json.dumps(model, indent=2, sort_keys=True)},
                opts=in_namespace,
            )

        self.namespace = namespace.metadata.name
        self.release_name = release.name.apply(lambda value: value or "")
        self.grafana_admin_secret_name = grafana_secret.metadata.name
        self.register_outputs(
            {
                "namespace": self.namespace,
                "release_name": self.release_name,
                "grafana_admin_secret_name": self.grafana_admin_secret_name,
            }
        )
