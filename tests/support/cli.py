"""Typer applications invoked in-process, as `typer.testing.CliRunner` does, with each app's click
command built once per test process.

typer builds the click command from every command's signature on each `invoke` (about 20 ms for
cachectl), and the CLI tests invoke it a few hundred times. A click command is made to be run
many times: each run gets its own context.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from unittest import mock

import typer
import typer.main
from typer.testing import CliRunner, Result

_command = functools.cache(typer.main.get_command)


def invoke(
    app: typer.Typer, args: Sequence[str], env: Mapping[str, str | None] | None = None
) -> Result:
    """`CliRunner().invoke(app, args, env=env)` without rebuilding the app's command."""
    with mock.patch("typer.testing._get_command", _command):
        return CliRunner().invoke(app, list(args), env=env)
