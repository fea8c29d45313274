"""The caching Worker as deployed: its ES module source and its plain-text bindings (pure).

The bindings are the Worker's whole configuration; the WorkersScript resource, the plan's
`cdn/worker-bindings.json` and the workerd tests (miniflare `bindings`) all take them from
`worker_bindings`, so the Worker under test is configured exactly as the one deployed.
"""

from __future__ import annotations

import json
from pathlib import Path

from components.config import CdnConfig

WORKER_DIR = Path(__file__).parent / "worker"
WORKER_MAIN_MODULE = "worker.js"

TRACKING_PARAMS = (
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
"""Query parameters that only track the visitor and never change the response (`*`: prefix)."""


def worker_source() -> str:
    """The Worker's ES module (one self-contained file with a default `fetch` export)."""
    return (WORKER_DIR / WORKER_MAIN_MODULE).read_text()


def worker_bindings(cdn: CdnConfig) -> dict[str, str]:
    """The Worker's plain-text bindings, name -> value (JSON values encoded, deterministic)."""

    def encode(value: object) -> str:
        return json.dumps(value, sort_keys=True, separators=(",", ":"))

    tiers = {
        name: {
            "edgeTtl": tier.edge_ttl,
            "browserTtl": tier.browser_ttl,
            "staleWhileRevalidate": tier.stale_while_revalidate,
            "staleIfError": tier.stale_if_error,
        }
        for name, tier in sorted(cdn.tiers.items())
    }
    # Evaluated in order, the last match wins: the same precedence as the edge's cache rules.
    tier_rules = [
        {"tier": "medium", "pathPrefixes": list(cdn.medium_paths)},
        {"tier": "short", "pathPrefixes": list(cdn.short_paths)},
        {"tier": "long", "extensions": list(cdn.long_extensions)},
    ]
    return {
        "BYPASS_PATHS": encode(list(cdn.bypass_paths)),
        "CACHE_TIERS": encode(tiers),
        "SESSION_COOKIE": cdn.session_cookie,
        "TIER_RULES": encode(tier_rules),
        "TRACKING_PARAMS": encode(list(TRACKING_PARAMS)),
    }


if __name__ == "__main__":
    # `python -m components.cdn.worker_module`: the bindings of the default cdn config, as JSON
    # (the workerd tests load the Worker with exactly these).
    print(json.dumps(worker_bindings(CdnConfig()), indent=2, sort_keys=True))
