"""`cachectl invalidate --edge-*` against a fake Cloudflare API on loopback: the calls the SDK
sends (method, path, JSON body, Authorization header) and how refusals are reported."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from cachectl.cli import app
from tests.support.loopback_http import LoopbackServer, Reply, Request

pytestmark = pytest.mark.integration

ZONE = "023e105f4ecef8ad9ca31a8372d0c353"
TOKEN = "test-token-not-a-secret"


@dataclass
class Call:
    method: str
    path: str
    authorization: str
    body: Any


class FakeCloudflare(LoopbackServer):
    """Answers purge_cache like Cloudflare; `refuse` makes it answer 403 with an API error."""

    def __init__(self) -> None:
        self.refuse = False

        def respond(request: Request) -> Reply:
            if self.refuse:
                return 403, {
                    "success": False,
                    "errors": [{"code": 10000, "message": "Authentication error"}],
                    "messages": [],
                    "result": None,
                }
            return 200, {
                "success": True,
                "errors": [],
                "messages": [],
                "result": {"id": f"purge-{len(self.requests)}"},
            }

        super().__init__(respond)
        self.base_url = f"{self.url}/client/v4"

    @property
    def calls(self) -> list[Call]:
        return [
            Call(r.method, r.path, r.headers.get("Authorization", ""), r.json())
            for r in self.requests
        ]


@pytest.fixture
def cloudflare() -> Iterator[FakeCloudflare]:
    fake = FakeCloudflare()
    yield fake
    fake.close()


def purge(fake: FakeCloudflare, *args: str) -> Result:
    env = {
        "CLOUDFLARE_API_TOKEN": TOKEN,
        "CLOUDFLARE_ZONE_ID": ZONE,
        "CLOUDFLARE_BASE_URL": fake.base_url,
        "CACHECTL_NODE": "",
    }
    return CliRunner().invoke(app, ["invalidate", *args], env=env)


def test_purges_send_one_call_per_kind_with_the_token(cloudflare: FakeCloudflare) -> None:
    result = purge(
        cloudflare,
        "--edge-url",
        "https://shop.example.com/css/site.css",
        "--edge-prefix",
        "https://shop.example.com/catalog/",
        "--edge-tag",
        "product-123",
        "--edge-tag",
        "catalog",
    )
    assert result.exit_code == 0, result.output
    path = f"/client/v4/zones/{ZONE}/purge_cache"
    assert [(c.method, c.path, c.authorization) for c in cloudflare.calls] == [
        ("POST", path, f"Bearer {TOKEN}")
    ] * 3
    assert [c.body for c in cloudflare.calls] == [
        {"files": ["https://shop.example.com/css/site.css"]},
        {"prefixes": ["shop.example.com/catalog/"]},
        {"tags": ["product-123", "catalog"]},
    ]
    assert "purged 2 tags: product-123, catalog (id purge-3)" in result.stdout
    assert TOKEN not in result.output


def test_purge_everything_is_one_call_after_confirmation(cloudflare: FakeCloudflare) -> None:
    refused = purge(cloudflare, "--edge-everything")
    assert refused.exit_code == 1
    assert "rerun with --yes" in refused.stderr
    assert cloudflare.calls == []
    result = purge(cloudflare, "--edge-everything", "--yes", "--zone-id", "other-zone")
    assert result.exit_code == 0, result.output
    assert [(c.path, c.body) for c in cloudflare.calls] == [
        ("/client/v4/zones/other-zone/purge_cache", {"purge_everything": True})
    ]


def test_a_refused_purge_is_one_line_with_cloudflares_message(cloudflare: FakeCloudflare) -> None:
    cloudflare.refuse = True
    result = purge(cloudflare, "--edge-tag", "catalog")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: Cloudflare refused the purge of 1 tag: catalog: HTTP 403 Authentication error"
    )
    assert len(cloudflare.calls) == 1  # a 403 is not retried
    assert TOKEN not in result.output
