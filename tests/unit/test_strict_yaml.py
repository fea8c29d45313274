"""The strict reader of YAML users write (stackconfig/strict_yaml.py): duplicated and non-string
keys refused, nesting bounded before the document is parsed, one line naming where."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from stackconfig.strict_yaml import (
    MAX_NESTING,
    NestingError,
    describe_yaml_error,
    load_strict_yaml,
)


def nested(depth: int) -> Any:
    """A document `depth` levels deep, counting the scalar at the bottom."""
    document: Any = "leaf"
    for level in range(depth - 1):
        document = {"k": document} if level % 2 else [document]
    return document


def refusal(text: str) -> str:
    with pytest.raises(yaml.YAMLError) as raised:
        load_strict_yaml(text)
    return describe_yaml_error(raised.value)


@pytest.mark.parametrize("flow", [True, False], ids=["flow", "block"])
def test_the_deepest_allowed_document_loads_and_one_more_level_is_refused(flow: bool) -> None:
    deepest = nested(MAX_NESTING)
    assert load_strict_yaml(yaml.safe_dump(deepest, default_flow_style=flow)) == deepest
    with pytest.raises(NestingError):
        load_strict_yaml(yaml.safe_dump(nested(MAX_NESTING + 1), default_flow_style=flow))


def test_a_bracket_bomb_is_refused_at_the_first_bracket_too_deep() -> None:
    # safe_load spends seconds on this (the scanner is quadratic in open brackets) and then
    # recurses once per level; the strict reader stops at column 35.
    text = "a: " + "[" * 100_000 + "]" * 100_000
    assert refusal(text) == f"line 1, column {4 + MAX_NESTING - 1}: nested more than 32 levels deep"


def test_block_nesting_is_refused_naming_its_line() -> None:
    text = "".join(f"{'  ' * level}k{level}:\n" for level in range(40)) + "  " * 40 + "leaf\n"
    # k0 opens the first mapping on line 1, k32 the 33rd on line 33.
    assert refusal(text).startswith(f"line {MAX_NESTING + 1}, column ")


def test_an_alias_cannot_graft_a_deep_subtree_onto_a_deep_place() -> None:
    deep = json.dumps(nested(MAX_NESTING - 2))
    text = f"a: &deep {deep}\nb: " + "[" * 20 + "*deep" + "]" * 20
    assert "nested more than 32 levels deep" in refusal(text)


def test_duplicated_and_non_string_keys_are_refused_naming_the_line() -> None:
    assert refusal("a: 1\nb: 2\na: 3\n") == (
        "line 3, column 1: the key 'a' is given twice (first on line 1); YAML would silently "
        "keep only the last one"
    )
    assert refusal("1: one\n") == "line 1, column 1: the key 1 is not a string"


def test_tabs_get_a_hint() -> None:
    assert refusal("a:\n\tb: 1\n").endswith("; indent with spaces, not tabs")


nestable = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=5),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=5), children, max_size=3)
    ),
    max_leaves=20,
)


@given(nestable, st.booleans())
def test_every_shallow_document_reads_as_safe_load_reads_it(document: Any, flow: bool) -> None:
    text = yaml.safe_dump(document, default_flow_style=flow)
    assert load_strict_yaml(text) == yaml.safe_load(text)
