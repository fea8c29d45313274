"""How every cachectl command fails: one `error:` line on stderr and a non-zero exit, never a
traceback. Commands name the errors they know; the rest is mapped the same way everywhere, and
every line says what to do next."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Generator, Sequence
from typing import Any

import redis
import typer

Translation = tuple[type[BaseException] | tuple[type[BaseException], ...], Callable[[Any], str]]
"""(exception types, how to say what went wrong), tried in order before the common cases."""

USAGE_EXIT = 2


class CachectlError(Exception):
    """A failure to report to the operator as one line; the message says what to do."""


class UsageError(CachectlError):
    """A value the operator gave is malformed: exit status 2, like any other usage error."""


class BackupError(CachectlError):
    """A backup, restore or load failure the operator can act on."""


class RefusedSetError(BackupError):
    """A backup set that must not be restored: incomplete, corrupted or inconsistent."""


_NO_AUTH_REPLIES = (
    "NOAUTH",
    "HELLO must be called with the client already authenticated",
    "Authentication required",
)
_PASSWORD_SOURCES = "set REDISCLI_AUTH or pass --password-file FILE (or REDIS_PASSWORD_FILE)"


def redis_auth_message(error: redis.RedisError, source: str, user: str | None = None) -> str | None:
    """One line for an authentication refusal, naming where the credentials came from; None
    when `error` is not about authentication. `source` is "" when no password was given."""
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    wants_password = text.startswith(_NO_AUTH_REPLIES)
    if not (wants_password or isinstance(error, redis.AuthenticationError)):
        return None
    if not source:
        return f"no password given: {_PASSWORD_SOURCES}"
    who = f"user {user!r}" if user else "the default user"
    return (
        f"Redis refused the password from {source} for {who}; check that value "
        "(and --user / REDIS_USER for an ACL user)"
    )


def describe(error: BaseException) -> str:
    """The common cases of the one mapping, each ending with what to do next."""
    if isinstance(error, CachectlError):
        return str(error)
    if isinstance(error, redis.RedisError):
        auth = redis_auth_message(error, "")
        if auth is not None and not isinstance(error, redis.AuthenticationError):
            return auth
        return f"Redis: {error}; check the node address and that the cluster is up"
    module = type(error).__module__
    if module.startswith(("botocore", "boto3", "s3transfer")):
        return (
            f"S3: {error}; check the bucket, the AWS credentials and AWS_ENDPOINT_URL_S3 "
            "(for a local S3)"
        )
    if isinstance(error, OSError):
        text = f"{error.filename or ''} {error.strerror or error}".strip()
        return f"{text}; check the path and its permissions"
    return (
        f"unexpected {type(error).__name__}: {error}; rerun with the same input and report it "
        "(this is a bug in cachectl)"
    )


def fail(message: str, code: int = 1) -> typer.Exit:
    """Print `message` as one error line; return the Exit to raise."""
    typer.echo(f"error: {' '.join(message.split())}", err=True)
    return typer.Exit(code)


@contextlib.contextmanager
def one_line_errors(translations: Sequence[Translation] = ()) -> Generator[None]:
    """Every failure inside becomes one `error:` line: exit status 2 for a malformed value the
    operator gave, 130 on Ctrl-C, 1 otherwise."""
    try:
        yield
    except (typer.Exit, typer.Abort):
        raise
    except KeyboardInterrupt:
        typer.echo("error: interrupted", err=True)
        raise typer.Exit(130) from None
    except UsageError as error:
        raise fail(str(error), USAGE_EXIT) from None
    except Exception as error:
        for kinds, describe_error in translations:
            if isinstance(error, kinds):
                raise fail(describe_error(error)) from None
        raise fail(describe(error)) from None
