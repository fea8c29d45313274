"""`cachectl invalidate --edge-*` against a fake Cloudflare API on loopback: the calls the SDK
sends (method, path, JSON body, Authorization header) and how refusals are reported."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from cachectl.cli import app

pytestmark = pytest.mark.integration

ZONE = "023e105f4ecef8ad9ca31a8372d0c353"
TOKEN = "test-token-not-a-secret"


@dataclass
class Call:
    method: str
    path: str
    authorization: str
    body: Any


class FakeCloudflare:
    """Answers purge_cache like Cloudflare; `refuse` makes it answer 403 with an API error."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.refuse = False
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                fake.calls.append(
                    Call("POST", self.path, self.headers.get("Authorization", ""), json.loads(raw))
                )
                if fake.refuse:
                    status = 403
                    answer: dict[str, Any] = {
                        "success": False,
                        "errors": [{"code": 10000, "message": "Authentication error"}],
                        "messages": [],
                        "result": None,
                    }
                else:
                    status = 200
                    answer = {
                        "success": True,
                        "errors": [],
                        "messages": [],
                        "result": {"id": f"purge-{len(fake.calls)}"},
                    }
                data = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base_url = f"http://127.0.0.1:{self.server.server_address[1]}/client/v4"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


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
        "error: Cloudflare refused the purge of 1 tags: catalog: HTTP 403 Authentication error"
    )
    assert len(cloudflare.calls) == 1  # a 403 is not retried
    assert TOKEN not in result.output
