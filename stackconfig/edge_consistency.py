"""Consistency classes of the edge and how the Worker's cache entries are found again by a purge.

Two classes (ADR-011 "Consistency Guarantees"; `cachekit.consistency` is the Redis side):

- `ttl`: the tier's TTL with RFC 5861 stale serving; a change shows once the TTL runs out.
- `event-purged` (`cdn.eventPurged`): invalidation events purge the entries when the data changes
  (docs/invalidation.md), so the edge TTL is only the backstop for a lost event. Nothing is served
  stale (no stale-while-revalidate, no stale-if-error: a stale price is a wrong price) and browsers
  keep no copy (`max-age=0, must-revalidate`): no purge reaches a browser. The zone's cache rules
  leave these paths to the Worker (`cache: false`), so one store holds them and one purge kind
  reaches it on every plan.

How a Cache API entry is purged (the Worker stores with `caches.default.put`), read from
Cloudflare's docs (`stackconfig.cloudflare_plans.CACHE_API_PURGE` and its neighbours):

- `cache.delete` in a Worker removes the entry in the one data center the Worker runs in only:
  useless for a global invalidation (the invalidator does not call the Worker for it).
- A URL (single-file) purge does not reach an entry the Worker stored under a key of its own
  (ours drops tracking parameters and sorts the query), and a Cloudflare engineer said purge by URL
  does not reach Cache API entries at all (`CACHE_API_URL_PURGE`): never relied on.
- Purge by tag, prefix, hostname and everything do reach them; since April 2025 every plan may use
  every purge kind (`stackconfig.cloudflare_plans.PURGE_KINDS`).

So every entry the Worker stores carries a `Cache-Tag` naming its path (`path_cache_tag`), and the
invalidator purges an event's URLs by that tag as well as by URL (the URL purge reaches the zone
cache's copies). The tag is host + the routed path (percent-decoded, lower-cased, runs of `/` as
one — the Worker's `routedPath`), percent-encoded again: every query variant and every spelling of
one path (`/API/Prices/1`, `/api//prices/1`) is dropped by one purge.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit

from stackconfig.adr import TIER_RANGES
from stackconfig.settings import between, matches, setting

PATH_TAG_PREFIX = "path:"
MAX_CACHE_TAG_LENGTH = 1024
"""Longest tag a purge call accepts (`CACHE_TAG_RULES`). A longer path tag is cut there: two
paths sharing the first 1,024 characters then share a tag, and a purge of one drops both (a
harmless extra miss)."""
TAG_SAFE = "/!~*'()"
"""Characters JavaScript's encodeURIComponent leaves alone, besides letters, digits and `-_.`;
'/' is kept readable. Commas and spaces (tag separators) are always encoded."""


class EdgeConsistency(enum.StrEnum):
    TTL = "ttl"
    EVENT_PURGED = "event-purged"


EVENT_PURGED_PATHS = ("/api/prices", "/api/inventory")
"""ADR-011 "Strong Consistency: for critical financial and inventory data". The edge serves the
displayed prices and stock; checkout and stock decisions bypass it (`/checkout`, `/cart`) and
read the source (`cachekit.consistency.Consistency.STRONG`)."""

_SHORT_LOW, _SHORT_HIGH = TIER_RANGES["short"]


@dataclass(frozen=True)
class EventPurgedClass:
    """`cdn.eventPurged`: paths whose edge entries invalidation events purge."""

    paths: tuple[str, ...] = setting(
        EVENT_PURGED_PATHS,
        "Path prefixes purged by invalidation events (matched on the percent-decoded, "
        "lower-cased path): held by the Worker alone, never served stale, not kept by browsers.",
        why="ADR-011: strong consistency for financial and inventory data.",
        checks=(matches(r"/[A-Za-z0-9/_.-]*", "path prefixes starting with '/'"),),
    )
    edge_ttl: int = setting(
        600,
        "Edge TTL in seconds of the event-purged paths: the backstop when an event is lost.",
        why="Within ADR-011's short tier (frequently changing data); events purge sooner.",
        checks=(between(_SHORT_LOW, _SHORT_HIGH),),
    )


def routed_path(path: str) -> str | None:
    """The path as an origin routes it: percent-decoded, lower-cased, runs of '/' as one; None
    when it does not decode (the Worker caches no such request). The Worker's `routedPath`."""
    try:
        decoded = unquote(path, errors="strict")
    except UnicodeDecodeError:
        return None
    if re.search(r"%(?![0-9A-Fa-f]{2})", path):
        return None  # decodeURIComponent refuses a lone '%'
    return re.sub(r"/{2,}", "/", decoded.lower())


def path_cache_tag(url: str) -> str | None:
    """The `Cache-Tag` the Worker stores an entry of `url` with (any query string), or None for a
    URL whose path does not decode. The Worker's `pathCacheTag` is the twin (checked against this
    one in the workerd tests)."""
    parts = urlsplit(url)
    path = routed_path(parts.path or "/")
    if path is None or not parts.hostname:
        return None
    tag = PATH_TAG_PREFIX + parts.hostname.lower() + quote(path, safe=TAG_SAFE)
    return tag[:MAX_CACHE_TAG_LENGTH]


def consistency_for_path(
    path: str, event_purged_paths: tuple[str, ...] = EVENT_PURGED_PATHS
) -> EdgeConsistency:
    """The edge consistency class of a request path (bypass paths aside, which are never
    cached). The Worker's `isEventPurged` is the twin."""
    routed = routed_path(path)
    if routed is not None and any(routed.startswith(p.lower()) for p in event_purged_paths):
        return EdgeConsistency.EVENT_PURGED
    return EdgeConsistency.TTL
