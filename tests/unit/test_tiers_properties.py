"""Properties of the path classification (stackconfig/tiers.py `tier_for_path`): the precedence
the edge rules and the Worker share, over generated paths."""

from __future__ import annotations

from hypothesis import assume, given
from hypothesis import strategies as st

from stackconfig.adr import TIER_NAMES
from stackconfig.tiers import (
    DEFAULT_BYPASS_PATHS,
    MEDIUM_PATH_PREFIXES,
    SHORT_PATH_PREFIXES,
    STATIC_EXTENSIONS,
    tier_for_path,
)

segment = st.from_regex(r"[A-Za-z0-9_-]{0,12}", fullmatch=True)
tails = st.lists(segment, max_size=4).map(lambda parts: "".join(f"/{p}" for p in parts))
extensions = st.sampled_from(STATIC_EXTENSIONS)
any_path = st.text(max_size=40).map(lambda text: "/" + text)


@given(any_path)
def test_every_path_gets_a_known_tier_or_none(path: str) -> None:
    assert tier_for_path(path) in (*TIER_NAMES, None)


@given(st.sampled_from(DEFAULT_BYPASS_PATHS), tails, st.one_of(st.just(""), extensions))
def test_a_bypassed_path_is_never_cached_whatever_it_ends_in(
    prefix: str, tail: str, extension: str
) -> None:
    path = prefix + tail + (f"/file.{extension}" if extension else "")
    assert tier_for_path(path) is None


@given(st.sampled_from((*MEDIUM_PATH_PREFIXES, *SHORT_PATH_PREFIXES, "/")), tails, extensions)
def test_a_static_extension_wins_over_any_prefix(prefix: str, tail: str, extension: str) -> None:
    path = f"{prefix}{tail}/asset.{extension}"
    assume(not path.startswith(DEFAULT_BYPASS_PATHS))
    assert tier_for_path(path) == "long"
    assert tier_for_path(f"{prefix}{tail}/ASSET.{extension.upper()}") == "long"


@given(st.sampled_from(SHORT_PATH_PREFIXES), tails)
def test_a_short_prefix_wins_over_the_medium_prefix_it_extends(prefix: str, tail: str) -> None:
    assert tier_for_path(prefix + tail) == "short"


@given(st.sampled_from(MEDIUM_PATH_PREFIXES), tails)
def test_a_medium_prefix_alone_is_medium(prefix: str, tail: str) -> None:
    path = prefix + tail
    assume(not path.startswith(SHORT_PATH_PREFIXES))
    assert tier_for_path(path) == "medium"


@given(any_path, st.sampled_from(DEFAULT_BYPASS_PATHS))
def test_classification_only_depends_on_the_rules_given(path: str, bypass: str) -> None:
    # Without rules nothing is cached; a bypass list only ever removes paths from the cache.
    assert tier_for_path(path, rules=()) is None
    if tier_for_path(path, bypass_paths=(*DEFAULT_BYPASS_PATHS, bypass)) is not None:
        assert tier_for_path(path) is not None
