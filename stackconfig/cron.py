"""The five-field cron syntax Kubernetes CronJobs take, parsed into the values each field selects.

Numbers, names (JAN-DEC, SUN-SAT), `*`, `?`, ranges, steps, lists, the @-macros and a leading
`CRON_TZ=`/`TZ=`, each field range-checked as the CronJob controller's parser (robfig/cron) does:
minute 0-59, hour 0-23, day of month 1-31, month 1-12, day of week 0-7 (7 is Sunday too).
"""

from __future__ import annotations

from dataclasses import dataclass

MACROS = {
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


@dataclass(frozen=True)
class CronSchedule:
    """The values each field selects; `*_any` tells a wildcard day field from a full list."""

    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]
    """0-6, Sunday 0 (a 7 in the schedule is folded onto 0)."""
    day_of_month_any: bool
    day_of_week_any: bool


def _value(text: str, names: dict[str, int]) -> int:
    if text.upper() in names:
        return names[text.upper()]
    if not text.isdigit() or len(text) > 4:
        raise ValueError(f"{text!r} is not a number")
    return int(text)


def _field(text: str, low: int, high: int, names: dict[str, int] | None = None) -> frozenset[int]:
    """The values a cron field selects; ValueError when it is malformed or out of range."""
    names = names or {}
    selected: set[int] = set()
    for part in text.split(","):
        body, _, step_text = part.partition("/")
        step = _value(step_text, {}) if step_text else 1
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
    return frozenset(selected)


def parse_cron(schedule: str) -> CronSchedule:
    """The schedule's fields; ValueError naming the bad field when it is not valid cron."""
    text = schedule.strip()
    if text.startswith(("CRON_TZ=", "TZ=")):
        text = text.split(None, 1)[1] if " " in text else ""
    text = MACROS.get(text.lower(), text)
    fields = text.split()
    if len(fields) != 5:
        raise ValueError(f"{schedule!r} is not a five-field cron schedule")
    minute, hour, day_of_month, month, day_of_week = fields
    parsed: list[frozenset[int]] = []
    for name, value, low, high, names in (
        ("minute", minute, 0, 59, None),
        ("hour", hour, 0, 23, None),
        ("day of month", day_of_month, 1, 31, None),
        ("month", month, 1, 12, _MONTH_NAMES),
        ("day of week", day_of_week, 0, 7, _DAY_NAMES),
    ):
        try:
            parsed.append(_field(value, low, high, names))
        except ValueError as error:
            raise ValueError(f"{name} field {value!r}: {error}") from None
    return CronSchedule(
        minutes=parsed[0],
        hours=parsed[1],
        days_of_month=parsed[2],
        months=parsed[3],
        days_of_week=frozenset(day % 7 for day in parsed[4]),
        day_of_month_any=day_of_month in ("*", "?"),
        day_of_week_any=day_of_week in ("*", "?"),
    )
