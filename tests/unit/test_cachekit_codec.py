"""Stored values: the header records format and compression, so any reader decodes any writer."""

from __future__ import annotations

import pytest

from cachekit.codec import CodecError, Format, decode, encode

VALUE = {"id": 12345, "name": "Kettle", "tags": ["kitchen", "steel"], "price": 39.9}


@pytest.mark.parametrize("fmt", list(Format))
def test_round_trip_in_each_format(fmt: Format) -> None:
    envelope = decode(encode(VALUE, format=fmt, expires_at_ms=123, load_ms=45))
    assert envelope is not None
    assert (envelope.value, envelope.format, envelope.expires_at_ms, envelope.load_ms) == (
        VALUE,
        fmt,
        123,
        45,
    )


def test_msgpack_is_more_compact_than_json() -> None:
    assert len(encode(VALUE, format=Format.MSGPACK)) < len(encode(VALUE, format=Format.JSON))


def test_large_payloads_are_compressed_and_small_ones_not() -> None:
    big = {"text": "abc" * 2000}
    stored = encode(big, compress_above=1024)
    envelope = decode(stored)
    assert envelope is not None and envelope.compressed and envelope.value == big
    assert len(stored) < 1024
    small = decode(encode({"a": 1}, compress_above=1024))
    assert small is not None and not small.compressed
    never = decode(encode(big, compress_above=None))
    assert never is not None and not never.compressed


@pytest.mark.parametrize(
    "garbage",
    [
        b"",
        b"plain text value",
        b"ck\x09\x00" + b"\x00" * 12 + b"{}",  # unknown format
        b"ck\x01\x01" + b"\x00" * 12 + b"not zlib",  # says compressed, is not
    ],
)
def test_anything_else_reads_as_nothing(garbage: bytes) -> None:
    assert decode(garbage) is None


def test_an_unserialisable_value_is_a_codec_error() -> None:
    with pytest.raises(CodecError, match="cannot encode object as JSON"):
        encode(object())
