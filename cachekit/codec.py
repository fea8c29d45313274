"""How cached values are stored: a 16-byte header, then the payload.

The header records the payload's format, so a reader decodes what any writer wrote (a service
can move from JSON to MessagePack, or change its compression threshold, without a flush), and
the two numbers the probabilistic early refresh needs without a second round trip (PTTL):

    magic  b"ck"   2 bytes   tells a kit value from anything else under the key
    format         1 byte    1 = JSON, 2 = MessagePack
    flags          1 byte    bit 0: payload compressed with zlib
    expires_at_ms  8 bytes   when the writer's TTL ends (Unix time, ms)
    load_ms        4 bytes   how long the loader took (the cost of a recomputation)

A value that is not a kit value reads as a miss (and is overwritten), never as an error.
"""

from __future__ import annotations

import enum
import json
import struct
import zlib
from dataclasses import dataclass
from typing import Any

_HEADER = struct.Struct(">2sBBQI")
_MAGIC = b"ck"
_COMPRESSED = 0x01
DEFAULT_COMPRESS_ABOVE = 1024
"""Bytes: smaller payloads gain little from zlib and pay its CPU on every read."""


class Format(enum.IntEnum):
    """Serialization of a cached value."""

    JSON = 1
    MSGPACK = 2


class CodecError(ValueError):
    """A value cannot be encoded in the chosen format (not JSON- or MessagePack-serialisable)."""


@dataclass(frozen=True)
class Envelope:
    """A decoded value with what the header said about it."""

    value: Any
    expires_at_ms: int
    load_ms: int
    format: Format
    compressed: bool


def _msgpack() -> Any:
    try:
        import msgpack  # pyright: ignore[reportMissingTypeStubs]
    except ImportError as error:  # pragma: no cover - msgpack is pinned in requirements
        raise CodecError("MessagePack needs the 'msgpack' package") from error
    return msgpack


def encode(
    value: object,
    *,
    format: Format = Format.JSON,
    compress_above: int | None = DEFAULT_COMPRESS_ABOVE,
    expires_at_ms: int = 0,
    load_ms: int = 0,
) -> bytes:
    """`value` with its header; compressed when the payload exceeds `compress_above` bytes
    (None: never)."""
    try:
        if format is Format.JSON:
            payload = json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
        else:
            payload = bytes(_msgpack().packb(value, use_bin_type=True))
    except (TypeError, ValueError, OverflowError) as error:
        raise CodecError(
            f"cannot encode {type(value).__name__} as {format.name}: {error}"
        ) from error
    flags = 0
    if compress_above is not None and len(payload) > compress_above:
        payload, flags = zlib.compress(payload, 6), _COMPRESSED
    header = _HEADER.pack(
        _MAGIC, int(format), flags, max(0, expires_at_ms), min(max(0, load_ms), 0xFFFFFFFF)
    )
    return header + payload


def decode(data: bytes) -> Envelope | None:
    """The value stored by `encode`, or None when `data` is not a readable kit value."""
    if len(data) < _HEADER.size:
        return None
    magic, format_number, flags, expires_at_ms, load_ms = _HEADER.unpack_from(data)
    if magic != _MAGIC or format_number not in (1, 2):
        return None
    payload = data[_HEADER.size :]
    try:
        if flags & _COMPRESSED:
            payload = zlib.decompress(payload)
        fmt = Format(format_number)
        if fmt is Format.JSON:
            value: Any = json.loads(payload)
        else:
            value = _msgpack().unpackb(payload, raw=False)
    except Exception:  # a payload that does not decode is a miss, whatever the library raises
        return None
    return Envelope(value, expires_at_ms, load_ms, fmt, bool(flags & _COMPRESSED))
