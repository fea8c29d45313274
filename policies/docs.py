"""The policy table, from the pack itself: the one renderer behind README.md's and
docs/policies.md's tables (`python -m plan.readme` writes both, a test fails when either drifts).

Each row is a registered policy: its name, its description and its enforcement per environment as
`policies/config/<env>.json` sets it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pulumi_policy import Policy

from policies import budget, security, sla, tagging
from policies.evaluate import DEFAULT_ENFORCEMENT, enforcement_for
from policies.registry import ALL_POLICIES

ROOT = Path(__file__).resolve().parent.parent
CONFIG_DIR = ROOT / "policies" / "config"
ENVIRONMENTS = ("dev", "prod")


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
