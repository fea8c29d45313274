# pyright: strict, reportUnknownMemberType=false, reportMissingTypeStubs=false
"""The backup runbook rehearsed end to end on the lab: backup -> wipe -> restore -> load.

    python -m lab.backup_drill [--keys 20000]        (`make drill-backup`)

A 3 + 3 lab from the production redis.conf, a local S3 (`lab.local_s3`, moto's server mode on
127.0.0.1), and the backup program run as the CronJob and the operator run it
(`python -m cachectl.backup_cli backup | list | restore | load`, in subprocesses, with the
password in a 0600 file). The wipe removes every key (FLUSHALL on every primary). Prints the
figures (keys, bytes, seconds of each step, keys per second of the load) and a verdict per
check; exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from redis.cluster import RedisCluster

from components.redis.conf import redis_conf_spec, render_redis_conf
from lab.cluster import RedisLab
from lab.local_s3 import LocalS3
from stackconfig.config import RedisConfig


def _run(args: list[str], env: Mapping[str, str]) -> tuple[str, float]:
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "cachectl.backup_cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    seconds = time.monotonic() - started
    if result.returncode != 0:
        raise SystemExit(f"drill: `backup {args[0]}` failed: {result.stderr.strip()}")
    return result.stdout.strip(), seconds


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _fill(client: RedisCluster, keys: int) -> dict[str, str]:
    sample: dict[str, str] = {}
    pipe: Any = client.pipeline()
    for number in range(keys):
        key = f"drill:item:{number}:v1"
        value = f"value-{number}" * 4
        pipe.set(key, value, ex=3600)
        if number % 997 == 0:
            sample[key] = value
        if number % 1000 == 999:
            pipe.execute()
    pipe.execute()
    return sample


def _count(client: RedisCluster) -> int:
    sizes: Any = client.dbsize(target_nodes=RedisCluster.PRIMARIES)
    if isinstance(sizes, dict):
        per_node = cast(dict[str, int], sizes)
        return sum(int(size) for size in per_node.values())
    return int(sizes)


def drill(keys: int) -> bool:
    conf = render_redis_conf(redis_conf_spec(RedisConfig()))
    with tempfile.TemporaryDirectory(prefix="backup-drill-") as scratch, RedisLab(
        conf, memory="128mb", client_endpoint="ip"
    ) as lab, LocalS3() as s3:  # fmt: skip
        work = Path(scratch)
        password_file = work / "password"
        password_file.write_text(lab.password or "")
        password_file.chmod(0o600)
        env = {
            **s3.environment(),
            "REDIS_NODES": " ".join(node.address for node in lab.nodes),
            "REDIS_PASSWORD_FILE": str(password_file),
            "REDISCLI_AUTH": "",
            "BACKUP_WORK_DIR": str(work),
        }
        client = lab.client()
        sample = _fill(client, keys)
        before = _count(client)
        print(f"lab: {len(lab.nodes)} nodes, {before} keys; local S3 {s3.endpoint}")

        set_id, backup_s = _run(["backup"], env)
        listing, _ = _run(["list"], env)
        print(f"backup   {backup_s:6.1f} s  set {set_id}")
        print(f"         {listing.splitlines()[-1]}")

        client.flushall(target_nodes=RedisCluster.PRIMARIES)
        wiped = _count(client)
        print(f"wipe              FLUSHALL on every primary: {wiped} keys left")

        restored_dir = work / "restore"
        _, restore_s = _run(["restore", "--to", str(restored_dir)], env)
        rdb_bytes = sum(path.stat().st_size for path in restored_dir.glob("*.rdb"))
        print(f"restore  {restore_s:6.1f} s  {rdb_bytes} bytes of RDB verified by sha256")

        seed = lab.nodes[0].address
        loaded, load_s = _run(["load", "--from", str(restored_dir), "--cluster", seed], env)
        after = _count(client)
        print(f"load     {load_s:6.1f} s  {loaded}  ({after / load_s:.0f} keys/s)")

        mismatched = [key for key, value in sample.items() if _text(client.get(key)) != value]
        ttls_kept = all(0 < int(client.ttl(key)) <= 3600 for key in sample)
        client.close()
        checks = {
            f"every key back ({after} of {before})": after == before,
            f"sampled values equal ({len(sample) - len(mismatched)} of {len(sample)})": (
                not mismatched
            ),
            "TTLs kept": ttls_kept,
            "the wipe removed every key": wiped == 0,
        }
        for name, passed in checks.items():
            print(f"{'✓' if passed else '✗'} {name}")
        total = backup_s + restore_s + load_s
        print(f"backup + restore + load: {total:.1f} s for {before} keys")
        return all(checks.values())


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m lab.backup_drill", description=__doc__)
    parser.add_argument("--keys", type=int, default=20000, help="keys written before the backup")
    options = parser.parse_args()
    if options.keys < 1:
        parser.error("--keys must be at least 1")
    return 0 if drill(options.keys) else 1


if __name__ == "__main__":
    raise SystemExit(main())
