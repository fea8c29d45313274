"""The versions docs/redis-versions.md and the README state are the ones in use."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from stackconfig.config import RedisConfig
from tests.support.tools import require_tool

ROOT = Path(__file__).parents[2]


def test_the_pods_image_is_the_version_the_docs_name() -> None:
    image_version = RedisConfig().image.split(":", 1)[1].split("@", 1)[0]
    assert f"redis:{image_version}" in (ROOT / "README.md").read_text()
    assert f"`redis:{image_version}`" in (ROOT / "docs" / "redis-versions.md").read_text()


def test_the_local_redis_server_is_the_version_the_docs_name() -> None:
    output = subprocess.run(
        [require_tool("redis-server"), "--version"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    match = re.search(r"v=(\d+\.\d+\.\d+)", output)
    assert match is not None, output
    version = match[1]
    assert f"`redis-server` {version}" in (ROOT / "README.md").read_text(), (
        f"the lab runs redis-server {version}: update the README and docs/redis-versions.md"
    )
    assert f"| {version} |" in (ROOT / "docs" / "redis-versions.md").read_text()
