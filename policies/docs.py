"""`python -m policies.docs [--check]`: the policy table of docs/policies.md, from the pack itself.

Each row is a registered policy: its name, its description and its enforcement per environment as
`policies/config/<env>.json` sets it. `--check` exits 1 when the document is out of date (CI).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pulumi_policy import Policy

from policies import budget, security, sla, tagging
from policies.evaluate import DEFAULT_ENFORCEMENT, enforcement_for
from policies.registry import ALL_POLICIES

ROOT = Path(__file__).resolve().parent.parent
DOCUMENT = ROOT / "docs" / "policies.md"
CONFIG_DIR = ROOT / "policies" / "config"
ENVIRONMENTS = ("dev", "prod")
START = "<!-- policy-table:start (python -m policies.docs) -->"
END = "<!-- policy-table:end -->"


def _default(policy: Policy) -> str:
    return policy.enforcement_level.value if policy.enforcement_level else DEFAULT_ENFORCEMENT


def _concern(policy: Policy) -> str:
    """The module (budget, sla, security, tagging) that defines the policy."""
    for module in (budget, sla, security, tagging):
        if any(value is policy for value in vars(module).values()):
            return module.__name__.rsplit(".", 1)[-1]
    return "other"


def policy_table(configs: Mapping[str, Mapping[str, Any]]) -> str:
    header = "| policy | concern | what it checks | " + " | ".join(configs) + " |"
    lines = [header, "|---|---|---|" + "---|" * len(configs)]
    order = ("budget", "sla", "security", "tagging")
    ranked = sorted(
        ALL_POLICIES, key=lambda p: order.index(c) if (c := _concern(p)) in order else len(order)
    )
    for policy in ranked:
        levels = " | ".join(
            enforcement_for(policy.name, config, _default(policy)) for config in configs.values()
        )
        description = policy.description.replace("|", "\\|")
        lines.append(f"| `{policy.name}` | {_concern(policy)} | {description} | {levels} |")
    return "\n".join(lines)


def load_configs() -> dict[str, Mapping[str, Any]]:
    return {env: json.loads((CONFIG_DIR / f"{env}.json").read_text()) for env in ENVIRONMENTS}


def render(document: str, table: str) -> str:
    """`document` with the text between the markers replaced by `table`."""
    before, found, rest = document.partition(START)
    if not found or END not in rest:
        raise ValueError(f"docs/policies.md lacks the markers {START!r} ... {END!r}")
    return f"{before}{START}\n{table}\n{END}{rest.split(END, 1)[1]}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m policies.docs", description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail when the document is stale")
    args = parser.parse_args(argv)
    current = DOCUMENT.read_text()
    wanted = render(current, policy_table(load_configs()))
    if args.check:
        if wanted != current:
            print("docs/policies.md is out of date: run `python -m policies.docs`", file=sys.stderr)
            return 1
        return 0
    DOCUMENT.write_text(wanted)
    return 0


if __name__ == "__main__":
    sys.exit(main())
