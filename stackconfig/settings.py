"""Config settings declared once, then validated and documented from that one declaration.

A config section is a frozen dataclass whose fields are declared with `setting(...)`: the default,
the documentation (the README's config reference is generated from it) and the well-formedness rule
live on the field itself, so there is one source of truth for all three. `read_section` turns a raw
YAML/JSON object into the dataclass and reports every problem at once, each naming its full key.
"""

from __future__ import annotations

import dataclasses
import difflib
import enum
import ipaddress
import math
import re
import types
import typing
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, TypeVar, cast

from stackconfig.cron import parse_cron
from stackconfig.quantity import QUANTITY_EXAMPLES, parse_quantity

T = TypeVar("T")

NAMESPACE = "cache-platform"

Check = Callable[[Any], "str | None"]
"""A rule on an already type-checked value: returns what is allowed when the value breaks it."""


@dataclass(frozen=True)
class SettingInfo:
    doc: str
    why: str = ""
    checks: tuple[Check, ...] = ()
    allowed: str = ""
    merge: bool = False


def setting(
    default: T,
    doc: str,
    *,
    why: str = "",
    checks: tuple[Check, ...] = (),
    allowed: str = "",
    merge: bool = False,
) -> T:
    """Declare a config field: its default, what it is, why it defaults so, and its rules.

    `merge=True` on a mapping of objects: entries given in config are read over the default entry
    of the same name, and default entries not given are kept.
    """
    info = SettingInfo(doc=doc, why=why, checks=checks, allowed=allowed, merge=merge)
    if isinstance(default, (list, dict, set)):
        raise TypeError("mutable defaults are not allowed; use a tuple or a frozen mapping")
    if dataclasses.is_dataclass(default):
        frozen_default = default
        return cast(T, field(default_factory=lambda: frozen_default, metadata={"setting": info}))
    if isinstance(default, Mapping):
        frozen_mapping = cast(Mapping[str, Any], default)
        return cast(T, field(default_factory=lambda: frozen_mapping, metadata={"setting": info}))
    return cast(T, field(default=default, metadata={"setting": info}))


def info_of(f: dataclasses.Field[Any]) -> SettingInfo:
    found = f.metadata.get("setting")
    return found if isinstance(found, SettingInfo) else SettingInfo(doc="")


def camel(name: str) -> str:
    """The YAML key of a Python field name (replicas_per_primary -> replicasPerPrimary)."""
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


class Quantity(str):
    """Marker type: a Kubernetes quantity string (`8Gi`, `500m`)."""

    __slots__ = ()


class Duration(str):
    """Marker type: a Prometheus duration (`15d`, `2h30m`)."""

    __slots__ = ()


_DURATION = re.compile(r"^([0-9]{1,6}(ms|s|m|h|d|w|y))+$")


@dataclass
class Problems:
    """Every problem found, one line each, in the order found."""

    lines: list[str] = field(default_factory=lambda: list[str]())

    def add(self, key: str, value: Any, allowed: str) -> None:
        self.lines.append(f"{NAMESPACE}:{key}: {_show(value)} is not allowed; {allowed}")

    def missing(self, key: str, allowed: str) -> None:
        self.lines.append(f"{NAMESPACE}:{key}: is required; {allowed}")


def _show(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, (dict, list)):
        return "an object" if isinstance(value, dict) else "a list"
    return repr(value)


_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Co", "Cs", "Zl", "Zp"})
"""Control, format (bidi marks, zero-width), private-use and surrogate characters, line and
paragraph separators: a name holding one renders differently from what it is (Trojan Source)."""


def invisible_characters(text: str) -> list[str]:
    """The code points of `text` that a reader cannot see for what they are, as U+XXXX."""
    return [
        f"U+{ord(char):04X}" for char in text if unicodedata.category(char) in _INVISIBLE_CATEGORIES
    ]


def _invisible_problem(text: str) -> str | None:
    found = invisible_characters(text)
    if not found:
        return None
    return "control, bidi and other invisible characters are not allowed (found " + (
        ", ".join(dict.fromkeys(found)) + ")"
    )


