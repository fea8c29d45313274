"""`python -m lab` refuses bad input before it starts anything: exit 2 and one line naming the
option, the value and what is allowed (the lab itself runs in tests/integration/test_lab_cli.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from lab.__main__ import COMMANDS, EXIT_USAGE, main


def usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == EXIT_USAGE
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


@pytest.mark.parametrize(
    ("memory", "expected"),
    [("12xb", "is not a Redis memory size"), ("1mb", "minimum of 4mb"), ("0", "not a Redis")],
)
def test_a_bad_memory_size_is_named(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, memory: str, expected: str
) -> None:
    line = usage_error(capsys, "up", "--stack", "dev", "--memory", memory, "--dir", str(tmp_path))
    assert "--memory" in line and repr(memory) in line and expected in line


def test_an_unknown_stack_lists_the_stacks(capsys: pytest.CaptureFixture[str]) -> None:
    line = usage_error(capsys, "up", "--stack", "staging")
    assert "Pulumi.staging.yaml does not exist" in line and "dev, prod" in line


def test_an_invalid_stack_config_names_the_file_and_key(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    stack_file = tmp_path / "Pulumi.broken.yaml"
    stack_file.write_text(
        "config:\n  cache-platform:environment: dev\n  cache-platform:redis:\n    primaries: lots\n"
    )
    line = usage_error(
        capsys, "up", "--stack", "broken", "--stack-file", str(stack_file), "--dir", str(tmp_path)
    )
    assert "Pulumi.broken.yaml" in line and "primaries" in line and "lots" in line


def test_a_directory_without_a_lab(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    for command in ("status", "down", "repair"):
        line = usage_error(capsys, command, "--dir", str(tmp_path))
        assert str(tmp_path) in line and "holds no lab" in line


def test_up_never_takes_over_a_directory_of_other_files(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    line = usage_error(capsys, "up", "--stack", "dev", "--dir", str(tmp_path))
    assert "notes.txt" in line and (tmp_path / "notes.txt").exists()


def test_missing_and_unknown_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert "required" in usage_error(capsys)
    assert "'frob'" in usage_error(capsys, "frob")
    assert "--node" in usage_error(capsys, "kill")


def test_every_command_is_dispatched_from_one_table() -> None:
    assert [command.name for command in COMMANDS] == [
        "up", "status", "kill", "restart", "wipe", "repair", "down", "scale", "run",
    ]  # fmt: skip
