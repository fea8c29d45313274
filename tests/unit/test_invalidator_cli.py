"""`python -m invalidator` refuses bad options and secret files up front: exit 2, one line naming
the option and what is allowed, before any connection is tried."""

from __future__ import annotations

from pathlib import Path

import pytest

from invalidator.__main__ import EXIT_USAGE, main


def secret_files(tmp_path: Path) -> dict[str, Path]:
    files = {
        "--redis-password-file": tmp_path / "redis",
        "--webhook-secret-file": tmp_path / "webhook",
        "--cloudflare-token-file": tmp_path / "token",
    }
    for path, text in zip(files.values(), ["pw", "w" * 40, "token"], strict=True):
        path.write_text(text)
        path.chmod(0o600)
    return files


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], *changes: str) -> tuple[int, str]:
    args = ["--node", "127.0.0.1:1", "--zone-id", "zone"]
    for option, path in secret_files(tmp_path).items():
        args += [option, str(path)]
    code = main([*args, *changes])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        (["--plan", "gold"], "--plan 'gold': one of free, pro, business, enterprise"),
        (["--replicas", "0"], "--replicas '0': a positive whole number"),
        (["--claim-idle", "soon"], "--claim-idle 'soon': a positive number"),
        (["--max-deliveries", "0"], "--max-deliveries '0': a positive whole number"),
        (["--max-deliveries", "2.5"], "--max-deliveries '2.5': a positive whole number"),
        (["--zone-id", ""], "--zone-id: required"),
        (["--listen", "nowhere"], "bad node address 'nowhere'"),
        (["--webhook-secret-file", ""], "--webhook-secret-file: required"),
    ],
)
def test_a_bad_option_exits_2_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], changes: list[str], named: str
) -> None:
    code, err = run(tmp_path, capsys, *changes)
    assert code == EXIT_USAGE
    assert named in err and len(err.strip().splitlines()) == 1


def test_a_short_or_shared_webhook_secret_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    short = tmp_path / "short"
    short.write_text("tiny")
    short.chmod(0o600)
    code, err = run(tmp_path, capsys, "--webhook-secret-file", str(short))
    assert code == EXIT_USAGE and "at least 32" in err
    shared = tmp_path / "shared"
    shared.write_text("s" * 40)
    shared.chmod(0o644)
    code, err = run(tmp_path, capsys, "--webhook-secret-file", str(shared))
    assert code == EXIT_USAGE and "readable by others" in err and "s" * 40 not in err
