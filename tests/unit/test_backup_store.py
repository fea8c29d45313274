"""Backup sets in S3 (moto): upload, manifest last, choice by time, verified restores.

The snapshots are tiny fake RDB files; the integration tests take real ones.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

import boto3
import pytest
from moto import mock_aws

from cachectl.backup import (
    MANIFEST_NAME,
    BackupError,
    BackupStore,
    ClusterNode,
    RefusedSetError,
    S3Client,
    Snapshot,
    choose_set,
    read_restored_set,
    restore_set,
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


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    isolate_aws(monkeypatch)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        key_id = boto3.client("kms", region_name=REGION).create_key()["KeyMetadata"]["KeyId"]
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


def test_each_primary_is_uploaded_encrypted_with_its_checksum_and_slots(aws: Sandbox) -> None:
    set_id = backup_at(aws, JAN_2)
    assert set_id.startswith("20250102T030000Z-")
    assert aws.keys() == sorted(
        [f"{PREFIX}/{set_id}/{node.node_id}.rdb" for node in PRIMARIES]
        + [f"{PREFIX}/{set_id}/{MANIFEST_NAME}"]
    )
    for node in PRIMARIES:
        key = f"{PREFIX}/{set_id}/{node.node_id}.rdb"
        head = aws.s3.head_object(Bucket=BUCKET, Key=key, ChecksumMode="ENABLED")
        assert head["ServerSideEncryption"] == "aws:kms", key
        assert head["SSEKMSKeyId"].endswith(aws.kms_key_id), key
        assert head["ChecksumSHA256"], f"{key}: S3 did not check a SHA-256"
        assert head["Metadata"]["sha256"] == hashlib.sha256(fake_rdb(node)).hexdigest()
        assert head["Metadata"]["node-id"] == node.node_id
        assert head["Metadata"]["slots"] == f"{node.slots[0][0]}-{node.slots[0][1]}"
    manifest_head = aws.s3.head_object(Bucket=BUCKET, Key=f"{PREFIX}/{set_id}/{MANIFEST_NAME}")
    assert manifest_head["ServerSideEncryption"] == "aws:kms"


def test_the_manifest_lists_every_file_and_is_written_last(aws: Sandbox) -> None:
    client = FlakyClient(aws.s3)
    set_id = backup_at(aws, JAN_2, aws.store(cast(S3Client, client)))
    assert client.calls == ["upload_file"] * 3 + [f"put_object {MANIFEST_NAME}"]
    body = aws.s3.get_object(Bucket=BUCKET, Key=f"{PREFIX}/{set_id}/{MANIFEST_NAME}")["Body"]
    document = json.loads(body.read())
    assert document["set_id"] == set_id
    assert document["started_at"] == "2025-01-02T03:00:00Z"
    assert document["slot_count"] == 16384
    assert [f["node_id"] for f in document["files"]] == [n.node_id for n in PRIMARIES]
    first = document["files"][0]
    assert first["size"] == len(fake_rdb(PRIMARIES[0]))
    assert first["sha256"] == hashlib.sha256(fake_rdb(PRIMARIES[0])).hexdigest()
    assert first["slots"] == [[0, 5460]]
    assert first["redis_version"] == "7.0.15"


def test_an_upload_failing_midway_leaves_no_manifest(aws: Sandbox) -> None:
    client = FlakyClient(aws.s3, fail_on_upload=2)
    with pytest.raises(ConnectionResetError):
        backup_at(aws, JAN_2, aws.store(cast(S3Client, client)))
    keys = aws.keys()
    assert len(keys) == 1 and keys[0].endswith(f"{PRIMARIES[0].node_id}.rdb")
    (listed,) = aws.store().list_sets()
    assert not listed.complete and listed.files == 1


def test_a_backup_without_a_kms_key_uploads_nothing(aws: Sandbox) -> None:
    with pytest.raises(BackupError, match="no KMS key"):
        run_backup(aws.store(), PRIMARIES, fake_snapshot, kms_key_id="")
    assert aws.keys() == []


def test_a_restore_picks_the_newest_complete_set_at_or_before_the_time(
    aws: Sandbox, tmp_path: Path
) -> None:
    day = timedelta(days=1)
    first, second = backup_at(aws, JAN_2), backup_at(aws, JAN_2 + day)
    client = FlakyClient(aws.s3, fail_on_upload=3)
    with pytest.raises(ConnectionResetError):
        backup_at(aws, JAN_2 + 2 * day, aws.store(cast(S3Client, client)))
    sets = aws.store().list_sets()
    assert [s.complete for s in sets] == [True, True, False]
    assert choose_set(sets).set_id == second, "the newer incomplete set is ignored"
    assert choose_set(sets, JAN_2 + day - timedelta(seconds=1)).set_id == first
    assert choose_set(sets, JAN_2 + day).set_id == second


def test_a_named_incomplete_set_is_refused(aws: Sandbox, tmp_path: Path) -> None:
    client = FlakyClient(aws.s3, fail_on_upload=2)
    with pytest.raises(ConnectionResetError):
        backup_at(aws, JAN_2, aws.store(cast(S3Client, client)))
    (incomplete,) = aws.store().list_sets()
    with pytest.raises(RefusedSetError, match=r"is incomplete.*manifest\.json does not exist"):
        restore_set(aws.store(), incomplete.set_id, tmp_path / "restore")
    assert not (tmp_path / "restore").exists()


def test_a_restore_writes_every_verified_file_and_the_manifest(
    aws: Sandbox, tmp_path: Path
) -> None:
    set_id = backup_at(aws, JAN_2)
    target = tmp_path / "restore"
    manifest = restore_set(aws.store(), set_id, target)
    assert sorted(p.name for p in target.iterdir()) == sorted(
        [f"{n.node_id}.rdb" for n in PRIMARIES] + [MANIFEST_NAME]
    )
    for node in PRIMARIES:
        assert (target / f"{node.node_id}.rdb").read_bytes() == fake_rdb(node)
    assert read_restored_set(target) == manifest
    assert target.stat().st_mode & 0o777 == 0o700, "the cache's data is for its owner only"


def corrupt(sandbox: Sandbox, key: str, keep_metadata: bool) -> None:
    """Replace an object's bytes, as bit rot or a bad copy would."""
    head = sandbox.s3.head_object(Bucket=BUCKET, Key=key)
    content = sandbox.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()
    damaged = content[:-1] + bytes([content[-1] ^ 0xFF])
    metadata = head["Metadata"] if keep_metadata else {}
    sandbox.s3.put_object(Bucket=BUCKET, Key=key, Body=damaged, Metadata=metadata)


