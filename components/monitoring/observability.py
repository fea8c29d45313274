"""Observability: kube-prometheus-stack with ADR-011's rules, alert routing and dashboards, the
Cloudflare exporter, and distributed tracing.

Config in (ObservabilityArgs), resources out: namespace, Grafana admin Secret (generated
password), Alertmanager receivers Secret (credentials from `cache-platform:alertingSecrets`), the
Helm release, a PrometheusRule with the recording rules and alerts, and one sidecar-loaded
ConfigMap per dashboard. With an edge: the Cloudflare exporter (Deployment, Service,
ServiceMonitor, and its token Secret from `cache-platform:cloudflareAnalyticsToken`). With
tracing: the OpenTelemetry Collector (ConfigMap, Deployment, Service, ServiceMonitor) and the
Grafana Tempo release, with Grafana's Tempo data source and exemplar links. Every credential
reaches the pods as a mounted file or a Secret reference: no Helm values or pod env hold one.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import yaml

from components.monitoring import cloudflare_exporter as cf
from components.monitoring import tracing
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
from components.monitoring.rules import CdnTrafficBudget, render_rule_groups
from components.workloads import restricted_container, restricted_pod
from stackconfig.config import MonitoringConfig
from stackconfig.thresholds import AlertThresholds

CHART_REPOSITORY = "https://prometheus-community.github.io/helm-charts"
GRAFANA_ADMIN_SECRET_NAME = "grafana-admin"
APP_LABEL = "app.kubernetes.io/name"


@dataclass(frozen=True)
class CloudflareMetricsArgs:
    """What the Cloudflare exporter needs (given when the stack manages the edge)."""

    zone_id: pulumi.Input[str]
    """The zone whose analytics are exported."""
    api_token: pulumi.Input[str]
    """Secret: a Cloudflare API token with Analytics:Read only."""
    budget: CdnTrafficBudget
    """The declared monthly traffic, for the overage alerts."""
    free_tier: bool = False
    """The zone is on the Free plan: only the metrics the Free plan's analytics allow."""


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
    cloudflare: CloudflareMetricsArgs | None = None
    """Deploys the Cloudflare exporter and the CDN overage alerts; None without an edge."""
    invalidation_alerts: bool = False
    """Adds the invalidation service's alerts (lag, pending list) when the stack deploys it."""


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
        cloudflare = args.cloudflare
        rule_groups = render_rule_groups(
            args.thresholds,
            settings.runbook_base_url,
            cloudflare.budget if cloudflare is not None else None,
            invalidation=args.invalidation_alerts,
        )
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
                additional_datasources=(
                    [tracing.tempo_datasource(namespace_name)] if settings.tracing else None
                ),
                exemplar_datasource_uid=(
                    tracing.TEMPO_DATASOURCE_UID if settings.tracing else None
                ),
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

        if cloudflare is not None:
            self._cloudflare_exporter(name, cloudflare, settings, metadata, namespace, release)
        if settings.tracing:
            self._tracing(name, settings, metadata, namespace, release)

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

    def _service_monitor(
        self,
        name: str,
        metadata: Any,
        app: str,
        port: str,
        interval: str,
        release: k8s.helm.v3.Release,
    ) -> None:
        k8s.apiextensions.CustomResource(
            f"{name}-{app}-metrics",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata=metadata(app),
            spec={
                "selector": {"matchLabels": {APP_LABEL: app}},
                "endpoints": [{"port": port, "interval": interval, "path": "/metrics"}],
            },
            # The CRD arrives with the chart.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[release]),
        )

    def _cloudflare_exporter(
        self,
        name: str,
        cloudflare: CloudflareMetricsArgs,
        settings: MonitoringConfig,
        metadata: Any,
        namespace: k8s.core.v1.Namespace,
        release: k8s.helm.v3.Release,
    ) -> None:
        app = cf.EXPORTER_NAME
        in_namespace = pulumi.ResourceOptions(parent=self, depends_on=[namespace])
        token_secret = k8s.core.v1.Secret(
            f"{name}-cloudflare-token",
            metadata=metadata(f"{app}-token"),
            type="Opaque",
            string_data={cf.TOKEN_KEY: pulumi.Output.secret(cloudflare.api_token)},
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[namespace], additional_secret_outputs=["stringData"]
            ),
        )
        environment = pulumi.Output.from_input(cloudflare.zone_id).apply(
            lambda zone_id: [
                k8s.core.v1.EnvVarArgs(name=key, value=value)
                for key, value in cf.exporter_environment(
                    zone_id, free_tier=cloudflare.free_tier
                ).items()
            ]
        )
        k8s.apps.v1.Deployment(
            f"{name}-cloudflare-exporter",
            metadata=metadata(app, {APP_LABEL: app}),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels={APP_LABEL: app}),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels={APP_LABEL: app}),
                    spec=k8s.core.v1.PodSpecArgs(
                        automount_service_account_token=False,
                        security_context=restricted_pod(cf.EXPORTER_UID),
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name=app,
                                image=settings.cloudflare_exporter_image,
                                command=cf.exporter_command(),
                                env=environment,
                                ports=[
                                    k8s.core.v1.ContainerPortArgs(
                                        name="metrics", container_port=cf.EXPORTER_PORT
                                    )
                                ],
                                readiness_probe=k8s.core.v1.ProbeArgs(
                                    http_get=k8s.core.v1.HTTPGetActionArgs(
                                        path="/health", port="metrics"
                                    )
                                ),
                                resources=k8s.core.v1.ResourceRequirementsArgs(
                                    requests=cf.EXPORTER_RESOURCES["requests"],
                                    limits=cf.EXPORTER_RESOURCES["limits"],
                                ),
                                security_context=restricted_container(),
                                volume_mounts=[
                                    k8s.core.v1.VolumeMountArgs(
                                        name="token", mount_path=cf.TOKEN_MOUNT, read_only=True
                                    )
                                ],
                            )
                        ],
                        volumes=[
                            k8s.core.v1.VolumeArgs(
                                name="token",
                                secret=k8s.core.v1.SecretVolumeSourceArgs(
                                    secret_name=token_secret.metadata.name, default_mode=0o440
                                ),
                            )
                        ],
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, token_secret]),
        )
        k8s.core.v1.Service(
            f"{name}-cloudflare-exporter",
            metadata=metadata(app, {APP_LABEL: app}),
            spec=k8s.core.v1.ServiceSpecArgs(
                selector={APP_LABEL: app},
                ports=[
                    k8s.core.v1.ServicePortArgs(
                        name="metrics", port=cf.EXPORTER_PORT, target_port="metrics"
                    )
                ],
            ),
            opts=in_namespace,
        )
        self._service_monitor(name, metadata, app, "metrics", cf.SCRAPE_INTERVAL, release)

    def _tracing(
        self,
        name: str,
        settings: MonitoringConfig,
        metadata: Any,
        namespace: k8s.core.v1.Namespace,
        release: k8s.helm.v3.Release,
    ) -> None:
        namespace_name = settings.namespace
        tempo = k8s.helm.v3.Release(
            f"{name}-tempo",
            name=tracing.TEMPO_RELEASE,
            chart=tracing.TEMPO_CHART,
            version=tracing.TEMPO_CHART_VERSION,
            repository_opts=k8s.helm.v3.RepositoryOptsArgs(repo=tracing.TEMPO_CHART_REPOSITORY),
            namespace=namespace_name,
            values=tracing.render_tempo_values(
                retention=settings.trace_retention,
                storage_size=settings.trace_storage,
                storage_class=settings.storage_class,
            ),
            # Its ServiceMonitor needs the CRDs of the monitoring chart.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, release]),
        )
        app = tracing.COLLECTOR_NAME
        config = k8s.core.v1.ConfigMap(
            f"{name}-collector-config",
            metadata=metadata(f"{app}-config"),
            data={
                tracing.COLLECTOR_CONFIG_KEY: yaml.safe_dump(
                    tracing.render_collector_config(
                        namespace_name, settings.trace_sampling_percent
                    ),
                    sort_keys=False,
                )
            },
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace]),
        )
        ports = {
            "otlp-grpc": tracing.OTLP_GRPC_PORT,
            "otlp-http": tracing.OTLP_HTTP_PORT,
            "metrics": tracing.COLLECTOR_METRICS_PORT,
        }
        k8s.apps.v1.Deployment(
            f"{name}-collector",
            metadata=metadata(app, {APP_LABEL: app}),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=2,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels={APP_LABEL: app}),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels={APP_LABEL: app}),
                    spec=k8s.core.v1.PodSpecArgs(
                        automount_service_account_token=False,
                        security_context=restricted_pod(10001, owns_volumes=False),
                        containers=[
                            k8s.core.v1.ContainerArgs(
                                name=app,
                                image=settings.collector_image,
                                args=[f"--config=/conf/{tracing.COLLECTOR_CONFIG_KEY}"],
                                ports=[
                                    k8s.core.v1.ContainerPortArgs(name=n, container_port=p)
                                    for n, p in ports.items()
                                ],
                                readiness_probe=k8s.core.v1.ProbeArgs(
                                    http_get=k8s.core.v1.HTTPGetActionArgs(
                                        path="/", port=tracing.COLLECTOR_HEALTH_PORT
                                    )
                                ),
                                resources=k8s.core.v1.ResourceRequirementsArgs(
                                    requests=tracing.COLLECTOR_RESOURCES["requests"],
                                    limits=tracing.COLLECTOR_RESOURCES["limits"],
                                ),
                                security_context=restricted_container(),
                                volume_mounts=[
                                    k8s.core.v1.VolumeMountArgs(
                                        name="config", mount_path="/conf", read_only=True
                                    )
                                ],
                            )
                        ],
                        volumes=[
                            k8s.core.v1.VolumeArgs(
                                name="config",
                                config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                                    name=config.metadata.name
                                ),
                            )
                        ],
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace, config, tempo]),
        )
        k8s.core.v1.Service(
            f"{name}-collector",
            metadata=metadata(app, {APP_LABEL: app}),
            spec=k8s.core.v1.ServiceSpecArgs(
                selector={APP_LABEL: app},
                ports=[
                    k8s.core.v1.ServicePortArgs(name=n, port=p, target_port=n)
                    for n, p in ports.items()
                ],
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=[namespace]),
        )
        self._service_monitor(name, metadata, app, "metrics", "30s", release)
