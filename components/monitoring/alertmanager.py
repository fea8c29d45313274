"""Alertmanager configuration: receivers, the ADR-011 escalation tree, inhibition (plain data).

Credentials never appear in the rendered config. Each receiver's credential is one key of a
Kubernetes Secret that kube-prometheus-stack mounts through `alertmanager.alertmanagerSpec.secrets`
at /etc/alertmanager/secrets/<secret>/<key>, and the config points at that file:

- pagerduty: `routing_key_file` (Events API v2 routing key);
- slack: `api_url_file` (the incoming-webhook URL is the credential);
- webhook: `url`, given in config and not secret. amtool 0.25 refuses `webhook_configs.url_file`
  ("field url_file not found"), so a webhook endpoint that needs a secret must take it from
  somewhere other than its URL; none of ours does, and `alertmanager_secret_items` asks for no
  key for webhook receivers.

Escalation (ADR-011 "Escalation Procedures"), implemented with Alertmanager's own timing: the first
notification of a new alert group waits until `group_wait` after the alert's StartsAt (Prometheus
sends the moment the alert began firing), and a group whose alerts all resolved by then sends
nothing. Critical alerts therefore match three sibling routes (`continue: true` on the first two):
L1 with a short group_wait (paged at once), L2 with group_wait 15m and L3 with group_wait 30m, so
L2 and L3 are paged only for alerts still firing 15 and 30 minutes after they started. Groups are
per alert (alertname + service + instance), so one incident does not hold back the escalation of
another. Because the clock is the alert's own StartsAt, an Alertmanager restart does not restart
it; the notification log (on the Alertmanager volume) keeps levels already paged from being paged
twice. tests/integration/test_monitoring_alertmanager.py shows all of this on a real Alertmanager.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

ALERTMANAGER_SECRET_NAME = "alertmanager-receivers"
"""The Secret holding one key per receiver credential (mounted into the Alertmanager pods)."""
SECRETS_MOUNT_DIR = "/etc/alertmanager/secrets"
"""Where the Prometheus Operator mounts `alertmanagerSpec.secrets` (one directory per Secret)."""

NULL_RECEIVER = "null"
"""Drops what nobody acts on: the chart's Watchdog heartbeat, InfoInhibitor, info alerts."""
GROUP_BY = ("alertname", "service", "instance")
INHIBIT_EQUAL = ("alertname", "namespace", "service", "instance")
"""A critical alert silences its warning twin on the same subject; `namespace` keeps the chart's
own alerts (which carry no service/instance) from silencing each other across namespaces."""


@dataclass(frozen=True)
class EscalationTimings:
    """Alertmanager durations of the routing tree; the defaults are ADR-011's escalation."""

    l1_wait: str = "10s"
    """Critical alerts page L1 at once (a few seconds to batch alerts of the same group)."""
    l2_after: str = "15m"
    """L2 is paged for critical alerts still firing this long after they arrived."""
    l3_after: str = "30m"
    """L3 likewise, later."""
    team_wait: str = "30s"
    """Warnings reach the team channel within seconds (the ADR asks a response within 15 min)."""
    group_interval: str = "5m"
    """Wait before notifying a group again about new or resolved alerts."""
    page_repeat: str = "1h"
    """Re-page while a critical alert keeps firing."""
    team_repeat: str = "4h"
    """Remind the team channel while a warning keeps firing."""


_SECRET_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")

SLACK_TITLE = (
    '[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] '
    "{{ .CommonLabels.alertname }} ({{ .CommonLabels.severity }})"
)
SLACK_TEXT = (
    "{{ range .Alerts }}*{{ .Annotations.summary }}*\n{{ .Annotations.description }}\n"
    "Runbook: {{ .Annotations.runbook_url }}\n{{ end }}"
)


class ReceiverSpec(Protocol):
    """What a receiver needs (stackconfig.config.AlertReceiver has this shape)."""

    @property
    def type(self) -> str:
        """'pagerduty', 'slack' or 'webhook'."""
        ...

    @property
    def channel(self) -> str | None:
        """Slack channel."""
        ...

    @property
    def url(self) -> str | None:
        """Webhook URL, without credentials."""
        ...


class EscalationSpec(Protocol):
    """Receiver names per level (stackconfig.config.Escalation has this shape)."""

    @property
    def l1(self) -> str: ...

    @property
    def l2(self) -> str: ...

    @property
    def l3(self) -> str: ...

    @property
    def team(self) -> str: ...


def secret_path(receiver_name: str, secret_name: str = ALERTMANAGER_SECRET_NAME) -> str:
    """The file a receiver's credential is read from inside the Alertmanager pod."""
    return f"{SECRETS_MOUNT_DIR}/{secret_name}/{receiver_name}"


