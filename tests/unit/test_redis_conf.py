"""The redis.conf renderer: maxmemory math, every directive, no secrets, parse round trip."""

from __future__ import annotations

import dataclasses
import subprocess
from pathlib import Path

import pytest

from components.redis.conf import (
    MAXMEMORY_PERCENT_RANGE,
    PER_NODE_DIRECTIVES,
    RDB_SAVE_POINTS,
    SECRET_DIRECTIVES,
    RedisConfSpec,
    maxmemory_bytes,
    parse_redis_conf,
    render_redis_conf,
    save_points_of,
)
from stackconfig.config import RedisConfig
from tests.support.tools import require_tool

GIB = 1024**3


def default_spec(**changes: object) -> RedisConfSpec:
    return dataclasses.replace(RedisConfSpec(container_memory_bytes=8 * GIB), **changes)  # type: ignore[arg-type]


def directives(**changes: object) -> dict[str, list[str]]:
    return parse_redis_conf(render_redis_conf(default_spec(**changes)))


def test_maxmemory_is_75_percent_of_8gi_by_default() -> None:
    assert maxmemory_bytes(default_spec()) == 6 * GIB
    assert directives()["maxmemory"] == [str(6 * GIB)]


@pytest.mark.parametrize(
    ("memory", "percent", "expected"),
    [(8 * GIB, 50, 4 * GIB), (8 * GIB, 95, 8 * GIB * 95 // 100), (1000, 75, 750), (1001, 75, 750)],
)
def test_maxmemory_is_the_floor_of_the_percentage(memory: int, percent: int, expected: int) -> None:
    spec = default_spec(container_memory_bytes=memory, maxmemory_percent=percent)
    assert maxmemory_bytes(spec) == expected
    assert parse_redis_conf(render_redis_conf(spec))["maxmemory"] == [str(expected)]


@pytest.mark.parametrize(
    "percent", [MAXMEMORY_PERCENT_RANGE[0] - 1, MAXMEMORY_PERCENT_RANGE[1] + 1]
)
def test_maxmemory_outside_50_to_95_percent_is_refused(percent: int) -> None:
    with pytest.raises(ValueError, match="maxmemory_percent"):
        default_spec(maxmemory_percent=percent)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("container_memory_bytes", 0),
        ("node_timeout_ms", 50),
        ("maxmemory_policy", "lru"),
        ("port", 60000),
        ("replicas_per_primary", -1),
        ("repl_backlog_bytes", 1000),
        ("save_points", ((0, 1),)),
    ],
)
def test_invalid_spec_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        default_spec(**{field: value})


def test_maxmemory_comment_explains_the_headroom() -> None:
    text = render_redis_conf(default_spec())
    before = text.split("\nmaxmemory ")[0]
    comment = before[before.rindex("# ---") :]
    assert "copy-on-write" in comment
    assert "output buffers" in comment
    assert "50 and 95 %" in comment
    assert "2048 MiB left" in comment


def test_cluster_directives() -> None:
    conf = directives()
    assert conf["cluster-enabled"] == ["yes"]
    assert conf["cluster-node-timeout"] == [str(RedisConfig().node_timeout_ms)]
    assert conf["cluster-preferred-endpoint-type"] == ["hostname"]
    assert conf["cluster-require-full-coverage"] == ["no"]
    assert conf["cluster-allow-reads-when-down"] == ["no"]
    assert conf["cluster-replica-validity-factor"] == ["0"]
    assert conf["cluster-replica-no-failover"] == ["no"]
    assert directives(node_timeout_ms=2000)["cluster-node-timeout"] == ["2000"]


def test_persistence_directives() -> None:
    conf = directives()
    assert conf["appendonly"] == ["yes"]
    assert conf["appendfsync"] == ["everysec"]
    assert conf["aof-use-rdb-preamble"] == ["yes"]
    assert conf["aof-load-truncated"] == ["yes"]
    assert conf["save"] == ["3600", "1", "300", "100", "60", "10000"]
    assert save_points_of(conf) == RDB_SAVE_POINTS


