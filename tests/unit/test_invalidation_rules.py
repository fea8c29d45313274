"""The invalidation alerts under promtool: lag p95 above 10 s for 5 minutes fires, below does
not; a pending list that grows past 100 for 15 minutes fires, a large but shrinking one does
not; a dead-lettered event fires until 15 minutes have passed; every alert's runbook section
exists."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from components.monitoring.invalidation_rules import (
    DEAD_LETTER_ALERT,
    INVALIDATION_GROUP,
    LAG_ALERT,
    PENDING_ALERT,
    RUNBOOK_ANCHORS,
    RUNBOOK_FILE,
    invalidation_rule_group,
)
from tests.support.promtool import run_rule_tests

ROOT = Path(__file__).resolve().parents[2]
BASE = "https://runbooks.example/docs/runbooks"


def lag_series(slow_share: float) -> list[dict[str, str]]:
    """100 events a minute; `slow_share` of them take 30 s, the rest 0.1 s."""
    slow = int(100 * slow_share)
    buckets = {"0.1": 100 - slow, "10": 100 - slow, "30": 100, "+Inf": 100}
    return [
        {
            "series": f'invalidation_lag_seconds_bucket{{kind="price_change",le="{le}"}}',
            "values": f"0+{per_minute}x30",
        }
        for le, per_minute in buckets.items()
    ]


def promtool_test(tmp_path: Path, tests: list[dict[str, Any]]) -> None:
    run_rule_tests(
        tmp_path, [invalidation_rule_group(BASE)], [{"interval": "1m", **test} for test in tests]
    )


def fires(alert: str, at: str, labels: dict[str, str], value: str = "") -> dict[str, Any]:
    """The alert firing with its annotations, `{{ $value ... }}` rendered as `value`."""
    rule = next(r for r in invalidation_rule_group(BASE)["rules"] if r["alert"] == alert)
    annotations = {
        name: re.sub(r"\{\{ \$value[^}]*\}\}", value, text)
        for name, text in rule["annotations"].items()
    }
    return {
        "eval_time": at,
        "alertname": alert,
        "exp_alerts": [{"exp_labels": labels, "exp_annotations": annotations}],
    }


def silent(alert: str, at: str) -> dict[str, Any]:
    return {"eval_time": at, "alertname": alert, "exp_alerts": []}


def test_lag_alert_fires_above_ten_seconds_only(tmp_path: Path) -> None:
    critical = {"severity": "critical", "escalation": "page"}
    promtool_test(
        tmp_path,
        [
            {
                "input_series": lag_series(0.10),
                "alert_rule_test": [fires(LAG_ALERT, "20m", critical, "20s")],
            },
            {"input_series": lag_series(0.02), "alert_rule_test": [silent(LAG_ALERT, "20m")]},
        ],
    )


def test_pending_alert_fires_when_the_list_keeps_growing(tmp_path: Path) -> None:
    warning = {"severity": "warning", "escalation": "team"}
    pods = ("invalidator-0", "invalidator-1")
    growing = [
        {"series": f'invalidation_stream_pending{{pod="{pod}"}}', "values": "50+10x40"}
        for pod in pods
    ]
    draining = [
        {"series": f'invalidation_stream_pending{{pod="{pod}"}}', "values": "5000-10x40"}
        for pod in pods
    ]
    promtool_test(
        tmp_path,
        [
            {
                "input_series": growing,
                "alert_rule_test": [
                    silent(PENDING_ALERT, "10m"),
                    fires(PENDING_ALERT, "35m", warning),
                ],
            },
            {"input_series": draining, "alert_rule_test": [silent(PENDING_ALERT, "35m")]},
        ],
    )


def test_dead_letter_alert_fires_on_any_dead_lettered_event_and_clears(tmp_path: Path) -> None:
    warning = {"severity": "warning", "escalation": "team"}
    # One replica moves one event at minute 20; the other moves none.
    moved = [
        {
            "series": 'invalidation_events_dead_lettered_total{kind="price_change",'
            'reason="max_deliveries",pod="invalidator-0"}',
            "values": "0x20 1x40",
        },
        {
            "series": 'invalidation_events_dead_lettered_total{kind="price_change",'
            'reason="max_deliveries",pod="invalidator-1"}',
            "values": "0x60",
        },
    ]
    promtool_test(
        tmp_path,
        [
            {
                "input_series": moved,
                "alert_rule_test": [
                    silent(DEAD_LETTER_ALERT, "15m"),
                    fires(DEAD_LETTER_ALERT, "25m", {**warning, "reason": "max_deliveries"}),
                    silent(DEAD_LETTER_ALERT, "50m"),
                ],
            }
        ],
    )


def test_every_alert_links_a_runbook_section_that_exists() -> None:
    text = (ROOT / "docs" / "runbooks" / RUNBOOK_FILE).read_text()
    headings = {
        re.sub(r"[^a-z0-9 -]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        for line in text.splitlines()
        if line.startswith("## ")
    }
    group = invalidation_rule_group(BASE)
    assert group["name"] == INVALIDATION_GROUP
    for rule in group["rules"]:
        anchor = RUNBOOK_ANCHORS[rule["alert"]]
        assert anchor in headings
        assert rule["annotations"]["runbook_url"] == f"{BASE}/{RUNBOOK_FILE}#{anchor}"
