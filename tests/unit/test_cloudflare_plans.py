"""What each Cloudflare plan allows, enforced as config errors and in what the edge registers."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pulumi
import pytest

from components.cdn.cache_rules import CacheRule, render_cache_rules
from plan.runner import prepare_config
from stackconfig.cloudflare_plans import PLANS, SOURCES, capabilities
from stackconfig.config import CdnConfig, CloudflarePlan, ConfigError, parse_stack_config
from stackconfig.edge_consistency import EdgeConsistency
from tests.support.edge import cloudflare_edge, zone_settings
from tests.support.mocking import install_mocks, of_type, when_registered

ROOT = Path(__file__).resolve().parents[2]
ACCOUNT = "0123456789abcdef0123456789abcdef"


def raw(**cdn: Any) -> dict[str, Any]:
    return {
        "environment": "dev",
        "cdn": {
            "zoneName": "shop.example.com",
            "accountId": ACCOUNT,
            "originHost": "origin.example.net",
            **cdn,
        },
        "backups": {"enabled": False},
    }


def problems(document: dict[str, Any], other_zones: tuple[str, ...] = ()) -> list[str]:
    try:
        parse_stack_config(document, require_secrets=False, other_zones=other_zones)
    except ConfigError as error:
        return error.problems
    return []


def test_every_fact_names_its_source_and_date() -> None:
    for source in SOURCES:
        assert source.url.startswith("https://"), source
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", source.read), source
    assert set(PLANS) == {plan.value for plan in CloudflarePlan}


def test_free_plan_with_the_edge_defaults_is_refused_naming_each_key() -> None:
    found = "\n".join(problems(raw(plan="free")))
    # Managed WAF rulesets: Pro and higher.
    assert "cache-platform:cdn.managedWaf: true is not allowed" in found
    # One rate limiting rule on Free, the edge needs two.
    assert "cache-platform:cdn.plan: 'free' is not allowed; the edge needs 2" in found
    # Free allows a 10 s period and 10 s mitigation only (dev asked 60 s / 600 s).
    assert "cache-platform:cdn.rateLimitPeriod: 60 is not allowed; the free plan allows 10 s" in (
        found
    )
    assert "cache-platform:cdn.rateLimitMitigationTimeout: 600 is not allowed" in found


def test_rate_limit_values_must_be_ones_the_plan_accepts() -> None:
    assert problems(raw(plan="pro", rateLimitPeriod=60, rateLimitMitigationTimeout=3600)) == []
    found = problems(raw(plan="pro", rateLimitPeriod=120))
    assert any("cdn.rateLimitPeriod: 120 is not allowed" in line for line in found)
    found = problems(raw(plan="business", rateLimitPeriod=50))
    assert any("cdn.rateLimitPeriod: 50" in line for line in found)  # not a supported value


def test_a_zone_inside_another_stacks_zone_is_a_subdomain_zone() -> None:
    found = problems(
        raw(plan="pro", zoneName="dev.shop.example.com"), other_zones=("shop.example.com",)
    )
    assert any(
        line.startswith("cache-platform:cdn.zoneName: 'dev.shop.example.com' is not allowed")
        and "Enterprise" in line
        for line in found
    ), found
    assert (
        problems(
            raw(plan="enterprise", zoneName="dev.shop.example.com"),
            other_zones=("shop.example.com",),
        )
        == []
    )


def test_the_shipped_dev_stack_is_one_a_real_up_can_create(tmp_path: Path) -> None:
    # The old dev stack (dev.shop.example.com on Free) fails here; the project's own stack
    # files are what `pulumi up` would read.
    _, _, config, _ = prepare_config(ROOT / "Pulumi.dev.yaml")
    plan = capabilities(config.cdn.plan.value)
    assert not plan.subdomain_zones
    assert config.cdn.zone_name is not None
    assert not config.cdn.zone_name.endswith(".shop.example.com")


def test_origin_inside_the_zone_needs_its_address() -> None:
    found = problems(raw(originHost="origin.shop.example.com"))
    assert any(line.startswith("cache-platform:cdn.originAddress: is required") for line in found)
    assert problems(raw(originHost="origin.shop.example.com", originAddress="203.0.113.10")) == []
    found = problems(raw(originHost="origin.shop.example.com", originAddress="not-an-ip"))
    assert any("cdn.originAddress: 'not-an-ip'" in line for line in found)


def test_an_adopted_zone_must_say_which_entry_point_rulesets_exist() -> None:
    found = problems(raw(zoneId="f" * 32))
    for phase in ("http_request_cache_settings", "http_request_firewall_managed", "http_ratelimit"):
        assert any(f"cdn.entryPointRulesets.{phase}: is required" in line for line in found)
    assert (
        problems(
            raw(
                zoneId="f" * 32,
                entryPointRulesets={
                    "http_request_cache_settings": "a" * 32,
                    "http_request_firewall_managed": "none",
                    "http_ratelimit": "none",
                },
            )
        )
        == []
    )


def test_short_tier_under_the_plans_minimum_edge_ttl_is_left_to_the_worker() -> None:
    def by_tier(plan: CloudflarePlan) -> dict[str | None, CacheRule]:
        rules = render_cache_rules(CdnConfig(plan=plan))
        return {r.tier: r for r in rules if r.consistency is EdgeConsistency.TTL}

    pro = by_tier(CloudflarePlan.PRO)
    assert pro["short"].zone_edge_ttl is None  # 600 s < Pro's 1 h minimum
    assert pro["short"].edge_ttl == 600  # the Worker still holds the ADR's tier
    assert pro["medium"].zone_edge_ttl == 7200
    assert pro["medium"].zone_browser_ttl is None  # 300 s < Pro's 1 h browser minimum
    business = by_tier(CloudflarePlan.BUSINESS)
    assert business["short"].zone_edge_ttl == 600
    for plan in CloudflarePlan:
        floor = capabilities(plan.value).min_edge_ttl
        for rule in render_cache_rules(CdnConfig(plan=plan)):
            assert rule.zone_edge_ttl is None or rule.zone_edge_ttl >= floor, (plan, rule.name)


@pytest.fixture
def monitor() -> Any:
    return install_mocks()


SETTINGS = CdnConfig(
    zone_name="shop.example.com",
    account_id=ACCOUNT,
    origin_host="origin.shop.example.com",
    origin_address="203.0.113.10",
)


@pulumi.runtime.test
def test_edge_serves_every_proxied_name_and_the_origin_record(monitor: Any) -> Any:
    edge = cloudflare_edge(SETTINGS, "prod")

    def check() -> None:
        records = {
            r.inputs["name"]: r
            for r in of_type(monitor.records, "cloudflare:index/dnsRecord:DnsRecord")
        }
        origin = records["origin.shop.example.com"]
        assert (origin.inputs["type"], origin.inputs["content"]) == ("A", "203.0.113.10")
        proxied = {name for name, r in records.items() if r.inputs["proxied"]}
        routes = {
            r.inputs["pattern"].removesuffix("/*")
            for r in of_type(monitor.records, "cloudflare:index/workersRoute:WorkersRoute")
        }
        assert (
            routes == proxied == {"shop.example.com", "www.shop.example.com", origin.inputs["name"]}
        )
        assert "brotli" not in zone_settings()
        settings = of_type(monitor.records, "cloudflare:index/zoneSetting:ZoneSetting")
        assert "brotli" not in {r.inputs["settingId"] for r in settings}
        short = next(
            r
            for r in of_type(monitor.records, "cloudflare:index/ruleset:Ruleset")
            if r.inputs["phase"] == "http_request_cache_settings"
        )
        by_ref = {rule["ref"]: rule for rule in short.inputs["rules"]}
        assert by_ref["short-tier"]["actionParameters"] == {"cache": False}

    return when_registered(edge, check)


@pulumi.runtime.test
def test_free_zone_has_no_subscription_and_no_paid_waf(monitor: Any) -> Any:
    free = CdnConfig(
        zone_name="shop.example.com",
        account_id=ACCOUNT,
        origin_host="origin.example.net",
        plan=CloudflarePlan.FREE,
        managed_waf=False,
    )
    edge = cloudflare_edge(free, "dev")

    def check() -> None:
        types = {r.type for r in monitor.records}
        assert "cloudflare:index/zoneSubscription:ZoneSubscription" not in types
        phases = {
            r.inputs["phase"] for r in of_type(monitor.records, "cloudflare:index/ruleset:Ruleset")
        }
        assert "http_request_firewall_managed" not in phases

    return when_registered(edge, check)


@pulumi.runtime.test
def test_adopted_zone_imports_its_existing_entry_point(monitor: Any) -> Any:
    adopted = CdnConfig(
        zone_name="shop.example.com",
        zone_id="f" * 32,
        account_id=ACCOUNT,
        origin_host="origin.example.net",
        entry_point_rulesets={"http_request_cache_settings": "a" * 32},
    )
    edge = cloudflare_edge(adopted, "prod")

    def check() -> None:
        imports = {
            r.inputs["phase"]: r.import_id
            for r in of_type(monitor.records, "cloudflare:index/ruleset:Ruleset")
        }
        assert imports["http_request_cache_settings"] == f"zones/{'f' * 32}/{'a' * 32}"
        assert imports["http_ratelimit"] is None

    return when_registered(edge, check)


def test_plan_md_says_which_layer_holds_the_short_tier() -> None:
    from plan.artifacts import cdn_section
    from tests.support.plan_runs import stack_plan

    section = cdn_section(stack_plan("prod").records)
    short = next(line for line in section.splitlines() if "| short |" in line)
    assert short.endswith("| Worker (Cache API) |")


def test_readme_lists_the_api_token_permissions() -> None:
    readme = (ROOT / "README.md").read_text()
    for permission in ("Billing: Edit", "DNS: Edit", "Zone WAF: Edit", "Workers Scripts: Edit"):
        assert permission in readme, permission
    assert "docs/cloudflare.md" in readme
