"""Stack config validation: each bad value reported with its full key, value and what is allowed."""

from __future__ import annotations

from typing import Any

import pytest

from stackconfig.config import (
    ConfigError,
    Environment,
    EvictionPolicy,
    StackConfig,
    parse_stack_config,
)
from stackconfig.quantity import parse_quantity, quantity_bytes

SECRETS = {"oncall": "k1", "senior": "k2", "manager": "k3", "team": "https://hooks.example/x"}


def valid_raw(**overrides: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "environment": "prod",
        "cdn": {
            "zoneName": "shop.example.com",
            "accountId": "0123456789abcdef0123456789abcdef",
            "originHost": "origin.shop.example.com",
            "originAddress": "203.0.113.10",
        },
        "backups": {
            "oidcProviderArn": "arn:aws:iam::123456789012:oidc-provider/oidc.example.com/id/X"
        },
        "alertingSecrets": dict(SECRETS),
        "cloudflareAnalyticsToken": "cf-analytics-token",
    }
    raw.update(overrides)
    return raw


def problems_of(raw: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_stack_config(raw)
    return caught.value.problems


def test_defaults_are_the_adr_values() -> None:
    config = parse_stack_config(valid_raw())
    assert isinstance(config, StackConfig)
    assert config.environment is Environment.PROD
    assert (config.redis.primaries, config.redis.replicas_per_primary) == (3, 1)
    assert config.redis.memory == "8Gi"
    assert config.redis.appendonly and config.redis.rdb
    assert config.redis.eviction_policy is EvictionPolicy.ALLKEYS_LRU
    assert config.redis.node_timeout_ms <= 15000
    assert config.cdn.tiers["short"].edge_ttl == 600
    assert config.cdn.tiers["long"].edge_ttl == 86400
    assert config.traffic.spike_multiplier == 10


@pytest.mark.parametrize(
    ("section", "override", "key", "value_shown", "allowed"),
    [
        ("redis", {"memory": "8XB"}, "cache-platform:redis.memory", "'8XB'", "Kubernetes quantity"),
        ("redis", {"primaries": -1}, "cache-platform:redis.primaries", "-1", "between 1 and 100"),
        ("redis", {"primaries": 0}, "cache-platform:redis.primaries", "0", "between 1 and 100"),
        (
            "redis",
            {"replicasPerPrimary": "two"},
            "cache-platform:redis.replicasPerPrimary",
            "'two'",
            "an integer",
        ),
        (
            "redis",
            {"replicasPerPrimary": -1},
            "cache-platform:redis.replicasPerPrimary",
            "-1",
            "between 0 and 5",
        ),
        ("redis", {"appendonly": "yes"}, "cache-platform:redis.appendonly", "'yes'", "boolean"),
        (
            "cdn",
            {"mediumPaths": ["/api/prices/history"]},
            "cache-platform:cdn.mediumPaths",
            "'/api/prices/history'",
            "under the short path '/api/prices'",
        ),
        (
            "cdn",
            {"tiers": {"short": {"edgeTtl": 1200}}},
            "cache-platform:cdn.tiers.short.edgeTtl",
            "1200 s",
            "300–900 s (5–15 min)",
        ),
        (
            "cdn",
            {"tiers": {"long": {"edgeTtl": 3600}}},
            "cache-platform:cdn.tiers.long.edgeTtl",
            "3600 s",
            "86400 s (24 h)",
        ),
        (
            "cdn",
            {"tiers": {"medium": {"browserTtl": 99999}}},
            "cache-platform:cdn.tiers.medium.browserTtl",
            "99999 s",
            "longer than medium.edgeTtl",
        ),
        (
            "cdn",
            {"zoneName": "Shop.Example.com"},
            "cache-platform:cdn.zoneName",
            "'Shop.Example.com'",
            "DNS name",
        ),
        (
            "redis",
            {"evictionPolicy": "lru"},
            "cache-platform:redis.evictionPolicy",
            "'lru'",
            "'allkeys-lru'",
        ),
        (
            "redis",
            {"image": "redis:latest"},
            "cache-platform:redis.image",
            "'redis:latest'",
            "pinned",
        ),
        (
            "redis",
            {"memroy": "8Gi"},
            "cache-platform:redis.memroy",
            "'8Gi'",
            "did you mean 'memory'",
        ),
        (
            "redis",
            {"maxmemoryPercent": 40},
            "cache-platform:redis.maxmemoryPercent",
            "40",
            "between 50 and 95",
        ),
        ("redis", {"storage": "0"}, "cache-platform:redis.storage", "'0'", "greater than zero"),
        (
            "redis",
            {"namespace": "Cache_NS"},
            "cache-platform:redis.namespace",
            "'Cache_NS'",
            "DNS-1123",
        ),
        (
            "cdn",
            {"zoneName": "not a domain"},
            "cache-platform:cdn.zoneName",
            "'not a domain'",
            "DNS name",
        ),
        ("cdn", {"plan": "gold"}, "cache-platform:cdn.plan", "'gold'", "'pro'"),
        (
            "cdn",
            {"tiers": {"short": {"edgeTtl": "ten"}}},
            "cache-platform:cdn.tiers.short.edgeTtl",
            "'ten'",
            "an integer",
        ),
        (
            "cdn",
            {"bypassPaths": ["cart"]},
            "cache-platform:cdn.bypassPaths",
            "a list",
            "starting with '/'",
        ),
        (
            "monitoring",
            {"retention": "15 days"},
            "cache-platform:monitoring.retention",
            "'15 days'",
            "duration",
        ),
        (
            "monitoring",
            {"escalation": {"l1": "nobody"}},
            "cache-platform:monitoring.escalation.l1",
            "'nobody'",
            "one of the receivers",
        ),
        ("backups", {"schedule": "daily"}, "cache-platform:backups.schedule", "'daily'", "cron"),
        (
            "backups",
            {"region": "Europe"},
            "cache-platform:backups.region",
            "'Europe'",
            "AWS region",
        ),
        (
            "backups",
            {"infrequentAccessAfterDays": 7},
            "cache-platform:backups.infrequentAccessAfterDays",
            "7",
            "between 30 and 3,650",
        ),
        (
            "traffic",
            {"services": 0},
            "cache-platform:traffic.services",
            "0",
            "between 1 and 10,000",
        ),
    ],
)
def test_each_bad_value_names_its_key_value_and_what_is_allowed(
    section: str, override: dict[str, Any], key: str, value_shown: str, allowed: str
) -> None:
    raw = valid_raw()
    raw[section] = {**raw.get(section, {}), **override}
    problems = problems_of(raw)
    matching = [p for p in problems if p.startswith(f"{key}:")]
    assert matching, f"no problem names {key}: {problems}"
    assert value_shown in matching[0], matching[0]
    assert allowed in matching[0], matching[0]


def test_environment_must_be_dev_or_prod() -> None:
    problems = problems_of(valid_raw(environment="staging"))
    assert problems == [
        "cache-platform:environment: 'staging' is not allowed; expected 'dev' or 'prod'"
    ]


def test_missing_environment_is_reported() -> None:
    raw = valid_raw()
    del raw["environment"]
    assert any(p.startswith("cache-platform:environment: is required") for p in problems_of(raw))


def test_every_problem_is_reported_at_once() -> None:
    raw = valid_raw(environment="staging")
    raw["redis"] = {"memory": "8XB", "primaries": -1, "replicasPerPrimary": "two"}
    problems = problems_of(raw)
    keys = {p.split(": ")[0] for p in problems}
    assert keys == {
        "cache-platform:environment",
        "cache-platform:redis.memory",
        "cache-platform:redis.primaries",
        "cache-platform:redis.replicasPerPrimary",
    }


def test_unknown_top_level_key_suggests_the_close_one() -> None:
    problems = problems_of(valid_raw(rediss={"primaries": 3}))
    assert any("cache-platform:rediss:" in p and "did you mean 'redis'" in p for p in problems)


def test_adr_limits_are_not_config_errors() -> None:
    """Well-formed values that break the ADR are the policy pack's to judge."""
    raw = valid_raw()
    raw["redis"] = {"replicasPerPrimary": 0, "memory": "64Gi", "primaries": 1}
    config = parse_stack_config(raw)
    assert config.redis.replicas_per_primary == 0
    assert config.redis.memory == "64Gi"


def test_cdn_requires_zone_account_and_origin_when_enabled() -> None:
    problems = problems_of(valid_raw(cdn={"enabled": True}))
    assert {p.split(": ")[0] for p in problems} == {
        "cache-platform:cdn.zoneName",
        "cache-platform:cdn.accountId",
        "cache-platform:cdn.originHost",
    }
    assert parse_stack_config(valid_raw(cdn={"enabled": False})).cdn.enabled is False


def test_partial_tier_override_keeps_the_rest_of_the_tier() -> None:
    raw = valid_raw()
    raw["cdn"] = {**raw["cdn"], "tiers": {"medium": {"edgeTtl": 3600}}}
    tiers = parse_stack_config(raw).cdn.tiers
    assert tiers["medium"].edge_ttl == 3600
    assert tiers["medium"].browser_ttl == 300  # medium's default, not short's
    assert tiers["short"].edge_ttl == 600


def test_missing_receiver_secret_names_the_secret_key() -> None:
    raw = valid_raw()
    raw["alertingSecrets"] = {k: v for k, v in SECRETS.items() if k != "senior"}
    problems = problems_of(raw)
    assert len(problems) == 1
    assert problems[0].startswith("cache-platform:alertingSecrets.senior: is required")
    assert "pulumi config set --secret" in problems[0]
    assert "k1" not in problems[0]  # never echo a secret


def test_secret_values_are_never_part_of_the_config() -> None:
    config = parse_stack_config(valid_raw())
    assert config.secret_names == frozenset(SECRETS)
    assert "k1" not in repr(config)
    assert "cf-analytics-token" not in repr(config)


def test_the_cloudflare_exporter_token_is_required_only_with_an_edge_and_monitoring() -> None:
    raw = valid_raw()
    del raw["cloudflareAnalyticsToken"]
    assert problems_of(raw) == [
        "cache-platform:cloudflareAnalyticsToken: is required; the Cloudflare exporter needs an "
        "API token with Analytics:Read: pulumi config set --secret "
        "cache-platform:cloudflareAnalyticsToken <token>"
    ]
    parse_stack_config({**raw, "cdn": {"enabled": False}})
    parse_stack_config({**raw, "monitoring": {"enabled": False}})
    parse_stack_config(raw, require_secrets=False)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("8Gi", 8 * 2**30), ("512Mi", 512 * 2**20), ("1G", 10**9), ("1.5Gi", 3 * 2**29), ("100", 100)],
)
def test_quantities(text: str, expected: int) -> None:
    assert quantity_bytes(text) == expected


@pytest.mark.parametrize("text", ["8XB", "", "Gi", "8 Gi", "eight", "8gi"])
def test_bad_quantities(text: str) -> None:
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        parse_quantity(text)


def test_cpu_quantity_in_millicores() -> None:
    assert parse_quantity("250m") == parse_quantity("0.25")


def test_trace_retention_is_a_duration_tempo_can_read() -> None:
    problems = problems_of(valid_raw(monitoring={"traceRetention": "7d"}))
    assert problems == [
        "cache-platform:monitoring.traceRetention: '7d' is not allowed; expected a duration in "
        "h, m or s such as 72h (Tempo has no 'd')"
    ]
    assert (
        parse_stack_config(
            valid_raw(monitoring={"traceRetention": "168h"})
        ).monitoring.trace_retention
        == "168h"
    )
    problems = problems_of(valid_raw(monitoring={"traceSamplingPercent": 0}))
    assert len(problems) == 1 and "traceSamplingPercent" in problems[0]
