"""YAML the tests read: the plan's manifests and the repository's own files.

Parsed with libyaml (`yaml.CSafeLoader`), which resolves the same types as `yaml.safe_load` at a
fraction of its cost: the plan's manifests hold the dashboards and the rule files, and the
pure-Python parser spent longer on them than the plans took to write them. Input a user writes
(stack files, warm plans) is parsed by the project's own bounded loader, never by this one.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# PyYAML's wheels carry libyaml; a build without it parses the same documents, only slower.
_LOADER: type[yaml.SafeLoader] = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_yaml(text: str) -> Any:
    """The document in `text`, as `yaml.safe_load` reads it."""
    return yaml.load(text, Loader=_LOADER)


def read_yaml(path: Path) -> Any:
    """The document of the file at `path`, as `yaml.safe_load` reads it."""
    return parse_yaml(path.read_text())