def _type_name(hint: Any) -> str:
    origin = typing.get_origin(hint)
    if hint is bool:
        return "a boolean (true/false)"
    if hint is int:
        return "an integer"
    if hint is float:
        return "a number"
    if hint is Quantity:
        return f"a Kubernetes quantity ({QUANTITY_EXAMPLES})"
    if hint is Duration:
        return "a duration such as 15d, 12h, 90m"
    if hint is str:
        return "a string"
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        members: list[enum.Enum] = list(hint)
        return "one of " + ", ".join(repr(m.value) for m in members)
    if origin is tuple:
        return "a list of " + _type_name(typing.get_args(hint)[0]).removeprefix("a ") + "s"
    if origin in (Mapping, dict) or _is_dataclass_type(hint):
        return "an object"
    return repr(cast(object, hint))


def _is_dataclass_type(hint: Any) -> bool:
    return isinstance(hint, type) and dataclasses.is_dataclass(hint)


def _is_optional(hint: Any) -> tuple[bool, Any]:
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(hint)) == 2:
            return True, args[0]
    return False, hint


def _convert(value: Any, hint: Any, key: str, problems: Problems, base: Any = None) -> Any:
    """`value` as `hint`, or a problem recorded and None returned."""
    optional, inner = _is_optional(hint)
    if value is None:
        if optional:
            return None
        problems.add(key, value, f"expected {_type_name(inner)}")
        return None
    hint = inner
    origin = typing.get_origin(hint)
    expected = f"expected {_type_name(hint)}"
    if hint is bool:
        if isinstance(value, bool):
            return value
        problems.add(key, value, expected)
        return None
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        problems.add(key, value, expected)
        return None
    if hint is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                number = float(value)
            except OverflowError:  # an integer beyond any float
                number = math.inf
            if math.isfinite(number):
                return number
            problems.add(key, value, "expected a finite number")
            return None
        problems.add(key, value, expected)
        return None
    if hint is Quantity:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str):
            try:
                parse_quantity(value)
                return Quantity(value)
            except ValueError:
                pass
        problems.add(key, value, expected)
        return None
    if hint is Duration:
        if isinstance(value, str) and _DURATION.match(value):
            return Duration(value)
        problems.add(key, value, expected)
        return None
    if hint is str:
        if isinstance(value, str):
            invisible = _invisible_problem(value)
            if invisible is None:
                return value
            problems.add(key, value, invisible)
            return None
        problems.add(key, value, expected)
        return None
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError:
            problems.add(key, value, expected)
            return None
    if origin is tuple:
        if not isinstance(value, list):
            problems.add(key, value, expected)
            return None
        element = typing.get_args(hint)[0]
        items = [
            _convert(item, element, f"{key}[{index}]", problems)
            for index, item in enumerate(cast(list[Any], value))
        ]
        return tuple(items)
    if origin in (Mapping, dict):
        if not isinstance(value, dict):
            problems.add(key, value, expected)
            return None
        element = typing.get_args(hint)[1]
        merged: dict[str, Any] = dict(cast(Mapping[str, Any], base)) if base is not None else {}
        for name, item in cast(dict[Any, Any], value).items():
            if not isinstance(name, str):
                problems.add(f"{key}.{name}", item, "keys must be strings")
                continue
            invisible = _invisible_problem(name)
            if invisible is not None:
                problems.add(f"{key}.{name!r}", item, f"in the key: {invisible}")
                continue
            merged[str(name)] = _convert(
                item, element, f"{key}.{name}", problems, merged.get(str(name))
            )
        return MappingProxyType(merged)
    if _is_dataclass_type(hint):
        return read_section(cast(type[Any], hint), value, key, problems, base)
    raise TypeError(f"unsupported setting type {hint!r} at {key}")  # a bug in a section class


