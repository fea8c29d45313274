# pyright: strict, reportUnknownMemberType=false, reportMissingTypeStubs=false
"""Backup sets in S3: upload, list, choose by time, verified download; `run_backup` and
`restore_set`, the two halves of a backup's life.

    s3://<bucket>/<prefix>/<set-id>/<node-id>.rdb     one RDB snapshot per primary
    s3://<bucket>/<prefix>/<set-id>/manifest.json     written LAST: the set is complete

Every RDB object carries its SHA-256 (hex, in the manifest and in the object's `sha256`
metadata); uploads also ask S3 for its own SHA-256 checksum, so S3 rejects a part damaged in
transit. Objects are encrypted server-side with the KMS key given (`aws:kms`).
"""

from __future__ import annotations

import base64
import hashlib
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, cast

from cachectl.backup.manifest import (
    DEFAULT_PREFIX,
    MANIFEST_NAME,
    Manifest,
    ManifestEntry,
    Reporter,
    SilentReporter,
    format_slot_ranges,
    ignore_progress,
    iso,
    new_set_id,
    set_time,
    sha256_of,
)
from cachectl.backup.snapshot import ClusterNode, Snapshot
from cachectl.errors import BackupError, RefusedSetError

# S3 allows 10,000 parts: 64 MiB parts cover RDB files up to 625 GiB.
_PART_SIZE = 64 * 1024 * 1024
# S3 caps all user metadata of an object at 2 KiB.
_SLOTS_METADATA_LIMIT = 1024


# --- S3 --------------------------------------------------------------------------------------


class S3Client(Protocol):
    """The part of boto3's S3 client this module uses (boto3 ships no type hints)."""

    def upload_file(
        self,
        Filename: str,
        Bucket: str,
        Key: str,
        ExtraArgs: dict[str, Any] | None = None,
        Callback: Callable[[int], None] | None = None,
        Config: Any = None,
    ) -> None: ...

    def download_file(
        self,
        Bucket: str,
        Key: str,
        Filename: str,
        ExtraArgs: dict[str, Any] | None = None,
        Callback: Callable[[int], None] | None = None,
        Config: Any = None,
    ) -> None: ...

    def put_object(self, **kwargs: Any) -> dict[str, Any]: ...

    def get_object(self, **kwargs: Any) -> dict[str, Any]: ...

    def head_object(self, **kwargs: Any) -> dict[str, Any]: ...

    def get_paginator(self, operation_name: str) -> Any: ...


def make_s3_client(region: str | None) -> S3Client:
    """The one place the S3 client is built (tests point it at moto by mocking boto3).

    Credentials come from boto3's default chain: IRSA's web identity in Kubernetes, a profile or
    environment variables elsewhere. AWS_ENDPOINT_URL_S3 points it at an S3-compatible store.
    """
    import boto3  # slow to import; only commands that talk to S3 pay for it
    from botocore.config import Config

    config = Config(retries={"max_attempts": 10, "mode": "adaptive"})
    return cast(S3Client, boto3.client("s3", region_name=region or None, config=config))


def _transfer_config() -> Any:
    from boto3.s3.transfer import TransferConfig

    return TransferConfig(
        multipart_threshold=_PART_SIZE, multipart_chunksize=_PART_SIZE, max_concurrency=4
    )


def _client_error_code(error: Exception) -> str:
    response = cast(dict[str, Any], getattr(error, "response", None) or {})
    return str(response.get("Error", {}).get("Code", ""))


def _is_missing(error: Exception) -> bool:
    return _client_error_code(error) in ("404", "NoSuchKey", "NotFound")


@dataclass(frozen=True)
class SetSummary:
    """A set as listed in the bucket."""

    set_id: str
    started_at: datetime
    complete: bool
    files: int
    size: int


