"""`promtool test rules` for the rule tests, over only the rules each test can observe.

promtool evaluates every rule of the file at every step of every test, and the recording rules
dominate its time (about 5× less CPU without the unused ones on a 25-hour CDN test). A test
observes only the alerts it names and the series its expressions read, so the rule file it gets
keeps those alerts and the recording rules they and the expressions need, transitively, in their
original order: what promtool evaluates for the observed series is unchanged.
"""

from __future__ import annotations

import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from tests.support.tools import require_tool

_NAME = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")
_ALERTNAME = re.compile(r'alertname\s*(=~|!=|!~|=)\s*"([^"]*)"')


def _names(expression: str) -> set[str]:
    return set(_NAME.findall(expression))


def _alerts_observed(tests: Sequence[Mapping[str, Any]]) -> set[str] | None:
    """The alert names the tests look at; None when one of them looks at alerts by a pattern."""
    observed: set[str] = set()
    for test in tests:
        observed.update(case["alertname"] for case in test.get("alert_rule_test", []))
        for case in test.get("promql_expr_test", []):
            expression = str(case["expr"])
            if "ALERTS" not in _names(expression):
                continue
            matchers = _ALERTNAME.findall(expression)
            if not matchers or any(operator != "=" for operator, _ in matchers):
                return None
            observed.update(name for _, name in matchers)
    return observed


def rules_observed(
    groups: Sequence[Mapping[str, Any]], tests: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """`groups` cut down to the rules that can change what `tests` observe (see module doc)."""
    alerts = _alerts_observed(tests)
    wanted: set[str] = set()
    for test in tests:
        for case in test.get("promql_expr_test", []):
            wanted |= _names(str(case["expr"]))
    rules = [rule for group in groups for rule in group["rules"]]
    for rule in rules:
        if "alert" in rule and (alerts is None or rule["alert"] in alerts):
            wanted |= _names(rule["expr"])
    recorded = {rule["record"]: rule for rule in rules if "record" in rule}
    pending = [name for name in wanted if name in recorded]
    while pending:
        for name in _names(recorded[pending.pop()]["expr"]):
            if name in recorded and name not in wanted:
                wanted.add(name)
                pending.append(name)

    def keep(rule: Mapping[str, Any]) -> bool:
        if "record" in rule:
            return rule["record"] in wanted
        return alerts is None or rule["alert"] in alerts

    return [{**group, "rules": [rule for rule in group["rules"] if keep(rule)]} for group in groups]


def run_rule_tests(
    directory: Path,
    groups: Sequence[Mapping[str, Any]],
    tests: Sequence[Mapping[str, Any]],
    *,
    evaluation_interval: str = "1m",
    group_eval_order: Iterable[str] = (),
) -> None:
    """Write the observed rules and `tests` into `directory`, run promtool, assert it passed."""
    promtool = require_tool("promtool")
    (directory / "rules.yaml").write_text(
        yaml.safe_dump({"groups": rules_observed(groups, tests)}, sort_keys=False)
    )
    document: dict[str, Any] = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": evaluation_interval,
    }
    order = list(group_eval_order)
    if order:
        document["group_eval_order"] = order
    document["tests"] = list(tests)
    (directory / "tests.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    result = subprocess.run(
        [promtool, "test", "rules", "tests.yaml"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
