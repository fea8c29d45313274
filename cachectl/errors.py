"""How every cachectl command fails: one `error:` line on stderr and a non-zero exit, never a
traceback. Commands name the errors they know; the rest is mapped the same way everywhere."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Sequence
from typing import Any

import redis
import typer

Translation = tuple[type[BaseException] | tuple[type[BaseException], ...], Callable[[Any], str]]
"""(exception types, how to say what went wrong), tried in order before the common cases."""


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `message` as one error line; return the Exit to raise."""
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    return typer.Exit(code)


@contextlib.contextmanager
def one_line_errors(translations: Sequence[Translation] = ()) -> Generator[None]:
    """Every failure inside becomes one `error:` line and exit status 1 (130 on Ctrl-C)."""
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except KeyboardInterrupt:
        typer.echo("error: interrupted", err=True)
        raise typer.Exit(130) from None
    except Exception as error:
        for kinds, describe in translations:
            if isinstance(error, kinds):
                raise fail(describe(error)) from None
        if isinstance(error, redis.RedisError):
            raise fail(f"Redis: {error}") from None
        if isinstance(error, OSError):
            raise fail(f"{error.filename or ''} {error.strerror or error}".strip()) from None
        raise fail(f"unexpected {type(error).__name__}: {error}") from None
