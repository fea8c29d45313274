# pyright: strict, reportUnknownMemberType=false, reportMissingTypeStubs=false
"""Backups of the Redis Cluster's primaries to S3, restores from S3, and replays into any cluster.

Split along the life of a backup:

    snapshot   which primaries to back up; one primary's RDB (`redis-cli --rdb`)
    manifest   set ids, the manifest that makes a set complete, slot coverage, progress
    store      the bucket: upload, list, choose, verified download; run_backup, restore_set
    load       replay a restored set into any cluster through temporary redis-servers

Addresses come from the one endpoint parser (`cachectl.connection`), credentials from the one
reader (`cachectl.credentials`), failures are `cachectl.errors.BackupError`. This package has no
side effects on import; `cachectl.backup_cli` is its command line.
"""

from cachectl.backup.load import (
    DEFAULT_LOAD_TIMEOUT_SECONDS,
    LoadCounts,
    TemporaryRedis,
    check_server_can_load,
    connect_cluster,
    copy_keys,
    find_redis_server,
    load_set,
    redis_server_version,
)
from cachectl.backup.manifest import (
    DEFAULT_PREFIX,
    MANIFEST_FORMAT,
    MANIFEST_NAME,
    Manifest,
    ManifestEntry,
    Reporter,
    SilentReporter,
    SlotRange,
    format_slot_ranges,
    iso,
    new_set_id,
    parse_time,
    set_time,
    sha256_of,
    uncovered_slots,
)
from cachectl.backup.snapshot import (
    DEFAULT_SNAPSHOT_TIMEOUT_SECONDS,
    ClusterNode,
    Snapshot,
    check_rdb_header,
    discover_primaries,
    parse_cluster_nodes,
    primaries_to_back_up,
    take_snapshot,
)
from cachectl.backup.store import (
    BackupStore,
    S3Client,
    SetSummary,
    choose_set,
    make_s3_client,
    read_restored_set,
    restore_set,
    run_backup,
)
from cachectl.errors import BackupError, RefusedSetError

__all__ = [
    "DEFAULT_LOAD_TIMEOUT_SECONDS",
    "DEFAULT_PREFIX",
    "DEFAULT_SNAPSHOT_TIMEOUT_SECONDS",
    "MANIFEST_FORMAT",
    "MANIFEST_NAME",
    "BackupError",
    "BackupStore",
    "ClusterNode",
    "LoadCounts",
    "Manifest",
    "ManifestEntry",
    "RefusedSetError",
    "Reporter",
    "S3Client",
    "SetSummary",
    "SilentReporter",
    "SlotRange",
    "Snapshot",
    "TemporaryRedis",
    "check_rdb_header",
    "check_server_can_load",
    "choose_set",
    "connect_cluster",
    "copy_keys",
    "discover_primaries",
    "find_redis_server",
    "format_slot_ranges",
    "iso",
    "load_set",
    "make_s3_client",
    "new_set_id",
    "parse_cluster_nodes",
    "parse_time",
    "primaries_to_back_up",
    "read_restored_set",
    "redis_server_version",
    "restore_set",
    "run_backup",
    "set_time",
    "sha256_of",
    "take_snapshot",
    "uncovered_slots",
]
