"""The load: Locust as a library, in its own process (gevent patches the process it runs in).

Each virtual user waits 0.5-1.5 s between requests (a shopper reading a page), picks products
by a Zipf-like popularity (rank r is chosen with weight 1 / r**s), opens the list page showing
such a product (`list_path`) and sends a share of writes
(PUT /products/<id>, which invalidates the product's keys). Every request is appended to a CSV
file as `end_time,name,milliseconds,ok,edge`: the harness computes every figure from these records.

Run: `python -m loadtest.generator --host URL --users N --seconds T --out FILE [...]`.
"""

from __future__ import annotations

import argparse
import bisect
import itertools
import random
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

CATEGORIES = 20
PAGE_SIZE = 20
EDGE_STATUS_HEADER = "x-cache-status"
"""The edge Worker's cache verdict on each response (components/cdn/worker/worker.js)."""
"""Products per list page."""


def list_path(rank: int) -> str:
    """The list page that shows the product of popularity rank `rank` (0-based). Lists are
    sorted by popularity (a shop's default order) and paged by PAGE_SIZE, the pages dealt over
    CATEGORIES categories: a catalogue of N products has ceil(N / PAGE_SIZE) list pages, so the
    lists scale with it, and a page is as popular as the products it shows."""
    page = rank // PAGE_SIZE
    return f"/categories/c{page % CATEGORIES}/products?page={page // CATEGORIES}"


def zipf_cumulative(size: int, exponent: float) -> list[float]:
    """Cumulative weights of ranks 1..size under 1 / rank**exponent."""
    return list(itertools.accumulate(1.0 / rank**exponent for rank in range(1, size + 1)))


def pick(cumulative: Sequence[float], generator: random.Random) -> int:
    """A rank (0-based) drawn by the cumulative weights."""
    return bisect.bisect_left(cumulative, generator.random() * cumulative[-1])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadtest.generator")
    parser.add_argument("--host", required=True)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--spawn-rate", type=float, required=True)
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--catalog-size", type=int, default=2000)
    parser.add_argument("--zipf", type=float, default=1.1)
    parser.add_argument("--write-share", type=float, default=0.02)
    parser.add_argument("--search-terms", type=int, default=200)
    parser.add_argument("--seed", type=int, default=11)
    options = parser.parse_args(argv)

    # Imported here: locust monkey-patches the process with gevent on import.
    import gevent
    from locust import FastHttpUser, between, events, task
    from locust.env import Environment

    cumulative = zipf_cumulative(options.catalog_size, options.zipf)
    searches = [f"term {number}" for number in range(options.search_terms)]
    search_weights = zipf_cumulative(len(searches), options.zipf)
    generator = random.Random(options.seed)
    write_share: float = options.write_share
    # Line-buffered: the harness starts its clock at the first recorded request.
    out = options.out.open("w", buffering=1)
    out.write("end_time,name,milliseconds,ok,edge\n")

    def record(name: str, response_time: float, exception: BaseException | None,
               response: Any = None, **_: Any) -> None:  # fmt: skip
        # The edge Worker's verdict (HIT, MISS, STALE...); empty without an edge.
        headers: Any = getattr(response, "headers", None) or {}
        status = str(headers.get(EDGE_STATUS_HEADER) or "")
        out.write(f"{time.time():.3f},{name},{response_time:.2f},{0 if exception else 1},"
                  f"{status}\n")  # fmt: skip

    events.request.add_listener(record)  # pyright: ignore[reportUnknownMemberType]

    class Shopper(FastHttpUser):
        host = options.host
        wait_time = between(0.5, 1.5)
        network_timeout = 10.0
        connection_timeout = 5.0

        def _product(self) -> int:
            return pick(cumulative, generator)

        @task(55)
        def product(self) -> None:
            product_id = self._product()
            if generator.random() < write_share / 0.55:
                # A write is answered 204, with no body. The edge emulator marks even that
                # answer gzip when the request accepts gzip, and geventhttpclient then fails
                # to gunzip nothing: every write through `--edge` counted as failed. A
                # browser never decodes a 204, so the write asks for no encoding at all.
                self.client.request(  # pyright: ignore[reportUnknownMemberType]
                    "PUT", f"/products/{product_id}", name="write",
                    headers={"Accept-Encoding": "identity"},
                )  # fmt: skip
            else:
                self.client.get(f"/products/{product_id}", name="product")

        @task(18)
        def price(self) -> None:
            self.client.get(f"/api/prices/{self._product()}", name="price")

        @task(15)
        def category(self) -> None:
            self.client.get(list_path(self._product()), name="list")

        @task(12)
        def search(self) -> None:
            text = searches[pick(search_weights, generator)]
            self.client.get("/search", params={"q": text}, name="search")

    environment = Environment(user_classes=[Shopper], events=events)
    runner = environment.create_local_runner()
    runner.start(options.users, spawn_rate=options.spawn_rate)
    gevent.sleep(options.seconds)
    runner.quit()
    out.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
