"""The one credential reader: precedence, whitespace and refusals (cachectl/credentials.py)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from cachectl.credentials import Credentials, read_credentials
from cachectl.errors import CachectlError


def private(path: Path, text: str) -> Path:
    path.write_text(text, newline="")
    path.chmod(0o600)
    return path


def test_a_password_file_wins_over_redescli_auth_with_trailing_line_breaks_removed(
    tmp_path: Path,
) -> None:
    secret = private(tmp_path / "password", " two words \r\n")
    env = {"REDISCLI_AUTH": "from-env", "REDIS_PASSWORD_FILE": str(secret)}
    assert read_credentials(env).password == " two words "
    assert read_credentials({"REDISCLI_AUTH": "from-env"}, password_file=secret).password == (
        " two words "
    )
    assert read_credentials({"REDISCLI_AUTH": "from-env\n"}).password == "from-env"
    assert read_credentials({}) == Credentials(None, None)


def test_the_flag_file_wins_over_the_variable_file(tmp_path: Path) -> None:
    flag = private(tmp_path / "flag", "flag\n")
    variable = private(tmp_path / "variable", "variable\n")
    env = {"REDIS_PASSWORD_FILE": str(variable)}
    assert read_credentials(env, password_file=flag).password == "flag"


def test_the_user_follows_the_same_rules(tmp_path: Path) -> None:
    user_file = private(tmp_path / "user", "operator\r\n")
    env = {"REDIS_USER": "from-env", "REDIS_USER_FILE": str(user_file)}
    assert read_credentials(env).user == "operator"
    assert read_credentials(env, user="flag").user == "flag"
    assert read_credentials(env, user="flag", user_file=user_file).user == "operator"
    assert read_credentials({"REDIS_USER": "ops\n"}).user == "ops"
    with pytest.raises(CachectlError, match="whitespace"):
        read_credentials({}, user="two words")


def test_the_source_is_named_for_errors_and_the_value_never(tmp_path: Path) -> None:
    secret = private(tmp_path / "password", "s3cret")
    assert read_credentials({}, password_file=secret).source == f"the password file {secret}"
    assert read_credentials({"REDISCLI_AUTH": "x"}).source == "REDISCLI_AUTH"
    assert read_credentials({}).source == ""


@pytest.mark.parametrize(
    ("content", "mode", "fragment"),
    [
        ("s3cret\n", 0o644, r"readable by others \(mode 0644\)"),
        ("", 0o600, "is empty"),
        ("\n\r\n", 0o600, "is empty"),
        ("one\ntwo\n", 0o600, "more than one line"),
    ],
)
def test_bad_password_files_are_refused_without_their_content(
    tmp_path: Path, content: str, mode: int, fragment: str
) -> None:
    path = tmp_path / "password"
    path.write_text(content, newline="")
    path.chmod(mode)
    with pytest.raises(CachectlError, match=fragment) as caught:
        read_credentials({}, password_file=path)
    assert "s3cret" not in str(caught.value)


def test_a_missing_or_binary_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CachectlError, match="cannot read the password file"):
        read_credentials({}, password_file=tmp_path / "absent")
    binary = tmp_path / "binary"
    binary.write_bytes(b"\xff\xfe")
    binary.chmod(0o600)
    with pytest.raises(CachectlError, match="not UTF-8"):
        read_credentials({}, password_file=binary)


def test_a_secret_volume_file_of_the_pods_own_group_is_accepted(tmp_path: Path) -> None:
    # A Kubernetes Secret volume with an fsGroup: 0440, group = a group of this process.
    path = tmp_path / "password"
    path.write_text("s3cret\n")
    os.chown(path, -1, os.getegid())
    path.chmod(0o440)
    assert read_credentials({}, password_file=path).password == "s3cret"


def test_group_read_for_a_foreign_group_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "password"
    path.write_text("s3cret\n")
    foreign = max({os.getegid(), *os.getgroups()}) + 4242
    os.chown(path, -1, foreign)  # root (CI) may give a file any group
    path.chmod(0o640)
    with pytest.raises(CachectlError, match=r"readable by others \(mode 0640\)"):
        read_credentials({}, password_file=path)
