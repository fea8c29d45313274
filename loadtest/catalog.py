"""The reference catalog service: a small ASGI app built on the service kit, over a fake
database with a realistic, configurable query latency and a query counter.

Endpoints (tiers come from `stackconfig.tiers.tier_for_path`, the edge's own path classes):
- GET /products/<id>              one product (`cache_key`, medium tier)
- GET /categories/<c>/products?page=<n>   a product list (`collection_key`, medium)
- GET /search?q=<text>            a search (`search_key`, short)
- GET /api/prices/<id>            a price (`cache_key` of entity `price`, short)
- PUT /products/<id>              a write to the database, then `invalidate` of the product
                                   and its price (cache-aside's write path)
- GET /metrics                    the kit's metrics and `catalog_db_queries_total`
- GET /stats                      the database's query count as JSON (the harness samples it)

Run: `python -m loadtest.catalog --port P --redis HOST:PORT --password-file F --hosts-file F`.
The password is read from a file, never from the command line or the environment.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import random
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import redis.asyncio.cluster
from prometheus_client import CollectorRegistry, Counter, make_asgi_app  # pyright: ignore[reportUnknownVariableType]

from cachekit import AsyncCacheAside, async_cluster_client
from cachekit.keys import cache_key, collection_key, search_key
from loadtest.generator import CATEGORIES, PAGE_SIZE
from stackconfig.tiers import tier_for_path

SERVICE = "catalog"

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


@dataclass(frozen=True)
class DatabaseSettings:
    """The fake database: each query sleeps uniformly in [min, max] seconds; at most
    `pool_size` queries run at once (a real database's connection pool)."""

    min_latency: float = 0.020
    max_latency: float = 0.080
    pool_size: int = 50

    def __post_init__(self) -> None:
        if not 0 <= self.min_latency <= self.max_latency:
            raise ValueError(
                f"database latency: need 0 <= min <= max, got {self.min_latency}-{self.max_latency}"
            )
        if self.pool_size < 1:
            raise ValueError(f"database pool_size must be >= 1, got {self.pool_size}")


class FakeDatabase:
    """Products generated from their id; every query waits its latency and is counted."""

    def __init__(self, settings: DatabaseSettings, registry: CollectorRegistry) -> None:
        self.settings = settings
        self._pool = asyncio.Semaphore(settings.pool_size)
        self._random = random.Random(7)
        self._versions: dict[str, int] = {}
        self.queries = 0
        self._counter = Counter(
            "catalog_db_queries", "Queries the catalog's database answered", registry=registry
        )

    async def _query(self) -> None:
        async with self._pool:
            self.queries += 1
            self._counter.inc()
            await asyncio.sleep(
                self._random.uniform(self.settings.min_latency, self.settings.max_latency)
            )

    def _product(self, product_id: str) -> dict[str, object]:
        digest = hashlib.sha256(product_id.encode()).digest()
        return {
            "id": product_id,
            "name": f"Product {product_id}",
            "category": f"c{digest[0] % CATEGORIES}",
            "price_cents": 100 + int.from_bytes(digest[1:3], "big") % 100_000,
            "version": self._versions.get(product_id, 0),
            # A realistic body: a description of a few hundred bytes.
            "description": digest.hex() * 6,
        }

    async def product(self, product_id: str) -> dict[str, object]:
        await self._query()
        return self._product(product_id)

    async def price(self, product_id: str) -> dict[str, object]:
        await self._query()
        product = self._product(product_id)
        return {"id": product_id, "price_cents": product["price_cents"], "currency": "USD"}

    async def category_page(self, category: str, page: int) -> list[dict[str, str]]:
        await self._query()
        first = page * PAGE_SIZE
        return [
            {"id": str(number), "name": f"Product {number}"}
            for number in range(first, first + PAGE_SIZE)
        ] + [{"category": category}]

    async def search(self, text: str) -> list[str]:
        await self._query()
        digest = hashlib.sha256(text.encode()).digest()
        return [str(byte * 7) for byte in digest[:10]]

    async def update_product(self, product_id: str) -> None:
        await self._query()
        self._versions[product_id] = self._versions.get(product_id, 0) + 1


class CatalogApp:
    """The ASGI application."""

    def __init__(self, cache: AsyncCacheAside | None, database: FakeDatabase,
                 registry: CollectorRegistry) -> None:  # fmt: skip
        """`cache=None` serves every read from the database (the no-cache comparison)."""
        self.cache = cache
        self.database = database
        self._registry = registry
        # prometheus_client's ASGI app is untyped.
        self._metrics_app: Any = make_asgi_app(registry)  # pyright: ignore[reportUnknownVariableType]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path == "/metrics":
            await self._metrics_app(scope, receive, send)
            return
        if path == "/stats":
            await _respond(send, 200, self.stats())
            return
        if self.cache is None:
            code, body = await self._handle(scope, path)
        else:
            with self.cache.metrics.time_request() as request:
                code, body = await self._handle(scope, path)
                request.code = code
        await _respond(send, code, body)

    def stats(self) -> dict[str, float]:
        """Counters the harness samples each second: database queries, cache hits and misses."""
        figures: dict[str, float] = {"db_queries": float(self.database.queries)}
        if self.cache is not None:
            for name in ("hits", "misses"):
                value = self._registry.get_sample_value(f"cache_{name}_total", {"service": SERVICE})
                figures[name] = value or 0.0
            figures["cache_errors"] = sum(
                self._registry.get_sample_value(
                    "cache_errors_total", {"service": SERVICE, "kind": kind}
                )
                or 0.0
                for kind in ("timeout", "connection", "other")
            )
        return figures

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if self.cache is not None:
                    await self.cache.client.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _cached(self, key: str, path: str, loader: Callable[[], Awaitable[object]]) -> object:
        if self.cache is None:
            return await loader()
        tier = tier_for_path(path) or "short"
        return await self.cache.get_or_load(key, loader, tier=tier)

    async def _handle(self, scope: Scope, path: str) -> tuple[int, object]:
        method: str = scope["method"]
        parts = path.strip("/").split("/")
        query = parse_qs(scope.get("query_string", b"").decode())
        if method == "PUT" and len(parts) == 2 and parts[0] == "products":
            product_id = parts[1]
            await self.database.update_product(product_id)
            if self.cache is not None:
                await self.cache.invalidate(
                    cache_key(SERVICE, "product", product_id),
                    cache_key(SERVICE, "price", product_id),
                )
            return 204, None
        if method != "GET":
            return 405, {"error": "method not allowed"}
        if len(parts) == 2 and parts[0] == "products":
            product_id = parts[1]
            key = cache_key(SERVICE, "product", product_id)
            return 200, await self._cached(key, path, lambda: self.database.product(product_id))
        if len(parts) == 3 and parts[0] == "api" and parts[1] == "prices":
            product_id = parts[2]
            key = cache_key(SERVICE, "price", product_id)
            return 200, await self._cached(key, path, lambda: self.database.price(product_id))
        if len(parts) == 3 and parts[0] == "categories" and parts[2] == "products":
            category = parts[1]
            page = int(query.get("page", ["0"])[0])
            key = collection_key(SERVICE, "product", {"category": category, "page": page})
            return 200, await self._cached(
                key, path, lambda: self.database.category_page(category, page)
            )
        if parts == ["search"]:
            text = query.get("q", [""])[0]
            key = search_key(SERVICE, "product", text)
            return 200, await self._cached(key, path, lambda: self.database.search(text))
        return 404, {"error": "not found"}


async def _respond(send: Send, code: int, body: object) -> None:
    payload = b"" if body is None else json.dumps(body).encode()
    await send({"type": "http.response.start", "status": code,
                "headers": [(b"content-type", b"application/json")]})  # fmt: skip
    await send({"type": "http.response.body", "body": payload})


def hosts_remap(hosts_file: Path) -> Callable[[tuple[str, int]], tuple[str, int]]:
    """redis-py `address_remap` from a hosts file (`address name` lines): the lab's nodes
    announce Kubernetes-like names with no DNS behind them."""
    addresses: dict[str, str] = {}
    for line in hosts_file.read_text().splitlines():
        fields = line.split()
        if len(fields) >= 2:
            addresses[fields[1]] = fields[0]

    def remap(address: tuple[str, int]) -> tuple[str, int]:
        return addresses.get(address[0], address[0]), address[1]

    return remap


def build_app(
    redis_address: tuple[str, int] | None,
    password: str | None,
    hosts_file: Path | None,
    database: DatabaseSettings,
    redis_timeout: float,
) -> CatalogApp:
    registry = CollectorRegistry()
    cache: AsyncCacheAside | None = None
    if redis_address is not None:
        options: dict[str, Any] = {"max_connections": 200}
        if hosts_file is not None:
            options["address_remap"] = hosts_remap(hosts_file)
        client: redis.asyncio.cluster.RedisCluster = async_cluster_client(
            redis_address[0], redis_address[1], password=password, timeout=redis_timeout,
            **options,
        )  # fmt: skip
        cache = AsyncCacheAside(client, service=SERVICE, registry=registry)
    return CatalogApp(cache, FakeDatabase(database, registry), registry)


KEEP_ALIVE_SECONDS = 75


def main(argv: Sequence[str] | None = None) -> int:
    import uvicorn

    parser = argparse.ArgumentParser(prog="python -m loadtest.catalog")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--redis", help="HOST:PORT of any cluster node (omit: no cache)")
    parser.add_argument("--password-file", type=Path)
    parser.add_argument("--hosts-file", type=Path)
    parser.add_argument("--db-latency-ms", default="20-80")
    parser.add_argument("--db-pool", type=int, default=50)
    parser.add_argument("--redis-timeout", type=float, default=0.25)
    options = parser.parse_args(argv)
    low, _, high = str(options.db_latency_ms).partition("-")
    settings = DatabaseSettings(float(low) / 1000, float(high or low) / 1000, options.db_pool)
    address = None
    if options.redis:
        host, _, port = str(options.redis).rpartition(":")
        address = (host, int(port))
    password = options.password_file.read_text().strip() if options.password_file else None
    app = build_app(address, password, options.hosts_file, settings, options.redis_timeout)
    # Idle connections stay open longer than any client keeps its own (the edge's fetch drops
    # them after 4 s), as an origin behind a proxy should: with uvicorn's 5 s default, a client
    # slowed by a loaded machine could send a request on a connection the server is closing.
    uvicorn.run(app, host="127.0.0.1", port=options.port, log_level="warning",
                access_log=False, lifespan="on", timeout_keep_alive=KEEP_ALIVE_SECONDS)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
