"""A mocked AWS account (moto) with the backup bucket and a KMS key, fake snapshots and a flaky
S3 client: what the backup tests of cachectl share (unit tests on moto, the CLI tests, the
round trip on real servers)."""

from __future__ import annotations

import contextlib
import functools
import hashlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

import boto3
import moto.kms.models
import moto.kms.utils
import pytest
from moto import mock_aws

from cachectl.backup import (
    BackupStore,
    ClusterNode,
    S3Client,
    Snapshot,
    run_backup,
)

REGION = "eu-west-1"
BUCKET = "cache-platform-redis-backups-test"
PREFIX = "prod/redis"

PRIMARIES = (
    ClusterNode("a" * 40, "10.0.0.1", 6379, "", frozenset({"master"}), ((0, 5460),)),
    ClusterNode("b" * 40, "10.0.0.2", 6379, "", frozenset({"master"}), ((5461, 10922),)),
    ClusterNode("c" * 40, "10.0.0.3", 6379, "", frozenset({"master"}), ((10923, 16383),)),
)


@dataclass
class Sandbox:
    """A mocked AWS account with the backup bucket and a KMS key."""

    s3: Any
    kms_key_id: str

    def store(self, client: S3Client | None = None) -> BackupStore:
        return BackupStore(client or cast(S3Client, self.s3), BUCKET, PREFIX)

    def keys(self) -> list[str]:
        listing = self.s3.list_objects_v2(Bucket=BUCKET)
        return sorted(item["Key"] for item in listing.get("Contents", []))


def isolate_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fake credentials and no configured endpoint or profile, so nothing can reach AWS."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)


@functools.cache
def _clients() -> tuple[Any, Any]:
    """An S3 and a KMS client, made once per process: creating a boto3 client costs more than
    everything else a test does here. moto intercepts their requests whenever a mock is active,
    and each `mock_aws()` starts from an empty account, so a reused client sees no earlier test."""
    return boto3.client("s3", region_name=REGION), boto3.client("kms", region_name=REGION)


def kms_client() -> Any:
    """The sandbox's KMS client (moto's when a sandbox is active)."""
    return _clients()[1]


_one_private_key_per_spec = functools.cache(moto.kms.utils.generate_private_key)


@contextlib.contextmanager
def aws_sandbox(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """The `aws` fixture of tests/conftest.py: moto's account with the bucket and a key."""
    isolate_aws(monkeypatch)
    # moto makes every key an RSA-2048 pair (tens of milliseconds each), even a symmetric key
    # whose pair nobody reads: the backups only name the key for S3's SSE-KMS.
    monkeypatch.setattr(moto.kms.models, "generate_private_key", _one_private_key_per_spec)
    with mock_aws():
        s3, kms = _clients()
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        key_id = kms.create_key()["KeyMetadata"]["KeyId"]
        yield Sandbox(s3, key_id)


def fake_rdb(node: ClusterNode) -> bytes:
    return b"REDIS0010" + node.node_id.encode() * 50


def fake_snapshot(node: ClusterNode, work_dir: Path) -> Snapshot:
    path = work_dir / f"{node.node_id}.rdb"
    content = fake_rdb(node)
    path.write_bytes(content)
    return Snapshot(
        node=node,
        path=path,
        size=len(content),
        sha256=hashlib.sha256(content).hexdigest(),
        redis_version="7.0.15",
        keys=3,
        taken_at=datetime(2025, 1, 2, 3, tzinfo=UTC),
    )


def clock_at(moment: datetime) -> Callable[[], datetime]:
    return lambda: moment


def backup_at(sandbox: Sandbox, moment: datetime, store: BackupStore | None = None) -> str:
    manifest = run_backup(
        store or sandbox.store(),
        PRIMARIES,
        fake_snapshot,
        kms_key_id=sandbox.kms_key_id,
        clock=clock_at(moment),
    )
    return manifest.set_id


class FlakyClient:
    """The real (mocked) client, recording calls, whose n-th upload raises."""

    def __init__(self, real: Any, fail_on_upload: int | None = None) -> None:
        self.real = real
        self.fail_on_upload = fail_on_upload
        self.calls: list[str] = []

    def upload_file(self, *args: Any, **kwargs: Any) -> None:
        self.calls.append("upload_file")
        if self.calls.count("upload_file") == self.fail_on_upload:
            raise ConnectionResetError("connection reset by peer during upload")
        self.real.upload_file(*args, **kwargs)

    def put_object(self, **kwargs: Any) -> Any:
        self.calls.append(f"put_object {kwargs['Key'].rsplit('/', 1)[-1]}")
        return self.real.put_object(**kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


JAN_2 = datetime(2025, 1, 2, 3, 0, 0, tzinfo=UTC)


def corrupt(sandbox: Sandbox, key: str, keep_metadata: bool) -> None:
    """Replace an object's bytes, as bit rot or a bad copy would."""
    head = sandbox.s3.head_object(Bucket=BUCKET, Key=key)
    content = sandbox.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    damaged = content[:-1] + bytes([content[-1] ^ 0xFF])
    metadata = head["Metadata"] if keep_metadata else {}
    sandbox.s3.put_object(Bucket=BUCKET, Key=key, Body=damaged, Metadata=metadata)
