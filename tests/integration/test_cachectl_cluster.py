"""cachectl against a real 3 + 3 Redis Cluster (lab.cluster): health, warming,
invalidation, failover and rebalance, through the command line as an operator runs it.

One lab serves the module; every test leaves it healthy with its own keys removed. The test that
kills a node gets a fresh lab of its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.cluster import RedisCluster
from redis.crc import key_slot
from typer.testing import CliRunner, Result

from cachectl.cli import app
from lab.cluster import LabNode, RedisLab
from tests.support.loopback_http import LoopbackServer, Reply, Request

pytestmark = pytest.mark.integration

Cli = Callable[..., Result]


def cli_for(redis_lab: RedisLab) -> Cli:
    env = {
        "CACHECTL_NODE": ",".join(node.address for node in redis_lab.nodes),
        "REDISCLI_AUTH": redis_lab.password or "",
        "REDIS_PASSWORD_FILE": "",
    }

    def run(*args: str) -> Result:
        return CliRunner().invoke(app, list(args), env=env)

    return run


@pytest.fixture
def cli(shared_lab: RedisLab) -> Cli:
    return cli_for(shared_lab)


@pytest.fixture
def client(shared_lab: RedisLab) -> Iterator[Any]:
    cluster = shared_lab.client()
    yield cluster
    cluster.close()


def delete_matching(cluster: Any, pattern: str) -> None:
    for key in list(
        cluster.scan_iter(match=pattern, count=1000, target_nodes=RedisCluster.PRIMARIES)
    ):
        cluster.delete(key)


def shards_holding(redis_lab: RedisLab, keys: list[str]) -> set[int]:
    """Indexes of the primaries serving the slots of `keys`."""
    owners: set[int] = set()
    for primary in redis_lab.primaries_now():
        ranges = next(
            e.slots
            for e in redis_lab.cluster_nodes(primary)
            if e.node_id == redis_lab.node_id(primary)
        )
        if any(first <= key_slot(k.encode()) <= last for k in keys for first, last in ranges):
            owners.add(primary.index)
    return owners


# ---- health ------------------------------------------------------------------------------


def test_health_passes_on_a_healthy_cluster(cli: Cli) -> None:
    result = cli("health")
    assert result.exit_code == 0, result.output
    assert "✗" not in result.stdout
    assert "✓ all 16384 slots served by a healthy primary" in result.stdout
    assert "✓ every primary has a healthy replica on another host" in result.stdout
    report = json.loads(cli("health", "--json").stdout)
    assert report["ok"] is True
    assert len(report["nodes"]) == 6
    assert sum(node["slots"] for node in report["nodes"]) == 16384


def test_health_fails_when_node_hosts_put_a_replica_beside_its_primary(
    cli: Cli,
    shared_lab: RedisLab,
    tmp_path: Path,
) -> None:
    hosts = tmp_path / "node-hosts"
    hosts.write_text("".join(f"{node.hostname} same-machine\n" for node in shared_lab.nodes))
    result = cli("health", "--node-hosts", str(hosts))
    assert result.exit_code == 1
    assert "✗ every primary has a healthy replica on another host" in result.stdout
    assert "own host same-machine" in result.stdout
    assert result.stderr.strip().startswith("error: 1 of 8 checks failed")


def test_health_fails_naming_the_reason_after_a_replica_is_killed(lab: RedisLab) -> None:
    primary = lab.primaries_now()[0]
    replica = lab.replicas_of(primary)[0]
    lab.kill(replica)
    result = cli_for(lab)("health")
    assert result.exit_code == 1
    assert f"✗ every node reachable and seen healthy: {replica.address}" in result.stdout
    assert (
        f"✗ every primary has a healthy replica on another host: primary {primary.address} "
        f"({primary.hostname}) has no healthy replica"
    ) in result.stdout
    assert "✓ all 16384 slots served" in result.stdout
    assert "Traceback" not in result.output


class FakePrometheus(LoopbackServer):
    """Answers /api/v1/query for cache_hit_rate with one sample per service."""

    def __init__(self, rates: dict[str, float]) -> None:
        result = [
            {"metric": {"service": service}, "value": [1700000000.0, str(rate)]}
            for service, rate in rates.items()
        ]
        answer = {"status": "success", "data": {"resultType": "vector", "result": result}}
        super().__init__(lambda _: (200, answer))

    @property
    def queries(self) -> list[str]:
        return [request.path for request in self.requests]


def test_health_reads_the_hit_rate_from_prometheus(cli: Cli) -> None:
    prometheus = FakePrometheus({"catalog": 0.991, "cart": 0.912})
    try:
        result = cli("health", "--prometheus", prometheus.url)
    finally:
        prometheus.close()
    assert prometheus.queries == ["/api/v1/query?query=cache_hit_rate"]
    assert result.exit_code == 1
    assert "✗ cache hit rate above 95 %: below in cart 91.2 % (cache_hit_rate)" in result.stdout
    assert result.stderr.strip() == (
        "error: 1 of 8 checks failed: cache hit rate above 95 %; see the lines above and "
        "docs/runbooks/ for the matching runbook"
    )


# ---- warm --------------------------------------------------------------------------------


class FakeWarmService(LoopbackServer):
    """A service's warm endpoints on loopback: /warm/products writes keys, /warm/broken fails."""

    def __init__(self, redis_lab: RedisLab, products: int) -> None:
        def respond(request: Request) -> Reply:
            if request.path != "/api/cache/warm/products":
                return 503, None
            cluster = redis_lab.client()
            pipe = cluster.pipeline()
            for number in range(products):
                pipe.set(f"warmtest:product:{number}:v1", f"p{number}", ex=600)
            pipe.execute()
            cluster.close()
            return 200, None

        super().__init__(respond)

    @property
    def calls(self) -> list[tuple[str, bytes]]:
        return [(request.path, request.body) for request in self.requests]


