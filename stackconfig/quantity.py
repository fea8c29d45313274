"""Kubernetes resource quantities (`8Gi`, `500m`, `1.5`) parsed into numbers.

The grammar is the one of k8s.io/apimachinery `resource.Quantity`: a signed decimal number followed
by a binary suffix (Ki…Ei), a decimal suffix (n, u, m, "", k, M, G, T, P, E) or a decimal exponent.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

_BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
_DECIMAL = {
    "n": Decimal("1e-9"),
    "u": Decimal("1e-6"),
    "m": Decimal("1e-3"),
    "": Decimal(1),
    "k": Decimal("1e3"),
    "M": Decimal("1e6"),
    "G": Decimal("1e9"),
    "T": Decimal("1e12"),
    "P": Decimal("1e15"),
    "E": Decimal("1e18"),
}
_QUANTITY = re.compile(
    r"^(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[eE][+-]?[0-9]+|[numkMGTPE])?$"
)

_MAX_EXPONENT = 18
QUANTITY_EXAMPLES = "e.g. 8Gi, 512Mi, 1G, 500m"


def parse_quantity(text: str) -> Decimal:
    """The value of a Kubernetes quantity; ValueError when `text` is not one."""
    match = _QUANTITY.match(text.strip()) if isinstance(text, str) else None  # pyright: ignore[reportUnnecessaryIsInstance]
    if match is None:
        raise ValueError(f"{text!r} is not a Kubernetes quantity ({QUANTITY_EXAMPLES})")
    try:
        number = Decimal(match["number"])
    except InvalidOperation as error:  # pragma: no cover - the regex admits only decimals
        raise ValueError(f"{text!r} is not a Kubernetes quantity") from error
    suffix = match["suffix"] or ""
    is_exponent = suffix not in _BINARY and len(suffix) > 1
    if is_exponent and abs(int(suffix[1:])) > _MAX_EXPONENT:
        # Kubernetes stores quantities as scaled int64: nothing beyond ~1e18 is a quantity.
        raise ValueError(
            f"{text!r} is out of range for a Kubernetes quantity (exponents e-{_MAX_EXPONENT} to "
            f"e{_MAX_EXPONENT}; {QUANTITY_EXAMPLES})"
        )
    if suffix in _BINARY:
        return number * _BINARY[suffix]
    if suffix[:1] in ("e", "E") and len(suffix) > 1:
        return number * (Decimal(10) ** int(suffix[1:]))
    return number * _DECIMAL[suffix]


def quantity_bytes(text: str) -> int:
    """A memory or storage quantity in whole bytes (rounded up, as Kubernetes does)."""
    value = parse_quantity(text)
    whole = int(value)
    return whole + 1 if value > whole else whole


def format_bytes(size: int) -> str:
    """A byte count in the largest binary unit that divides it (8589934592 -> 8Gi)."""
    for suffix, factor in sorted(_BINARY.items(), key=lambda item: -item[1]):
        if size % factor == 0 and size >= factor:
            return f"{size // factor}{suffix}"
    return str(size)
