"""YAML a user writes (stack files, warm plans), read strictly and refused early when hostile.

`yaml.safe_load` keeps the last of two equal keys without a word, accepts any key type, and
parses a document nested thousands of levels deep before anything can look at it: the
pure-Python scanner pays for each open bracket on every token (quadratic), and the composer
recurses once per level. Here the scanner stops at the first collection opened deeper than
`max_nesting`, so such a file is refused in milliseconds, naming its line; the composed
document is measured again, since an alias can graft a deep subtree onto a deep place.
"""

from __future__ import annotations

from typing import Any, cast

import yaml
from yaml.error import Mark
from yaml.nodes import MappingNode, Node, SequenceNode

MAX_NESTING = 32
"""Deeper than any real stack file or warm plan; YAML and our readers recurse, so a bomb is
refused early."""


class NestingError(yaml.MarkedYAMLError):
    """The document nests collections deeper than the reader allows."""

    def __init__(self, max_nesting: int, mark: Mark | None) -> None:
        super().__init__(problem=f"nested more than {max_nesting} levels deep", problem_mark=mark)


class StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicated keys, non-string keys and nesting past `max_nesting`."""

    max_nesting = MAX_NESTING

    def _open_collections(self) -> int:
        # Open block collections are the scanner's indent stack, open flow collections its
        # flow level; a scalar leaf adds none, so the scanner never refuses a document that
        # `nesting_depth` accepts.
        return len(cast(list[int], self.indents)) + cast(int, self.flow_level)  # pyright: ignore[reportUnknownMemberType, reportAttributeAccessIssue]

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        if self._open_collections() + 1 > self.max_nesting:
            raise NestingError(self.max_nesting, self.get_mark())  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        super().fetch_flow_collection_start(TokenClass)  # pyright: ignore[reportUnknownMemberType, reportAttributeAccessIssue]

    def add_indent(self, column: int) -> bool:
        added = cast(bool, super().add_indent(column))  # pyright: ignore[reportUnknownMemberType, reportAttributeAccessIssue]
        if added and self._open_collections() > self.max_nesting:
            raise NestingError(self.max_nesting, self.get_mark())  # pyright: ignore[reportUnknownMemberType, reportUnknownArgumentType]
        return added

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, Node] = {}
        for key_node, _ in node.value:
            key = cast(Any, self.construct_object(key_node, deep=True))  # pyright: ignore[reportUnknownMemberType]
            if not isinstance(key, str):
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is not a string", key_node.start_mark
                )
            if key in seen:
                first = seen[key].start_mark.line + 1
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"the key {key!r} is given twice (first on line {first}); YAML would "
                    "silently keep only the last one",
                    key_node.start_mark,
                )
            seen[key] = key_node
        return cast(dict[Any, Any], super().construct_mapping(node, deep=deep))  # pyright: ignore[reportUnknownMemberType]


def nesting_depth(node: Node, limit: int = MAX_NESTING) -> int:
    """Levels of `node`, counting its scalar leaves; stops counting past `limit`."""
    depth, level = 0, [node]
    while level:
        depth += 1
        if depth > limit:
            return depth
        children: list[Node] = []
        for item in level:
            if isinstance(item, MappingNode):
                for key, value in cast(list[tuple[Node, Node]], item.value):
                    children += [key, value]
            elif isinstance(item, SequenceNode):
                children += cast(list[Node], item.value)
        level = children
    return depth


def load_strict_yaml(text: str, max_nesting: int = MAX_NESTING) -> Any:
    """The single document in `text`; yaml.MarkedYAMLError (NestingError when too deep) or
    yaml.YAMLError naming what is wrong otherwise."""
    loader = StrictLoader(text)
    loader.max_nesting = max_nesting
    try:
        node: Node | None = loader.get_single_node()  # pyright: ignore[reportUnknownMemberType]
        if node is None:
            return None
        if nesting_depth(node, max_nesting) > max_nesting:
            raise NestingError(max_nesting, node.start_mark)
        return cast(Any, loader.construct_document(node))  # pyright: ignore[reportUnknownMemberType]
    finally:
        loader.dispose()  # pyright: ignore[reportUnknownMemberType]


def describe_yaml_error(error: yaml.YAMLError) -> str:
    """One line for a refused document: where (line and column) and what is wrong."""
    if isinstance(error, yaml.MarkedYAMLError):
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = " ".join(str(error.problem or error.context or "malformed YAML").split())
        hint = "; indent with spaces, not tabs" if "'\\t'" in problem else ""
        return f"{where}{problem}{hint}"
    return f"malformed YAML: {' '.join(str(error).split())}"
