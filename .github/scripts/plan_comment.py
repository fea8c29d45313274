"""Build the pull-request comment of one stack's offline plan: what `pulumi up` would do to the
resources, the cost difference, then plan.md.

Run by the preview workflow's plan job (read-only, no secrets) after `make plan` ran on the pull
request and on its base. The comment is written to a file that the job uploads; a separate,
trusted workflow posts it. That workflow also adds the hidden marker that finds the comment again,
so nothing here decides which comment gets edited.

    python .github/scripts/plan_comment.py --stack prod --head-status 0 \
        --head-dir head/build/prod --base-status 0 --base-dir base/build/prod --out comment.md
"""

# pyright: strict
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

# GitHub refuses comment bodies over 65,536 characters; leave room for the marker and a note.
MAX_COMMENT_CHARS = 60_000
EMPTY_COST = {"components": {}, "totalMonthlyUsd": 0}
PLAN_EXIT_VERDICTS = {
    0: "no mandatory policy violation",
    1: "**a mandatory policy violation: this change cannot be deployed as it is**",
    2: "**invalid config: the plan could not run**",
}


@dataclass(frozen=True)
class PlanResult:
    """What `make plan` left behind for one checkout."""

    status: int
    directory: Path

    @property
    def cost_file(self) -> Path:
        return self.directory / "cost.json"

    @property
    def report_file(self) -> Path:
        return self.directory / "plan.md"

    @property
    def has_cost(self) -> bool:
        return self.status in (0, 1) and self.cost_file.is_file()


def resource_changes(head: PlanResult, base: PlanResult | None, project_root: Path) -> str | None:
    """`python -m plan diff BASE HEAD`: added, changed, replaced (and pods deleted) resources."""
    if base is None or not head.has_cost or not base.has_cost:
        return None
    if not (base.directory / "resources.json").is_file():
        return None
    result = subprocess.run(
        [sys.executable, "-m", "plan", "diff", str(base.directory), str(head.directory)],
        cwd=project_root,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return f"_The resource changes could not be computed: {reason}_"
    return result.stdout.strip()


@dataclass(frozen=True)
class CostDifference:
    table: str | None
    note: str | None = None
    failed: bool = False


def verdict(status: int) -> str:
    return PLAN_EXIT_VERDICTS.get(status, f"**`make plan` failed with exit status {status}**")


def cost_difference(
    head: PlanResult, base: PlanResult | None, project_root: Path
) -> CostDifference:
    """Run `python -m cost.diff BASE HEAD`; a base without a plan counts as no cost."""
    if not head.has_cost:
        return CostDifference(None, "No cost difference: the pull request's plan did not run.")
    note = None
    with tempfile.TemporaryDirectory() as scratch:
        if base is not None and base.has_cost:
            base_cost = base.cost_file
        else:
            # The base predates the offline plan, or this stack is new in the pull request.
            base_cost = Path(scratch) / "empty-cost.json"
            base_cost.write_text(json.dumps(EMPTY_COST))
            note = "The base commit has no plan for this stack: costs are compared with nothing."
        result = subprocess.run(
            [sys.executable, "-m", "cost.diff", str(base_cost), str(head.cost_file)],
            cwd=project_root,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
        return CostDifference(None, f"The cost difference could not be computed: {reason}", True)
    return CostDifference(result.stdout.strip(), note)


def truncate_lines(text: str, limit: int, overflow_note: str) -> str:
    """`text` cut at a line boundary so that it and `overflow_note` fit in `limit` characters."""
    if len(text) <= limit:
        return text
    budget = max(limit - len(overflow_note) - 2, 0)
    kept = text[:budget]
    if "\n" in kept:
        kept = kept[: kept.rindex("\n")]
    return f"{kept}\n\n{overflow_note}"


def demote_headings(markdown: str, levels: int) -> str:
    """`markdown` with every heading `levels` deeper (code blocks untouched)."""
    lines: list[str] = []
    in_code = False
    for line in markdown.splitlines():
        if line.startswith("```"):
            in_code = not in_code
        elif not in_code and line.startswith("#"):
            line = "#" * levels + line
        lines.append(line)
    return "\n".join(lines) + ("\n" if markdown.endswith("\n") else "")


def build_comment(
    stack: str,
    head: PlanResult,
    difference: CostDifference,
    plan_stderr: str = "",
    run_url: str | None = None,
    changes: str | None = None,
) -> str:
    parts = [f"## Offline plan of stack `{stack}`", "", f"Verdict: {verdict(head.status)}.", ""]
    if changes:
        parts += ["### What `pulumi up` would do (base → pull request)", "", changes, ""]
    parts += ["### Cost difference (monthly estimate, base → pull request)", ""]
    if difference.note:
        parts += [f"_{difference.note}_", ""]
    if difference.table:
        parts += [difference.table, ""]
    if head.report_file.is_file():
        report = demote_headings(head.report_file.read_text(), 2)
    else:
        problems = plan_stderr.strip() or "(no output)"
        report = f"`make plan` wrote no plan.md. What it reported:\n\n```\n{problems}\n```"
    if run_url:
        parts += [f"[Workflow run with the full plan as an artifact]({run_url})", ""]
    head_text = "\n".join(parts)
    room = MAX_COMMENT_CHARS - len(head_text) - 1
    overflow = "_plan.md is cut here: the whole file is in the workflow run's artifact._"
    return head_text + "\n" + truncate_lines(report, room, overflow).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", required=True)
    parser.add_argument("--head-status", type=int, required=True, help="exit status of make plan")
    parser.add_argument("--head-dir", type=Path, required=True, help="build/<stack> of the PR")
    parser.add_argument("--head-stderr", type=Path, help="what make plan printed on stderr")
    parser.add_argument("--base-status", type=int, help="exit status of the base's make plan")
    parser.add_argument("--base-dir", type=Path, help="build/<stack> of the base commit")
    parser.add_argument("--project-root", type=Path, default=Path.cwd())
    parser.add_argument("--run-url")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)

    head = PlanResult(args.head_status, args.head_dir)
    base = None
    if args.base_dir is not None and args.base_status is not None:
        base = PlanResult(args.base_status, args.base_dir)
    stderr = ""
    if args.head_stderr is not None and args.head_stderr.is_file():
        stderr = args.head_stderr.read_text()
    difference = cost_difference(head, base, args.project_root)
    changes = resource_changes(head, base, args.project_root)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(build_comment(args.stack, head, difference, stderr, args.run_url, changes))
    print(f"plan_comment: wrote {args.out}")
    if difference.failed:
        print(f"plan_comment: {difference.note}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
