"""The edge's cache rules on ADR-011's TTL tiers, as plain data (no Pulumi here).

One function classifies requests into tiers; the Cloudflare cache Ruleset, the Worker's bindings,
the plan's table and the policy pack all read its output, so a path can never be on one tier at
the edge and another in the Worker.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from stackconfig.config import CdnConfig
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


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _prefixes(paths: Sequence[str]) -> str:
    return " or ".join(f"starts_with(http.request.uri.path, {_quote(p)})" for p in paths)


def bypass_expression(cdn: CdnConfig) -> str:
    return " or ".join(
        [
            f"({_prefixes(cdn.bypass_paths)})",
            f"http.cookie contains {_quote(cdn.session_cookie + '=')}",
            'any(http.request.headers.names[*] == "authorization")',
        ]
    )


def _tier_rule(
    name: str,
    description: str,
    expression: str,
    tier_name: str,
    matches: str,
    tiers: Mapping[str, CacheTier],
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
    )


def render_cache_rules(cdn: CdnConfig) -> list[CacheRule]:
    """The cache rules in Cloudflare's evaluation order.

    Every matching cache rule applies and later rules override earlier ones, so the broad
    medium-tier prefixes come first, the more specific short-tier prefixes after them, static
    extensions after that, and the bypass rule last: a session or a cart is never cached whatever
    else matched.
    """
    extensions = " ".join(_quote(e) for e in cdn.long_extensions)
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
        ),
        _tier_rule(
            "short-tier",
            "Prices, inventory, search",
            _prefixes(cdn.short_paths),
            "short",
            ", ".join(f"{p}*" for p in cdn.short_paths),
            cdn.tiers,
        ),
        _tier_rule(
            "long-tier",
            "Static assets by extension",
            f"http.request.uri.path.extension in {{{extensions}}}",
            "long",
            "*." + ", *.".join(cdn.long_extensions),
            cdn.tiers,
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
        "| path pattern | tier | edge TTL | browser TTL | stale-while-revalidate "
        "| stale-if-error |",
        "|---|---|---|---|---|---|",
    ]
    for rule in rules:
        if rule.tier is None:
            lines.append(f"| {rule.matches} | bypass | — | — | — | — |")
            continue
        assert rule.edge_ttl is not None and rule.browser_ttl is not None
        lines.append(
            f"| {rule.matches} | {rule.tier} | {format_duration(rule.edge_ttl)} | "
            f"{format_duration(rule.browser_ttl)} | "
            f"{format_duration(rule.stale_while_revalidate or 0)} | "
            f"{format_duration(rule.stale_if_error or 0)} |"
        )
    return "\n".join(lines)
