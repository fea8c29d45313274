"""`python -m cost.diff`: the cost change of a pull request as a Markdown table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from cost.diff import cost_diff_markdown, main

ROOT = Path(__file__).resolve().parents[2]


def cost(**components: float) -> dict[str, Any]:
    return {
        "components": {
            name: {"monthlyUsd": usd, "items": [{"name": "x", "monthlyUsd": usd, "detail": ""}]}
            for name, usd in components.items()
        },
        "totalMonthlyUsd": round(sum(components.values()), 2),
    }


def test_table_per_component_and_total() -> None:
    table = cost_diff_markdown(
        cost(redis=456.86, cdn=58.40), cost(redis=609.15, cdn=58.40, backups=26.55)
    )
    assert table.splitlines() == [
        "| component | base | head | change | % |",
        "|---|---:|---:|---:|---:|",
        "| backups | $0.00 | $26.55 | +$26.55 | new |",
        "| cdn | $58.40 | $58.40 | ±$0.00 | 0.0% |",
        "| redis | $456.86 | $609.15 | +$152.29 | +33.3% |",
        "| **total** | **$515.26** | **$694.10** | **+$178.84** | **+34.7%** |",
    ]


def test_a_removed_component_shows_as_a_decrease() -> None:
    table = cost_diff_markdown(cost(redis=100.0, cdn=50.0), cost(redis=100.0))
    assert "| cdn | $50.00 | $0.00 | -$50.00 | -100.0% |" in table
    assert "**-$50.00**" in table and "**-33.3%**" in table


def test_the_module_runs_on_files(tmp_path: Path) -> None:
    base, head = tmp_path / "base.json", tmp_path / "head.json"
    base.write_text(json.dumps(cost(redis=400.0)))
    head.write_text(json.dumps(cost(redis=440.0)))
    result = subprocess.run(
        [sys.executable, "-m", "cost.diff", str(base), str(head)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "| redis | $400.00 | $440.00 | +$40.00 | +10.0% |" in result.stdout


def test_a_missing_or_malformed_file_exits_2(tmp_path: Path, capsys: Any) -> None:
    good = tmp_path / "good.json"
    good.write_text(json.dumps(cost(redis=1.0)))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"components": {"redis": {}}, "totalMonthlyUsd": 1}))
    assert main([str(tmp_path / "absent.json"), str(good)]) == 2
    assert main([str(good), str(bad)]) == 2
    assert "bad.json" in capsys.readouterr().err
