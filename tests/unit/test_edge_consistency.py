"""The edge's consistency classes: the event-purged config and its validation, the tag every
Worker entry is found again by, the renderers (Worker bindings, cache rules, README table), the
purge the invalidator sends for an event's URL, and the plan's list of paths purged by events."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from cachekit.events import EdgeTargets
from components.cdn.cache_rules import render_cache_rules, rules_table
from components.cdn.worker_module import main as worker_module_main
from components.cdn.worker_module import worker_bindings
from invalidator.metrics import InvalidatorMetrics
from invalidator.purge import EdgePurger, PurgeLimits
from plan.__main__ import main as plan_main
from plan.artifacts import cdn_section
from plan.mocks import ResourceRecord
from stackconfig import config as config_module
from stackconfig.cloudflare_plans import capabilities
from stackconfig.config import CdnConfig, CloudflarePlan, ConfigError, parse_stack_config
from stackconfig.edge_consistency import (
    EdgeConsistency,
    EventPurgedClass,
    consistency_for_path,
    path_cache_tag,
)
from tests.support.documents import read_yaml
from tests.support.edge import cache_rule_args

ROOT = Path(__file__).resolve().parents[2]
PROD_POLICY = ROOT / "policies" / "config" / "prod.json"
ZONE = "023e105f4ecef8ad9ca31a8372d0c353"


# --- the tag --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "tag"),
    [
        ("https://shop.example.com/api/prices/12345", "path:shop.example.com/api/prices/12345"),
        # Every query variant and spelling of one path: one tag (the Worker routes them alike).
        ("http://Shop.Example.com/API//Prices/12345?currency=EUR&utm_source=x", None),
        ("https://shop.example.com/api/prices/%31%32", "path:shop.example.com/api/prices/12"),
        # Tag separators and non-ASCII are encoded as encodeURIComponent does, '/' kept.
        ("https://shop.example.com/a,b c/été", "path:shop.example.com/a%2Cb%20c/%C3%A9t%C3%A9"),
        ("https://shop.example.com/", "path:shop.example.com/"),
        # What decodeURIComponent refuses is never cached, so it has no tag.
        ("https://shop.example.com/api/prices/%FF", None),
        ("https://shop.example.com/api/prices/50%", None),
    ],
)
def test_path_cache_tag(url: str, tag: str | None) -> None:
    expected = tag
    if url.startswith("http://Shop"):
        expected = path_cache_tag("https://shop.example.com/api/prices/12345")
        assert expected is not None
    assert path_cache_tag(url) == expected


def test_a_long_path_tag_is_cut_at_the_purge_api_limit() -> None:
    tag = path_cache_tag("https://shop.example.com/catalog/" + "x" * 2000)
    assert tag is not None and len(tag) == 1024


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/api/prices/1", EdgeConsistency.EVENT_PURGED),
        ("/API/Inventory/sku-1", EdgeConsistency.EVENT_PURGED),
        ("/api/%70rices/1", EdgeConsistency.EVENT_PURGED),
        ("/api/search?q=x", EdgeConsistency.TTL),
        ("/products/1", EdgeConsistency.TTL),
        ("/api/prices/%FF", EdgeConsistency.TTL),
    ],
)
def test_consistency_for_path(path: str, expected: EdgeConsistency) -> None:
    assert consistency_for_path(path) is expected


# --- config ---------------------------------------------------------------------------------------


def _raw(**event_purged: Any) -> dict[str, Any]:
    return {
        "environment": "dev",
        "cdn": {"enabled": False, "eventPurged": event_purged},
        "monitoring": {"enabled": False},
        "backups": {"enabled": False},
    }


def _problems(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw)
    return caught.value.problems


def test_defaults_cover_prices_and_inventory_on_the_short_tier() -> None:
    event_purged = CdnConfig().event_purged
    assert event_purged == EventPurgedClass(("/api/prices", "/api/inventory"), 600)
    config = parse_stack_config(_raw(edgeTtl=900, paths=["/api/prices"]))
    assert config.cdn.event_purged == EventPurgedClass(("/api/prices",), 900)


@pytest.mark.parametrize(
    ("override", "key", "allowed"),
    [
        ({"edgeTtl": 60}, "cdn.eventPurged.edgeTtl", "between 300 and 900"),
        ({"edgeTtl": 3600}, "cdn.eventPurged.edgeTtl", "between 300 and 900"),
        ({"paths": ["api/prices"]}, "cdn.eventPurged.paths", "starting with '/'"),
        ({"paths": ["/cart/prices"]}, "cdn.eventPurged.paths", "bypass path '/cart'"),
        ({"staleIfError": 60}, "cdn.eventPurged.staleIfError", ""),
    ],
)
def test_a_bad_event_purged_value_names_its_key(
    override: dict[str, Any], key: str, allowed: str
) -> None:
    problems = _problems(_raw(**override))
    named = [p for p in problems if p.startswith(f"cache-platform:{key}")]
    assert named, problems
    assert allowed in named[0], named[0]


def test_a_plan_that_cannot_purge_the_workers_cache_is_refused(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url_only = dataclasses.replace(capabilities("pro"), purge_kinds=frozenset({"url"}))
    monkeypatch.setattr(config_module, "capabilities", lambda _plan: url_only)  # pyright: ignore[reportUnknownLambdaType]
    raw = _raw()
    raw["cdn"] = {
        "zoneName": "shop.example.com",
        "accountId": "0123456789abcdef0123456789abcdef",
        "originHost": "origin.example.net",
        "eventPurged": {},
    }
    problems = _problems(raw)
    assert any(
        p.startswith("cache-platform:cdn.eventPurged.paths") and "cannot purge" in p
        for p in problems
    ), problems
    raw["cdn"]["eventPurged"] = {"paths": []}
    assert parse_stack_config(raw).cdn.event_purged.paths == ()


def test_a_bad_edge_ttl_exits_2_with_one_line_naming_the_file_and_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = read_yaml(ROOT / "Pulumi.prod.yaml")
    config["config"]["cache-platform:alertingSecrets"] = {
        name: {"secure": "v1:notreal=="} for name in ("oncall", "senior", "manager", "team")
    }
    config["config"]["cache-platform:cdn"]["eventPurged"] = {"edgeTtl": 3600}
    stack_file = tmp_path / "Pulumi.prod.yaml"
    stack_file.write_text(yaml.safe_dump(config))
    argv = ["--stack", "prod", "--stack-file", str(stack_file), "--policy-config"]
    code = plan_main([*argv, str(PROD_POLICY), "--out", str(tmp_path / "out")])
    lines = capsys.readouterr().err.splitlines()
    assert code == 2, lines
    assert len(lines) == 1, lines
    assert "cache-platform:cdn.eventPurged.edgeTtl" in lines[0] and "3600" in lines[0], lines
    assert "Pulumi.prod.yaml" in lines[0], lines
    assert not (tmp_path / "out").exists()


# --- renderers ------------------------------------------------------------------------------------


def test_the_worker_gets_the_class_as_a_binding() -> None:
    cdn = CdnConfig(event_purged=EventPurgedClass(("/api/prices",), 420))
    assert json.loads(worker_bindings(cdn)["EVENT_PURGED"]) == {
        "edgeTtl": 420,
        "pathPrefixes": ["/api/prices"],
    }


@pytest.mark.parametrize("plan", list(CloudflarePlan))
def test_the_zone_cache_leaves_event_purged_paths_to_the_worker_on_every_plan(
    plan: CloudflarePlan,
) -> None:
    rules = render_cache_rules(CdnConfig(plan=plan))
    names = [r.name for r in rules]
    assert names.index("short-tier") < names.index("event-purged") < names.index("bypass")
    rule = rules[names.index("event-purged")]
    assert rule.consistency is EdgeConsistency.EVENT_PURGED
    assert (rule.edge_ttl, rule.browser_ttl, rule.stale_while_revalidate, rule.stale_if_error) == (
        600,
        0,
        0,
        0,
    )
    args = cache_rule_args(rule)
    assert args.action_parameters is not None
    assert args.action_parameters.cache is False  # pyright: ignore[reportAttributeAccessIssue]
    assert 'starts_with(lower(url_decode(http.request.uri.path)), "/api/inventory")' in (
        rule.expression
    )


def test_no_event_purged_paths_no_rule() -> None:
    rules = render_cache_rules(CdnConfig(event_purged=EventPurgedClass(paths=())))
    assert "event-purged" not in [r.name for r in rules]


def test_the_rules_table_shows_each_class() -> None:
    table = rules_table(render_cache_rules(CdnConfig()))
    row = next(line for line in table.splitlines() if "| event-purged |" in line)
    assert row.startswith("| /api/prices*, /api/inventory* | short | event-purged | 10 min | 0 s")
    assert "purged by events" in row


def test_the_cli_gives_the_workerd_tests_pythons_tags_and_classes(
    capsys: pytest.CaptureFixture[str],
) -> None:
    worker_module_main(["--tag", "https://shop.example.com/api/prices/1?x=1"])
    assert json.loads(capsys.readouterr().out) == {
        "https://shop.example.com/api/prices/1?x=1": "path:shop.example.com/api/prices/1"
    }
    worker_module_main(["--consistency", "/api/prices/1", "/search"])
    assert json.loads(capsys.readouterr().out) == {
        "/api/prices/1": "event-purged",
        "/search": "ttl",
    }


# --- the invalidator's purge ----------------------------------------------------------------------


def test_an_event_url_is_purged_by_url_and_by_the_workers_tag() -> None:
    purger = EdgePurger(ZONE, "token", PurgeLimits.for_plan("pro"), InvalidatorMetrics())
    try:
        requests = purger.requests_for(
            EdgeTargets(
                urls=(
                    "https://shop.example.com/api/prices/1",
                    "https://shop.example.com/API/prices/1?currency=EUR",
                    "https://shop.example.com/api/prices/%FF",
                ),
                tags=("product-1",),
            )
        )
    finally:
        purger.close()
    bodies = [r.body for r in requests]
    assert bodies == [
        {
            "files": [
                "https://shop.example.com/api/prices/1",
                "https://shop.example.com/API/prices/1?currency=EUR",
                "https://shop.example.com/api/prices/%FF",
            ]
        },
        {"tags": ["product-1", "path:shop.example.com/api/prices/1"]},
    ]


# --- the plan -------------------------------------------------------------------------------------


def _records(cdn: CdnConfig) -> list[ResourceRecord]:
    rules = [
        {
            "ref": r.name,
            "description": r.description,
            "expression": r.expression,
            "action": "set_cache_settings",
            "actionParameters": {"cache": False},
        }
        for r in render_cache_rules(cdn)
    ]
    bindings = [
        {"name": name, "type": "plain_text", "text": text}
        for name, text in worker_bindings(cdn).items()
    ]
    return [
        ResourceRecord(
            "urn:ruleset", "cloudflare:index/ruleset:Ruleset", "cache", None, True,
            {"phase": "http_request_cache_settings", "rules": rules},
        ),
        ResourceRecord(
            "urn:worker", "cloudflare:index/workersScript:WorkersScript", "worker", None, True,
            {"bindings": bindings},
        ),
    ]  # fmt: skip


def test_the_plan_lists_the_paths_purged_by_events() -> None:
    section = cdn_section(_records(CdnConfig()))
    assert "| /api/prices*, /api/inventory* | short, event-purged |" in section
    purged = section.split("## Paths purged by events", 1)[1]
    assert "`/api/prices*`, `/api/inventory*`" in purged
    assert "edge TTL 10 min" in purged
    assert "/api/search" not in purged

    none = cdn_section(_records(CdnConfig(event_purged=EventPurgedClass(paths=()))))
    assert "None: every cached path waits out its TTL." in none