@dataclass
class BackupStore:
    """A bucket and prefix holding backup sets."""

    client: S3Client
    bucket: str
    prefix: str = DEFAULT_PREFIX
    transfer_config: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.prefix = self.prefix.strip("/")
        if not self.bucket:
            raise BackupError("no bucket: pass --bucket or set BACKUP_BUCKET")

    def key(self, set_id: str, name: str) -> str:
        return "/".join(part for part in (self.prefix, set_id, name) if part)

    def url(self, set_id: str, name: str = "") -> str:
        return f"s3://{self.bucket}/{self.key(set_id, name)}"

    def _config(self) -> Any:
        if self.transfer_config is None:
            self.transfer_config = _transfer_config()
        return self.transfer_config

    def upload_snapshot(
        self,
        set_id: str,
        snapshot: Snapshot,
        kms_key_id: str,
        progress: Callable[[int], None] = ignore_progress,
    ) -> ManifestEntry:
        node = snapshot.node
        name = f"{node.node_id}.rdb"
        key = self.key(set_id, name)
        slots = format_slot_ranges(node.slots)
        if len(slots) > _SLOTS_METADATA_LIMIT:
            slots = f"{len(node.slots)} ranges, see {MANIFEST_NAME}"
        extra = {
            **_encryption(kms_key_id),
            # S3 checks a SHA-256 of every part it receives; `sha256` below is the whole file's.
            "ChecksumAlgorithm": "SHA256",
            "ContentType": "application/octet-stream",
            "Metadata": {
                "sha256": snapshot.sha256,
                "node-id": node.node_id,
                "slots": slots,
                "set-id": set_id,
                "redis-version": snapshot.redis_version,
                "taken-at": iso(snapshot.taken_at),
            },
        }
        self.client.upload_file(
            str(snapshot.path), self.bucket, key, ExtraArgs=extra, Callback=progress,
            Config=self._config(),
        )  # fmt: skip
        return ManifestEntry(
            node_id=node.node_id,
            address=f"{node.ip}:{node.port}",
            slots=node.slots,
            file=name,
            key=key,
            size=snapshot.size,
            sha256=snapshot.sha256,
            redis_version=snapshot.redis_version,
            keys=snapshot.keys,
            taken_at=iso(snapshot.taken_at),
        )

    def put_manifest(self, manifest: Manifest, kms_key_id: str) -> None:
        body = manifest.to_json().encode()
        self.client.put_object(
            Bucket=self.bucket,
            Key=self.key(manifest.set_id, MANIFEST_NAME),
            Body=body,
            ContentType="application/json",
            ChecksumSHA256=base64.b64encode(hashlib.sha256(body).digest()).decode(),
            **_encryption(kms_key_id),
        )

    def list_sets(self) -> list[SetSummary]:
        """Every set under the prefix, oldest first; other names there are ignored."""
        found: dict[str, list[tuple[str, int]]] = {}
        base = f"{self.prefix}/" if self.prefix else ""
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=base):
            for item in cast(list[dict[str, Any]], page.get("Contents", [])):
                set_id, _, name = str(item["Key"])[len(base) :].partition("/")
                if name and "/" not in name and set_time(set_id) is not None:
                    found.setdefault(set_id, []).append((name, int(item.get("Size", 0))))
        summaries = [
            SetSummary(
                set_id=set_id,
                started_at=cast(datetime, set_time(set_id)),
                complete=any(name == MANIFEST_NAME for name, _ in files),
                files=sum(1 for name, _ in files if name.endswith(".rdb")),
                size=sum(size for name, size in files if name.endswith(".rdb")),
            )
            for set_id, files in found.items()
        ]
        return sorted(summaries, key=lambda s: (s.started_at, s.set_id))

    def fetch_manifest(self, set_id: str) -> Manifest:
        if set_time(set_id) is None:
            raise BackupError(f"'{set_id}' is not a set id (like 20250102T030000Z-3fa9c1)")
        try:
            response = self.client.get_object(
                Bucket=self.bucket, Key=self.key(set_id, MANIFEST_NAME)
            )
        except Exception as error:
            if _is_missing(error):
                raise RefusedSetError(
                    f"set {set_id} is incomplete: {self.url(set_id, MANIFEST_NAME)} does not "
                    "exist (the backup did not finish); restore another set"
                ) from None
            raise
        return Manifest.from_json(response["Body"].read(), expected_set_id=set_id)

    def verify_object(self, set_id: str, entry: ManifestEntry) -> None:
        """Size and recorded checksum of the object against the manifest, before downloading."""
        key = self.key(set_id, entry.file)
        if entry.key != key:
            raise RefusedSetError(f"set {set_id}: manifest key {entry.key} is not {key}")
        try:
            head = self.client.head_object(Bucket=self.bucket, Key=key)
        except Exception as error:
            if _is_missing(error):
                raise RefusedSetError(
                    f"set {set_id} is corrupted: {self.url(set_id, entry.file)} is missing"
                ) from None
            raise
        size = int(head.get("ContentLength", -1))
        recorded = cast(dict[str, str], head.get("Metadata", {})).get("sha256")
        if size != entry.size or recorded != entry.sha256:
            raise RefusedSetError(
                f"set {set_id} is corrupted: {entry.file} is {size} bytes with sha256 "
                f"{recorded}, the manifest says {entry.size} bytes with {entry.sha256}"
            )

    def download(
        self, set_id: str, entry: ManifestEntry, path: Path, progress: Callable[[int], None]
    ) -> None:
        self.client.download_file(
            self.bucket, self.key(set_id, entry.file), str(path), Callback=progress,
            Config=self._config(),
        )  # fmt: skip


def _encryption(kms_key_id: str) -> dict[str, str]:
    return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": kms_key_id}


# --- backup ----------------------------------------------------------------------------------


