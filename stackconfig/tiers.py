"""ADR-011's edge TTL tiers and the default path classification, as plain data (no Pulumi here).

The config validator, the Cloudflare cache rules, the Worker's bindings and the policy pack all
judge tiers with `tier_violations` and classify paths with the same rules, so a path cannot be on
one tier at the edge and on another in the Worker.

The ADR gives the long tier a single value ("24 hours for rarely changing data"), not a range:
it is the one tier without a stated spread, so its allowed range is 86400..86400. A longer long
tier would keep static assets past the 24 h the ADR accepts; a shorter one is a medium tier.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType

from stackconfig.adr import TIER_NAMES, TIER_RANGES
from stackconfig.settings import between, setting

MAX_TTL_SECONDS = 31_536_000
"""One year: Cloudflare's longest edge and browser TTL (a sanity bound, not an ADR decision)."""
TTL_SECONDS = between(0, MAX_TTL_SECONDS)


@dataclass(frozen=True)
class CacheTier:
    """One TTL tier of the edge, every duration in seconds: the config's `cdn.tiers.<name>`, what
    the cache rules and the Worker render and what the policy pack reads back from a binding."""

    edge_ttl: int = setting(600, "Edge cache TTL in seconds.", checks=(TTL_SECONDS,))
    """How long the edge serves a copy as fresh."""
    browser_ttl: int = setting(60, "Browser cache TTL in seconds.", checks=(TTL_SECONDS,))
    """`Cache-Control: max-age` sent to browsers; never longer than `edge_ttl`, or browsers would
    keep what the edge has already refreshed."""
    stale_while_revalidate: int = setting(
        60, "Seconds a stale copy may be served while it is refreshed.", checks=(TTL_SECONDS,)
    )
    """After `edge_ttl`, how long a stale copy is served while it is refreshed (RFC 5861)."""
    stale_if_error: int = setting(
        300, "Seconds a stale copy may be served when the origin fails.", checks=(TTL_SECONDS,)
    )
    """After `edge_ttl`, how long a stale copy is served when the origin fails (RFC 5861)."""


_LONG_TTL = TIER_RANGES["long"][0]
DEFAULT_TIERS: Mapping[str, CacheTier] = MappingProxyType(
    {
        # Ours, inside the ADR's ranges. Prices, inventory, search: browsers keep them one
        # minute, the edge ten.
        "short": CacheTier(600, 60, 60, 300),
        "medium": CacheTier(7200, 300, 600, 3600),
        # Static assets are fingerprinted by the build, so browsers may keep them as long as the
        # edge does: the ADR's one long TTL.
        "long": CacheTier(_LONG_TTL, _LONG_TTL, 3600, _LONG_TTL),
    }
)
"""The tiers a stack gets unless it sets `cdn.tiers`."""


@dataclass(frozen=True)
class TierRule:
    """Requests whose path starts with one of `path_prefixes`, or whose last path segment ends in
    one of `extensions`, are cached on `tier`.

    Precedence (the same in `tier_for_path` and in the Worker): a static extension wins over any
    prefix; otherwise the longest matching prefix wins, so `/api/prices` (short) beats `/api/`
    (medium); bypass prefixes win over everything.
    """

    tier: str
    path_prefixes: tuple[str, ...] = ()
    extensions: tuple[str, ...] = ()
    """Lowercase, without the dot."""


STATIC_EXTENSIONS = (
    "css",
    "js",
    "mjs",
    "map",
    "png",
    "jpg",
    "jpeg",
    "gif",
    "webp",
    "avif",
    "svg",
    "ico",
    "woff",
    "woff2",
    "ttf",
    "otf",
)
MEDIUM_PATH_PREFIXES = ("/catalog", "/products", "/categories", "/api/")
SHORT_PATH_PREFIXES = ("/api/prices", "/api/inventory", "/api/search", "/search")

DEFAULT_TIER_RULES: tuple[TierRule, ...] = (
    TierRule("medium", path_prefixes=MEDIUM_PATH_PREFIXES),
    TierRule("short", path_prefixes=SHORT_PATH_PREFIXES),
    TierRule("long", extensions=STATIC_EXTENSIONS),
)

DEFAULT_BYPASS_PATHS = ("/cart", "/checkout", "/account", "/login", "/api/auth")
"""Per-user pages and authentication: never read from or written to the edge cache. Matched on
the percent-decoded, lower-cased path (the Worker and the zone's bypass rule alike)."""