@pytest.fixture
def warm_service(shared_lab: RedisLab, client: Any) -> Iterator[FakeWarmService]:
    service = FakeWarmService(shared_lab, products=300)
    yield service
    service.close()
    delete_matching(client, "warmtest:*")


def test_warm_fills_keys_from_a_service_and_key_files_tier_by_tier(
    cli: Cli, warm_service: FakeWarmService, client: Any, tmp_path: Path
) -> None:
    (tmp_path / "sessions.tsv").write_text(
        "# key value ttl\n"
        + "".join(f"warmtest:session:{n}:v1 user {n} 900\n" for n in range(1200))
    )
    (tmp_path / "prefs.jsonl").write_text(
        "".join(
            json.dumps({"key": f"warmtest:prefs:{n}:v1", "value": {"theme": "dark"}, "ttl": 3600})
            + "\n"
            for n in range(20)
        )
    )
    (tmp_path / "plan.yaml").write_text(
        "tiers:\n"
        "  cold: []\n"
        "  warm:\n"
        "    - keys: prefs.jsonl\n"
        "  hot:\n"
        f"    - post: {warm_service.url}/api/cache/warm/products\n"
        "      body: {limit: 300}\n"
        "    - keys: sessions.tsv\n"
    )
    result = cli("warm", "--plan", str(tmp_path / "plan.yaml"))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    done = [line for line in lines if line.startswith("✓ ") and "elapsed" not in line]
    assert done[0].startswith(f"✓ hot 1: POST {warm_service.url}/api/cache/warm/products: HTTP 200")
    assert done[1] == "✓ hot 2: keys from sessions.tsv: 1200 keys written"
    assert done[2] == "✓ warm 1: keys from prefs.jsonl: 20 keys written"
    assert "keys added: 1520 (1220 written by key sources;" in result.stdout
    assert any(line.startswith("✓ elapsed ") and "(limit 30 min)" in line for line in lines)
    assert warm_service.calls == [("/api/cache/warm/products", b'{"limit": 300}')]
    assert client.get("warmtest:session:7:v1") == "user 7"
    assert 0 < client.ttl("warmtest:session:7:v1") <= 900
    assert json.loads(client.get("warmtest:prefs:3:v1")) == {"theme": "dark"}
    assert client.get("warmtest:product:299:v1") == "p299"


def test_warm_stops_at_the_first_failing_step(
    cli: Cli, warm_service: FakeWarmService, client: Any, tmp_path: Path
) -> None:
    (tmp_path / "sessions.tsv").write_text("warmtest:session:1:v1 x 60\n")
    (tmp_path / "plan.json").write_text(
        json.dumps(
            {
                "tiers": {
                    "hot": [
                        {"post": f"{warm_service.url}/api/cache/warm/broken"},
                        {"keys": "sessions.tsv"},
                    ]
                }
            }
        )
    )
    result = cli("warm", "--plan", str(tmp_path / "plan.json"))
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        f"error: warming stopped at hot 1: POST {warm_service.url}/api/cache/warm/broken: "
        f"POST {warm_service.url}/api/cache/warm/broken answered HTTP 503 Service Unavailable; "
        "fix that step and rerun the plan (the keys already written stay, rewriting them is "
        "harmless)"
    )
    assert f"✗ hot 1: POST {warm_service.url}/api/cache/warm/broken" in result.stdout
    assert "✗ warming failed" in result.stdout and "✓ elapsed" not in result.stdout
    assert client.exists("warmtest:session:1:v1") == 0


