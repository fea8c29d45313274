"""Safe lookups in resource properties: during a preview any value may be unknown or absent.

The engine hands a policy read-only Mapping/Sequence proxies (not dicts and lists) that raise
`UnknownValueError` when an unknown value is read; the offline plan hands plain data. The lookups
here accept both (they live in cost/props.py, shared with the cost model).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast

from pulumi_policy import PolicyResource, PolicyResourceOptions

from cost.inventory import ResourceProps
from cost.props import (
    as_bool,
    as_int,
    as_list,
    as_mapping,
    as_number,
    as_str,
    get_path,
    is_sequence,
    quantity,
)

__all__ = [
    "REDACTED_SECRET",
    "as_bool",
    "as_int",
    "as_list",
    "as_mapping",
    "as_number",
    "as_str",
    "get_path",
    "is_sequence",
    "marked_secret",
    "plain",
    "quantity",
    "stack_props",
]

REDACTED_SECRET = "[secret]"
"""What the offline plan records in place of a value the program marked secret."""


def plain(value: Any) -> Any:
    """A deep copy as dicts and lists (the engine's proxies are neither)."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in cast(Mapping[Any, Any], value).items()}
    if is_sequence(value):
        return [plain(v) for v in cast(Sequence[Any], value)]
    return value


def stack_props(resources: Iterable[PolicyResource]) -> list[ResourceProps]:
    """(type, props) of every resource of a stack, as the cost model and inventory take them."""
    return [(r.resource_type, r.props) for r in resources]


def marked_secret(value: Any, prop: str, opts: PolicyResourceOptions | None) -> bool:
    """Whether the program marked `value` (found under the top-level property `prop`) secret.

    The Python policy SDK hands policies secret values unwrapped, so secretness is read from what
    survives: the offline plan's redaction ("[secret]" in place of the value) or, in the engine,
    the resource's `additionalSecretOutputs` naming the property.
    """
    if isinstance(value, str) and value == REDACTED_SECRET:
        return True
    secret_outputs = list(opts.additional_secret_outputs) if opts is not None else []
    return prop in secret_outputs
