"""The repository's Python sources as syntax trees, for the tests that read code instead of
running it (the layout, the test layout, mock tests that must await, the image's imports).

Each file is parsed once per test process: several of those tests walk every module, and the
sources do not change while the tests run. Callers must not modify the trees.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path


@functools.cache
def syntax_tree(path: Path) -> ast.Module:
    """The parsed source of the file at `path`."""
    return ast.parse(path.read_text(), str(path))
