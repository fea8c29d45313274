"""ADR-011 tiers (ranges, violations), path classification, and the Worker's rendered bindings."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence

import pytest

from components.cdn import worker_module as bindings_module
from components.cdn.bindings import render_worker_bindings
from components.cdn.worker_module import default_worker_bindings
from stackconfig.edge_consistency import EdgeConsistency, EventPurgedClass
from stackconfig.tiers import (
    DEFAULT_BYPASS_PATHS,
    DEFAULT_PUBLIC_PATHS,
    DEFAULT_SESSION_COOKIE,
    DEFAULT_TIER_RULES,
    DEFAULT_TIERS,
    DEFAULT_TRACKING_PARAMS,
    TIER_RANGES,
    CacheTier,
    TierRule,
    tier_for_path,
    tier_violations,
)


def _with(name: str, **changes: int) -> dict[str, CacheTier]:
    tiers = dict(DEFAULT_TIERS)
    tiers[name] = dataclasses.replace(tiers[name], **changes)
    return tiers


def test_the_defaults_keep_to_the_adr() -> None:
    assert tier_violations(DEFAULT_TIERS) == []
    for name, tier in DEFAULT_TIERS.items():
        low, high = TIER_RANGES[name]
        assert low <= tier.edge_ttl <= high


def test_adr_ranges_in_seconds() -> None:
    assert dict(TIER_RANGES) == {
        "short": (300, 900),
        "medium": (3600, 14400),
        "long": (86400, 86400),
    }


@pytest.mark.parametrize(
    ("tier", "changes", "expected"),
    [
        (
            "short",
            {"edge_ttl": 1200},
            ["short.edgeTtl is 1200 s; ADR-011 allows 300–900 s (5–15 min)"],
        ),
        (
            "short",
            {"edge_ttl": 299, "browser_ttl": 60},
            ["short.edgeTtl is 299 s; ADR-011 allows 300–900 s (5–15 min)"],
        ),
        (
            "medium",
            {"edge_ttl": 3599, "browser_ttl": 300},
            ["medium.edgeTtl is 3599 s; ADR-011 allows 3600–14400 s (1–4 h)"],
        ),
        (
            "medium",
            {"edge_ttl": 14401},
            ["medium.edgeTtl is 14401 s; ADR-011 allows 3600–14400 s (1–4 h)"],
        ),
        (
            "long",
            {"edge_ttl": 86401},
            ["long.edgeTtl is 86401 s; ADR-011 allows 86400 s (24 h)"],
        ),
        (
            "long",
            {"edge_ttl": 43200, "browser_ttl": 3600},
            ["long.edgeTtl is 43200 s; ADR-011 allows 86400 s (24 h)"],
        ),
        (
            "short",
            {"browser_ttl": 601},
            [
                "short.browserTtl is 601 s, longer than short.edgeTtl (600 s): browsers would "
                "keep what the edge has already refreshed"
            ],
        ),
        (
            "medium",
            {"stale_while_revalidate": -1},
            ["medium.staleWhileRevalidate is -1 s; durations cannot be negative"],
        ),
        (
            "long",
            {"stale_if_error": -5},
            ["long.staleIfError is -5 s; durations cannot be negative"],
        ),
        (
            "short",
            {"browser_ttl": -1},
            ["short.browserTtl is -1 s; durations cannot be negative"],
        ),
        (
            # A negative edge TTL is reported as negative, not also as out of range.
            "short",
            {"edge_ttl": -600, "browser_ttl": 0},
            ["short.edgeTtl is -600 s; durations cannot be negative"],
        ),
    ],
)
def test_tier_violations(tier: str, changes: dict[str, int], expected: list[str]) -> None:
    assert tier_violations(_with(tier, **changes)) == expected


@pytest.mark.parametrize(
    ("tier", "edge_ttl"),
    [("short", 300), ("short", 900), ("medium", 3600), ("medium", 14400), ("long", 86400)],
)
def test_range_bounds_are_inclusive(tier: str, edge_ttl: int) -> None:
    assert tier_violations(_with(tier, edge_ttl=edge_ttl, browser_ttl=0)) == []


def test_missing_and_unknown_tiers() -> None:
    tiers = {name: tier for name, tier in DEFAULT_TIERS.items() if name != "medium"}
    tiers["instant"] = CacheTier(1, 1, 0, 0)
    assert tier_violations(tiers) == [
        "medium is missing; ADR-011 defines the short, medium and long tiers",
        "instant is not an ADR-011 tier; expected short, medium or long",
    ]


def test_the_config_policy_and_renderers_share_one_tier_type() -> None:
    from policies.sla import bound_tiers
    from stackconfig.config import CdnConfig

    assert CdnConfig().tiers is DEFAULT_TIERS
    assert tier_violations({**DEFAULT_TIERS, "short": CacheTier(edge_ttl=60)}) == [
        "short.edgeTtl is 60 s; ADR-011 allows 300–900 s (5–15 min)"
    ]
    bindings = render_worker_bindings(
        DEFAULT_TIERS,
        DEFAULT_TIER_RULES,
        DEFAULT_BYPASS_PATHS,
        DEFAULT_SESSION_COOKIE,
        DEFAULT_TRACKING_PARAMS,
        DEFAULT_PUBLIC_PATHS,
        EventPurgedClass(),
    )
    props = {"bindings": [{"name": name, "text": text} for name, text in bindings.items()]}
    (read_back,) = bound_tiers(props).values()
    assert read_back == dict(DEFAULT_TIERS)


@pytest.mark.parametrize(
    ("path", "tier"),
    [
        ("/catalog/shoes", "medium"),
        ("/products/42", "medium"),
        ("/api/products/42", "medium"),
        # The longer prefix wins: /api/prices is short although /api/ is medium.
        ("/api/prices/42", "short"),
        ("/api/inventory/sku-1", "short"),
        ("/api/search?q=x", "short"),
        ("/search", "short"),
        ("/static/app.js", "long"),
        ("/static/app.JS", "long"),
        ("/fonts/a.woff2", "long"),
        # A static extension wins over any prefix.
        ("/api/prices/chart.png", "long"),
        ("/products/a.b/c", "medium"),
        # Bypass prefixes win over everything.
        ("/cart", None),
        ("/cart/app.js", None),
        ("/checkout/step-1", None),
        ("/account/orders", None),
        ("/about", None),
        ("/", None),
    ],
)
def test_tier_for_path_default_rules(path: str, tier: str | None) -> None:
    assert tier_for_path(path) == tier


def test_prefix_precedence_ignores_rule_order_except_on_ties() -> None:
    specific_first = (TierRule("short", ("/api/prices",)), TierRule("medium", ("/api/",)))
    assert tier_for_path("/api/prices/1", specific_first, ()) == "short"
    assert tier_for_path("/api/other", specific_first, ()) == "medium"
    tie = (TierRule("medium", ("/x",)), TierRule("short", ("/x",)))
    assert tier_for_path("/x/1", tie, ()) == "short"


def _render(
    tiers: Mapping[str, CacheTier] = DEFAULT_TIERS,
    rules: Sequence[TierRule] = DEFAULT_TIER_RULES,
    session_cookie: str = DEFAULT_SESSION_COOKIE,
) -> dict[str, str]:
    return render_worker_bindings(
        tiers,
        rules,
        DEFAULT_BYPASS_PATHS,
        session_cookie,
        DEFAULT_TRACKING_PARAMS,
        DEFAULT_PUBLIC_PATHS,
        EventPurgedClass(),
    )


def test_bindings_are_strings_with_sorted_names() -> None:
    rendered = default_worker_bindings()
    assert list(rendered) == [
        "BYPASS_PATHS",
        "CACHE_TIERS",
        "EVENT_PURGED",
        "PUBLIC_PATHS",
        "SESSION_COOKIE",
        "TIER_RULES",
        "TRACKING_PARAMS",
    ]
    assert all(isinstance(value, str) for value in rendered.values())
    assert rendered["SESSION_COOKIE"] == "session_id"
    assert json.loads(rendered["CACHE_TIERS"])["short"] == {
        "edgeTtl": 600,
        "browserTtl": 60,
        "staleWhileRevalidate": 60,
        "staleIfError": 300,
    }
    assert json.loads(rendered["BYPASS_PATHS"]) == [
        "/cart",
        "/checkout",
        "/account",
        "/login",
        "/api/auth",
    ]
    assert "utm_*" in json.loads(rendered["TRACKING_PARAMS"])


def test_bindings_do_not_depend_on_mapping_order() -> None:
    reversed_tiers = dict(reversed(list(DEFAULT_TIERS.items())))
    assert _render(tiers=reversed_tiers) == _render()
    assert _render() == default_worker_bindings()
    assert _render()["CACHE_TIERS"] == json.dumps(
        json.loads(_render()["CACHE_TIERS"]), sort_keys=True, separators=(",", ":")
    )


def test_tier_rules_keep_their_order_and_only_the_keys_they_use() -> None:
    assert json.loads(default_worker_bindings()["TIER_RULES"]) == [
        {"tier": "medium", "pathPrefixes": ["/catalog", "/products", "/categories", "/api/"]},
        {
            "tier": "short",
            "pathPrefixes": ["/api/prices", "/api/inventory", "/api/search", "/search"],
        },
        {"tier": "long", "extensions": list(DEFAULT_TIER_RULES[2].extensions)},
    ]


def test_a_rule_naming_an_undefined_tier_is_refused() -> None:
    with pytest.raises(ValueError, match="not defined: instant"):
        _render(rules=(*DEFAULT_TIER_RULES, TierRule("instant", ("/x",))))


def test_an_empty_session_cookie_is_refused() -> None:
    with pytest.raises(ValueError, match="session_cookie"):
        _render(session_cookie="")


def test_cli_prints_the_default_bindings(capsys: pytest.CaptureFixture[str]) -> None:
    bindings_module.main([])
    assert json.loads(capsys.readouterr().out) == default_worker_bindings()


def test_cli_classifies_paths(capsys: pytest.CaptureFixture[str]) -> None:
    bindings_module.main(["--classify", "/api/prices/1", "/cart", "/a.css"])
    assert json.loads(capsys.readouterr().out) == {
        "/api/prices/1": "short",
        "/cart": None,
        "/a.css": "long",
    }


def test_the_worker_under_test_is_configured_as_the_deployed_one() -> None:
    """The workerd tests use these bindings; the WorkersScript gets the config's."""
    from components.cdn.worker_module import worker_bindings
    from stackconfig.config import CdnConfig

    assert worker_bindings(CdnConfig()) == default_worker_bindings()


@pytest.mark.parametrize(
    "path",
    ["/api/prices/1", "/api/x", "/search", "/catalog/a.png", "/cart/a.js", "/about", "/products"],
)
def test_worker_tiers_agree_with_the_edge_cache_rules(path: str) -> None:
    from components.cdn.cache_rules import render_cache_rules, tier_rules
    from stackconfig.config import CdnConfig

    cdn = CdnConfig()
    # The Worker's rules are the edge rules' tiers, in the same order.
    assert [r.tier for r in tier_rules(cdn)] == [
        r.tier
        for r in render_cache_rules(cdn)
        if r.tier is not None and r.consistency is EdgeConsistency.TTL
    ]
    assert tier_for_path(path) == tier_for_path(path, tier_rules(cdn), cdn.bypass_paths)
