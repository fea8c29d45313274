"""The edge's cache rules on ADR-011's TTL tiers, as plain data (no Pulumi here).

One function classifies requests into tiers; the Cloudflare cache Ruleset, the Worker's bindings,
the plan's table and the policy pack all read its output, so a path can never be on one tier at
the edge and another in the Worker.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from stackconfig.cloudflare_plans import PlanCapabilities, capabilities
from stackconfig.config import CdnConfig
from stackconfig.edge_consistency import EdgeConsistency
from stackconfig.tiers import CacheTier, TierRule, format_duration


@dataclass(frozen=True)
class CacheRule:
    """One rule of the cache-settings phase, in evaluation order."""

    name: str
    description: str
    expression: str
    """Cloudflare Rules language expression the rule matches."""
    tier: str | None
    """Tier name, or None for a bypass rule."""
    edge_ttl: int | None
    browser_ttl: int | None
    stale_while_revalidate: int | None
    stale_if_error: int | None
    matches: str
    """What the rule matches, for people (the plan's table)."""
    zone_edge_ttl: int | None = None
    """Edge TTL the cache rule asks of the zone cache; None when the tier is under the plan's
    minimum edge TTL: the zone cache then leaves these paths alone and the Worker's Cache API
    (no plan minimum) holds the tier."""
    zone_browser_ttl: int | None = None
    """Browser TTL the rule overrides; None when under the plan's minimum: the Worker's (or the
    origin's) Cache-Control reaches the browser unchanged."""
    consistency: EdgeConsistency = EdgeConsistency.TTL
    """`event-purged`: events purge these paths; the zone cache leaves them to the Worker
    whatever the plan (one store, reached by a tag purge) and nothing is served stale."""


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _prefixes(paths: Sequence[str]) -> str:
    return " or ".join(f"starts_with(http.request.uri.path, {_quote(p)})" for p in paths)


ROUTED_PATH = "lower(url_decode(http.request.uri.path))"
"""The path as the origin routes it: /Cart and /%63art are /cart (the Worker decodes alike)."""


def bypass_expression(cdn: CdnConfig) -> str:
    bypass = " or ".join(
        f"starts_with({ROUTED_PATH}, {_quote(p.lower())})" for p in cdn.bypass_paths
    )
    return " or ".join(
        [
            f"({bypass})",
            f"http.cookie contains {_quote(cdn.session_cookie + '=')}",
            # Header names keep the client's case in this field; Cloudflare's docs lower() them.
            'any(lower(http.request.headers.names[*])[*] == "authorization")',
        ]
    )


def _tier_rule(
    name: str,
    description: str,
    expression: str,
    tier_name: str,
    matches: str,
    tiers: Mapping[str, CacheTier],
    plan: PlanCapabilities,
) -> CacheRule:
    tier = tiers[tier_name]
    return CacheRule(
        name=name,
        description=f"{description} — ADR-011 {tier_name} tier: {matches}",
        expression=expression,
        tier=tier_name,
        edge_ttl=tier.edge_ttl,
        browser_ttl=tier.browser_ttl,
        stale_while_revalidate=tier.stale_while_revalidate,
        stale_if_error=tier.stale_if_error,
        matches=matches,
        zone_edge_ttl=tier.edge_ttl if tier.edge_ttl >= plan.min_edge_ttl else None,
        zone_browser_ttl=tier.browser_ttl if tier.browser_ttl >= plan.min_browser_ttl else None,
    )


def event_purged_rule(cdn: CdnConfig) -> CacheRule:
    """The event-purged class (`cdn.eventPurged`) on the short tier: matched on the routed path
    (/API/Prices is /api/prices) and not cached by the zone on any plan, so only the Worker holds
    it: the zone cache would serve stale while updating and needs a URL purge of its own."""
    paths = cdn.event_purged.paths
    matches = ", ".join(f"{p}*" for p in paths)
    return CacheRule(
        name="event-purged",
        description=(
            "Prices and inventory, purged by invalidation events, never stale — event-purged, "
            f"ADR-011 short tier: {matches}"
        ),
        expression=" or ".join(f"starts_with({ROUTED_PATH}, {_quote(p.lower())})" for p in paths),
        tier="short",
        edge_ttl=cdn.event_purged.edge_ttl,
        browser_ttl=0,
        stale_while_revalidate=0,
        stale_if_error=0,
        matches=matches,
        consistency=EdgeConsistency.EVENT_PURGED,
    )


def render_cache_rules(cdn: CdnConfig) -> list[CacheRule]:
    """The cache rules in Cloudflare's evaluation order.

    Every matching cache rule applies and later rules override earlier ones, so the broad
    medium-tier prefixes come first, the more specific short-tier prefixes after them, the
    event-purged paths after those, static extensions after that, and the bypass rule last: a
    session or a cart is never cached whatever else matched.
    """
    extensions = " ".join(_quote(e) for e in cdn.long_extensions)
    plan = capabilities(cdn.plan.value)
    bypass_matches = (
        ", ".join(f"{p}*" for p in cdn.bypass_paths)
        + f", cookie {cdn.session_cookie}, Authorization header"
    )
    rules = [
        _tier_rule(
            "medium-tier",
            "Catalog, product pages and API",
            _prefixes(cdn.medium_paths),
            "medium",
            ", ".join(f"{p}*" for p in cdn.medium_paths),
            cdn.tiers,
            plan,
        ),
        _tier_rule(
            "short-tier",
            "Prices, inventory, search",
            _prefixes(cdn.short_paths),
            "short",
            ", ".join(f"{p}*" for p in cdn.short_paths),
            cdn.tiers,
            plan,
        ),
        *([event_purged_rule(cdn)] if cdn.event_purged.paths else []),
        _tier_rule(
            "long-tier",
            "Static assets by extension",
            f"http.request.uri.path.extension in {{{extensions}}}",
            "long",
            "*." + ", *.".join(cdn.long_extensions),
            cdn.tiers,
            plan,
        ),
        CacheRule(
            name="bypass",
            description="Never cached — bypass: " + bypass_matches,
            expression=bypass_expression(cdn),
            tier=None,
            edge_ttl=None,
            browser_ttl=None,
            stale_while_revalidate=None,
            stale_if_error=None,
            matches=bypass_matches,
        ),
    ]
    return rules


def tier_rules(cdn: CdnConfig) -> tuple[TierRule, ...]:
    """The config's path classification, in the cache rules' order (the Worker's TIER_RULES)."""
    return (
        TierRule("medium", path_prefixes=cdn.medium_paths),
        TierRule("short", path_prefixes=cdn.short_paths),
        TierRule("long", extensions=cdn.long_extensions),
    )


def rules_table(rules: Sequence[CacheRule]) -> str:
    """Markdown: path pattern → tier → edge TTL → browser TTL (the plan.md section)."""
    lines = [
        "| path pattern | tier | consistency | edge TTL | browser TTL | stale-while-revalidate "
        "| stale-if-error | edge TTL held by |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for rule in rules:
        if rule.tier is None:
            lines.append(f"| {rule.matches} | bypass | — | — | — | — | — | — |")
            continue
        assert rule.edge_ttl is not None and rule.browser_ttl is not None
        if rule.consistency is EdgeConsistency.EVENT_PURGED:
            holder = "Worker (Cache API) alone: purged by events (Cache-Tag)"
        elif rule.zone_edge_ttl is not None:
            holder = "cache rule and Worker"
        else:
            holder = "Worker (Cache API): below the plan's minimum edge TTL"
        lines.append(
            f"| {rule.matches} | {rule.tier} | {rule.consistency.value} | "
            f"{format_duration(rule.edge_ttl)} | "
            f"{format_duration(rule.browser_ttl)} | "
            f"{format_duration(rule.stale_while_revalidate or 0)} | "
            f"{format_duration(rule.stale_if_error or 0)} | {holder} |"
        )
    return "\n".join(lines)
