"""Finding the external tools that integration tests need.

Locally a missing tool skips the test with a reason naming it; in CI (CI=true) a missing tool is
a failure, because `make test` is supposed to have installed it.
"""

from __future__ import annotations

import os
import shutil

import pytest

# Debian puts some tools outside PATH for non-login shells; look there too.
_EXTRA_DIRS = ("/usr/sbin", "/usr/bin", "/usr/local/bin")


def require_tool(name: str) -> str:
    """Return the absolute path of `name`, or skip (locally) / fail (CI) naming the tool."""
    found = shutil.which(name) or next(
        (os.path.join(d, name) for d in _EXTRA_DIRS if os.access(os.path.join(d, name), os.X_OK)),
        None,
    )
    if found:
        return found
    message = f"required tool '{name}' is not installed (run `make test` to install it)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on `host` right now, together with port + 10000: any test server may be a
    cluster-mode redis-server, which also needs its bus port (and a port of at most 55535)."""
    from lab.cluster import free_node_port

    return free_node_port(host)
