"""The caching Worker as deployed: its ES module source and its plain-text bindings (pure).

The bindings are the Worker's whole configuration; the WorkersScript resource, the plan's
`cdn/worker-bindings.json` and the workerd tests (miniflare `bindings`) all take them from
`worker_bindings`, so the Worker under test is configured exactly as the one deployed.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

from components.cdn.bindings import render_worker_bindings
from components.cdn.cache_rules import tier_rules
from stackconfig.config import CdnConfig
from stackconfig.edge_consistency import consistency_for_path, path_cache_tag
from stackconfig.tiers import DEFAULT_TRACKING_PARAMS, tier_for_path

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
        cdn.public_paths,
        cdn.event_purged,
    )


def default_worker_bindings() -> dict[str, str]:
    """The bindings the default `cache-platform:cdn` config deploys (ADR-011's defaults), from
    the very function the WorkersScript resource gets its bindings from."""
    return worker_bindings(CdnConfig())


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m components.cdn.worker_module",
        description="Print the Worker's default bindings as one JSON object.",
    )
    parser.add_argument(
        "--classify",
        nargs="+",
        metavar="PATH",
        help="print instead {path: tier or null} by the default rules (the workerd tests compare "
        "the Worker's choice with it)",
    )
    parser.add_argument(
        "--tag",
        nargs="+",
        metavar="URL",
        help="print instead {url: the Cache-Tag the Worker stores it with, or null} (the workerd "
        "tests compare the Worker's tag with it; the invalidator purges by it)",
    )
    parser.add_argument(
        "--consistency",
        nargs="+",
        metavar="PATH",
        help="print instead {path: its edge consistency class} by the default config",
    )
    args = parser.parse_args(argv)
    if args.consistency:
        classified: list[str] = args.consistency
        event_purged = CdnConfig().event_purged.paths
        print(
            json.dumps(
                {p: consistency_for_path(p, event_purged).value for p in classified},
                sort_keys=True,
            )
        )
        return
    if args.tag:
        urls: list[str] = args.tag
        print(json.dumps({url: path_cache_tag(url) for url in urls}, sort_keys=True))
        return
    if args.classify:
        paths: list[str] = args.classify
        print(json.dumps({path: tier_for_path(path) for path in paths}, sort_keys=True))
        return
    print(json.dumps(default_worker_bindings(), indent=2, sort_keys=True))


if __name__ == "__main__":
    main()
