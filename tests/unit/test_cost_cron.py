"""How often a backup schedule fires in an average month (365.25 / 12 days)."""

from __future__ import annotations

import pytest

from cost.cron import DAYS_PER_MONTH, runs_per_month


@pytest.mark.parametrize(
    ("schedule", "per_month"),
    [
        ("0 */6 * * *", 4 * DAYS_PER_MONTH),
        ("0 3 * * *", DAYS_PER_MONTH),
        ("@daily", DAYS_PER_MONTH),
        ("@hourly", 24 * DAYS_PER_MONTH),
        ("*/5 * * * *", 12 * 24 * DAYS_PER_MONTH),
        ("0 0,12 * * *", 2 * DAYS_PER_MONTH),
        ("30 2 * * 1-5", 5 * DAYS_PER_MONTH / 7),
        ("0 3 * * MON", DAYS_PER_MONTH / 7),
        ("0 3 * * 7", DAYS_PER_MONTH / 7),  # 7 is Sunday, like 0
        ("0 0 1 * *", 1.0),
        ("@monthly", 1.0),
        ("0 0 31 * *", 7 / 12),  # seven months have a 31st
        ("0 0 1 JAN *", 1 / 12),
        ("CRON_TZ=UTC 0 3 * * *", DAYS_PER_MONTH),
    ],
)
def test_runs_per_month(schedule: str, per_month: float) -> None:
    assert runs_per_month(schedule) == pytest.approx(per_month)


def test_day_of_month_and_weekday_together_fire_on_either() -> None:
    # The 1st and the 15th, or any Monday: 2 + 4.35 - the Mondays among those 2 days.
    expected = 2 + DAYS_PER_MONTH / 7 - 2 / 7
    assert runs_per_month("0 3 1,15 * 1") == pytest.approx(expected)


@pytest.mark.parametrize("schedule", ["", "0 3 * *", "61 * * * *", "0 3 * * 8", "*/0 * * * *"])
def test_malformed_schedules_are_refused(schedule: str) -> None:
    with pytest.raises(ValueError):
        runs_per_month(schedule)
