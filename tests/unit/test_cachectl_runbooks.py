"""The runbooks are usable: every alert's runbook anchor exists, every link resolves, and every
`cachectl` command they show is one the command line accepts."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer.main

from cachectl.cli import app
from components.monitoring.rules import RUNBOOKS

ROOT = Path(__file__).resolve().parents[2]
RUNBOOK_DIR = ROOT / "docs" / "runbooks"
OPERATIONS_DOCS = [
    ROOT / "docs" / "operations.md",
    *(
        RUNBOOK_DIR / name
        for name in (
            "cache-warming.md",
            "cache-invalidation.md",
            "redis-failover.md",
            "incident-response.md",
        )
    ),
]
INCIDENT_SECTIONS = (
    "cache-failure",
    "slow-responses",
    "cdn-issue",
    "inconsistency",
    "memory-pressure",
)


def anchors(path: Path) -> set[str]:
    """GitHub's heading anchors: lowercase, punctuation dropped, spaces to hyphens."""
    found: set[str] = set()
    in_code = False
    for line in path.read_text().splitlines():
        if line.strip().startswith("```"):
            in_code = not in_code
        elif not in_code and (match := re.match(r"#{1,6} (.+)", line)):
            found.add(re.sub(r"[^\w\- ]", "", match.group(1).strip().lower()).replace(" ", "-"))
    return found


@pytest.mark.parametrize(("alert", "target"), sorted(RUNBOOKS.items()))
def test_every_alert_links_an_existing_section(alert: str, target: tuple[str, str]) -> None:
    file, anchor = target
    path = RUNBOOK_DIR / file
    assert path.is_file(), f"{alert}: {file} is missing"
    assert anchor in anchors(path), f"{alert}: no section #{anchor} in {file}"


def test_incident_response_covers_the_adr_incident_types() -> None:
    assert set(INCIDENT_SECTIONS) <= anchors(RUNBOOK_DIR / "incident-response.md")


@pytest.mark.parametrize("doc", OPERATIONS_DOCS, ids=lambda p: p.name)
def test_every_relative_link_resolves(doc: Path) -> None:
    for target in re.findall(r"\]\(([^)\s]+)\)", doc.read_text()):
        if target.startswith(("http://", "https://")):
            continue
        file, _, anchor = target.partition("#")
        path = (doc.parent / file).resolve() if file else doc
        assert path.is_file(), f"{doc.name}: link to missing {target}"
        if anchor:
            assert anchor in anchors(path), f"{doc.name}: no section #{anchor} in {path.name}"


def cachectl_commands(doc: Path) -> list[str]:
    """`cachectl ...` invocations in code blocks and inline code, placeholders made concrete."""
    text = doc.read_text()
    commands: list[str] = []
    in_code = False
    for line in text.splitlines():
        if line.strip().startswith("```"):
            in_code = not in_code
            continue
        snippets = [line] if in_code else re.findall(r"`([^`]+)`", line)
        for snippet in snippets:
            # The last `cachectl ` word: `kubectl exec cachectl -- cachectl health` is `health`.
            words = snippet.strip().split(" ")
            starts = [
                i for i, w in enumerate(words[:-1]) if w in ("cachectl", ".venv/bin/cachectl")
            ]
            if starts:
                command = " ".join(words[starts[-1] + 1 :])
                command = command.split(" #", 1)[0].split(" > ", 1)[0].strip()
                commands.append(re.sub(r"<[^>]+>", "x", command))
    return commands


def test_the_docs_show_cachectl_commands() -> None:
    assert sum(len(cachectl_commands(doc)) for doc in OPERATIONS_DOCS) > 30


@pytest.mark.parametrize("doc", OPERATIONS_DOCS, ids=lambda p: p.name)
def test_every_cachectl_command_in_the_docs_is_accepted(doc: Path) -> None:
    # typer ships its own copy of click: read the group by its attributes.
    commands: dict[str, Any] = getattr(typer.main.get_command(app), "commands")  # noqa: B009
    for command_line in cachectl_commands(doc):
        words = shlex.split(re.sub(r"\.\.\.|\[|\]", " ", command_line))
        if not words:
            continue
        command = commands.get(words[0])
        assert command is not None, f"{doc.name}: unknown command in `cachectl {command_line}`"
        # A group (`cachectl scale slots`): its subcommand's options are the ones to know.
        subcommands: dict[str, Any] = getattr(command, "commands", {})
        if len(words) > 1 and words[1] in subcommands:
            command = subcommands[words[1]]
        known = {opt for param in command.params for opt in getattr(param, "opts", [])}
        for word in words[1:]:
            if word.startswith("--"):
                assert word.split("=", 1)[0] in known, (
                    f"{doc.name}: `cachectl {command_line}`: {word} is not an option of {words[0]}"
                )
