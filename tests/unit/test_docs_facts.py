"""What the README and docs/ state about the code stays true: the files and modules they name
exist, the runbooks' numbers are the config's, the dashboards they send people to exist, and the
layout table names every top-level package."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from components.monitoring.dashboards import DASHBOARDS
from stackconfig.config import RedisConfig

ROOT = Path(__file__).resolve().parents[2]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
TOP_LEVEL = (
    "stackconfig", "cost", "components", "policies", "plan", "cachekit", "cachectl", "lab",
    "bench", "tests", "docs",
)  # fmt: skip
_PATH = re.compile("`((?:" + "|".join(TOP_LEVEL) + r")/[A-Za-z0-9_./-]*)`")
_MODULE = re.compile(r"python -m ([a-z_][a-z0-9_.]*)")


def ids(paths: list[Path]) -> list[str]:
    return [str(path.relative_to(ROOT)) for path in paths]


@pytest.mark.parametrize("document", DOCUMENTS, ids=ids(DOCUMENTS))
def test_every_project_path_a_document_names_exists(document: Path) -> None:
    named = set(_PATH.findall(document.read_text()))
    missing = sorted(path for path in named if not (ROOT / path).exists())
    assert missing == [], f"{document.name} names paths that do not exist"


@pytest.mark.parametrize("document", DOCUMENTS, ids=ids(DOCUMENTS))
def test_every_module_a_document_runs_exists(document: Path) -> None:
    missing: list[str] = []
    for module in set(_MODULE.findall(document.read_text())):
        if module.split(".")[0] not in TOP_LEVEL:
            continue  # the standard library's (json.tool)
        base = ROOT / module.replace(".", "/")
        if not (base.with_suffix(".py").is_file() or (base / "__main__.py").is_file()):
            missing.append(module)
    assert missing == [], f"{document.name} runs modules that do not exist"


def test_the_failover_runbook_states_the_configs_node_timeout() -> None:
    text = (ROOT / "docs" / "runbooks" / "redis-failover.md").read_text()
    stated = {int(ms) for ms in re.findall(r"cluster-node-timeout` \((\d+) ms", text)}
    assert stated == {RedisConfig().node_timeout_ms}


def test_runbooks_send_people_to_dashboards_that_exist() -> None:
    titles = {dashboard.title for dashboard in DASHBOARDS}
    for document in DOCUMENTS:
        named = set(re.findall(r'"([A-Z][A-Za-z ]+)"(?: Grafana)? dashboard', document.read_text()))
        assert named <= titles, f"{document.name}: no dashboard {sorted(named - titles)}"


def test_the_layout_table_names_every_top_level_package() -> None:
    readme = (ROOT / "README.md").read_text()
    layout = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    rows = set(re.findall(r"^\| `([a-z_]+)/` \|", layout, re.MULTILINE))
    packages = {
        path.parent.name
        for path in ROOT.glob("*/__init__.py")
        if path.parent.name not in ("node_modules",)
    }
    assert packages <= rows, f"layout table lacks {sorted(packages - rows)}"
