"""A small product service written with the kit, as a service team would: WSGI, a cached
product lookup, `/metrics` for Prometheus. Used by the integration tests (not a test module)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import CollectorRegistry, make_wsgi_app

from cachekit import CacheAside
from cachekit.keys import cache_key

StartResponse = Callable[..., Any]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        pass


class ProductService:
    """GET /products/<id> (cached, medium tier) and GET /metrics, on 127.0.0.1:`port`."""

    def __init__(self, cache: CacheAside, registry: CollectorRegistry, port: int) -> None:
        self.cache = cache
        self.loads = 0
        self._metrics_app = make_wsgi_app(registry)
        self._server: WSGIServer = make_server(
            "127.0.0.1", port, self.app, handler_class=_QuietHandler
        )
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def _load_product(self, product_id: str) -> dict[str, object]:
        self.loads += 1
        return {"id": product_id, "name": f"Product {product_id}"}

    def app(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = str(environ.get("PATH_INFO", ""))
        if path == "/metrics":
            return self._metrics_app(environ, start_response)
        with self.cache.metrics.time_request() as request:
            if not path.startswith("/products/"):
                request.code = 404
                start_response("404 Not Found", [("Content-Type", "text/plain")])
                return [b"not found"]
            product_id = path.removeprefix("/products/")
            product = self.cache.get_or_load(
                cache_key("catalog", "product", product_id),
                lambda: self._load_product(product_id),
                tier="medium",
            )
            request.code = 200
            start_response("200 OK", [("Content-Type", "application/json")])
            return [repr(product).encode()]

    @property
    def address(self) -> str:
        host, port = self._server.server_address[:2]
        return f"{host}:{port}"

    def start(self) -> ProductService:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
