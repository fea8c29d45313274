"""Properties of Kubernetes quantity parsing (stackconfig/quantity.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from stackconfig.quantity import format_bytes, parse_quantity, quantity_bytes

BINARY = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}
DECIMAL = {"m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
counts = st.integers(min_value=0, max_value=10**6)


@given(counts, st.sampled_from(sorted(BINARY)))
def test_a_binary_suffix_multiplies_by_its_power_of_two(count: int, suffix: str) -> None:
    assert quantity_bytes(f"{count}{suffix}") == count * BINARY[suffix]


@given(counts, st.sampled_from(sorted(DECIMAL)))
def test_a_decimal_suffix_multiplies_by_its_power_of_ten(count: int, suffix: str) -> None:
    assert parse_quantity(f"{count}{suffix}") == count * Decimal(10) ** DECIMAL[suffix]


@given(counts, st.integers(min_value=-6, max_value=12))
def test_an_exponent_is_the_same_as_its_decimal_suffix(count: int, exponent: int) -> None:
    assert parse_quantity(f"{count}e{exponent}") == count * Decimal(10) ** exponent


@given(st.integers(min_value=0, max_value=2**62))
def test_formatted_bytes_parse_back_to_the_same_size(size: int) -> None:
    assert quantity_bytes(format_bytes(size)) == size


@given(st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False))
def test_bytes_are_rounded_up_never_down(value: Decimal) -> None:
    parsed = quantity_bytes(f"{value}")
    assert value <= parsed < value + 1


@given(st.text(max_size=12))
def test_any_text_is_a_quantity_or_a_value_error_naming_it(text: str) -> None:
    try:
        parse_quantity(text)
    except ValueError as error:
        assert str(error).startswith(f"{text!r} is ")
        assert "Kubernetes quantity" in str(error)


@pytest.mark.parametrize("text", ["0E100", "1e19", "1e-19"])
def test_an_exponent_beyond_int64_is_out_of_range_saying_what_is_allowed(text: str) -> None:
    with pytest.raises(
        ValueError, match=r"is out of range for a Kubernetes quantity \(exponents e-18 to e18;"
    ):
        parse_quantity(text)


@pytest.mark.parametrize("text", ["8GB", "8 Gi", "Gi", "1.2.3", "--1", "8gi", "0x10"])
def test_near_misses_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is not a Kubernetes quantity"):
        parse_quantity(text)