def test_persistence_can_be_turned_off() -> None:
    conf = directives(appendonly=False, rdb=False)
    assert conf["appendonly"] == ["no"]
    assert conf["save"] == [""]
    assert save_points_of(conf) == ()


def test_eviction_and_lazyfree_directives() -> None:
    conf = directives()
    assert conf["maxmemory-policy"] == ["allkeys-lru"]
    assert directives(maxmemory_policy="allkeys-lfu")["maxmemory-policy"] == ["allkeys-lfu"]
    for name in ("eviction", "expire", "server-del", "user-del", "user-flush"):
        assert conf[f"lazyfree-lazy-{name}"] == ["yes"], name
    assert conf["replica-lazy-flush"] == ["yes"]


def test_replication_and_network_directives() -> None:
    conf = directives(replicas_per_primary=2, repl_backlog_bytes=64 * 1024**2)
    assert conf["repl-diskless-sync-max-replicas"] == ["2"]
    assert conf["repl-backlog-size"] == [str(64 * 1024**2)]
    assert conf["replica-read-only"] == ["yes"]
    assert conf["client-output-buffer-limit"] == ["replica", "512mb", "128mb", "60"]
    assert conf["protected-mode"] == ["yes"]
    assert conf["port"] == ["6379"]
    assert conf["daemonize"] == ["no"]
    assert conf["logfile"] == [""]


def test_no_per_node_or_secret_directive_is_rendered() -> None:
    conf = directives()
    assert not PER_NODE_DIRECTIVES & conf.keys()
    assert not SECRET_DIRECTIVES & conf.keys()
    text = render_redis_conf(default_spec()).lower()
    assert "requirepass" not in text
    assert "masterauth" not in text


def test_every_directive_has_a_unique_line() -> None:
    text = render_redis_conf(default_spec())
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    assert len(lines) == len(parse_redis_conf(text))


def test_parse_round_trip() -> None:
    conf = directives()
    rebuilt = "\n".join(
        name + "".join(f' "{argument}"' for argument in arguments)
        for name, arguments in conf.items()
    )
    assert parse_redis_conf(rebuilt) == conf


def test_parse_reads_quotes_comments_and_case() -> None:
    text = '# comment\n\nLogFile ""\nsave "3600 1"\n  maxmemory 10mb  \n'
    assert parse_redis_conf(text) == {"logfile": [""], "save": ["3600 1"], "maxmemory": ["10mb"]}


def test_parse_refuses_a_repeated_directive() -> None:
    with pytest.raises(ValueError, match="'maxmemory' is given twice"):
        parse_redis_conf("maxmemory 1mb\nMAXMEMORY 2mb\n")


def test_parse_reports_the_bad_line() -> None:
    with pytest.raises(ValueError, match="line 2"):
        parse_redis_conf('port 1\nlogfile "unterminated\n')


def test_a_stock_redis_server_accepts_the_file(tmp_path: Path) -> None:
    """redis-server checks its whole configuration before starting and stops at the first bad
    line. The file goes first with the per-node settings start.sh adds, then a deliberately bad
    last argument: an error about that argument proves every line before it was accepted, without
    starting a server."""
    redis_server = require_tool("redis-server")
    conf = tmp_path / "redis.conf"
    conf.write_text(render_redis_conf(default_spec()))
    result = subprocess.run(
        [
            redis_server,
            str(conf),
            "--port",
            "0",
            "--bind",
            "127.0.0.1",
            "--dir",
            str(tmp_path),
            "--cluster-config-file",
            "nodes.conf",
            "--cluster-announce-hostname",
            "redis-0.redis-headless.cache.svc.cluster.local",
            "--maxmemory",
            "bogus-value",
        ],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "maxmemory" in output and "bogus-value" in output, output
    assert "Bad directive" not in output
