"""The caching Worker as deployed: its ES module source and its plain-text bindings (pure).

The bindings are the Worker's whole configuration; the WorkersScript resource, the plan's
`cdn/worker-bindings.json` and the workerd tests (miniflare `bindings`) all take them from
`worker_bindings`, so the Worker under test is configured exactly as the one deployed.
"""

from __future__ import annotations

from pathlib import Path

from components.cdn.bindings import render_worker_bindings
from components.cdn.cache_rules import tier_rules
from components.cdn.tiers import DEFAULT_TRACKING_PARAMS
from components.config import CdnConfig

WORKER_DIR = Path(__file__).parent / "worker"
WORKER_MAIN_MODULE = "worker.js"


def worker_source() -> str:
    """The Worker's ES module (one self-contained file with a default `fetch` export)."""
    return (WORKER_DIR / WORKER_MAIN_MODULE).read_text()


def worker_bindings(cdn: CdnConfig) -> dict[str, str]:
    """The Worker's plain-text bindings for this config, name -> value (deterministic)."""
    return render_worker_bindings(
        cdn.tiers,
        tier_rules(cdn),
        cdn.bypass_paths,
        cdn.session_cookie,
        DEFAULT_TRACKING_PARAMS,
    )
