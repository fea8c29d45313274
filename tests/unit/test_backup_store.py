"""Backup sets in S3 (moto): upload, manifest last, choice by time, verified restores.

The snapshots are tiny fake RDB files; the integration tests take real ones.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path
from typing import cast

import pytest

from cachectl.backup import (
    MANIFEST_NAME,
    BackupError,
    RefusedSetError,
    S3Client,
    choose_set,
    read_restored_set,
    restore_set,
    run_backup,
)
from tests.support.backup_sandbox import (
    BUCKET,
    JAN_2,
    PREFIX,
    PRIMARIES,
    FlakyClient,
    Sandbox,
    backup_at,
    corrupt,
    fake_rdb,
    fake_snapshot,
)


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
