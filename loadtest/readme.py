"""The README's load-test summary, generated from the committed reports under docs/validation/.

`python -m loadtest.readme` rewrites the section in place; `--check` exits 1 when the README
differs from what the reports say (a test runs the check); `--publish build/loadtest` first
copies the full-length runs there into docs/validation.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from loadtest.report import format_figure, render_markdown
from loadtest.scenarios import SCENARIOS

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
VALIDATION = ROOT / "docs" / "validation"
START, END = "<!-- loadtest-summary:start -->", "<!-- loadtest-summary:end -->"


def load_reports(directory: Path = VALIDATION) -> list[dict[str, Any]]:
    """The committed reports, in the scenarios' order."""
    reports: list[dict[str, Any]] = []
    for name in SCENARIOS:
        path = directory / name / "report.json"
        if path.is_file():
            reports.append(json.loads(path.read_text()))
    return reports


def render_summary(reports: Sequence[dict[str, Any]]) -> str:
    if not reports:
        return "No full-length run committed yet (`make loadtest SCENARIO=<name>`)."
    lines = [
        "| Scenario | Run | Users (ADR) | Seconds (ADR) | Figure | Measured | ADR mark | Pass |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for report in reports:
        scale = report["scale"]
        machine = report["machine"]
        run = f"{report['date'][:10]}, {machine['cores']} cores, {machine['memory_gib']} GiB"
        first = True
        for name, verdict in report["marks"].items():
            head = (
                f"[{report['scenario']}](docs/validation/{report['scenario']}/report.md) | {run} | "
                f"{scale['virtual_users']} ({scale['adr_users']:,}) | "
                f"{scale['seconds']:g} ({scale['adr_seconds']:g})"
                if first
                else " | | |"
            )
            first = False
            lines.append(
                f"| {head} | {name} | {format_figure(name, verdict['value'])} | {verdict['side']} "
                f"{format_figure(name, verdict['mark'])} | {'yes' if verdict['pass'] else 'NO'} |"
            )
    return "\n".join(lines)


def updated_readme(text: str, summary: str) -> str:
    head, start, rest = text.partition(START)
    _, end, tail = rest.partition(END)
    if not start or not end:
        raise ValueError(f"README.md lacks the {START} ... {END} markers")
    return f"{head}{START}\n{summary}\n{END}{tail}"


def publish(runs: Path, directory: Path = VALIDATION) -> list[str]:
    """Copy the full-length runs under `runs` (build/loadtest) into docs/validation: report.json,
    report.md (rendered again from the JSON) and timeline.png; short runs are not published."""
    published: list[str] = []
    for name in SCENARIOS:
        source = runs / name
        if not (source / "report.json").is_file():
            continue
        report = json.loads((source / "report.json").read_text())
        if report["scale"]["preset"] != "full":
            continue
        target = directory / name
        target.mkdir(parents=True, exist_ok=True)
        (target / "report.json").write_text(json.dumps(report, indent=2) + "\n")
        (target / "report.md").write_text(render_markdown(report))
        shutil.copyfile(source / "timeline.png", target / "timeline.png")
        published.append(name)
    return published


def main(argv: Sequence[str] | None = None) -> int:
    """`--check`: exit 1 on drift; `--publish DIR`: copy DIR's full runs to docs/validation
    first; no option: rewrite the README's section."""
    args = list(argv if argv is not None else sys.argv[1:])
    check = "--check" in args
    if "--publish" in args:
        index = args.index("--publish")
        if index + 1 >= len(args) or not Path(args[index + 1]).is_dir():
            print("error: --publish needs the directory of the runs (build/loadtest)")
            return 2
        print("published:", ", ".join(publish(Path(args[index + 1]))) or "nothing")
    current = README.read_text()
    wanted = updated_readme(current, render_summary(load_reports()))
    if check:
        if current != wanted:
            print("README.md's load-test summary is stale: run `python -m loadtest.readme`")
            return 1
        return 0
    README.write_text(wanted)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
