"""Counts in output read as English: `1 key`, `2 keys`, `1 prefix`, `3 prefixes`."""

from __future__ import annotations

_PLURALS = {"key": "keys", "file": "files", "prefix": "prefixes", "tag": "tags"}
_SINGULARS = {plural: singular for singular, plural in _PLURALS.items()}


def count(number: int, singular: str) -> str:
    """`number` with `singular` or its plural, as English wants it."""
    word = singular if number == 1 else _PLURALS.get(singular, singular + "s")
    return f"{number} {word}"


def count_plural(number: int, plural: str) -> str:
    """`count` for a noun given in the plural (`files`, `prefixes`, `tags`)."""
    return count(number, _SINGULARS.get(plural, plural))