def run_backup(
    store: BackupStore,
    primaries: Sequence[ClusterNode],
    snapshot: Callable[[ClusterNode, Path], Snapshot],
    *,
    kms_key_id: str,
    work_dir: Path | None = None,
    reporter: Reporter | None = None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Manifest:
    """Snapshot and upload each primary in turn, then write the manifest.

    One primary at a time: one fork in the cluster at any moment and one RDB on local disk, at
    the price of shards snapshotted a few seconds or minutes apart (each file records its own
    `taken_at`; a cache does not need a cross-shard consistent cut). Any exception leaves the
    set without a manifest, i.e. incomplete, and propagates.
    """
    if not kms_key_id:
        raise BackupError("no KMS key: pass --kms-key-id or set BACKUP_KMS_KEY_ID")
    if not primaries:
        raise BackupError("no primary to back up")
    reporter = reporter or SilentReporter()
    started_at = clock()
    set_id = new_set_id(started_at)
    reporter.info(f"backup set {set_id}: {len(primaries)} primaries -> {store.url(set_id)}")
    entries: list[ManifestEntry] = []
    with tempfile.TemporaryDirectory(prefix="redis-backup-", dir=work_dir) as scratch:
        for node in primaries:
            taken = snapshot(node, Path(scratch))
            try:
                with reporter.transfer(f"upload {node.node_id[:8]}", taken.size) as advance:
                    entries.append(store.upload_snapshot(set_id, taken, kms_key_id, advance))
            finally:
                taken.path.unlink(missing_ok=True)
            reporter.info(
                f"{node.node_id[:8]} slots {format_slot_ranges(node.slots)}: "
                f"{taken.keys} keys, {taken.size} bytes, sha256 {taken.sha256[:12]}..."
            )
    manifest = Manifest(
        set_id=set_id,
        prefix=store.prefix,
        started_at=iso(started_at),
        completed_at=iso(clock()),
        entries=tuple(entries),
    )
    store.put_manifest(manifest, kms_key_id)
    reporter.info(f"backup set {set_id} complete: {store.url(set_id, MANIFEST_NAME)}")
    return manifest


# --- restore ---------------------------------------------------------------------------------


def choose_set(sets: Sequence[SetSummary], at: datetime | None = None) -> SetSummary:
    """The newest complete set started at or before `at` (now when None)."""
    eligible = [s for s in sets if at is None or s.started_at <= at]
    complete = [s for s in eligible if s.complete]
    when = f"at or before {iso(at)}" if at is not None else "in the bucket"
    if not complete:
        skipped = len(eligible)
        detail = f" ({skipped} incomplete set(s) skipped)" if skipped else ""
        raise BackupError(f"no complete backup set {when}{detail}")
    return max(complete, key=lambda s: (s.started_at, s.set_id))


def restore_set(
    store: BackupStore, set_id: str, destination: Path, reporter: Reporter | None = None
) -> Manifest:
    """Download every file of a complete set into `destination`, verifying each checksum.

    The files land as `.part` first and are renamed only once all of them verified, and the
    manifest is written last: a refused set leaves no RDB and no manifest behind.
    """
    reporter = reporter or SilentReporter()
    manifest = store.fetch_manifest(set_id)
    if destination.exists() and any(destination.iterdir()):
        raise BackupError(f"{destination} is not empty; restore into a new directory")
    for entry in manifest.entries:
        store.verify_object(set_id, entry)
    # The files hold the cache's data (carts, sessions...): readable by their owner only.
    destination.mkdir(mode=0o700, parents=True, exist_ok=True)
    parts: list[tuple[Path, Path]] = []
    try:
        for entry in manifest.entries:
            part = destination / f".{entry.file}.part"
            parts.append((part, destination / entry.file))
            with reporter.transfer(f"download {entry.node_id[:8]}", entry.size) as advance:
                store.download(set_id, entry, part, advance)
            actual = sha256_of(part)
            if actual != entry.sha256:
                raise RefusedSetError(
                    f"set {set_id} is corrupted: {entry.file} has sha256 {actual}, "
                    f"the manifest says {entry.sha256}"
                )
        for part, final in parts:
            part.rename(final)
    finally:
        for part, _ in parts:
            part.unlink(missing_ok=True)
    (destination / MANIFEST_NAME).write_text(manifest.to_json())
    reporter.info(f"restored set {set_id} ({len(manifest.entries)} files) into {destination}")
    return manifest


def read_restored_set(directory: Path) -> Manifest:
    """The manifest of a restored directory, with every file checked against it again."""
    manifest_path = directory / MANIFEST_NAME
    if not manifest_path.is_file():
        raise BackupError(f"{manifest_path} not found; run `restore --to {directory}` first")
    manifest = Manifest.from_json(manifest_path.read_bytes())
    for entry in manifest.entries:
        path = directory / entry.file
        if not path.is_file():
            raise RefusedSetError(f"{path} is missing")
        if sha256_of(path) != entry.sha256:
            raise RefusedSetError(f"{path} does not match the sha256 in {MANIFEST_NAME}")
    return manifest
