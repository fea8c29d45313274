"""Tracing: the collector's config against the collector's documented configuration, Tempo's
values from config, and Grafana's trace data source with exemplars."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema
import pulumi
import pytest
import yaml

from components.monitoring.dashboards import DashboardSizing
from components.monitoring.observability import Observability, ObservabilityArgs
from components.monitoring.tracing import (
    OTLP_GRPC_PORT,
    TEMPO_CHART_VERSION,
    TEMPO_DATASOURCE_UID,
    TEMPO_RELEASE,
    render_collector_config,
    render_tempo_values,
)
from stackconfig.config import MonitoringConfig
from stackconfig.settings import Duration, Quantity
from tests.support.documents import parse_yaml
from tests.support.mocking import install_mocks, of_type, when_registered

DURATION = {"type": "string", "pattern": r"^[0-9]+(ms|s|m|h)$"}
ENDPOINT = {"type": "string", "pattern": r"^[^:\s]*:[0-9]{1,5}$"}
PERCENT = {"type": "number", "exclusiveMinimum": 0, "maximum": 100}


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
        "required": required or [],
    }


COLLECTOR_SCHEMA = _object(
    {
        # receiver/otlpreceiver README: protocols.grpc / protocols.http, each a server config.
        "receivers": _object(
            {
                "otlp": _object(
                    {
                        "protocols": _object(
                            {
                                "grpc": _object({"endpoint": ENDPOINT}),
                                "http": _object({"endpoint": ENDPOINT}),
                            }
                        )
                    }
                )
            }
        ),
        "processors": _object(
            {
                # processor/memorylimiterprocessor README.
                "memory_limiter": _object(
                    {
                        "check_interval": DURATION,
                        "limit_mib": {"type": "integer"},
                        "spike_limit_mib": {"type": "integer"},
                        "limit_percentage": PERCENT,
                        "spike_limit_percentage": PERCENT,
                    },
                    ["check_interval"],
                ),
                # processor/probabilisticsamplerprocessor README (contrib).
                "probabilistic_sampler": _object(
                    {
                        "sampling_percentage": PERCENT,
                        "hash_seed": {"type": "integer"},
                        "mode": {"enum": ["hash_seed", "proportional", "equalizing"]},
                    },
                    ["sampling_percentage"],
                ),
                # processor/batchprocessor README.
                "batch": _object(
                    {
                        "timeout": DURATION,
                        "send_batch_size": {"type": "integer", "minimum": 0},
                        "send_batch_max_size": {"type": "integer", "minimum": 0},
                    }
                ),
            }
        ),
        # exporter/otlpexporter README + exporterhelper (sending_queue, retry_on_failure); the
        # exporter is `otlp_grpc` since 0.144, `otlp` being its deprecated alias.
        "exporters": {
            "type": "object",
            "patternProperties": {
                r"^otlp_grpc(/[a-z0-9_-]+)?$": _object(
                    {
                        "endpoint": ENDPOINT,
                        "tls": _object({"insecure": {"type": "boolean"}}),
                        "sending_queue": _object(
                            {
                                "enabled": {"type": "boolean"},
                                "num_consumers": {"type": "integer"},
                                "queue_size": {"type": "integer", "minimum": 1},
                            }
                        ),
                        "retry_on_failure": _object(
                            {
                                "enabled": {"type": "boolean"},
                                "initial_interval": DURATION,
                                "max_interval": DURATION,
                                "max_elapsed_time": DURATION,
                            }
                        ),
                    },
                    ["endpoint"],
                )
            },
            "additionalProperties": False,
        },
        # extension/healthcheckextension README.
        "extensions": _object({"health_check": _object({"endpoint": ENDPOINT})}),
        # The service section: extensions, pipelines per signal, the collector's own telemetry.
        "service": _object(
            {
                "extensions": {"type": "array", "items": {"type": "string"}},
                "pipelines": {
                    "type": "object",
                    "patternProperties": {
                        r"^(traces|metrics|logs)(/[a-z0-9_-]+)?$": _object(
                            {
                                "receivers": {"type": "array", "minItems": 1},
                                "processors": {"type": "array"},
                                "exporters": {"type": "array", "minItems": 1},
                            },
                            ["receivers", "exporters"],
                        )
                    },
                    "additionalProperties": False,
                },
                "telemetry": _object(
                    {
                        "metrics": _object(
                            {
                                "readers": {
                                    "type": "array",
                                    "items": _object(
                                        {
                                            "pull": _object(
                                                {
                                                    "exporter": _object(
                                                        {
                                                            "prometheus": _object(
                                                                {
                                                                    "host": {"type": "string"},
                                                                    "port": {"type": "integer"},
                                                                }
                                                            )
                                                        }
                                                    )
                                                }
                                            )
                                        }
                                    ),
                                }
                            }
                        )
                    }
                ),
            },
            ["pipelines"],
        ),
    },
    ["receivers", "exporters", "service"],
)
"""The parts of the collector's configuration we use, from each component's README (the
collector publishes no JSON schema): unknown keys are refused, as the collector refuses them
at start-up ("has invalid keys")."""


def collector_problems(config: dict[str, Any]) -> list[str]:
    """What the collector would refuse: schema errors, and pipelines or extensions naming
    components that are not configured."""
    validator = jsonschema.Draft202012Validator(COLLECTOR_SCHEMA)
    problems = [error.message for error in validator.iter_errors(config)]
    service = config.get("service", {})
    for name in service.get("extensions", []):
        if name not in config.get("extensions", {}):
            problems.append(f"extension {name} is not configured")
    for pipeline, parts in service.get("pipelines", {}).items():
        for kind in ("receivers", "processors", "exporters"):
            for name in parts.get(kind, []):
                if name not in config.get(kind, {}):
                    problems.append(f"{pipeline}: {kind[:-1]} {name} is not configured")
    return problems


@pytest.mark.parametrize("sampling", [1, 10, 100])
def test_the_collector_config_follows_the_documented_schema(sampling: int) -> None:
    config = render_collector_config("monitoring", sampling)
    assert collector_problems(config) == []
    assert config["processors"]["probabilistic_sampler"]["sampling_percentage"] == sampling
    # memory_limiter first: it must refuse data before the other processors queue it.
    assert config["service"]["pipelines"]["traces"]["processors"][0] == "memory_limiter"
    parse_yaml(yaml.safe_dump(config))


def test_the_schema_check_catches_what_the_collector_would_refuse() -> None:
    config = render_collector_config("monitoring", 10)
    typo = copy.deepcopy(config)
    typo["processors"]["batch"]["send_batch_sise"] = 1
    assert any("send_batch_sise" in p for p in collector_problems(typo))
    dangling = copy.deepcopy(config)
    dangling["service"]["pipelines"]["traces"]["processors"].append("tail_sampling")
    assert collector_problems(dangling) == ["traces: processor tail_sampling is not configured"]
    with pytest.raises(ValueError, match="sampling_percent"):
        render_collector_config("monitoring", 0)


def test_tempo_values_take_retention_and_storage_from_config() -> None:
    values = render_tempo_values(retention="168h", storage_size="50Gi", storage_class="gp3")
    assert values["tempo"]["retention"] == "168h"
    assert values["persistence"] == {"enabled": True, "size": "50Gi", "storageClassName": "gp3"}
    assert values["tempo"]["reportingEnabled"] is False
    assert set(values["tempo"]["receivers"]) == {"otlp"}


SIZING = DashboardSizing(services=8, peak_rps_per_service=10_000, monthly_cost_usd=600)
CREDENTIALS = {"oncall": "pd-1", "senior": "pd-2", "manager": "pd-3", "team": "https://hooks/x"}


@pytest.fixture
def monitor() -> Any:
    return install_mocks()


def build(settings: MonitoringConfig) -> Observability:
    return Observability(
        "monitoring",
        ObservabilityArgs(
            settings=settings,
            receiver_credentials=pulumi.Output.secret(CREDENTIALS),
            sizing=SIZING,
        ),
    )


def releases(records: list[Any]) -> dict[str, Any]:
    return {r.inputs["chart"]: r for r in of_type(records, "kubernetes:helm.sh/v3:Release")}


@pulumi.runtime.test
def test_collector_forwards_to_tempo_and_grafana_links_exemplars(monitor: Any) -> Any:
    settings = MonitoringConfig(
        trace_retention=Duration("96h"), trace_storage=Quantity("30Gi"), trace_sampling_percent=25
    )
    observability = build(settings)

    def check() -> None:
        tempo = releases(monitor.records)["tempo"]
        assert tempo.inputs["version"] == TEMPO_CHART_VERSION
        assert tempo.inputs["repositoryOpts"]["repo"] == "https://grafana.github.io/helm-charts"
        assert tempo.inputs["name"] == TEMPO_RELEASE
        assert tempo.inputs["values"]["tempo"]["retention"] == "96h"
        assert tempo.inputs["values"]["persistence"]["size"] == "30Gi"
        (config_map,) = [
            c
            for c in of_type(monitor.records, "kubernetes:core/v1:ConfigMap")
            if c.inputs["metadata"]["name"] == "otel-collector-config"
        ]
        config = parse_yaml(config_map.inputs["data"]["config.yaml"])
        assert collector_problems(config) == []
        assert config["exporters"]["otlp_grpc/tempo"]["endpoint"] == (
            f"{TEMPO_RELEASE}.monitoring.svc:{OTLP_GRPC_PORT}"
        )
        assert config["processors"]["probabilistic_sampler"]["sampling_percentage"] == 25
        (deployment,) = [
            d
            for d in of_type(monitor.records, "kubernetes:apps/v1:Deployment")
            if d.inputs["metadata"]["name"] == "otel-collector"
        ]
        pod = deployment.inputs["spec"]["template"]["spec"]
        assert pod["volumes"][0]["configMap"]["name"] == "otel-collector-config"
        assert pod["containers"][0]["args"] == ["--config=/conf/config.yaml"]
        assert ":" in pod["containers"][0]["image"]
        stack = releases(monitor.records)["kube-prometheus-stack"].inputs["values"]
        (datasource,) = stack["grafana"]["additionalDataSources"]
        assert datasource["type"] == "tempo" and datasource["uid"] == TEMPO_DATASOURCE_UID
        assert datasource["url"] == f"http://{TEMPO_RELEASE}.monitoring.svc:3100"
        exemplars = stack["grafana"]["sidecar"]["datasources"]["exemplarTraceIdDestinations"]
        assert exemplars == {"datasourceUid": TEMPO_DATASOURCE_UID, "traceIdLabelName": "trace_id"}
        assert "exemplar-storage" in stack["prometheus"]["prometheusSpec"]["enableFeatures"]

    return when_registered(observability, check)


@pulumi.runtime.test
def test_tracing_off_deploys_neither_collector_nor_tempo(monitor: Any) -> Any:
    observability = build(MonitoringConfig(tracing=False))

    def check() -> None:
        assert set(releases(monitor.records)) == {"kube-prometheus-stack"}
        assert not [r for r in monitor.records if "collector" in r.name]
        stack = releases(monitor.records)["kube-prometheus-stack"].inputs["values"]
        assert "additionalDataSources" not in stack["grafana"]

    return when_registered(observability, check)
