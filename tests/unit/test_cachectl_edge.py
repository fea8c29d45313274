"""Building Cloudflare purge requests: one kind per call, bounded batches, checked targets."""

from __future__ import annotations

import pytest

from cachectl.connection import CachectlError
from cachectl.edge import SMALLEST_PURGE_BATCH, PurgeRequest, purge_requests, zone_and_token


def test_each_kind_gets_its_own_request() -> None:
    requests = purge_requests(
        urls=["https://shop.example.com/css/site.css"],
        prefixes=["https://shop.example.com/catalog/", "shop.example.com/api/products"],
        tags=["product-123", "catalog"],
    )
    assert [r.body for r in requests] == [
        {"files": ["https://shop.example.com/css/site.css"]},
        {"prefixes": ["shop.example.com/catalog/", "shop.example.com/api/products"]},
        {"tags": ["product-123", "catalog"]},
    ]


def test_long_lists_are_split_into_batches_without_duplicates() -> None:
    tags = [f"tag-{n}" for n in range(SMALLEST_PURGE_BATCH * 2 + 5)] + ["tag-0"]
    requests = purge_requests(tags=tags)
    assert [len(r.items) for r in requests] == [SMALLEST_PURGE_BATCH, SMALLEST_PURGE_BATCH, 5]
    assert [item for r in requests for item in r.items] == tags[:-1]
    assert [len(r.items) for r in purge_requests(tags=tags[:7], batch=3)] == [3, 3, 1]


def test_everything_is_a_single_request_and_stands_alone() -> None:
    assert purge_requests(everything=True) == [PurgeRequest("purge_everything")]
    assert purge_requests(everything=True)[0].body == {"purge_everything": True}
    with pytest.raises(CachectlError, match="give it alone"):
        purge_requests(everything=True, tags=["x"])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"urls": ["shop.example.com/a.css"]}, "full URL"),
        ({"prefixes": ["https://shop.example.com/"]}, "host and path"),
        ({"prefixes": ["shop.example.com"]}, "host and path"),
        ({"tags": ["a,b"]}, "one cache tag"),
        ({"tags": [" "]}, "one cache tag"),
        ({"tags": ["a"], "batch": 0}, "at least 1"),
    ],
)
def test_bad_targets_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(CachectlError, match=message):
        purge_requests(**kwargs)  # type: ignore[arg-type]


def test_no_targets_no_requests() -> None:
    assert purge_requests() == []


def test_zone_and_token_come_from_flag_or_environment() -> None:
    env = {"CLOUDFLARE_ZONE_ID": "zone-env", "CLOUDFLARE_API_TOKEN": "t0ken"}
    assert zone_and_token(None, env) == ("zone-env", "t0ken")
    assert zone_and_token("zone-flag", env) == ("zone-flag", "t0ken")
    with pytest.raises(CachectlError, match="no zone"):
        zone_and_token(None, {"CLOUDFLARE_API_TOKEN": "t0ken"})
    with pytest.raises(CachectlError, match="set CLOUDFLARE_API_TOKEN"):
        zone_and_token("zone", {})
