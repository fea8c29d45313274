"""Distributed tracing (ADR-011 phase 3), as plain data: the OpenTelemetry Collector's config, the
Grafana Tempo chart's values and Grafana's Tempo data source.

Services send OTLP to the collector (`otel-collector.<monitoring namespace>:4317` gRPC, `:4318`
HTTP); the collector keeps `sampling_percent` of the traces (head sampling on the trace id, so a
trace is kept or dropped whole) and forwards them to Tempo. Grafana reads Tempo, and latency
panels link exemplars (`trace_id`) of the request-duration histogram to the trace.
"""

from __future__ import annotations

from typing import Any

TEMPO_CHART = "tempo"
TEMPO_CHART_VERSION = "1.16.1"
"""grafana/tempo single-binary chart (Tempo 2.6.1); the values below were read from it."""
TEMPO_CHART_REPOSITORY = "https://grafana.github.io/helm-charts"
TEMPO_RELEASE = "tempo"
TEMPO_HTTP_PORT = 3100
OTLP_GRPC_PORT = 4317
OTLP_HTTP_PORT = 4318
COLLECTOR_NAME = "otel-collector"
COLLECTOR_CONFIG_KEY = "config.yaml"
COLLECTOR_HEALTH_PORT = 13133
COLLECTOR_METRICS_PORT = 8888
TEMPO_DATASOURCE_UID = "tempo"
TRACE_ID_LABEL = "trace_id"
"""Exemplar label the service kit's histogram carries (OpenTelemetry's Prometheus exporter name)."""

TEMPO_RESOURCES = {"requests": {"cpu": "250m", "memory": "1Gi"}, "limits": {"memory": "2Gi"}}
COLLECTOR_RESOURCES = {
    "requests": {"cpu": "200m", "memory": "256Mi"},
    "limits": {"memory": "512Mi"},
}
COLLECTOR_MEMORY_LIMIT_PERCENT = 80
"""memory_limiter refuses data above this share of the container limit: no OOM kill."""


def tempo_endpoint(namespace: str) -> str:
    return f"{TEMPO_RELEASE}.{namespace}.svc:{OTLP_GRPC_PORT}"


def render_collector_config(namespace: str, sampling_percent: int) -> dict[str, Any]:
    """The collector's configuration (the YAML it loads with --config)."""
    if not 1 <= sampling_percent <= 100:
        raise ValueError(f"sampling_percent must be 1-100, got {sampling_percent}")
    return {
        "receivers": {
            "otlp": {
                "protocols": {
                    "grpc": {"endpoint": f"0.0.0.0:{OTLP_GRPC_PORT}"},
                    "http": {"endpoint": f"0.0.0.0:{OTLP_HTTP_PORT}"},
                }
            }
        },
        "processors": {
            # First, so a burst is refused before it fills the other processors' queues.
            "memory_limiter": {
                "check_interval": "1s",
                "limit_percentage": COLLECTOR_MEMORY_LIMIT_PERCENT,
                "spike_limit_percentage": 20,
            },
            "probabilistic_sampler": {"sampling_percentage": float(sampling_percent)},
            "batch": {"timeout": "5s", "send_batch_size": 8192},
        },
        "exporters": {
            # `otlp_grpc` since collector 0.144 (`otlp` is its deprecated alias).
            "otlp_grpc/tempo": {
                "endpoint": tempo_endpoint(namespace),
                # In-cluster hop; the NetworkPolicy-free monitoring namespace is the boundary.
                "tls": {"insecure": True},
                "sending_queue": {"enabled": True, "queue_size": 5000},
                "retry_on_failure": {"enabled": True, "max_elapsed_time": "300s"},
            }
        },
        "extensions": {"health_check": {"endpoint": f"0.0.0.0:{COLLECTOR_HEALTH_PORT}"}},
        "service": {
            "extensions": ["health_check"],
            "pipelines": {
                "traces": {
                    "receivers": ["otlp"],
                    "processors": ["memory_limiter", "probabilistic_sampler", "batch"],
                    "exporters": ["otlp_grpc/tempo"],
                }
            },
            "telemetry": {
                "metrics": {
                    "readers": [
                        {
                            "pull": {
                                "exporter": {
                                    "prometheus": {
                                        "host": "0.0.0.0",
                                        "port": COLLECTOR_METRICS_PORT,
                                    }
                                }
                            }
                        }
                    ]
                }
            },
        },
    }


def render_tempo_values(
    *, retention: str, storage_size: str, storage_class: str | None
) -> dict[str, Any]:
    """Values of the grafana/tempo release: local storage on a volume, retention from config."""
    persistence: dict[str, Any] = {"enabled": True, "size": storage_size}
    if storage_class:
        persistence["storageClassName"] = storage_class
    return {
        "tempo": {
            "retention": retention,
            "reportingEnabled": False,
            "resources": TEMPO_RESOURCES,
            # The collector is the only sender: OTLP only, no Jaeger/OpenCensus ports.
            "receivers": {
                "otlp": {
                    "protocols": {
                        "grpc": {"endpoint": f"0.0.0.0:{OTLP_GRPC_PORT}"},
                        "http": {"endpoint": f"0.0.0.0:{OTLP_HTTP_PORT}"},
                    }
                }
            },
        },
        "persistence": persistence,
        "serviceMonitor": {"enabled": True},
    }


def tempo_datasource(namespace: str) -> dict[str, Any]:
    """Grafana's Tempo data source (kube-prometheus-stack `grafana.additionalDataSources`)."""
    return {
        "name": "Tempo",
        "type": "tempo",
        "uid": TEMPO_DATASOURCE_UID,
        "access": "proxy",
        "url": f"http://{TEMPO_RELEASE}.{namespace}.svc:{TEMPO_HTTP_PORT}",
        "jsonData": {"nodeGraph": {"enabled": True}, "serviceMap": {"datasourceUid": "prometheus"}},
    }
