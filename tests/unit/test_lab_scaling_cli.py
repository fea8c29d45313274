"""`python -m lab.scaling`: bad options and directories are usage errors (exit 2, one line)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.scaling import EXIT_USAGE, main


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--primaries", "4"], "--dir"),
        (["--dir", "x", "--primaries", "0"], "--primaries"),
        (["--dir", "x", "--primaries", "four"], "--primaries"),
        (["--dir", "x", "--primaries", "3", "--replicas", "-1"], "--replicas"),
    ],
)
def test_bad_options_exit_2_naming_the_option(
    args: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == EXIT_USAGE
    error = capsys.readouterr().err.strip()
    assert named in error and len(error.splitlines()) == 1, error


def test_a_directory_without_a_lab_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--dir", str(tmp_path), "--primaries", "4"]) == EXIT_USAGE
    error = capsys.readouterr().err.strip()
    assert str(tmp_path) in error and "no lab" in error, error
