"""Helm values of kube-prometheus-stack, as typed data (chart 75.18.1, Prometheus Operator 0.83).

Keys were read from that chart version's values.yaml. What matters and why:

- `prometheus.prometheusSpec.ruleSelectorNilUsesHelmValues: false` (and the ServiceMonitor /
  PodMonitor equivalents): otherwise the operator selects only objects carrying the chart
  release's label, and our PrometheusRule and ServiceMonitors silently never load.
- Grafana's dashboard sidecar loads ConfigMaps labelled `grafana_dashboard: "1"` from every
  namespace; the value must be exactly the string "1".
- Grafana's admin credentials come from an existing Secret (`grafana.admin.existingSecret`); no
  password is ever in the values (which Pulumi stores in its state and Helm in its release).
- `alertmanager.config` is our whole Alertmanager config; the receivers' credentials stay in the
  Secret listed in `alertmanagerSpec.secrets`, mounted at /etc/alertmanager/secrets/<name>/.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

CHART_NAME = "kube-prometheus-stack"
CHART_VERSION = "75.18.1"
"""The chart version these values were written against; the component pins it."""

DASHBOARD_LABEL = "grafana_dashboard"
DASHBOARD_LABEL_VALUE = "1"
GRAFANA_ADMIN_USER_KEY = "admin-user"
GRAFANA_ADMIN_PASSWORD_KEY = "admin-password"

PROMETHEUS_RESOURCES: Mapping[str, Mapping[str, str]] = {
    "requests": {"cpu": "500m", "memory": "2Gi"},
    "limits": {"memory": "4Gi"},
}
"""A few hundred thousand series (6 Redis nodes, services, the cluster's own) fit in 2-4 GiB; no CPU
limit, so rule evaluation and compaction are not throttled."""
ALERTMANAGER_RESOURCES: Mapping[str, Mapping[str, str]] = {
    "requests": {"cpu": "50m", "memory": "64Mi"},
    "limits": {"memory": "256Mi"},
}
GRAFANA_RESOURCES: Mapping[str, Mapping[str, str]] = {
    "requests": {"cpu": "100m", "memory": "256Mi"},
    "limits": {"memory": "512Mi"},
}
ALERTMANAGER_STORAGE = "1Gi"
"""Silences and the notification log survive a restart, so no escalation level is paged twice."""


def _volume_claim(size: str, storage_class: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": size}},
    }
    if storage_class:
        spec["storageClassName"] = storage_class
    return {"volumeClaimTemplate": {"spec": spec}}


def _plain(resources: Mapping[str, Mapping[str, str]]) -> dict[str, dict[str, str]]:
    return {kind: dict(values) for kind, values in resources.items()}


def render_chart_values(
    *,
    alertmanager_config: Mapping[str, Any],
    alertmanager_secret_name: str,
    grafana_admin_secret_name: str,
    retention: str,
    storage_size: str,
    storage_class: str | None = None,
    additional_datasources: list[dict[str, Any]] | None = None,
    exemplar_datasource_uid: str | None = None,
) -> dict[str, Any]:
    """Values of the kube-prometheus-stack release.

    `retention` is a Prometheus duration (`15d`), `storage_size` a Kubernetes quantity; both come
    from `cache-platform:monitoring`. `grafana_admin_secret_name` names a Secret with the keys
    `admin-user` and `admin-password`. `additional_datasources` are added to Grafana (Tempo);
    `exemplar_datasource_uid` makes the Prometheus data source link exemplars' `trace_id` to
    that data source, and Prometheus store exemplars.
    """
    values: dict[str, Any] = {
        "alertmanager": {
            "config": dict(alertmanager_config),
            "alertmanagerSpec": {
                "secrets": [alertmanager_secret_name],
                "resources": _plain(ALERTMANAGER_RESOURCES),
                "storage": _volume_claim(ALERTMANAGER_STORAGE, storage_class),
            },
        },
        "prometheus": {
            "prometheusSpec": {
                "retention": retention,
                "storageSpec": _volume_claim(storage_size, storage_class),
                "resources": _plain(PROMETHEUS_RESOURCES),
                "ruleSelectorNilUsesHelmValues": False,
                "serviceMonitorSelectorNilUsesHelmValues": False,
                "podMonitorSelectorNilUsesHelmValues": False,
            },
        },
        "grafana": {
            "admin": {
                "existingSecret": grafana_admin_secret_name,
                "userKey": GRAFANA_ADMIN_USER_KEY,
                "passwordKey": GRAFANA_ADMIN_PASSWORD_KEY,
            },
            "sidecar": {
                "dashboards": {
                    "enabled": True,
                    "label": DASHBOARD_LABEL,
                    "labelValue": DASHBOARD_LABEL_VALUE,
                    "searchNamespace": "ALL",
                },
            },
            "resources": _plain(GRAFANA_RESOURCES),
        },
    }
    if additional_datasources:
        values["grafana"]["additionalDataSources"] = additional_datasources
    if exemplar_datasource_uid:
        values["prometheus"]["prometheusSpec"]["enableFeatures"] = ["exemplar-storage"]
        values["grafana"]["sidecar"]["datasources"] = {
            "exemplarTraceIdDestinations": {
                "datasourceUid": exemplar_datasource_uid,
                "traceIdLabelName": "trace_id",
            }
        }
    return values
