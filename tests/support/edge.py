"""The Cloudflare edge component for mock tests, without importing pulumi_cloudflare at collection.

pulumi_cloudflare takes seconds to import. Test modules import this instead of
`components.cdn.edge`, so only the test process that builds an edge pays for the SDK (conftest
puts those tests on the worker that also plans the stacks, which imports it anyway).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from stackconfig.config import CdnConfig

if TYPE_CHECKING:
    import pulumi_cloudflare as cloudflare

    from components.cdn.cache_rules import CacheRule
    from components.cdn.edge import CloudflareEdge


def cloudflare_edge(settings: CdnConfig, environment: str = "prod") -> CloudflareEdge:
    """`CloudflareEdge("edge", ...)` for `settings` in `environment`."""
    from components.cdn.edge import CloudflareEdge, CloudflareEdgeArgs

    return CloudflareEdge("edge", CloudflareEdgeArgs(settings=settings, environment=environment))


def zone_settings() -> tuple[str, ...]:
    """The names of the zone settings the edge manages (`components.cdn.edge.ZONE_SETTINGS`)."""
    from components.cdn.edge import ZONE_SETTINGS

    return tuple(ZONE_SETTINGS)


def cache_rule_args(rule: CacheRule) -> cloudflare.RulesetRuleArgs:
    """The typed Ruleset rule the edge registers for one rendered cache rule."""
    from components.cdn.edge import _cache_rule_args  # pyright: ignore[reportPrivateUsage]

    return _cache_rule_args(rule)
