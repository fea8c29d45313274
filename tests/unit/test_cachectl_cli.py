"""cachectl's command line without a cluster: parsing, refusals, one-line errors, no traces."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import Result

from cachectl.cli import app
from cachectl.connection import (
    CachectlError,
    ClusterEntry,
    ClusterView,
    ConnectionSettings,
    Endpoint,
    parse_endpoint,
    parse_endpoints,
    settings_from,
)
from cachectl.credentials import Credentials
from cachectl.errors import UsageError
from cachectl.failover import choose_replica, rebalance_command
from tests.support.cli import invoke
from tests.support.tools import free_port

CLEAN_ENV = {
    "CACHECTL_NODE": "",
    "REDISCLI_AUTH": "",
    "REDIS_PASSWORD_FILE": "",
    "CLOUDFLARE_API_TOKEN": "",
    "CLOUDFLARE_ZONE_ID": "",
    "CLOUDFLARE_BASE_URL": "",
}


def run(*args: str, **env: str) -> Result:
    return invoke(app, args, env={**CLEAN_ENV, **env})


def assert_one_line_error(result: Result, fragment: str) -> None:
    assert result.exit_code == 1, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ") and fragment in lines[0], lines[0]
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("invalidate", "--pattern", "*"), "matches every key: pass --all"),
        (("invalidate", "--pattern", "*:*", "--dry-run"), "matches every key"),
        (("invalidate", "--all"), "pass --pattern '*' --all"),
        (("invalidate", "--pattern", "product:catalog", "--all"), "only for a pattern"),
        (("invalidate",), "nothing to invalidate"),
        (("invalidate", "--bump", "product:catalog"), "--bump needs --from"),
        (("invalidate", "--from", "v1"), "go with --bump"),
        (("invalidate", "--bump", "product:catalog", "--from", "v1", "--key", "k"), "works alone"),
        (("invalidate", "--pattern", "prod*:catalog"), "invalid service"),
        (("invalidate", "--edge-tag", "catalog"), "no zone"),
        (("invalidate", "--edge-tag", "catalog", "--zone-id", "z"), "CLOUDFLARE_API_TOKEN"),
        (("invalidate", "--edge-everything", "--edge-tag", "x"), "give it alone"),
        (("health",), "no node given"),
    ],
)
def test_refusals_are_one_line_on_stderr(args: tuple[str, ...], fragment: str) -> None:
    assert_one_line_error(run(*args), fragment)


def test_refusals_happen_before_any_connection() -> None:
    # The node does not exist: reaching it would give "cannot reach", not the refusal.
    result = run("invalidate", "--pattern", "*", node=f"127.0.0.1:{free_port()}")
    assert_one_line_error(result, "matches every key")


def test_an_unreachable_cluster_is_one_line() -> None:
    port = free_port()
    result = run("health", CACHECTL_NODE=f"127.0.0.1:{port}")
    assert_one_line_error(result, f"cannot reach the cluster: 127.0.0.1:{port}")


def test_every_seed_is_tried_and_named() -> None:
    first, second = free_port(), free_port()
    result = run("health", "--node", f"127.0.0.1:{first},127.0.0.1:{second}")
    assert_one_line_error(result, f"127.0.0.1:{first}")
    assert f"127.0.0.1:{second}" in result.stderr


def test_edge_dry_run_lists_the_requests() -> None:
    result = run(
        "invalidate",
        "--edge-prefix",
        "https://shop.example.com/catalog",
        "--edge-tag",
        "product-1",
        "--dry-run",
        "--zone-id",
        "zone",
        CLOUDFLARE_API_TOKEN="token",
    )
    assert result.exit_code == 0, result.output
    assert "would purge 1 prefix: shop.example.com/catalog" in result.stdout
    assert "would purge 1 tag: product-1" in result.stdout


def test_a_version_bump_alone_only_prints_the_version_to_deploy() -> None:
    result = run("invalidate", "--bump", "product:catalog", "--from", "v4")
    assert result.exit_code == 0, result.output
    assert "deploy version v5 (keys like product:catalog:<id>:v5)" in result.stdout


def test_missing_required_options_are_usage_errors() -> None:
    assert run("warm").exit_code == 2
    assert run("failover").exit_code == 2
    assert run("health", "--no-such-flag").exit_code == 2


def test_a_password_flag_does_not_exist() -> None:
    assert run("health", "--password", "secret").exit_code == 2


def test_a_bad_plan_is_one_line(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text("tiers:\n  hot:\n    - post: ftp://nowhere/\n")
    result = run("warm", "--plan", str(plan))
    assert result.exit_code == 2, result.output
    assert "tiers.hot[0].post" in result.stderr and len(result.stderr.splitlines()) == 1


def test_backup_is_mounted() -> None:
    result = run("backup", "--help")
    assert result.exit_code == 0
    assert "restore" in result.stdout and "load" in result.stdout


# ---- connection settings -----------------------------------------------------------------


def test_endpoints() -> None:
    assert parse_endpoint("redis-0.redis-headless:6379") == Endpoint("redis-0.redis-headless", 6379)
    assert parse_endpoint("[::1]:7000") == Endpoint("::1", 7000)
    assert parse_endpoints("a:1, b:2 c:3") == [Endpoint("a", 1), Endpoint("b", 2), Endpoint("c", 3)]
    for bad in ("redis", "redis:", ":6379", "redis:65536", "redis:port"):
        with pytest.raises(UsageError, match="bad node address"):
            parse_endpoint(bad)


def test_settings_prefer_the_flag_and_enable_tls_with_a_ca(tmp_path: Path) -> None:
    env = {"CACHECTL_NODE": "env:1", "REDISCLI_AUTH": "pw"}
    settings = settings_from("flag:2", None, False, tmp_path / "ca.pem", environ=env)
    assert settings.seeds == (Endpoint("flag", 2),)
    assert settings.tls and settings.credentials.password == "pw"
    options = settings.client_options()
    assert options["ssl"] is True and options["ssl_ca_certs"] == str(tmp_path / "ca.pem")
    assert settings_from(None, None, False, None, environ=env).seeds == (Endpoint("env", 1),)


# ---- failover and rebalance planning -----------------------------------------------------


def member(index: int, primary: int | None = None, healthy: bool = True) -> ClusterEntry:
    flags = {"master"} if primary is None else {"slave"}
    if not healthy:
        flags.add("fail")
    return ClusterEntry(
        node_id=f"{index:040d}",
        ip="127.0.0.1",
        port=7000 + index,
        hostname=f"redis-{index}",
        flags=frozenset(flags),
        primary_id=None if primary is None else f"{primary:040d}",
        connected=True,
        slots=((0, 16383),) if primary is None else (),
    )


def view_of(*entries: ClusterEntry) -> ClusterView:
    return ClusterView(
        ConnectionSettings(seeds=(Endpoint("127.0.0.1", 7000),)),
        Endpoint("127.0.0.1", 7000),
        list(entries),
    )


def test_failover_of_a_primary_promotes_its_most_advanced_healthy_replica() -> None:
    primary, behind, ahead, failing = member(0), member(1, 0), member(2, 0), member(3, 0, False)
    view = view_of(primary, behind, ahead, failing)
    offsets = {behind.node_id: 100, ahead.node_id: 250, failing.node_id: 999}
    plan = choose_replica(view, primary, offsets)
    assert plan.replica == ahead and plan.primary == primary
    assert choose_replica(view, behind, offsets).replica == behind


def test_failover_refuses_without_a_healthy_replica() -> None:
    primary, failing = member(0), member(1, 0, False)
    with pytest.raises(CachectlError, match="no healthy replica"):
        choose_replica(view_of(primary, failing), primary, {failing.node_id: 1})
    with pytest.raises(CachectlError, match="flagged failing"):
        choose_replica(view_of(primary, failing), failing, {})


def test_an_unknown_node_is_named_with_the_members() -> None:
    with pytest.raises(CachectlError, match=r"no node 10.1.1.1:7000 in the cluster \(members: 127"):
        view_of(member(0)).find(Endpoint("10.1.1.1", 7000))
    assert view_of(member(0), member(1, 0)).find(Endpoint("redis-1", 7001)) == member(1, 0)


def test_rebalance_command_never_carries_the_password(tmp_path: Path) -> None:
    settings = ConnectionSettings(
        seeds=(Endpoint("a", 1),),
        credentials=Credentials(None, "s3cret"),
        tls=True,
        tls_ca_file=tmp_path / "ca.pem",
    )
    command = rebalance_command(
        "redis-cli", Endpoint("10.0.0.5", 6379), settings, threshold=1.5, use_empty_masters=True
    )
    assert command == [
        "redis-cli",
        "--no-auth-warning",
        "--tls",
        "--cacert",
        str(tmp_path / "ca.pem"),
        "--cluster",
        "rebalance",
        "10.0.0.5:6379",
        "--cluster-threshold",
        "1.5",
        "--cluster-use-empty-masters",
    ]
    assert "s3cret" not in " ".join(command)