def alertmanager_secret_items(receivers: Mapping[str, ReceiverSpec]) -> dict[str, str]:
    """Keys the receivers' Secret must hold (key -> what its value is); webhooks need none."""
    items: dict[str, str] = {}
    for name, receiver in sorted(receivers.items()):
        _check_name(name)
        if receiver.type == "pagerduty":
            items[name] = f"PagerDuty Events API v2 routing key of receiver '{name}'"
        elif receiver.type == "slack":
            items[name] = f"Slack incoming-webhook URL of receiver '{name}'"
    return items


def _check_name(name: str) -> None:
    if name == NULL_RECEIVER or not _SECRET_KEY.match(name):
        raise ValueError(
            f"receiver name {name!r} cannot be used: it must be a Secret key "
            f"([-._a-zA-Z0-9]+) and not '{NULL_RECEIVER}'"
        )


def _receiver(name: str, spec: ReceiverSpec, secret_name: str) -> dict[str, Any]:
    _check_name(name)
    if spec.type == "pagerduty":
        return {
            "name": name,
            "pagerduty_configs": [
                {
                    "routing_key_file": secret_path(name, secret_name),
                    "severity": "{{ .CommonLabels.severity }}",
                    "description": "{{ .CommonAnnotations.summary }}",
                    "links": [{"href": "{{ .CommonAnnotations.runbook_url }}", "text": "Runbook"}],
                    "send_resolved": True,
                }
            ],
        }
    if spec.type == "slack":
        if not spec.channel:
            raise ValueError(f"slack receiver {name!r} needs a channel")
        return {
            "name": name,
            "slack_configs": [
                {
                    "api_url_file": secret_path(name, secret_name),
                    "channel": spec.channel,
                    "title": SLACK_TITLE,
                    "text": SLACK_TEXT,
                    "send_resolved": True,
                }
            ],
        }
    if spec.type == "webhook":
        if not spec.url:
            raise ValueError(f"webhook receiver {name!r} needs a url")
        return {"name": name, "webhook_configs": [{"url": spec.url, "send_resolved": True}]}
    raise ValueError(f"receiver {name!r} has unknown type {spec.type!r}")


def _severity_route(
    severity: str,
    receiver: str,
    group_wait: str,
    repeat_interval: str,
    timings: EscalationTimings,
    *,
    more: bool = False,
) -> dict[str, Any]:
    route: dict[str, Any] = {
        "receiver": receiver,
        "matchers": [f'severity="{severity}"'],
        "group_wait": group_wait,
        "group_interval": timings.group_interval,
        "repeat_interval": repeat_interval,
    }
    if more:
        # Keep matching the next siblings: the same alert also starts the L2/L3 clocks.
        route["continue"] = True
    return route


def render_alertmanager_config(
    receivers: Mapping[str, ReceiverSpec],
    escalation: EscalationSpec,
    *,
    secret_name: str = ALERTMANAGER_SECRET_NAME,
    timings: EscalationTimings | None = None,
) -> dict[str, Any]:
    """The whole alertmanager.yaml (also `alertmanager.config` of the chart's values)."""
    t = timings or EscalationTimings()
    levels = {
        "l1": escalation.l1,
        "l2": escalation.l2,
        "l3": escalation.l3,
        "team": escalation.team,
    }
    for level, name in levels.items():
        if name not in receivers:
            raise ValueError(
                f"escalation.{level} names receiver {name!r}, which is not among the receivers: "
                + ", ".join(sorted(receivers))
            )
    routes: list[dict[str, Any]] = [
        {"receiver": NULL_RECEIVER, "matchers": ['alertname=~"Watchdog|InfoInhibitor"']},
        {"receiver": NULL_RECEIVER, "matchers": ['severity="info"']},
        _severity_route("critical", escalation.l1, t.l1_wait, t.page_repeat, t, more=True),
        _severity_route("critical", escalation.l2, t.l2_after, t.page_repeat, t, more=True),
        _severity_route("critical", escalation.l3, t.l3_after, t.page_repeat, t),
        _severity_route("warning", escalation.team, t.team_wait, t.team_repeat, t),
    ]
    return {
        "route": {
            # Anything no child matches (an alert without severity) still reaches the team.
            "receiver": escalation.team,
            "group_by": list(GROUP_BY),
            "group_wait": t.team_wait,
            "group_interval": t.group_interval,
            "repeat_interval": t.team_repeat,
            "routes": routes,
        },
        "inhibit_rules": [
            {
                "source_matchers": ['severity="critical"'],
                "target_matchers": ['severity="warning"'],
                "equal": list(INHIBIT_EQUAL),
            }
        ],
        "receivers": [{"name": NULL_RECEIVER}]
        + [_receiver(name, spec, secret_name) for name, spec in sorted(receivers.items())],
    }
