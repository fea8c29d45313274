"""The recording rule for ADR-011's "average < 100 ms for cached responses", run by promtool."""

from __future__ import annotations

from pathlib import Path

from components.monitoring.rules import RECORD_CACHED_MEAN, render_rule_groups
from stackconfig.thresholds import AlertThresholds
from tests.support.promtool import run_rule_tests


def test_the_mean_counts_only_requests_served_from_the_cache(tmp_path: Path) -> None:
    labels = 'service="catalog", pod="a"'
    # Per minute: 600 hits taking 24 s in all (40 ms each), 100 misses taking 50 s (500 ms each).
    series = [
        ("http_request_duration_seconds_count", "hit", 600),
        ("http_request_duration_seconds_sum", "hit", 24),
        ("http_request_duration_seconds_count", "miss", 100),
        ("http_request_duration_seconds_sum", "miss", 50),
    ]
    run_rule_tests(
        tmp_path,
        render_rule_groups(AlertThresholds(), "https://rb.example"),
        [
            {
                "interval": "1m",
                "input_series": [
                    {
                        "series": f'{name}{{{labels}, cache="{use}", code="200"}}',
                        "values": f"0+{per_minute}x10",
                    }
                    for name, use, per_minute in series
                ]
                + [
                    # A service with no cached response records nothing (no 0/0).
                    {
                        "series": 'http_request_duration_seconds_count{service="cold", '
                        'cache="miss", code="200"}',
                        "values": "0+60x10",
                    }
                ],
                "promql_expr_test": [
                    {
                        "expr": RECORD_CACHED_MEAN,
                        "eval_time": "10m",
                        "exp_samples": [
                            {"labels": f'{RECORD_CACHED_MEAN}{{service="catalog"}}', "value": 0.04}
                        ],
                    }
                ],
            }
        ],
    )
