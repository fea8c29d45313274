# pyright: strict
"""The one reader of Redis credentials (user name and password) for every cachectl command.

The lifecycle scripts (`components/redis/scripts/common.sh`, `load_credentials`) follow the
same rules, so a pod's probes, `cachectl health` and `cachectl backup` authenticate alike:

    password  --password-file FILE > REDIS_PASSWORD_FILE > REDISCLI_AUTH
    user      --user-file FILE > --user NAME > REDIS_USER_FILE > REDIS_USER   (none: `default`)

A flag beats every variable; among flags, and among variables, a file beats a value (a mounted
Secret is the deliberate channel; a variable may be left over in an operator's shell). The
password is never a flag: flags show in `ps`. The user name is no secret and may be one.

Whitespace: trailing line breaks (LF and CR) are removed from files and variables alike, as
`$(cat file)` and an editor's final newline would have it; every other character, spaces
included, is part of the value. A value with a line break inside, an empty file, or a
password file that others may read is refused (group read only for the process's own
group: a Kubernetes Secret volume with an fsGroup is 0440).
"""

from __future__ import annotations

import os
import stat
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cachectl.errors import CachectlError

PASSWORD_ENV = "REDISCLI_AUTH"
PASSWORD_FILE_ENV = "REDIS_PASSWORD_FILE"
USER_ENV = "REDIS_USER"
USER_FILE_ENV = "REDIS_USER_FILE"


@dataclass(frozen=True)
class Credentials:
    """What a client authenticates with; `user` None is Redis's `default` user."""

    user: str | None
    password: str | None
    source: str = ""
    """Where the password came from (`REDISCLI_AUTH`, `password file F`): errors name it."""


def normalise(value: str, origin: str) -> str:
    """`value` with trailing CR/LF removed; CachectlError naming `origin` if one is left."""
    trimmed = value.rstrip("\r\n")
    if "\n" in trimmed or "\r" in trimmed:
        raise CachectlError(f"{origin} holds more than one line; keep only the value in it")
    return trimmed


def private_enough(mode: int, group: int) -> bool:
    """No one but the owner may read, except the process's own group: a Kubernetes Secret volume
    with an fsGroup is 0440 owned by that group, which only this pod's processes hold."""
    if mode & stat.S_IRWXO or mode & (stat.S_IWGRP | stat.S_IXGRP):
        return False
    return not mode & stat.S_IRGRP or group in {os.getegid(), *os.getgroups()}


def _read_file(path: Path, what: str, *, private: bool) -> str:
    try:
        status = path.stat()
        mode = status.st_mode
        if private and not private_enough(mode, status.st_gid):
            raise CachectlError(
                f"{what} {path} is readable by others (mode {stat.S_IMODE(mode):04o}); "
                f"run chmod 600 {path}"
            )
        raw = path.read_bytes()
    except OSError as error:
        raise CachectlError(
            f"cannot read the {what} {path}: {error.strerror}; check the path and its mode"
        ) from None
    try:
        text = raw.decode()
    except UnicodeDecodeError:
        raise CachectlError(f"{what} {path} is not UTF-8 text") from None
    value = normalise(text, f"{what} {path}")
    if not value:
        raise CachectlError(f"{what} {path} is empty; write the value into it")
    return value


def read_credentials(
    environ: Mapping[str, str],
    *,
    password_file: Path | None = None,
    user: str | None = None,
    user_file: Path | None = None,
) -> Credentials:
    """The credentials by the precedence in the module's docstring (flags as arguments)."""
    if password_file is None and environ.get(PASSWORD_FILE_ENV):
        password_file = Path(environ[PASSWORD_FILE_ENV])
    if password_file is not None:
        password: str | None = _read_file(password_file, "password file", private=True)
        source = f"the password file {password_file}"
    else:
        password = normalise(environ.get(PASSWORD_ENV, ""), PASSWORD_ENV) or None
        source = PASSWORD_ENV if password else ""
    if user_file is not None:
        name: str | None = _read_file(user_file, "user file", private=False)
    elif user:
        name = normalise(user, "--user")
    elif environ.get(USER_FILE_ENV):
        name = _read_file(Path(environ[USER_FILE_ENV]), "user file", private=False)
    else:
        name = normalise(environ.get(USER_ENV, ""), USER_ENV) or None
    if name is not None and any(character.isspace() for character in name):
        raise CachectlError(f"user name {name!r} has whitespace; Redis ACL user names have none")
    return Credentials(user=name or None, password=password, source=source)
