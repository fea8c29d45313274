"""Safe lookups in resource properties (pure): during a preview any value may be absent.

Shared by the cost model and the policy pack. Properties arrive as plain dicts and lists from the
offline plan, and as read-only Mapping/Sequence proxies from the policy engine, so every check here
is against the abstract types; numbers may arrive as floats (`3.0`) from the engine's JSON.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, cast

from stackconfig.quantity import parse_quantity


def is_sequence(value: Any) -> bool:
    """A list-like value (a list or the engine's list proxy), not a string."""
    return isinstance(value, Sequence) and not isinstance(value, str | bytes)


def get_path(props: Mapping[str, Any], *path: str | int) -> Any:
    """`props[path[0]][path[1]]...`, or None as soon as a step is missing or of the wrong kind."""
    current: Any = props
    for step in path:
        if isinstance(step, int):
            if not is_sequence(current):
                return None
            items = cast(Sequence[Any], current)
            if not -len(items) <= step < len(items):
                return None
            current = items[step]
        else:
            if not isinstance(current, Mapping):
                return None
            current = cast(Mapping[str, Any], current).get(step)
    return current


def as_mapping(value: Any) -> Mapping[str, Any]:
    return cast(Mapping[str, Any], value) if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    return list(cast(Sequence[Any], value)) if is_sequence(value) else []


def as_str(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def as_number(value: Any) -> float | None:
    """A finite number from a number or a numeric string; None otherwise (bools are not numbers)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return None
    else:
        return None
    return number if math.isfinite(number) else None


def as_int(value: Any) -> int | None:
    number = as_number(value)
    return int(number) if number is not None and number == int(number) else None


def quantity(value: Any) -> float | None:
    """A Kubernetes quantity (`8Gi`, `500m`, 2) as a number; None when absent or malformed."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str):
        return None
    try:
        return float(parse_quantity(value))
    except ValueError:
        return None


def as_bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None
