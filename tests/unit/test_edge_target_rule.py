"""One rule for edge targets: what `cachectl invalidate --edge-*` accepts is exactly what an
invalidation event may carry (cachekit.events), and a purge call holds as many items as the zone's
plan allows (stackconfig.cloudflare_plans), not a number of cachectl's own."""

from __future__ import annotations

import pytest

from cachectl.cli import app
from cachectl.connection import CachectlError
from cachectl.edge import SMALLEST_PURGE_BATCH, purge_batch, purge_requests
from cachekit.events import EdgeTargets, InvalidEvent, new_event
from stackconfig.cloudflare_plans import PLANS
from tests.support.cli import invoke

TARGETS: list[tuple[str, str]] = [
    ("urls", "https://shop.example.com/api/prices/1"),
    ("urls", "HTTP://shop.example.com/a.css"),
    ("urls", "shop.example.com/a.css"),
    ("urls", "https://shop.example.com/a b.css"),
    ("urls", "https://shop.example.com/a.css\n"),
    ("prefixes", "shop.example.com/api/prices"),
    ("prefixes", "https://shop.example.com/catalog/"),
    ("prefixes", "HTTPS://shop.example.com/catalog"),
    ("prefixes", "shop.example.com"),
    ("prefixes", "https://shop.example.com/"),
    ("prefixes", "ftp://shop.example.com/files"),
    ("prefixes", "shop.example.com/a b"),
    ("tags", "product-123"),
    ("tags", "category shoes"),
    ("tags", " catalog "),
    ("tags", "a,b"),
    ("tags", ""),
    ("tags", "t" * 1024),
    ("tags", "t" * 1025),
]


def _event_takes(kind: str, value: str) -> EdgeTargets | None:
    try:
        return new_event("test", source="tests", **{kind: [value]}).edge  # type: ignore[arg-type]
    except InvalidEvent:
        return None


def _cachectl_takes(kind: str, value: str) -> tuple[str, ...] | None:
    try:
        (request,) = purge_requests(**{kind: [value]})  # type: ignore[arg-type]
    except CachectlError:
        return None
    return request.items


@pytest.mark.parametrize(("kind", "value"), TARGETS)
def test_cachectl_and_the_events_accept_and_refuse_the_same_targets(kind: str, value: str) -> None:
    in_event = _event_takes(kind, value)
    in_cachectl = _cachectl_takes(kind, value)
    assert (in_event is None) == (in_cachectl is None), (in_event, in_cachectl)
    if in_event is not None:
        # ...and send Cloudflare the same text (a prefix without its scheme).
        assert getattr(in_event, kind) == in_cachectl


def test_the_stricter_checks_hold_on_both_sides() -> None:
    refused = [
        ("urls", "https://shop.example.com/a b.css"),
        ("tags", " catalog "),
        ("tags", "t" * 1025),
        ("prefixes", "ftp://shop.example.com/files"),
    ]
    assert [_cachectl_takes(kind, value) for kind, value in refused] == [None] * len(refused)
    assert [_event_takes(kind, value) for kind, value in refused] == [None] * len(refused)


def test_a_purge_call_holds_the_plans_items_per_request() -> None:
    for plan, row in PLANS.items():
        assert purge_batch(plan) == row.purge_items_per_request
    assert purge_batch(None) == SMALLEST_PURGE_BATCH
    assert min(row.purge_items_per_request for row in PLANS.values()) == SMALLEST_PURGE_BATCH
    urls = [f"https://shop.example.com/p/{n}" for n in range(250)]
    assert [len(r.items) for r in purge_requests(urls=urls)] == [100, 100, 50]
    assert [len(r.items) for r in purge_requests(urls=urls, batch=purge_batch("enterprise"))] == [
        250
    ]


def _invalidate(*args: str) -> tuple[int, str, str]:
    env = {"CACHECTL_NODE": "", "CLOUDFLARE_ZONE_ID": "zone", "CLOUDFLARE_API_TOKEN": "token"}
    result = invoke(app, ["invalidate", "--dry-run", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def test_the_cli_batches_by_the_zones_plan() -> None:
    tags = [arg for n in range(120) for arg in ("--edge-tag", f"product-{n}")]
    code, out, err = _invalidate(*tags)
    assert code == 0, err
    assert [line.split(":")[1] for line in out.splitlines()] == [
        " would purge 100 tags",
        " would purge 20 tags",
    ]
    code, out, err = _invalidate(*tags, "--cloudflare-plan", "enterprise")
    assert code == 0, err
    assert out.startswith("dry run: would purge 120 tags")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("--edge-tag", "x", "--cloudflare-plan", "gold"), "--cloudflare-plan 'gold': one of free"),
        (("--edge-tag", " catalog "), "--edge-tag ' catalog ': one cache tag"),
        (("--edge-url", "https://x.example/a b"), "no whitespace"),
    ],
)
def test_a_bad_target_or_plan_is_a_usage_error(args: tuple[str, ...], fragment: str) -> None:
    code, _, err = _invalidate(*args)
    assert code == 2
    assert err.strip().count("\n") == 0 and fragment in err, err
