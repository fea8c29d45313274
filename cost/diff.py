"""`python -m cost.diff BASE_COST_JSON HEAD_COST_JSON`: the cost change as Markdown.

Reads two `cost.json` files written by the offline plan (`build/<stack>/cost.json`) and prints a
table per component and the total, for a pull-request comment. Exit status 2 when a file is missing
or is not a cost document.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from cost.props import as_mapping, as_number


def component_totals(document: Mapping[str, Any]) -> dict[str, float]:
    """{component: monthly USD} of a cost document; ValueError when it is not one."""
    components = document.get("components")
    if not isinstance(components, Mapping) or as_number(document.get("totalMonthlyUsd")) is None:
        raise ValueError("expected {'components': {...}, 'totalMonthlyUsd': n}")
    totals: dict[str, float] = {}
    for name, component in cast(Mapping[str, Any], components).items():
        amount = as_number(as_mapping(component).get("monthlyUsd"))
        if amount is None:
            raise ValueError(f"component {name!r} has no numeric monthlyUsd")
        totals[str(name)] = amount
    return totals


def _money(amount: float) -> str:
    return f"${amount:,.2f}"


def _change(base: float, head: float) -> tuple[str, str]:
    delta = round(head - base, 2)
    sign = "+" if delta > 0 else "-" if delta < 0 else "±"
    amount = f"{sign}${abs(delta):,.2f}"
    if base == 0:
        percent = "new" if head else "—"
    else:
        percent = f"{'+' if delta > 0 else ''}{delta / base:.1%}"
    return amount, percent


def cost_diff_markdown(base: Mapping[str, Any], head: Mapping[str, Any]) -> str:
    """A Markdown table of the monthly cost per component and in total, base -> head."""
    base_totals = component_totals(base)
    head_totals = component_totals(head)
    names = sorted(set(base_totals) | set(head_totals))
    lines = [
        "| component | base | head | change | % |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in names:
        before, after = base_totals.get(name, 0.0), head_totals.get(name, 0.0)
        change, percent = _change(before, after)
        lines.append(f"| {name} | {_money(before)} | {_money(after)} | {change} | {percent} |")
    before = as_number(base.get("totalMonthlyUsd")) or 0.0
    after = as_number(head.get("totalMonthlyUsd")) or 0.0
    change, percent = _change(before, after)
    lines.append(
        f"| **total** | **{_money(before)}** | **{_money(after)}** | **{change}** | **{percent}** |"
    )
    return "\n".join(lines) + "\n"


def _load(path: Path) -> Mapping[str, Any]:
    document = json.loads(path.read_text())
    if not isinstance(document, Mapping):
        raise ValueError("expected a JSON object")
    return cast(Mapping[str, Any], document)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cost.diff", description=__doc__)
    parser.add_argument("base", type=Path, help="cost.json of the base branch")
    parser.add_argument("head", type=Path, help="cost.json of the change")
    args = parser.parse_args(argv)
    documents: list[Mapping[str, Any]] = []
    for path in (args.base, args.head):
        try:
            document = _load(path)
            component_totals(document)
        except (OSError, ValueError) as error:
            print(f"cost diff: {path}: {error}", file=sys.stderr)
            return 2
        documents.append(document)
    table = cost_diff_markdown(*documents)
    print("Monthly cost estimate (USD):\n")
    print(table, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
