"""The edge's cache rules on ADR-011's TTL tiers, as plain data (no Pulumi here).

One function classifies requests into tiers; the Cloudflare cache Ruleset, the Worker's bindings,
the plan's table and the policy pack all read its output, so a path can never be on one tier at
the edge and another in the Worker.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from components.config import CacheTierSettings, CdnConfig

TIER_ORDER = ("short", "medium", "long")

ADR_EDGE_TTL_RANGES: Mapping[str, tuple[int, int]] = {
    "short": (5 * 60, 15 * 60),
    "medium": (60 * 60, 4 * 60 * 60),
    # The ADR says "24 hours" for the long tier: a point, not a range.
    "long": (24 * 60 * 60, 24 * 60 * 60),
}
"""ADR-011 "TTL-Based Expiration": edge TTL bounds of each tier, in seconds."""


def _duration(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def tier_violations(tiers: Mapping[str, CacheTierSettings]) -> list[tuple[str, str]]:
    """(key under cdn.tiers, what is wrong) for every tier outside ADR-011's ranges."""
    problems: list[tuple[str, str]] = []
    for name in TIER_ORDER:
        tier = tiers.get(name)
        if tier is None:
            problems.append((name, "is missing; ADR-011 defines short, medium and long tiers"))
            continue
        low, high = ADR_EDGE_TTL_RANGES[name]
        if not low <= tier.edge_ttl <= high:
            allowed = _duration(low) if low == high else f"{_duration(low)}-{_duration(high)}"
            problems.append(
                (
                    f"{name}.edgeTtl",
                    f"{tier.edge_ttl} s is outside ADR-011's {name} tier ({allowed}, "
                    f"{low}-{high} s)",
                )
            )
        if tier.browser_ttl > tier.edge_ttl:
            problems.append(
                (
                    f"{name}.browserTtl",
                    f"{tier.browser_ttl} s is longer than the tier's edgeTtl ({tier.edge_ttl} s): "
                    "browsers would keep what the edge already refreshed",
                )
            )
    return problems


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
    tiers: Mapping[str, CacheTierSettings],
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


def tier_for_path(cdn: CdnConfig, path: str) -> str | None:
    """The tier a request path ends up on (None: bypass or not cached by a rule).

    Mirrors the rule order of `render_cache_rules` for paths alone (cookies and headers aside);
    the plan's table and tests use it.
    """
    tier: str | None = None
    if any(path.startswith(p) for p in cdn.medium_paths):
        tier = "medium"
    if any(path.startswith(p) for p in cdn.short_paths):
        tier = "short"
    extension = path.rsplit("/", 1)[-1].rpartition(".")[2] if "." in path.rsplit("/", 1)[-1] else ""
    if extension in cdn.long_extensions:
        tier = "long"
    if any(path.startswith(p) for p in cdn.bypass_paths):
        tier = None
    return tier


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
            f"| {rule.matches} | {rule.tier} | {_duration(rule.edge_ttl)} | "
            f"{_duration(rule.browser_ttl)} | {_duration(rule.stale_while_revalidate or 0)} | "
            f"{_duration(rule.stale_if_error or 0)} |"
        )
    return "\n".join(lines)
