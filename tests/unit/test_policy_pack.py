"""The pack as a whole: its program, its registry, its names and its per-environment config."""

from __future__ import annotations

import ast
import importlib
import json
import re
from pathlib import Path

import pytest
from pulumi_policy import ResourceValidationPolicy, StackValidationPolicy

from plan.mocks import SECRET_PLACEHOLDER
from plan.readme import DOCUMENTS, POLICIES_DOC, render
from policies.docs import load_configs
from policies.evaluate import enforcement_for, policy_config_for
from policies.props import REDACTED_SECRET
from policies.registry import ALL_POLICIES, RESOURCE_POLICIES, STACK_POLICIES

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "policies" / "__main__.py"
VERBS = {"require", "forbid", "limit", "block", "stay"}


def test_the_pack_program_compiles_and_its_imports_resolve() -> None:
    """Without running it: constructing PolicyPack would start the policy server."""
    source = PROGRAM.read_text()
    tree = ast.parse(compile(source, str(PROGRAM), "exec", flags=ast.PyCF_ONLY_AST))
    imported = [node for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)]
    assert {node.module for node in imported} >= {"pulumi_policy", "policies.registry"}
    for node in imported:
        module = importlib.import_module(node.module or "")
        for alias in node.names:
            assert hasattr(module, alias.name), f"{node.module} has no {alias.name}"
    assert "policies=ALL_POLICIES" in source


def test_the_registry_lists_every_policy_of_the_concern_modules() -> None:
    from policies import budget, security, sla, tagging

    defined = [
        value
        for module in (budget, security, sla, tagging)
        for value in vars(module).values()
        if isinstance(value, ResourceValidationPolicy | StackValidationPolicy)
    ]
    assert {id(p) for p in defined} == {id(p) for p in ALL_POLICIES}
    assert len(ALL_POLICIES) == len(RESOURCE_POLICIES) + len(STACK_POLICIES) == 20


@pytest.mark.parametrize("policy", ALL_POLICIES, ids=[p.name for p in ALL_POLICIES])
def test_names_are_kebab_case_noun_then_verb(policy: ResourceValidationPolicy) -> None:
    assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", policy.name), policy.name
    words = policy.name.split("-")
    verbs = [i for i, word in enumerate(words) if word in VERBS]
    assert verbs and verbs[0] > 0, f"{policy.name}: a noun, then one of {sorted(VERBS)}"


@pytest.mark.parametrize("policy", ALL_POLICIES, ids=[p.name for p in ALL_POLICIES])
def test_descriptions_are_full_sentences(policy: ResourceValidationPolicy) -> None:
    description = policy.description
    assert description[0].isupper() and description.endswith("."), description
    assert len(description.split()) >= 12, description


def test_names_are_unique() -> None:
    names = [p.name for p in ALL_POLICIES]
    assert len(names) == len(set(names))


def test_dev_is_advisory_and_prod_mandatory_for_every_policy() -> None:
    configs = load_configs()
    for policy in ALL_POLICIES:
        assert enforcement_for(policy.name, configs["dev"], "disabled") == "advisory", policy.name
        assert enforcement_for(policy.name, configs["prod"], "disabled") == "mandatory", policy.name


def test_config_files_only_name_registered_policies_and_known_keys() -> None:
    by_name = {p.name: p for p in ALL_POLICIES}
    for env, config in load_configs().items():
        for key, entry in config.items():
            if key == "all":
                continue
            assert key in by_name, f"{env}.json configures unknown policy {key!r}"
            schema = by_name[key].config_schema
            known = set(schema.properties) if schema else set()
            for setting in set(entry) - {"enforcementLevel"}:
                assert setting in known, f"{env}.json: {key} has no setting {setting!r}"


def test_prod_config_restates_the_adr_budget() -> None:
    prod = json.loads((ROOT / "policies/config/prod.json").read_text())
    budget = next(p for p in ALL_POLICIES if p.name == "stack-cost-stay-within-budget")
    assert policy_config_for(budget, prod) == {
        "redisMonthlyUsd": 500,
        "cdnMonthlyUsd": 200,
        "monitoringMonthlyUsd": 300,
        "totalMonthlyUsd": 1000,
    }


def test_the_documented_table_is_the_packs() -> None:
    current = POLICIES_DOC.read_text()
    assert render(current, DOCUMENTS[POLICIES_DOC]) == current, (
        "docs/policies.md is stale: run `python -m plan.readme`"
    )
    for policy in ALL_POLICIES:
        assert current.count(f"| `{policy.name}` | ") >= 1


def test_the_redaction_the_policies_read_is_the_plans() -> None:
    assert REDACTED_SECRET == SECRET_PLACEHOLDER


def test_policies_judge_the_engines_proxies_like_plain_data() -> None:
    """The engine wraps props in read-only Mapping/Sequence proxies, not dicts and lists."""
    from pulumi_policy.proxy import unknown_checking_proxy

    from policies.evaluate import ResourceInput, evaluate
    from tests.support.policy_fixtures import happy_stack, redis_statefulset, replace

    def proxied(stack: list[ResourceInput]) -> list[ResourceInput]:
        return [
            ResourceInput(r.urn, r.type, r.name, unknown_checking_proxy(dict(r.props)))
            for r in stack
        ]

    pack = {"all": "mandatory"}
    assert evaluate(proxied(happy_stack()), pack) == []
    broken = replace(
        happy_stack(), "redis", redis_statefulset(replicas_per_primary=0, memory="64Gi")
    )
    assert evaluate(proxied(broken), pack) == evaluate(broken, pack) != []