# ---- invalidate --------------------------------------------------------------------------

SURVIVORS = [
    "product:catalogue:1:v1",
    "product:catalog-eu:1:v1",
    "products:catalog:1:v1",
    "xproduct:catalog:1:v1",
    "{product:catalog:1}:v1",
    "user:session:product:v1",
    "product:catalog",
]


@pytest.fixture
def catalog(client: Any, shared_lab: RedisLab) -> Iterator[list[str]]:
    matching = [f"product:catalog:{n}:v{1 + n % 2}" for n in range(300)]
    pipe = client.pipeline()
    for key in matching + SURVIVORS:
        pipe.set(key, "x", ex=600)
    pipe.execute()
    assert shards_holding(shared_lab, matching) == {p.index for p in shared_lab.primaries_now()}
    assert len(shared_lab.primaries_now()) == 3
    yield matching
    for key in matching + SURVIVORS:
        client.delete(key)


def existing(client: Any, keys: list[str]) -> list[str]:
    return [key for key in keys if client.exists(key)]


def test_pattern_invalidation_removes_exactly_the_matching_keys_on_every_shard(
    cli: Cli, client: Any, catalog: list[str]
) -> None:
    dry = cli("invalidate", "--pattern", "product:catalog", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert dry.stdout.startswith("300 keys matching product:catalog:* (")
    assert len(existing(client, catalog)) == 300

    refused = cli("invalidate", "--pattern", "product:catalog", "--confirm-above", "100")
    assert refused.exit_code == 1
    assert "300 keys match, more than --confirm-above 100" in refused.stderr
    assert len(existing(client, catalog)) == 300

    result = cli("invalidate", "--pattern", "product:catalog", "--yes", "--batch", "64")
    assert result.exit_code == 0, result.output
    assert "removed 300 keys" in result.stdout
    assert existing(client, catalog) == []
    assert existing(client, SURVIVORS) == SURVIVORS


def test_one_entitys_versions_and_exact_keys(cli: Cli, client: Any, catalog: list[str]) -> None:
    result = cli("invalidate", "--pattern", "product:catalog:7")
    assert result.exit_code == 0, result.output
    assert existing(client, catalog) == [key for key in catalog if key != "product:catalog:7:v2"]
    result = cli("invalidate", "--key", "product:catalog:8:v1", "--key", "product:catalog:8:v9")
    assert result.exit_code == 0, result.output
    assert "removed 1 of 2 keys" in result.stdout
    assert len(existing(client, catalog)) == 298
    assert existing(client, SURVIVORS) == SURVIVORS


def test_a_version_bump_removes_only_the_old_versions_keys(
    cli: Cli, client: Any, catalog: list[str]
) -> None:
    result = cli("invalidate", "--bump", "product:catalog", "--from", "v1", "--remove-old", "--yes")
    assert result.exit_code == 0, result.output
    assert "deploy version v2 (keys like product:catalog:<id>:v2)" in result.stdout
    assert "removed 150 keys" in result.stdout
    assert existing(client, catalog) == [key for key in catalog if key.endswith(":v2")]
    assert existing(client, SURVIVORS) == SURVIVORS


# ---- failover and rebalance --------------------------------------------------------------


def role_of(redis_lab: RedisLab, node: LabNode) -> str:
    return redis_lab.role(node)


def test_failover_switches_roles_and_back(cli: Cli, shared_lab: RedisLab) -> None:
    primary = shared_lab.primaries_now()[0]
    replica = shared_lab.replicas_of(primary)[0]

    result = cli("failover", "--node", primary.address)
    assert result.exit_code == 0, result.output
    assert f"{replica.address} ({replica.hostname}) is now the primary" in result.stdout
    assert role_of(shared_lab, replica) == "master"
    assert role_of(shared_lab, primary) == "slave"
    assert shared_lab.cluster_problems() == []

    result = cli("failover", "--node", primary.address)  # a replica now: promoted itself
    assert result.exit_code == 0, result.output
    assert role_of(shared_lab, primary) == "master"
    assert role_of(shared_lab, replica) == "slave"


def test_failover_of_an_unknown_node_is_one_line(cli: Cli) -> None:
    result = cli("failover", "--node", "127.0.0.1:1")
    assert result.exit_code == 1
    assert result.stderr.startswith("error: no node 127.0.0.1:1 in the cluster (members: ")
    assert len(result.stderr.strip().splitlines()) == 1


def test_rebalance_of_a_balanced_cluster_moves_nothing(cli: Cli) -> None:
    result = cli("rebalance")
    assert result.exit_code == 0, result.output
    assert "No rebalancing needed" in result.stdout