def read_section(
    cls: type[T], raw: Any, key: str, problems: Problems, base: T | None = None
) -> T | None:
    """Read `raw` (a YAML object) into the dataclass `cls`, recording every problem.

    Keys not given keep their value in `base` when one is given, else the field's default.
    """
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        problems.add(key, raw, "expected an object")
        return None
    given = cast(dict[Any, Any], raw)
    hints = typing.get_type_hints(cls)
    fields = {camel(f.name): f for f in dataclasses.fields(cast(Any, cls))}
    for unknown in sorted(set(given) - set(fields), key=str):
        close = difflib.get_close_matches(str(unknown), list(fields), n=1)
        hint = f"did you mean '{close[0]}'?" if close else "known keys: " + ", ".join(fields)
        problems.add(f"{key}.{unknown}", given[unknown], f"unknown key; {hint}")
    values: dict[str, Any] = {}
    ok = True
    for yaml_key, f in fields.items():
        if yaml_key not in given:
            continue
        before = len(problems.lines)
        merge_base = getattr(cls(), f.name) if info_of(f).merge else None
        converted = _convert(
            given[yaml_key], hints[f.name], f"{key}.{yaml_key}", problems, merge_base
        )
        if len(problems.lines) > before:
            ok = False
            continue
        for check in info_of(f).checks:
            allowed = check(converted)
            if allowed is not None:
                problems.add(f"{key}.{yaml_key}", given[yaml_key], allowed)
                ok = False
                break
        values[f.name] = converted
    if not ok:
        return None
    if base is not None:
        return dataclasses.replace(cast(Any, base), **values)
    return cls(**values)


# --- reusable checks -------------------------------------------------------------------------


def _number(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:g}"


def non_empty(value: Any) -> str | None:
    return None if value else "must not be empty"


def quantity_between(minimum: str, maximum: str) -> Check:
    """A quantity within [minimum, maximum], both given as quantities such as '1Mi' and '1Ti'."""
    low, high = parse_quantity(minimum), parse_quantity(maximum)

    def check(value: Any) -> str | None:
        ok = low <= parse_quantity(str(value)) <= high
        return None if ok else f"must be between {minimum} and {maximum}"

    return check


def at_least(minimum: float) -> Check:
    def check(value: Any) -> str | None:
        return None if value >= minimum else f"must be at least {_number(minimum)}"

    return check


def between(minimum: float, maximum: float) -> Check:
    def check(value: Any) -> str | None:
        ok = minimum <= value <= maximum
        return None if ok else f"must be between {_number(minimum)} and {_number(maximum)}"

    return check


def matches(pattern: str, description: str) -> Check:
    compiled = re.compile(pattern)

    def check(value: Any) -> str | None:
        if value is None:
            return None
        values = cast(tuple[Any, ...], value) if isinstance(value, tuple) else (value,)
        bad = [v for v in values if not compiled.fullmatch(str(v))]
        return f"expected {description}" if bad else None

    return check


def positive_quantity(value: Any) -> str | None:
    return None if parse_quantity(str(value)) > 0 else "must be greater than zero"


DNS_LABEL = matches(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", "a DNS-1123 label (a-z, 0-9, '-')")
HOSTNAME = matches(
    r"(?=.{1,253}$)([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?\.)+[a-z]{2,63}",
    "a lowercase DNS name such as shop.example.com",
)


def IP_ADDRESS(value: Any) -> str | None:
    if value is None:
        return None
    try:
        ipaddress.ip_address(str(value))
    except ValueError:
        return "expected an IPv4 or IPv6 address such as 203.0.113.10"
    return None


CLOUDFLARE_ID = matches(r"[0-9a-f]{32}", "a 32-character hex Cloudflare id")
IMAGE_REF = matches(
    r"[a-z0-9]+([._/-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9._-]+)*(:[A-Za-z0-9_.-]{1,128})?(@sha256:[0-9a-f]{64})?",
    "an image reference pinned by tag or digest, such as redis:7.2.6",
)


def pinned_image(value: Any) -> str | None:
    text = str(value)
    if "@sha256:" in text or ":" in text.rsplit("/", 1)[-1]:
        tag = text.rsplit(":", 1)[-1]
        return None if tag != "latest" else "must be pinned to a version, not 'latest'"
    return "must be pinned to a version tag or digest, such as redis:7.2.6"


def cron_schedule(value: Any) -> str | None:
    try:
        parse_cron(str(value))
    except ValueError as error:
        return f"expected a 5-field cron schedule such as '0 3 * * *' ({error})"
    return None
