"""The plan's documented exit codes (0 / 1 mandatory violation / 2 invalid config) reach CI: GNU
make turns every failing recipe into 2, so nothing that reads the code may go through make."""

from __future__ import annotations

import tomllib
from pathlib import Path

from tests.support.documents import read_yaml

ROOT = Path(__file__).resolve().parents[2]


def test_the_plan_entry_point_keeps_main_s_exit_code() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    # console_scripts call sys.exit(main()): main's 0/1/2 is the process's status.
    assert scripts["cache-plan"] == "plan.__main__:main"


def test_preview_reads_the_plans_own_status_not_makes() -> None:
    workflow = read_yaml(ROOT / ".github/workflows/preview.yml")
    steps = workflow["jobs"]["plan"]["steps"]
    for step_id in ("head", "base"):
        run = next(s for s in steps if s.get("id") == step_id)["run"]
        status_line = next(
            line for line in run.splitlines() if "-m plan" in line or "cache-plan" in line
        )
        assert "make plan" not in run, step_id
        assert "--stack" in status_line
