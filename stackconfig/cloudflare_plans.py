"""What each Cloudflare plan lets a zone do: one capability table, read by config validation, the
edge component and the policy pack.

Every fact names the page it was read from and when (like cost/prices.json). Update a fact by
editing it and its `read` date; nothing else in the project hard-codes a plan's limits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


@dataclass(frozen=True)
class Source:
    """Where a fact was read, and when."""

    url: str
    read: str


RATE_LIMIT_TABLE = Source(
    "https://developers.cloudflare.com/waf/rate-limiting-rules/#availability "
    "(cloudflare-docs src/content/partials/waf/rate-limiting-availability-by-plan.mdx)",
    "2026-12-03",
)
EDGE_TTL_TABLE = Source(
    "https://developers.cloudflare.com/cache/how-to/edge-browser-cache-ttl/ "
    "(Minimum Edge Cache TTL; Minimum Browser Cache TTL (Cache Rules))",
    "2026-12-03",
)
MANAGED_RULESETS = Source(
    "https://developers.cloudflare.com/waf/managed-rules/ (the Cloudflare Free Managed Ruleset is "
    "the one available on all plans; Cloudflare Managed and OWASP Core need Pro or higher)",
    "2026-12-03",
)
SUBDOMAIN_ZONES = Source(
    "https://www.pulumi.com/registry/packages/cloudflare/api-docs/zone/ (a subdomain zone needs "
    "the Subdomain Support entitlement) and "
    "https://developers.cloudflare.com/dns/zone-setups/subdomain-setup/ (Enterprise only)",
    "2026-12-03",
)
ZONE_SUBSCRIPTION_FREE = Source(
    "https://github.com/pulumi/pulumi-cloudflare/issues/1550 and "
    "https://github.com/cloudflare/terraform-provider-cloudflare/issues/7083 (ZoneSubscription "
    "with rate plan `free` fails: 1207 'Add a core subscription first'; a new zone is Free "
    "without one, terraform-provider-cloudflare#1102)",
    "2026-12-03",
)
PURGE_KINDS = Source(
    "https://developers.cloudflare.com/cache/how-to/purge-cache/ (purge by URL, hostname, tag, "
    "prefix and everything on every plan since April 2025)",
    "2026-12-03",
)
PURGE_LIMITS = Source(
    "https://developers.cloudflare.com/cache/how-to/purge-cache/ (purge limits per account: "
    "requests per second and token-bucket size for tag, prefix, hostname and everything; URLs per "
    "second; operations per request)",
    "2026-12-03",
)
ENTRY_POINT_RULESETS = Source(
    "https://developers.cloudflare.com/ruleset-engine/about/phases/ (one zone entry point ruleset "
    "per phase; creating a second fails, so an adopted zone's existing one must be imported)",
    "2026-12-03",
)
BROTLI_DEPRECATED = Source(
    "https://github.com/cloudflare/cloudflare-docs/pull/14443 ([Speed] Deprecation of Brotli "
    "setting; compression is governed by Compression Rules, Brotli is on by default)",
    "2026-12-03",
)

CACHE_API_PURGE = Source(
    "https://developers.cloudflare.com/workers/reference/how-the-cache-works/ (Purge assets "
    "stored with the Cache API: cache.delete purges only the local data center; globally by purge "
    "everything, or by Cache-Tag values the Worker appends to the stored response; a URL stored "
    "under a custom cache key set by a Worker cannot be purged by URL: purge everything, by tag, "
    "by host or by prefix instead)",
    "2026-12-03",
)
CACHE_API_URL_PURGE = Source(
    "https://community.cloudflare.com/t/why-doesnt-custom-purge-by-url-purge-caches-default/"
    "129721 (a Cloudflare engineer: purge by URL is not supported for assets cached by the Cache "
    "API; purge everything clears caches.default)",
    "2026-12-03",
)
CACHE_TAG_RULES = Source(
    "https://developers.cloudflare.com/cache/how-to/purge-cache/purge-by-tags/ (Cache-Tag: "
    "comma-separated, printable ASCII, no spaces, case-insensitive, at most 1,024 characters per "
    "tag in a purge call, 16 KB per header; removed before the response reaches a visitor)",
    "2026-12-03",
)
PURGE_FOR_ALL_PLANS = Source(
    "https://blog.cloudflare.com/instant-purge-for-all/ (2025-04-01, read in a reprint of the "
    "post: purge by URL, hostname, tag, prefix and everything on every plan)",
    "2026-12-03",
)

SOURCES: tuple[Source, ...] = (
    RATE_LIMIT_TABLE,
    EDGE_TTL_TABLE,
    MANAGED_RULESETS,
    SUBDOMAIN_ZONES,
    ZONE_SUBSCRIPTION_FREE,
    PURGE_KINDS,
    PURGE_LIMITS,
    ENTRY_POINT_RULESETS,
    BROTLI_DEPRECATED,
    CACHE_API_PURGE,
    CACHE_API_URL_PURGE,
    CACHE_TAG_RULES,
    PURGE_FOR_ALL_PLANS,
)

RATE_LIMIT_PERIODS: tuple[int, ...] = (
    10, 15, 20, 30, 40, 45, 60, 90, 120, 180, 240, 300, 480, 600,
    900, 1200, 1800, 2400, 3600, 65535, 86400,
)  # fmt: skip
"""Every counting / mitigation period value the Rulesets API accepts (seconds)."""

HOUR = 3600
DAY = 86400


@dataclass(frozen=True)
class PlanCapabilities:
    """One zone plan's limits that this project's edge runs into."""

    plan: str
    managed_waf_rulesets: bool
    """The Cloudflare Managed and OWASP Core rulesets can be deployed."""
    rate_limit_rules: int
    """Rate limiting rules per zone."""
    max_rate_limit_period: int
    max_mitigation_timeout: int
    min_edge_ttl: int
    """A cache rule's edge TTL override may not go below this (seconds)."""
    min_browser_ttl: int
    """A cache rule's browser TTL override may not go below this (seconds)."""
    subdomain_zones: bool
    """A subdomain (e.g. dev.shop.example.com) can be a zone of its own."""
    zone_subscription: bool
    """The plan can be set with a ZoneSubscription (Free cannot: it has no core subscription)."""
    purge_kinds: frozenset[str]
    purge_requests_per_second: float
    """Purge calls by tag, prefix, hostname or everything, per account (a token bucket)."""
    purge_bucket: int
    """The bucket's size: calls that may go at once before the rate applies."""
    purge_urls_per_second: int
    """URLs purged per second (a moving average over single-file purges)."""
    purge_items_per_request: int
    """URLs, tags or prefixes in one purge call."""

    def rate_limit_periods(self) -> tuple[int, ...]:
        return tuple(p for p in RATE_LIMIT_PERIODS if p <= self.max_rate_limit_period)

    def mitigation_timeouts(self) -> tuple[int, ...]:
        return tuple(p for p in RATE_LIMIT_PERIODS if p <= self.max_mitigation_timeout)


