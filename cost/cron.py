"""How often a cron schedule fires in an average month (pure): prices backups per snapshot.

Understands the five-field syntax Kubernetes CronJobs take (numbers, names, `*`, ranges, steps,
lists) and the @-macros. Counts are averages over a 730-hour month (365.25 / 12 days), so a
schedule on the 31st fires 7 / 12 times a month, and "at 03:00 on Mondays" 30.44 / 7 times.
"""

from __future__ import annotations

DAYS_PER_MONTH = 365.25 / 12
_MONTH_DAYS = (31, 28.25, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)
_MACROS = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
_MONTH_NAMES = {
    name: number
    for number, name in enumerate(
        ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"), 1
    )
}
_DAY_NAMES = {
    name: number for number, name in enumerate(("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"))
}


def _value(text: str, names: dict[str, int]) -> int:
    return names[text.upper()] if text.upper() in names else int(text)


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> set[int]:
    """The values a cron field selects; ValueError when it is malformed or out of range."""
    names = names or {}
    selected: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if step < 1:
            raise ValueError(f"step must be positive in {part!r}")
        if body in ("*", "?"):
            start, end = low, high
        elif "-" in body:
            first, last = body.split("-", 1)
            start, end = _value(first, names), _value(last, names)
        else:
            start = _value(body, names)
            end = high if step_text else start
        if not low <= start <= end <= high:
            raise ValueError(f"{part!r} is outside {low}-{high}")
        selected.update(range(start, end + 1, step))
    return selected


def runs_per_month(schedule: str) -> float:
    """Average number of times `schedule` fires in a month; ValueError when it is not cron."""
    text = schedule.strip()
    if text.startswith(("CRON_TZ=", "TZ=")):
        text = text.split(None, 1)[1] if " " in text else ""
    text = _MACROS.get(text.lower(), text)
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(f"{schedule!r} is not a five-field cron schedule")
    minute, hour, day_of_month, month, day_of_week = fields
    per_day = len(_field(minute, 0, 59)) * len(_field(hour, 0, 23))
    months = _field(month, 1, 12, _MONTH_NAMES)
    week_days = {day % 7 for day in _field(day_of_week, 0, 7, _DAY_NAMES)}
    month_days = _field(day_of_month, 1, 31)

    dom_any = day_of_month in ("*", "?")
    dow_any = day_of_week in ("*", "?")
    days = 0.0
    for number in months:
        length = _MONTH_DAYS[number - 1]
        # Day 29 exists in a quarter of Februaries; `min` counts it as that fraction.
        dom_days = sum(min(1.0, max(0.0, length - day + 1)) for day in month_days)
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
