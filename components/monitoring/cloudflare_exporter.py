"""The Cloudflare exporter (lablabs/cloudflare-exporter), as plain data.

Read from its source (main.go, prometheus.go at 0.0.16): settings come from flags or environment
variables through viper (`CF_API_TOKEN`, `CF_ZONES`, `FREE_TIER`, `LISTEN`, `SCRAPE_DELAY`, ...),
metrics are served on `:8080/metrics`, and zone analytics are fetched every 60 s for the minute
`SCRAPE_DELAY` seconds ago (300 by default: Cloudflare's analytics arrive late).

The exporter reads its API token only from `--cf_api_token` or `CF_API_TOKEN`; it cannot read a
file. A flag would show the token in the process list and a pod `env` entry in the pod spec, so
the token is mounted as a file from a Secret and the container's shell reads it with the `read`
builtin (no child process, no argument) into the exporter's environment just before `exec`. It
never appears in the pod spec, `kubectl describe`, or any process's command line; it is in the
exporter process's own environment, readable only by its user.
"""

from __future__ import annotations

from collections.abc import Mapping

EXPORTER_NAME = "cloudflare-exporter"
EXPORTER_PORT = 8080
EXPORTER_BINARY = "/cloudflare_exporter"
"""The image's entrypoint (`./cloudflare_exporter` from the root directory)."""
TOKEN_MOUNT = "/etc/cloudflare-exporter"
TOKEN_KEY = "token"
EXPORTER_UID = 65534
EXPORTER_RESOURCES = {"requests": {"cpu": "20m", "memory": "32Mi"}, "limits": {"memory": "128Mi"}}
SCRAPE_INTERVAL = "60s"
"""The exporter refreshes its counters once a minute."""

EXPORTED_METRICS = frozenset(
    {
        "cloudflare_zone_requests_total",
        "cloudflare_zone_requests_cached",
        "cloudflare_zone_requests_ssl_encrypted",
        "cloudflare_zone_requests_content_type",
        "cloudflare_zone_requests_country",
        "cloudflare_zone_requests_status",
        "cloudflare_zone_requests_browser_map_page_views_count",
        "cloudflare_zone_requests_origin_status_country_host",
        "cloudflare_zone_requests_status_country_host",
        "cloudflare_zone_bandwidth_total",
        "cloudflare_zone_bandwidth_cached",
        "cloudflare_zone_bandwidth_ssl_encrypted",
        "cloudflare_zone_bandwidth_content_type",
        "cloudflare_zone_bandwidth_country",
        "cloudflare_zone_threats_total",
        "cloudflare_zone_threats_country",
        "cloudflare_zone_threats_type",
        "cloudflare_zone_pageviews_total",
        "cloudflare_zone_uniques_total",
        "cloudflare_zone_colocation_visits",
        "cloudflare_zone_colocation_edge_response_bytes",
        "cloudflare_zone_colocation_requests_total",
        "cloudflare_zone_firewall_events_count",
        "cloudflare_zone_health_check_events_origin_count",
        "cloudflare_worker_requests_count",
        "cloudflare_worker_errors_count",
        "cloudflare_worker_cpu_time",
        "cloudflare_worker_duration",
        "cloudflare_zone_pool_health_status",
        "cloudflare_zone_pool_requests_total",
        "cloudflare_logpush_failed_jobs_account_count",
        "cloudflare_logpush_failed_jobs_zone_count",
    }
)
"""Every metric name of prometheus.go (0.0.16). Counters keep their names as written there:
client_golang adds no `_total` suffix."""


def exporter_command(
    token_file: str = f"{TOKEN_MOUNT}/{TOKEN_KEY}", binary: str = EXPORTER_BINARY
) -> list[str]:
    """The container's command: the token file into the environment, then the exporter.

    `read` also accepts a file without a trailing newline (it then fails but has read the line)."""
    return [
        "/bin/sh",
        "-c",
        f'{{ IFS= read -r CF_API_TOKEN || [ -n "$CF_API_TOKEN" ]; }} < "{token_file}" '
        f"&& export CF_API_TOKEN && exec {binary}",
    ]


def exporter_environment(zone_id: str, *, free_tier: bool) -> Mapping[str, str]:
    """Plain settings of the exporter (no credential)."""
    return {
        "CF_ZONES": zone_id,
        "FREE_TIER": "true" if free_tier else "false",
        "LISTEN": f":{EXPORTER_PORT}",
    }
