"""How often a cron schedule fires in an average month (pure): prices backups per snapshot.

The schedule is read by stackconfig.cron (the syntax Kubernetes CronJobs take). Counts are
averages over a 730-hour month (365.25 / 12 days), so a schedule on the 31st fires 7 / 12 times a
month, and "at 03:00 on Mondays" 30.44 / 7 times.
"""

from __future__ import annotations

from stackconfig.cron import parse_cron

DAYS_PER_MONTH = 365.25 / 12
_MONTH_DAYS = (31, 28.25, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def runs_per_month(schedule: str) -> float:
    """Average number of times `schedule` fires in a month; ValueError when it is not cron."""
    cron = parse_cron(schedule)
    per_day = len(cron.minutes) * len(cron.hours)
    week_days = cron.days_of_week
    dom_any = cron.day_of_month_any
    dow_any = cron.day_of_week_any
    days = 0.0
    for number in cron.months:
        length = _MONTH_DAYS[number - 1]
        # Day 29 exists in a quarter of Februaries; `min` counts it as that fraction.
        dom_days = sum(min(1.0, max(0.0, length - day + 1)) for day in cron.days_of_month)
        dow_days = len(week_days) * length / 7
        if dom_any and dow_any:
            days += length
        elif dow_any:
            days += dom_days
        elif dom_any:
            days += dow_days
        else:
            # Cron fires when either field matches (not both): count the union.
            days += dom_days + dow_days - dom_days * len(week_days) / 7
    return per_day * days / 12