DEFAULT_PUBLIC_PATHS = (
    "/catalog",
    "/products",
    "/categories",
    "/search",
    "/api/prices",
    "/api/inventory",
    "/api/search",
)
"""Prefixes whose responses are the same for every anonymous visitor: only these (and static
extensions) are cached on their tier when the origin sends no Cache-Control. The rest of `/api/`
is cached only when the origin says so: an endpoint answering from a token or header the edge
does not see (/api/orders, /api/me) must not be shared by default."""

DEFAULT_SESSION_COOKIE = "session_id"
"""A request carrying this cookie belongs to a signed-in user and bypasses the edge cache."""

DEFAULT_TRACKING_PARAMS = (
    "utm_*",
    "gclid",
    "dclid",
    "gbraid",
    "wbraid",
    "fbclid",
    "msclkid",
    "yclid",
    "mc_cid",
    "mc_eid",
    "_ga",
    "_gl",
    "igshid",
    "ref_src",
)
"""Query parameters that only identify a campaign or a click, never change the response, and are
dropped from the cache key; a trailing `*` makes the entry a prefix."""


def format_duration(seconds: int) -> str:
    """Seconds for people: `2 h`, `10 min`, `45 s` (Prometheus syntax, `5m`, is
    stackconfig.thresholds.prometheus_duration)."""
    if seconds == 0:
        return "0 s"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def _allowed(low: int, high: int) -> str:
    if low == high:
        return f"{low} s ({format_duration(low)})"
    low_text, high_text = format_duration(low), format_duration(high)
    low_number, low_unit = low_text.split(" ")
    high_number, high_unit = high_text.split(" ")
    spelled = (
        f"{low_number}–{high_number} {high_unit}"
        if low_unit == high_unit
        else f"{low_text}–{high_text}"
    )
    return f"{low}–{high} s ({spelled})"


def tier_violations(tiers: Mapping[str, CacheTier]) -> list[str]:
    """What breaks ADR-011 in `tiers`, one message per problem naming `<tier>.<camelCaseKey>`.

    Checked: every ADR tier present and no other; edge TTLs inside `TIER_RANGES`; no negative
    duration; a browser TTL no longer than its tier's edge TTL.
    """
    problems: list[str] = []
    for name in TIER_NAMES:
        if name not in tiers:
            problems.append(f"{name} is missing; ADR-011 defines the short, medium and long tiers")
    for name in sorted(set(tiers) - set(TIER_NAMES)):
        problems.append(f"{name} is not an ADR-011 tier; expected short, medium or long")
    for name in TIER_NAMES:
        tier = tiers.get(name)
        if tier is None:
            continue
        durations = {
            "edgeTtl": tier.edge_ttl,
            "browserTtl": tier.browser_ttl,
            "staleWhileRevalidate": tier.stale_while_revalidate,
            "staleIfError": tier.stale_if_error,
        }
        for key, seconds in durations.items():
            if seconds < 0:
                problems.append(f"{name}.{key} is {seconds} s; durations cannot be negative")
        low, high = TIER_RANGES[name]
        if tier.edge_ttl >= 0 and not low <= tier.edge_ttl <= high:
            problems.append(
                f"{name}.edgeTtl is {tier.edge_ttl} s; ADR-011 allows {_allowed(low, high)}"
            )
        if tier.browser_ttl > tier.edge_ttl >= 0:
            problems.append(
                f"{name}.browserTtl is {tier.browser_ttl} s, longer than {name}.edgeTtl "
                f"({tier.edge_ttl} s): browsers would keep what the edge has already refreshed"
            )
    return problems


def _extension(path: str) -> str:
    last_segment = path.rsplit("/", 1)[-1]
    return last_segment.rpartition(".")[2].lower() if "." in last_segment else ""


def tier_for_path(
    path: str,
    rules: Sequence[TierRule] = DEFAULT_TIER_RULES,
    bypass_paths: Sequence[str] = DEFAULT_BYPASS_PATHS,
) -> str | None:
    """The tier a request path is cached on, or None (bypassed, or no rule matches).

    The Worker implements the same precedence (see `TierRule`); on a tie between two prefixes of
    the same length the later rule wins, as later cache rules override earlier ones at the edge.
    """
    if any(path.startswith(prefix) for prefix in bypass_paths):
        return None
    extension = _extension(path)
    chosen: str | None = None
    longest = -1
    for rule in rules:
        if extension and extension in rule.extensions:
            return rule.tier
        for prefix in rule.path_prefixes:
            if path.startswith(prefix) and len(prefix) >= longest:
                chosen, longest = rule.tier, len(prefix)
    return chosen
