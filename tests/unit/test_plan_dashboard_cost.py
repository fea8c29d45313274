"""The plan says when the Business dashboard's monthly cost is not its own estimate."""

from __future__ import annotations

from plan.verdicts import dashboard_cost_note


def test_unset_cost_asks_for_the_estimate() -> None:
    note = dashboard_cost_note(None, 592.46, 1000.0)
    assert note is not None and "592.46" in note and "monthlyCostUsd" in note


def test_a_drifted_cost_names_both_numbers() -> None:
    note = dashboard_cost_note(400.0, 592.46, 1000.0)
    assert note is not None and "400.00" in note and "592.46" in note


def test_a_cost_within_five_percent_is_quiet() -> None:
    assert dashboard_cost_note(592.46, 592.46, 1000.0) is None
    assert dashboard_cost_note(580.0, 600.0, 1000.0) is None
    assert dashboard_cost_note(560.0, 600.0, 1000.0) is not None
