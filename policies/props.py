"""Safe lookups in resource properties: during a preview any value may be unknown or absent."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast


def get_path(props: Mapping[str, Any], *path: str | int) -> Any:
    """`props[path[0]][path[1]]...`, or None as soon as a step is missing or of the wrong kind."""
    current: Any = props
    for step in path:
        if isinstance(step, int):
            if not isinstance(current, list) or step >= len(cast(list[Any], current)):
                return None
            current = cast(list[Any], current)[step]
        else:
            if not isinstance(current, Mapping):
                return None
            current = cast(Mapping[str, Any], current).get(step)
    return current


def as_mapping(value: Any) -> Mapping[str, Any]:
    return cast(Mapping[str, Any], value) if isinstance(value, Mapping) else {}


def as_list(value: Any) -> list[Any]:
    return cast(list[Any], value) if isinstance(value, list) else []
