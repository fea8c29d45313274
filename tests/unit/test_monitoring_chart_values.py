"""kube-prometheus-stack values: our rules and monitors load, dashboards are picked up, and no
credential is in the values."""

from __future__ import annotations

from typing import Any

from components.monitoring.alertmanager import (
    ALERTMANAGER_SECRET_NAME,
    render_alertmanager_config,
)
from components.monitoring.chart_values import CHART_VERSION, render_chart_values
from stackconfig.config import DEFAULT_RECEIVERS, Escalation

AM_CONFIG = render_alertmanager_config(DEFAULT_RECEIVERS, Escalation())


def values(**changes: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "alertmanager_config": AM_CONFIG,
        "alertmanager_secret_name": ALERTMANAGER_SECRET_NAME,
        "grafana_admin_secret_name": "grafana-admin",
        "retention": "15d",
        "storage_size": "50Gi",
        "storage_class": None,
    }
    args.update(changes)
    return render_chart_values(**args)


def test_the_chart_version_is_pinned() -> None:
    major, minor, patch = (int(part) for part in CHART_VERSION.split("."))
    assert (major, minor, patch) == (75, 18, 1)


def test_rules_and_monitors_outside_the_release_are_selected() -> None:
    spec = values()["prometheus"]["prometheusSpec"]
    assert spec["ruleSelectorNilUsesHelmValues"] is False
    assert spec["serviceMonitorSelectorNilUsesHelmValues"] is False
    assert spec["podMonitorSelectorNilUsesHelmValues"] is False


def test_retention_and_storage_come_from_the_arguments() -> None:
    spec = values(retention="30d", storage_size="200Gi", storage_class="gp3")["prometheus"][
        "prometheusSpec"
    ]
    assert spec["retention"] == "30d"
    claim = spec["storageSpec"]["volumeClaimTemplate"]["spec"]
    assert claim["resources"]["requests"]["storage"] == "200Gi"
    assert claim["storageClassName"] == "gp3"
    assert (
        "storageClassName"
        not in (
            values()["prometheus"]["prometheusSpec"]["storageSpec"]["volumeClaimTemplate"]["spec"]
        )
    )


def test_grafana_loads_labelled_dashboards_and_reads_admin_from_a_secret() -> None:
    grafana = values()["grafana"]
    dashboards = grafana["sidecar"]["dashboards"]
    assert dashboards["enabled"] is True
    assert (dashboards["label"], dashboards["labelValue"]) == ("grafana_dashboard", "1")
    assert grafana["admin"] == {
        "existingSecret": "grafana-admin",
        "userKey": "admin-user",
        "passwordKey": "admin-password",
    }
    assert "adminPassword" not in grafana


def test_alertmanager_gets_our_config_and_the_receiver_secret() -> None:
    am = values()["alertmanager"]
    assert am["config"] == AM_CONFIG
    assert am["alertmanagerSpec"]["secrets"] == [ALERTMANAGER_SECRET_NAME]


CREDENTIAL_KEYS = {
    "adminPassword", "password", "routing_key", "service_key", "api_url", "url_secret",
    "token", "bearer_token", "credentials", "api_key", "auth_password",
}  # fmt: skip


def keys_of(value: Any) -> set[str]:
    if isinstance(value, dict):
        return {str(k) for k in value} | {k for v in value.values() for k in keys_of(v)}
    if isinstance(value, list):
        return {k for v in value for k in keys_of(v)}
    return set()


def test_no_credential_field_anywhere() -> None:
    found = keys_of(values())
    assert "passwordKey" in found  # the walk does reach Grafana's admin block
    assert not found & CREDENTIAL_KEYS


def test_every_component_has_resource_requests() -> None:
    v = values()
    for resources in (
        v["prometheus"]["prometheusSpec"]["resources"],
        v["alertmanager"]["alertmanagerSpec"]["resources"],
        v["grafana"]["resources"],
    ):
        assert resources["requests"]["memory"] and resources["limits"]["memory"]
