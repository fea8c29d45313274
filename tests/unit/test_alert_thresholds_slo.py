"""The thresholds of the SLO, cache-error and connection alerts are validated up front and read
back by the policy pack like the others."""

from __future__ import annotations

import pytest

from components.monitoring.rules import render_rule_groups
from stackconfig.thresholds import AlertThresholds, Severity, alert_levels, threshold_problems


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"availability_target": 1.0}, "availability_target is a ratio in (0, 1)"),
        ({"cache_errors_critical": 1.5}, "cache_errors_critical is a ratio in (0, 1]"),
        ({"connections_warning": 0.97}, "connections_warning (0.97) must be reached before"),
        ({"cache_errors_warning": 0.2}, "cache_errors_warning (0.2) must be reached before"),
    ],
)
def test_bad_values_are_refused_naming_the_field(changes: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError) as raised:
        AlertThresholds(**changes)  # type: ignore[arg-type]
    assert message in str(raised.value)


def test_burn_rate_thresholds_follow_the_slo() -> None:
    levels = {(lv.alert, lv.severity): lv for lv in alert_levels(AlertThresholds())}
    critical = levels[("AvailabilityErrorBudgetBurn", Severity.CRITICAL)]
    warning = levels[("AvailabilityErrorBudgetBurn", Severity.WARNING)]
    # 99.9 %: a budget of 0.1 % of requests; the page's slowest pair burns 6x, the warning's 1x.
    assert critical.threshold == pytest.approx(0.006)
    assert warning.threshold == pytest.approx(0.001)


def test_a_looser_slo_is_a_policy_problem() -> None:
    loose = render_rule_groups(AlertThresholds(availability_target=0.99), "https://x.test")
    problems = threshold_problems(loose)
    assert any(
        p.startswith("AvailabilityErrorBudgetBurn (critical) fires above 0.06") for p in problems
    )
    assert any(
        p.startswith("AvailabilityErrorBudgetBurn (warning) fires above 0.01") for p in problems
    )
    strict = render_rule_groups(AlertThresholds(availability_target=0.9995), "https://x.test")
    assert threshold_problems(strict) == []
