"""One scenario run: start everything on 127.0.0.1, drive the load, break what the scenario
breaks, sample the system every second, stop everything, return what was recorded.

Started, in order: the lab's Redis Cluster (3 primaries, 1 replica each, from the rendered
redis.conf with maxmemory scaled down), the catalog service (its own process), one
prometheus-redis-exporter scraping every node (multi-target `/scrape`), Prometheus with the
project's recording rules and alerts, then Locust (its own process). Every process is stopped and
every file removed on the way out, whatever happened.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Generator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import redis
import requests
import yaml

from cachectl.topology import parse_cluster_nodes
from components.monitoring.rules import render_rule_groups
from lab.cluster import LabNode, RedisLab, free_node_port
from loadtest.generator import list_path
from loadtest.scenarios import Scale, Scenario
from stackconfig.sharding import SLOT_COUNT
from stackconfig.thresholds import AlertThresholds

ALERT_FOR_SECONDS = 5
"""Every alert's `for` in the harness's Prometheus (the rules' expressions are the project's own;
only the waiting is shortened, so a run of minutes shows what fires and resolves)."""
WRITE_SHARE = 0.005
"""Share of requests that write a product (and invalidate its keys): catalog data is read far
more often than it changes."""


def search_terms(catalog: int) -> int:
    """Distinct searches the shoppers make (`term <n>`, Zipf-popular like the products): one
    for every five products."""
    return max(5, catalog // 5)


RUNBOOK_BASE = "https://runbooks.example.com/runbooks"


class HarnessError(RuntimeError):
    """A component did not start; the message names it and holds the end of its log."""


def harness_thresholds() -> AlertThresholds:
    durations = {
        name: ALERT_FOR_SECONDS
        for name in AlertThresholds.__dataclass_fields__
        if name.endswith("_for_seconds")
    }
    return replace(AlertThresholds(), **durations)


@dataclass
class Sample:
    """The system once a second."""

    time: float
    db_queries: float
    hits: float
    misses: float
    cache_errors: float
    memory_ratio: float
    """The highest used_memory / maxmemory of the serving primaries."""
    evicted_keys: float
    """Summed over the nodes that answered."""
    firing: list[str]
    """`alertname/severity` of every firing alert."""


@dataclass
class NoCachePass:
    """The same load against the same service and database without the cache (the ADR's
    "database load reduction with the cache vs without", measured rather than assumed)."""

    requests_csv: Path
    db_queries: float
    seconds: float
    """Wall time from the pass's first recorded request to its end."""


@dataclass
class RunRecord:
    """What a run recorded, for `loadtest.report`."""

    scenario: Scenario
    scale: Scale
    users: int
    seconds: float
    started: float
    """Wall time the measured load started."""
    requests_csv: Path
    samples: list[Sample] = field(default_factory=lambda: [])
    chaos_at: float | None = None
    chaos_node: str | None = None
    recovered_at: float | None = None
    """When every running node's view again had every slot served by a healthy primary."""
    resumed_at: float | None = None
    maxmemory_bytes: int = 0
    alert_events: list[dict[str, Any]] = field(default_factory=lambda: [])
    notes: list[str] = field(default_factory=lambda: [])
    no_cache: NoCachePass | None = None


def _tool(name: str) -> str:
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/bin:/usr/local/bin")
    if found is None:
        raise HarnessError(f"'{name}' is not installed (make setup installs it)")
    return found


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


