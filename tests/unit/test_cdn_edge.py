"""CloudflareEdge under Pulumi mocks: zone, settings, rule phases, tiers, WAF, Worker and route."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pytest

from components.cdn.cache_rules import render_cache_rules, tier_rules
from components.cdn.worker_module import worker_bindings, worker_source
from plan.mocks import ResourceRecord
from stackconfig.config import CdnConfig
from stackconfig.edge_consistency import EdgeConsistency
from stackconfig.tiers import TIER_RANGES, CacheTier, tier_for_path, tier_violations
from tests.support.edge import cloudflare_edge
from tests.support.mocking import of_type, one, when_registered

ACCOUNT = "0123456789abcdef0123456789abcdef"
CDN = CdnConfig(zone_name="shop.example.com", account_id=ACCOUNT, origin_host="origin.example.net")


def build(settings: CdnConfig = CDN) -> Any:
    return cloudflare_edge(settings)


def ruleset(records: list[ResourceRecord], phase: str) -> ResourceRecord:
    found = [
        r
        for r in of_type(records, "cloudflare:index/ruleset:Ruleset")
        if r.inputs["phase"] == phase
    ]
    assert len(found) == 1, phase
    return found[0]


@pulumi.runtime.test
def test_zone_plan_and_proxied_dns(monitor: Any) -> Any:
    edge = build()

    def check() -> None:
        zone = one(monitor.records, "cloudflare:index/zone:Zone")
        assert zone.inputs["name"] == "shop.example.com"
        assert zone.inputs["account"] == {"id": ACCOUNT}
        plan = one(monitor.records, "cloudflare:index/zoneSubscription:ZoneSubscription")
        assert plan.inputs["ratePlan"]["id"] == "pro"
        records = of_type(monitor.records, "cloudflare:index/dnsRecord:DnsRecord")
        assert {r.inputs["name"] for r in records} == {"shop.example.com", "www.shop.example.com"}
        for record in records:
            assert record.inputs["proxied"] is True, record.urn
            assert record.inputs["content"] == "origin.example.net"

    return when_registered(edge, check)


@pulumi.runtime.test
def test_an_existing_zone_is_adopted_not_created(monitor: Any) -> Any:
    zone_id = "fedcba9876543210fedcba9876543210"
    edge = build(
        CdnConfig(
            zone_name="shop.example.com",
            zone_id=zone_id,
            account_id=ACCOUNT,
            origin_host="origin.example.net",
        )
    )

    def check(adopted: str) -> None:
        assert adopted == zone_id
        assert not of_type(monitor.records, "cloudflare:index/zone:Zone")
        for setting in of_type(monitor.records, "cloudflare:index/zoneSetting:ZoneSetting"):
            assert setting.inputs["zoneId"] == zone_id

    return pulumi.Output.all(edge.zone_id, when_registered(edge, lambda: None)).apply(
        lambda values: check(values[0])
    )


@pulumi.runtime.test
def test_zone_settings_enforce_tls_and_performance(monitor: Any) -> Any:
    edge = build()

    def check() -> None:
        settings = {
            r.inputs["settingId"]: r.inputs["value"]
            for r in of_type(monitor.records, "cloudflare:index/zoneSetting:ZoneSetting")
        }
        assert settings == {
            "always_use_https": "on",
            "min_tls_version": "1.2",
            "tls_1_3": "on",
            "http3": "on",
            "early_hints": "on",
        }

    return when_registered(edge, check)


@pulumi.runtime.test
def test_cache_rules_put_each_tier_inside_the_adr_range(monitor: Any) -> Any:
    edge = build()

    def check() -> None:
        rules = ruleset(monitor.records, "http_request_cache_settings").inputs["rules"]
        assert [r["ref"] for r in rules] == [
            "medium-tier",
            "short-tier",
            "event-purged",
            "long-tier",
            "bypass",
        ]
        # Prices and inventory: the Worker alone holds them on every plan (purged by tag).
        assert rules[2]["actionParameters"] == {"cache": False}
        assert 'lower(url_decode(http.request.uri.path)), "/api/prices"' in rules[2]["expression"]
        for rule in (*rules[:2], rules[3]):
            tier = rule["ref"].removesuffix("-tier")
            low, high = TIER_RANGES[tier]
            if tier == "short":  # under Pro's 1 h minimum edge TTL: the Worker holds it
                assert rule["actionParameters"] == {"cache": False}
                continue
            edge_ttl = rule["actionParameters"]["edgeTtl"]
            assert edge_ttl["mode"] == "override_origin"
            assert low <= edge_ttl["default"] <= high, rule["ref"]
            browser = rule["actionParameters"]["browserTtl"]
            assert browser["mode"] == "respect_origin" or browser["default"] <= edge_ttl["default"]
            assert rule["actionParameters"]["cache"] is True
        bypass = rules[-1]
        assert bypass["actionParameters"] == {"cache": False}
        for needle in ('"/cart"', '"/checkout"', '"/account"', "session_id=", "authorization"):
            assert needle in bypass["expression"], needle

    return when_registered(edge, check)


@pulumi.runtime.test
def test_tiered_cache_waf_and_rate_limits(monitor: Any) -> Any:
    edge = build()

    def check() -> None:
        assert (
            one(monitor.records, "cloudflare:index/tieredCache:TieredCache").inputs["value"] == "on"
        )
        waf = ruleset(monitor.records, "http_request_firewall_managed").inputs["rules"]
        assert {r["actionParameters"]["id"] for r in waf} == {
            "efb7b8c949ac4650a09736fc376e9aee",  # Cloudflare Managed Ruleset
            "4814384a9e5d4991b9815dcfc25d2f1f",  # OWASP Core Ruleset
        }
        assert all(r["action"] == "execute" for r in waf)
        limits = {r["ref"]: r for r in ruleset(monitor.records, "http_ratelimit").inputs["rules"]}
        assert limits["login"]["ratelimit"]["requestsPerPeriod"] == 10
        assert '"/login"' in limits["login"]["expression"]
        assert '"/api/' in limits["api"]["expression"]
        assert all(r["action"] == "block" for r in limits.values())

    return when_registered(edge, check)


@pulumi.runtime.test
def test_worker_script_bindings_and_route(monitor: Any) -> Any:
    edge = build()

    def check() -> None:
        script = one(monitor.records, "cloudflare:index/workersScript:WorkersScript")
        assert script.inputs["mainModule"] == "worker.js"
        assert script.inputs["content"] == worker_source()
        assert "export default" in script.inputs["content"]
        bindings = {b["name"]: b["text"] for b in script.inputs["bindings"]}
        assert bindings == worker_bindings(CDN)
        assert all(b["type"] == "plain_text" for b in script.inputs["bindings"])
        routes = of_type(monitor.records, "cloudflare:index/workersRoute:WorkersRoute")
        assert {r.inputs["pattern"] for r in routes} == {
            "shop.example.com/*",
            "www.shop.example.com/*",
        }
        assert all(r.inputs["script"] == script.inputs["scriptName"] for r in routes)

    return when_registered(edge, check)


def test_worker_and_edge_rules_agree_on_every_tier() -> None:
    """The Worker's TIER_RULES and the zone's cache rules put each path on the same tier."""
    tier_rules = json.loads(worker_bindings(CDN)["TIER_RULES"])
    tiers = json.loads(worker_bindings(CDN)["CACHE_TIERS"])
    assert {name: t["edgeTtl"] for name, t in tiers.items()} == {
        name: t.edge_ttl for name, t in CDN.tiers.items()
    }
    assert [r["tier"] for r in tier_rules] == [
        r.tier
        for r in render_cache_rules(CDN)
        if r.tier is not None and r.consistency is EdgeConsistency.TTL
    ]


@pytest.mark.parametrize(
    ("path", "tier"),
    [
        ("/products/1", "medium"),
        ("/api/catalog/1", "medium"),
        ("/api/prices/1", "short"),
        ("/search", "short"),
        ("/static/app.js", "long"),
        ("/products/photo.webp", "long"),
        ("/cart/items", None),
        ("/checkout/app.js", None),
        ("/about", None),
    ],
)
def test_tier_for_path(path: str, tier: str | None) -> None:
    assert tier_for_path(path, tier_rules(CDN), CDN.bypass_paths) == tier


def test_tier_violations_name_the_tier_and_range() -> None:
    assert tier_violations(CDN.tiers) == []
    bad = dict(CDN.tiers)
    bad["short"] = CacheTier(edge_ttl=60, browser_ttl=30)
    bad["long"] = CacheTier(edge_ttl=86400, browser_ttl=90000)
    problems = tier_violations(bad)
    assert [p.split(" ", 1)[0] for p in problems] == ["short.edgeTtl", "long.browserTtl"]
    assert "300–900 s" in problems[0]