@pytest.mark.parametrize("keep_metadata", [True, False], ids=["same-metadata", "lost-metadata"])
def test_a_corrupted_object_makes_the_restore_refuse_and_leave_nothing(
    aws: Sandbox, tmp_path: Path, keep_metadata: bool
) -> None:
    set_id = backup_at(aws, JAN_2)
    corrupt(aws, f"{PREFIX}/{set_id}/{PRIMARIES[2].node_id}.rdb", keep_metadata)
    target = tmp_path / "restore"
    with pytest.raises(RefusedSetError, match=f"set {set_id} is corrupted: {'c' * 40}.rdb"):
        restore_set(aws.store(), set_id, target)
    assert not target.exists() or list(target.iterdir()) == []


def test_a_missing_object_makes_the_restore_refuse(aws: Sandbox, tmp_path: Path) -> None:
    set_id = backup_at(aws, JAN_2)
    aws.s3.delete_object(Bucket=BUCKET, Key=f"{PREFIX}/{set_id}/{PRIMARIES[1].node_id}.rdb")
    with pytest.raises(RefusedSetError, match="is missing"):
        restore_set(aws.store(), set_id, tmp_path / "restore")


def test_a_manifest_that_does_not_cover_every_slot_is_refused(aws: Sandbox, tmp_path: Path) -> None:
    set_id = backup_at(aws, JAN_2)
    key = f"{PREFIX}/{set_id}/{MANIFEST_NAME}"
    document = json.loads(aws.s3.get_object(Bucket=BUCKET, Key=key)["Body"].read())
    document["files"] = document["files"][:2]
    aws.s3.put_object(Bucket=BUCKET, Key=key, Body=json.dumps(document).encode())
    with pytest.raises(RefusedSetError, match="missing: 10923-16383"):
        restore_set(aws.store(), set_id, tmp_path / "restore")


def test_a_restore_never_mixes_into_a_non_empty_directory(aws: Sandbox, tmp_path: Path) -> None:
    set_id = backup_at(aws, JAN_2)
    (tmp_path / "old.rdb").write_bytes(b"REDIS0010")
    with pytest.raises(BackupError, match="is not empty"):
        restore_set(aws.store(), set_id, tmp_path)


def test_a_restored_file_changed_on_disk_is_refused_before_loading(
    aws: Sandbox, tmp_path: Path
) -> None:
    set_id = backup_at(aws, JAN_2)
    restore_set(aws.store(), set_id, tmp_path / "restore")
    with (tmp_path / "restore" / f"{PRIMARIES[0].node_id}.rdb").open("ab") as stream:
        stream.write(b"x")
    with pytest.raises(RefusedSetError, match="does not match the sha256"):
        read_restored_set(tmp_path / "restore")


def test_objects_that_are_not_backup_sets_are_ignored(aws: Sandbox) -> None:
    backup_at(aws, JAN_2)
    aws.s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/README.txt", Body=b"notes")
    aws.s3.put_object(Bucket=BUCKET, Key=f"{PREFIX}/scratch/{MANIFEST_NAME}", Body=b"{}")
    aws.s3.put_object(Bucket=BUCKET, Key="other/20250103T000000Z-000000/x.rdb", Body=b"x")
    (only,) = aws.store().list_sets()
    assert only.complete and only.files == 3