_ALL_PURGES = frozenset({"url", "hostname", "tag", "prefix", "everything"})
CACHE_API_PURGE_KINDS = frozenset({"tag", "prefix", "hostname", "everything"})
"""Purge kinds that reach an entry the Worker stored with the Cache API in every data center
(`CACHE_API_PURGE`); `url` is not one of them (`CACHE_API_URL_PURGE`)."""

PLANS: Mapping[str, PlanCapabilities] = MappingProxyType(
    {
        "free": PlanCapabilities(
            plan="free",
            managed_waf_rulesets=False,
            rate_limit_rules=1,
            max_rate_limit_period=10,
            max_mitigation_timeout=10,
            min_edge_ttl=2 * HOUR,
            min_browser_ttl=2 * HOUR,
            subdomain_zones=False,
            zone_subscription=False,
            purge_kinds=_ALL_PURGES,
            purge_requests_per_second=5 / 60,
            purge_bucket=25,
            purge_urls_per_second=800,
            purge_items_per_request=100,
        ),
        "pro": PlanCapabilities(
            plan="pro",
            managed_waf_rulesets=True,
            rate_limit_rules=2,
            max_rate_limit_period=60,
            max_mitigation_timeout=HOUR,
            min_edge_ttl=HOUR,
            min_browser_ttl=HOUR,
            subdomain_zones=False,
            zone_subscription=True,
            purge_kinds=_ALL_PURGES,
            purge_requests_per_second=5.0,
            purge_bucket=25,
            purge_urls_per_second=1500,
            purge_items_per_request=100,
        ),
        "business": PlanCapabilities(
            plan="business",
            managed_waf_rulesets=True,
            rate_limit_rules=5,
            max_rate_limit_period=600,
            max_mitigation_timeout=DAY,
            min_edge_ttl=1,
            min_browser_ttl=1,
            subdomain_zones=False,
            zone_subscription=True,
            purge_kinds=_ALL_PURGES,
            purge_requests_per_second=10.0,
            purge_bucket=50,
            purge_urls_per_second=1500,
            purge_items_per_request=100,
        ),
        "enterprise": PlanCapabilities(
            plan="enterprise",
            managed_waf_rulesets=True,
            rate_limit_rules=100,
            max_rate_limit_period=65535,
            max_mitigation_timeout=DAY,
            min_edge_ttl=1,
            min_browser_ttl=1,
            subdomain_zones=True,
            zone_subscription=True,
            purge_kinds=_ALL_PURGES,
            purge_requests_per_second=50.0,
            purge_bucket=500,
            purge_urls_per_second=3000,
            purge_items_per_request=500,
        ),
    }
)


def capabilities(plan: str) -> PlanCapabilities:
    """The capability row of `plan` ("free", "pro", "business", "enterprise")."""
    return PLANS[plan]


def capability_table() -> str:
    """Markdown: what each plan allows (README and docs)."""

    def ttl(seconds: int) -> str:
        return f"{seconds // HOUR} h" if seconds >= HOUR else f"{seconds} s"

    rows = [
        "| | " + " | ".join(PLANS) + " |",
        "|---|" + "---|" * len(PLANS),
        "| Managed + OWASP WAF rulesets | "
        + " | ".join("yes" if p.managed_waf_rulesets else "no" for p in PLANS.values())
        + " |",
        "| rate limiting rules | " + " | ".join(str(p.rate_limit_rules) for p in PLANS.values()),
        "| longest rate-limit period | "
        + " | ".join(ttl(p.max_rate_limit_period) for p in PLANS.values()),
        "| longest mitigation timeout | "
        + " | ".join(ttl(p.max_mitigation_timeout) for p in PLANS.values()),
        "| minimum edge TTL (cache rule) | "
        + " | ".join(ttl(p.min_edge_ttl) for p in PLANS.values()),
        "| subdomain zone | "
        + " | ".join("yes" if p.subdomain_zones else "no" for p in PLANS.values()),
        "| plan set by ZoneSubscription | "
        + " | ".join("yes" if p.zone_subscription else "no (zone default)" for p in PLANS.values()),
        "| purges reaching the Worker's cache | "
        + " | ".join(
            ", ".join(sorted(p.purge_kinds & CACHE_API_PURGE_KINDS)) or "none"
            for p in PLANS.values()
        ),
    ]
    return "\n".join(row if row.endswith("|") else row + " |" for row in rows)