class Processes:
    """Child processes with their logs; `close` stops them all."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(
        self,
        name: str,
        command: list[str],
        *,
        env: dict[str, str] | None = None,
        cwd: Path | None = None,
    ) -> subprocess.Popen[bytes]:
        with (self.logs / f"{name}.log").open("wb") as log:
            process = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, env=env, cwd=cwd,
            )  # fmt: skip
        self.running[name] = process
        return process

    def wait_ready(self, name: str, probe: Callable[[], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.running[name].poll() is not None:
                break
            with contextlib.suppress(requests.RequestException, redis.RedisError, OSError):
                if probe():
                    return
            time.sleep(0.2)
        raise HarnessError(f"{name} did not become ready:\n{_tail(self.logs / f'{name}.log')}")

    def stop(self, name: str) -> None:
        process = self.running.pop(name, None)
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def close(self) -> None:
        for name in list(self.running):
            self.stop(name)


def serving_all_slots(lab: RedisLab, excluded: LabNode, excluded_id: str) -> bool:
    """Every running node but `excluded` sees all slots served by primaries it sees healthy,
    none of them `excluded` (whose slots a promoted replica must have taken over)."""
    for node in lab.nodes:
        if not node.running or node is excluded:
            continue
        client: Any = lab.node_client(node, socket_timeout=0.5, socket_connect_timeout=0.5)
        try:
            text = client.execute_command("CLUSTER", "NODES")
        except (redis.RedisError, OSError):
            return False
        finally:
            client.close()
        entries = parse_cluster_nodes(text if isinstance(text, str) else text.decode())
        serving = (e for e in entries if e.is_primary and e.healthy and e.node_id != excluded_id)
        if sum(e.slot_count for e in serving) != SLOT_COUNT:
            return False
    return True


class Harness:
    """Runs one scenario; use as a context manager (everything is stopped on exit)."""

    def __init__(
        self,
        conf_text: str,
        *,
        memory: str,
        db_latency_ms: tuple[float, float] = (20, 80),
        redis_timeout: float = 0.25,
        seed: int = 11,
        edge: bool = False,
    ) -> None:
        self.conf_text = conf_text
        self.edge = edge
        self.db_latency_ms = db_latency_ms
        self.redis_timeout = redis_timeout
        self.seed = seed
        self.work = Path(tempfile.mkdtemp(prefix="loadtest-"))
        self.logs = self.work / "logs"
        self.logs.mkdir()
        self.processes = Processes(self.logs)
        self.lab = RedisLab(
            conf_text, primaries=3, replicas=1, memory=memory, base_dir=self.work / "lab"
        )
        self.service_url = ""
        self.edge_url = ""
        """The edge Worker in workerd in front of the service (`edge=True`), else empty."""
        self.prometheus_url = ""

    def __enter__(self) -> Harness:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for node in self.lab.nodes:
            # A paused node ignores SIGTERM; the lab's SIGKILL works on it, but resume it first
            # so nothing is left stopped if the lab's own cleanup changes.
            if node.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(node.pid, signal.SIGCONT)
        self.processes.close()
        self.lab.close()
        shutil.rmtree(self.work, ignore_errors=True)

    # ---- start -----------------------------------------------------------------------------

    def start(self) -> None:
        self.lab.start()
        self._start_service()
        if self.edge:
            self._start_edge()
        self._start_prometheus()

    @property
    def front_url(self) -> str:
        """Where the shoppers' requests go: the edge when there is one, else the service."""
        return self.edge_url or self.service_url

    def _start_service(self) -> None:
        self.service_url = self._start_catalog("catalog", with_cache=True)

    def _start_catalog(self, name: str, *, with_cache: bool) -> str:
        """A catalog service process (its URL): on the lab's cluster, or without a cache."""
        port = free_node_port()
        first = self.lab.nodes[0]
        low, high = self.db_latency_ms
        cache_options = (
            ["--redis", f"{first.host}:{first.port}",
             "--password-file", str(self.lab.password_path),
             "--hosts-file", str(self.lab.hosts_path),
             "--redis-timeout", f"{self.redis_timeout:g}"]
            if with_cache else []
        )  # fmt: skip
        self.processes.start(
            name,
            [sys.executable, "-m", "loadtest.catalog", "--port", str(port),
             "--db-latency-ms", f"{low:g}-{high:g}", *cache_options],
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        self.processes.wait_ready(name, lambda: requests.get(f"{url}/stats", timeout=2).ok, 60)
        return url

    def _start_edge(self) -> None:
        """components/cdn/worker/worker.js in workerd (miniflare) on 127.0.0.1, with the
        bindings the stack renders, its origin the catalog service."""
        from components.cdn.worker_module import default_worker_bindings

        bindings = self.work / "worker-bindings.json"
        bindings.write_text(json.dumps(default_worker_bindings()))
        port = free_node_port()
        root = Path(__file__).resolve().parent.parent
        self.processes.start(
            "edge",
            [_tool("node"), str(root / "loadtest" / "edge.mjs"), "--port", str(port),
             "--origin", self.service_url, "--bindings", str(bindings)],
            cwd=root,
        )  # fmt: skip
        self.edge_url = f"http://127.0.0.1:{port}"
        self.processes.wait_ready(
            "edge", lambda: requests.get(f"{self.edge_url}/stats", timeout=2).ok, 60
        )

    def _start_prometheus(self) -> None:
        exporter_port, prometheus_port = free_node_port(), free_node_port()
        targets = [f"redis://{node.host}:{node.port}" for node in self.lab.nodes]
        passwords = self.work / "exporter-passwords.json"
        fd = os.open(passwords, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            json.dump({target: self.lab.password for target in targets}, handle)
        self.processes.start(
            "redis-exporter",
            [_tool("prometheus-redis-exporter"), "-redis.addr", targets[0],
             "-redis.password-file", str(passwords), "-redis-only-metrics",
             "-web.listen-address", f"127.0.0.1:{exporter_port}"],
        )  # fmt: skip
        exporter = f"127.0.0.1:{exporter_port}"
        self.processes.wait_ready(
            "redis-exporter",
            lambda: (
                "redis_up 1"
                in requests.get(
                    f"http://{exporter}/scrape", params={"target": targets[0]}, timeout=2
                ).text
            ),
            30,
        )
        rules = self.work / "rules.yaml"
        rules.write_text(
            yaml.safe_dump({"groups": render_rule_groups(harness_thresholds(), RUNBOOK_BASE)})
        )
        config = self.work / "prometheus.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(rules)],
                    "scrape_configs": [
                        {
                            "job_name": "catalog",
                            "static_configs": [
                                {"targets": [self.service_url.removeprefix("http://")]}
                            ],
                        },
                        {
                            "job_name": "redis",
                            "metrics_path": "/scrape",
                            "static_configs": [{"targets": targets}],
                            "relabel_configs": [
                                {
                                    "source_labels": ["__address__"],
                                    "target_label": "__param_target",
                                },
                                {"source_labels": ["__param_target"], "target_label": "instance"},
                                {"target_label": "__address__", "replacement": exporter},
                            ],
                        },
                    ],
                }
            )
        )
        self.processes.start(
            "prometheus",
            [_tool("prometheus"), f"--config.file={config}",
             f"--storage.tsdb.path={self.work / 'tsdb'}",
             f"--web.listen-address=127.0.0.1:{prometheus_port}"],
            cwd=self.work,
        )  # fmt: skip
        self.prometheus_url = f"http://127.0.0.1:{prometheus_port}"
        self.processes.wait_ready(
            "prometheus", lambda: requests.get(f"{self.prometheus_url}/-/ready", timeout=2).ok, 60
        )

    # ---- load ------------------------------------------------------------------------------

    def _generator(
        self, scenario: Scenario, users: int, seconds: float, catalog: int, out: Path,
        host: str = "", name: str = "",
    ) -> subprocess.Popen[bytes]:  # fmt: skip
        return self.processes.start(
            name or f"locust-{scenario.name}",
            [sys.executable, "-m", "loadtest.generator", "--host", host or self.front_url,
             "--users", str(users), "--spawn-rate", str(max(1.0, users / 5)),
             "--seconds", f"{seconds:g}", "--out", str(out),
             "--catalog-size", str(catalog),
             "--zipf", f"{scenario.zipf:g}", "--write-share", f"{WRITE_SHARE:g}",
             "--search-terms", str(search_terms(catalog)),
             "--seed", str(self.seed)],
        )  # fmt: skip

    def flush(self) -> None:
        """Empty every primary: the cold start's empty cache."""
        for node in self.lab.primaries_now():
            client: Any = self.lab.node_client(node)
            try:
                client.flushall()
            finally:
                client.close()

    def warm(self, scenario: Scenario, scale: Scale) -> None:
        """Load every key the load can ask for once (products, prices, lists, searches): a warm
        cache, as after a day of traffic or the ADR's cache-warming job."""
        catalog = scenario.catalog_at(scale)
        paths = [f"/products/{n}" for n in range(catalog)]
        paths += [f"/api/prices/{n}" for n in range(catalog)]
        paths += sorted({list_path(n) for n in range(catalog)})
        paths += [f"/search?q=term+{n}" for n in range(search_terms(catalog))]
        session = requests.Session()

        def load(path: str) -> None:
            session.get(self.front_url + path, timeout=10).raise_for_status()

        with ThreadPoolExecutor(max_workers=16) as pool:
            list(pool.map(load, paths))
        session.close()

    def run(self, scenario: Scenario, scale: Scale, out_dir: Path) -> RunRecord:
        """Warm (unless cold start), then the measured load with the scenario's chaos."""
        users = scenario.users_at(scale)
        seconds = scenario.seconds_at(scale)
        if scenario.warm:
            self.warm(scenario, scale)
        else:
            self.flush()
        out_dir.mkdir(parents=True, exist_ok=True)
        record = RunRecord(scenario, scale, users, seconds, time.time(), out_dir / "requests.csv")
        record.maxmemory_bytes = self._maxmemory()
        stop = threading.Event()
        sampler = threading.Thread(target=self._sample_loop, args=(record, stop), daemon=True)
        sampler.start()
        generator = self._generator(
            scenario, users, seconds, scenario.catalog_at(scale), record.requests_csv
        )
        try:
            record.started = self._first_request(scenario, record.requests_csv, generator)
            if scenario.chaos != "none":
                self._chaos(scenario, record, seconds)
            generator.wait(timeout=seconds + 120)
            # A few more samples so the charts and alerts show the end of the run.
            time.sleep(3)
        finally:
            stop.set()
            sampler.join(10)
        if scenario.no_cache_pass:
            record.no_cache = self._run_without_cache(scenario, users, seconds, scale, out_dir)
        return record

    def _run_without_cache(
        self, scenario: Scenario, users: int, seconds: float, scale: Scale, out_dir: Path
    ) -> NoCachePass:
        """The same load (users, duration, catalogue, seed) on a second catalog process with
        the same fake database and no cache; its database queries are counted the same way."""
        name = "catalog-no-cache"
        url = self._start_catalog(name, with_cache=False)
        requests_csv = out_dir / "requests-no-cache.csv"
        try:
            before = float(requests.get(f"{url}/stats", timeout=5).json()["db_queries"])
            generator = self._generator(
                scenario, users, seconds, scenario.catalog_at(scale), requests_csv,
                host=url, name=f"locust-{scenario.name}-no-cache",
            )  # fmt: skip
            started = self._first_request(scenario, requests_csv, generator)
            generator.wait(timeout=seconds + 120)
            ended = time.time()
            after = float(requests.get(f"{url}/stats", timeout=5).json()["db_queries"])
        finally:
            self.processes.stop(name)
        return NoCachePass(requests_csv, after - before, ended - started)

    def _first_request(
        self, scenario: Scenario, requests_csv: Path, generator: subprocess.Popen[bytes]
    ) -> float:
        """When the first request was recorded: the measured load starts then, not when Locust
        was launched (its start-up takes seconds on a busy machine)."""
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and generator.poll() is None:
            with contextlib.suppress(OSError), requests_csv.open() as handle:
                if len(handle.readlines()) > 1:
                    return time.time()
            time.sleep(0.1)
        log = self.logs / f"locust-{scenario.name}.log"
        raise HarnessError(f"Locust sent no request:\n{_tail(log)}")

    def _maxmemory(self) -> int:
        client: Any = self.lab.node_client(self.lab.nodes[0])
        try:
            return int(client.config_get("maxmemory")["maxmemory"])
        finally:
            client.close()

    def _chaos(self, scenario: Scenario, record: RunRecord, seconds: float) -> None:
        time.sleep(max(0.0, record.started + seconds / 2 - time.time()))
        victim = self.lab.primaries_now()[0]
        victim_id = self.lab.node_id(victim)
        record.chaos_node = victim.name
        pid = victim.pid
        assert pid is not None
        record.chaos_at = time.time()
        if scenario.chaos == "kill":
            self.lab.kill(victim, signal.SIGKILL)
        else:
            os.kill(pid, signal.SIGSTOP)
        deadline = record.started + seconds
        while time.time() < deadline:
            if serving_all_slots(self.lab, victim, victim_id):
                record.recovered_at = time.time()
                break
            time.sleep(0.2)
        else:
            record.notes.append("the cluster did not serve every slot again before the run ended")
        if scenario.chaos == "pause":
            # Resumed a quarter of the run later (or at once if the run is nearly over): the
            # old primary rejoins as a replica of its promoted one.
            time.sleep(max(0.0, min(seconds / 8, deadline - time.time() - 2)))
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
            record.resumed_at = time.time()

    # ---- sampling --------------------------------------------------------------------------

    def _sample_loop(self, record: RunRecord, stop: threading.Event) -> None:
        previous: set[str] = set()
        while not stop.is_set():
            tick = time.time()
            sample = self._sample(tick)
            if sample is not None:
                record.samples.append(sample)
                now = set(sample.firing)
                for alert in sorted(now - previous):
                    record.alert_events.append({"alert": alert, "event": "firing", "time": tick})
                for alert in sorted(previous - now):
                    record.alert_events.append({"alert": alert, "event": "resolved", "time": tick})
                previous = now
            stop.wait(max(0.0, 1.0 - (time.time() - tick)))

    def _sample(self, tick: float) -> Sample | None:
        try:
            stats: dict[str, float] = requests.get(f"{self.service_url}/stats", timeout=2).json()
        except (requests.RequestException, ValueError):
            return None
        memory_ratio, evicted = 0.0, 0.0
        for node in self.lab.nodes:
            if not node.running:
                continue
            client: Any = self.lab.node_client(node, socket_timeout=0.3, socket_connect_timeout=0.3)
            try:
                info = client.info("all")
            except (redis.RedisError, OSError):
                continue
            finally:
                client.close()
            evicted += float(info.get("evicted_keys", 0))
            if info.get("role") == "master" and info.get("maxmemory"):
                memory_ratio = max(memory_ratio, info["used_memory"] / info["maxmemory"])
        firing: list[str] = []
        with contextlib.suppress(requests.RequestException, ValueError, KeyError):
            alerts = requests.get(f"{self.prometheus_url}/api/v1/alerts", timeout=2).json()
            firing = sorted(
                f"{a['labels']['alertname']}/{a['labels'].get('severity', '')}"
                for a in alerts["data"]["alerts"]
                if a["state"] == "firing"
            )
        return Sample(
            time=tick,
            db_queries=stats.get("db_queries", 0.0),
            hits=stats.get("hits", 0.0),
            misses=stats.get("misses", 0.0),
            cache_errors=stats.get("cache_errors", 0.0),
            memory_ratio=memory_ratio,
            evicted_keys=evicted,
            firing=firing,
        )


@contextlib.contextmanager
def started(conf_text: str, *, memory: str, **options: Any) -> Generator[Harness]:
    harness = Harness(conf_text, memory=memory, **options)
    with harness:
        harness.start()
        yield harness
