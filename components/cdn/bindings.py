"""The caching Worker's plain-text bindings: its whole configuration, rendered from plain data.

Every binding value is a string (Cloudflare `plain_text` bindings); structured values are JSON
with sorted keys, so the same inputs always give byte-identical bindings and a deploy diff shows
only real changes. `python -m components.cdn.worker_module` prints the default bindings as one JSON
object: the workerd tests and the Worker benchmark configure the Worker from it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

from stackconfig.edge_consistency import EventPurgedClass
from stackconfig.tiers import CacheTier, TierRule


def _json(value: object) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def _rule(rule: TierRule) -> dict[str, object]:
    rendered: dict[str, object] = {"tier": rule.tier}
    # Only the keys a rule uses: the Worker treats a missing list as empty.
    if rule.path_prefixes:
        rendered["pathPrefixes"] = list(rule.path_prefixes)
    if rule.extensions:
        rendered["extensions"] = list(rule.extensions)
    return rendered


def render_worker_bindings(
    tiers: Mapping[str, CacheTier],
    rules: Sequence[TierRule],
    bypass_paths: Sequence[str],
    session_cookie: str,
    tracking_params: Sequence[str],
    public_paths: Sequence[str],
    event_purged: EventPurgedClass,
) -> dict[str, str]:
    """Binding name -> value for the Worker, keys sorted.

    - `SESSION_COOKIE`: the cookie name itself (not JSON).
    - `BYPASS_PATHS`: JSON list of path prefixes never cached.
    - `PUBLIC_PATHS`: JSON list of path prefixes cached on their tier even without Cache-Control.
    - `CACHE_TIERS`: JSON object, tier name -> {edgeTtl, browserTtl, staleWhileRevalidate,
      staleIfError} in seconds.
    - `TIER_RULES`: JSON list of {tier, pathPrefixes?, extensions?}, in the order given (a tie
      between equally long prefixes goes to the later rule).
    - `TRACKING_PARAMS`: JSON list of query parameter names dropped from the cache key (`x*` is
      a prefix).
    - `EVENT_PURGED`: JSON {pathPrefixes, edgeTtl}: the event-purged consistency class
      (stackconfig/edge_consistency.py), whatever tier its paths are on.
    """
    unknown = sorted({rule.tier for rule in rules} - set(tiers))
    if unknown:
        raise ValueError(f"tier rules name tiers that are not defined: {', '.join(unknown)}")
    if not session_cookie:
        raise ValueError("session_cookie must not be empty: signed-in users would share pages")
    rendered_tiers = {
        name: {
            "edgeTtl": tier.edge_ttl,
            "browserTtl": tier.browser_ttl,
            "staleWhileRevalidate": tier.stale_while_revalidate,
            "staleIfError": tier.stale_if_error,
        }
        for name, tier in tiers.items()
    }
    bindings = {
        "BYPASS_PATHS": _json(list(bypass_paths)),
        "CACHE_TIERS": _json(rendered_tiers),
        "EVENT_PURGED": _json(
            {"pathPrefixes": list(event_purged.paths), "edgeTtl": event_purged.edge_ttl}
        ),
        "PUBLIC_PATHS": _json(list(public_paths)),
        "SESSION_COOKIE": session_cookie,
        "TIER_RULES": _json([_rule(rule) for rule in rules]),
        "TRACKING_PARAMS": _json(list(tracking_params)),
    }
    return dict(sorted(bindings.items()))
