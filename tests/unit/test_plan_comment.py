"""`.github/scripts/plan_comment.py`: the plan comment of a pull request (cost difference first,
the plan cut to fit, failures reported)."""

from __future__ import annotations

import importlib.util
import json
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS_DIR = ROOT / ".github" / "scripts"


def _load_plan_comment() -> ModuleType:
    spec = importlib.util.spec_from_file_location("plan_comment", SCRIPTS_DIR / "plan_comment.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["plan_comment"] = module
    spec.loader.exec_module(module)
    return module


plan_comment = _load_plan_comment()

FAKE_DIFF = textwrap.dedent(
    """\
    import json, sys
    base, head = (json.load(open(p)) for p in sys.argv[1:3])
    if head.get("fail"):
        sys.exit("diff: broken input")
    print(f"| total | {base['totalMonthlyUsd']} | {head['totalMonthlyUsd']} |")
    """
)


@pytest.fixture
def fake_project(tmp_path: Path) -> Path:
    """A project whose `cost.diff` prints base and head totals."""
    package = tmp_path / "project" / "cost"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "diff.py").write_text(FAKE_DIFF)
    return tmp_path / "project"


def _plan_dir(root: Path, name: str, total: float | None, report: str | None) -> Path:
    directory = root / name
    directory.mkdir(parents=True)
    if total is not None:
        (directory / "cost.json").write_text(
            json.dumps({"components": {}, "totalMonthlyUsd": total})
        )
    if report is not None:
        (directory / "plan.md").write_text(report)
    return directory


def test_comment_puts_the_cost_difference_before_the_plan(fake_project: Path) -> None:
    head = plan_comment.PlanResult(0, _plan_dir(fake_project, "h", 120.5, "# Plan for `prod`\n"))
    base = plan_comment.PlanResult(0, _plan_dir(fake_project, "b", 100.0, "# old\n"))
    difference = plan_comment.cost_difference(head, base, fake_project)
    body = plan_comment.build_comment("prod", head, difference)
    assert "| total | 100.0 | 120.5 |" in body
    assert body.index("| total | 100.0 | 120.5 |") < body.index("### Plan for `prod`")
    assert "no mandatory policy violation" in body


def test_plan_headings_nest_under_the_comments_own() -> None:
    report = "# Plan\n\n## Cost\n\n```sh\n# a shell comment\n```\n"
    assert plan_comment.demote_headings(report, 2) == (
        "### Plan\n\n#### Cost\n\n```sh\n# a shell comment\n```\n"
    )


def test_a_base_without_a_plan_is_compared_with_nothing(fake_project: Path) -> None:
    head = plan_comment.PlanResult(0, _plan_dir(fake_project, "h", 42.0, "# Plan\n"))
    base = plan_comment.PlanResult(2, fake_project / "missing")
    difference = plan_comment.cost_difference(head, base, fake_project)
    assert difference.table == "| total | 0 | 42.0 |"
    assert difference.note is not None and "no plan" in difference.note
    assert not difference.failed


def test_a_failing_diff_is_reported_not_hidden(fake_project: Path) -> None:
    head_dir = _plan_dir(fake_project, "h", 1.0, "# Plan\n")
    (head_dir / "cost.json").write_text(json.dumps({"fail": True, "totalMonthlyUsd": 1}))
    head = plan_comment.PlanResult(0, head_dir)
    difference = plan_comment.cost_difference(head, None, fake_project)
    assert difference.failed
    assert difference.note is not None and "diff: broken input" in difference.note


def test_a_blocked_plan_says_so(fake_project: Path) -> None:
    head = plan_comment.PlanResult(1, _plan_dir(fake_project, "h", 9.0, "# Plan\n"))
    body = plan_comment.build_comment("prod", head, plan_comment.CostDifference("| t |"))
    assert "mandatory policy violation: this change cannot be deployed" in body


def test_invalid_config_shows_what_the_plan_reported(fake_project: Path) -> None:
    head = plan_comment.PlanResult(2, fake_project / "nothing")
    difference = plan_comment.cost_difference(head, None, fake_project)
    body = plan_comment.build_comment(
        "dev", head, difference, plan_stderr="cache-platform:redis.memory: '8Q' is not a quantity"
    )
    assert "invalid config" in body
    assert "cache-platform:redis.memory: '8Q' is not a quantity" in body


def test_a_long_plan_is_cut_to_fit_a_comment(fake_project: Path) -> None:
    report = "".join(f"| row {i} | {'x' * 80} |\n" for i in range(5000))
    head = plan_comment.PlanResult(0, _plan_dir(fake_project, "h", 1.0, report))
    body = plan_comment.build_comment("prod", head, plan_comment.CostDifference("| diff |"))
    assert len(body) <= plan_comment.MAX_COMMENT_CHARS
    assert body.startswith("## Offline plan of stack `prod`")
    assert "| diff |" in body
    assert "plan.md is cut here" in body
    assert "| row 0 |" in body and "| row 4999 |" not in body


def test_main_writes_the_comment_and_fails_when_the_diff_fails(
    fake_project: Path, tmp_path: Path
) -> None:
    head_dir = _plan_dir(fake_project, "h", 3.0, "# Plan\n")
    out = tmp_path / "out" / "comment.md"
    common = ["--stack", "dev", "--head-status", "0", "--head-dir", str(head_dir)]
    common += ["--project-root", str(fake_project), "--out", str(out)]
    assert plan_comment.main(common) == 0
    assert "| total | 0 | 3.0 |" in out.read_text()
    (head_dir / "cost.json").write_text(json.dumps({"fail": True}))
    assert plan_comment.main(common) == 1
    assert "could not be computed" in out.read_text()
