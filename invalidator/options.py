"""Option checks shared by the invalidator's entry points (`python -m invalidator`, the
PostgreSQL relay): a bad value is a UsageError naming the option and what it allows."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

from cachectl.connection import ConnectionSettings, parse_endpoints
from cachectl.credentials import read_credentials

EXIT_USAGE = 2


class UsageError(Exception):
    pass


def positive(text: str, option: str, *, integer: bool = False) -> float:
    try:
        number = int(text) if integer else float(text)
    except ValueError:
        number = -1
    if number <= 0:
        kind = "a positive whole number" if integer else "a positive number"
        raise UsageError(f"{option} {text!r}: {kind}")
    return number


def required_file(value: str | None, option: str) -> Path:
    if not value:
        raise UsageError(f"{option}: required (a file mounted from a Secret)")
    return Path(value)


def redis_connection(nodes: str, user: str, password_file: str | None) -> ConnectionSettings:
    """The cache cluster as the operator user; CachectlError names a bad node or password file."""
    return ConnectionSettings(
        seeds=tuple(parse_endpoints(nodes)),
        # The one credential reader of cachectl: the same rules for every Redis client.
        credentials=read_credentials(
            {},
            password_file=required_file(password_file, "--redis-password-file"),
            user=user or None,
        ),
    )


def stop_on_signals() -> threading.Event:
    """An event set by SIGTERM (Kubernetes stopping the pod) or SIGINT: the main loop finishes
    its round and returns."""
    stopping = threading.Event()

    def stop(signum: int, frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    return stopping
