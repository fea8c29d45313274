"""Redis 7 ACL users of the cluster: who may run what (pure; no passwords here).

Every client used to share the `default` user with every command: any pod of a client namespace
could run CONFIG GET requirepass, FLUSHALL, CLUSTER RESET or SHUTDOWN. Now `default` is off and
each kind of client has its own user, its own generated password (its own Secret, mounted as a
file) and only the commands its work needs:

- `app`: the services. Data commands on every key and channel; no @admin, no @dangerous (CONFIG,
  FLUSHALL/FLUSHDB, KEYS, SHUTDOWN, DEBUG, MONITOR, REPLICAOF, the CLUSTER writes...), only the
  read-only CLUSTER subcommands a cluster client needs to find the slots.
- `operator`: cachectl and the bootstrap/repair jobs, probes and preStop hook. Forms and heals
  the cluster (CLUSTER *, INFO, ROLE), scans and deletes keys; still no FLUSHALL/FLUSHDB, DEBUG,
  SHUTDOWN, CONFIG SET, ACL changes or MODULE.
- `monitor`: the exporter and nothing but statistics: no key pattern (it reads no key, nor
  lists them), no CONFIG GET (it would reveal `masterauth`), no CLIENT admin subcommands; the
  statistics commands of redis_exporter's README list.
- `backup`: the backup job. Streams an RDB with `redis-cli --rdb` (SYNC + REPLCONF), finds the
  primaries (CLUSTER NODES, ROLE, INFO); reads and writes no key.
- `replication`: replicas authenticate to their primary with it (`masteruser`); PSYNC, REPLCONF
  and PING only.

The rules are rendered into the ConfigMap (`users.acl`); start.sh adds each user's password, as
a SHA-256 hash read from the user's file, into a 0600 include that never leaves the pod.
"""

from __future__ import annotations

from dataclasses import dataclass

_CLUSTER_READS = (
    "+cluster|slots +cluster|shards +cluster|nodes +cluster|info +cluster|myid +cluster|keyslot"
)
_HANDSHAKE = "+auth +hello +ping +echo +client|setname +client|id +client|info"


@dataclass(frozen=True)
class AclUser:
    name: str
    rules: str
    """ACL rules after `user <name> on`, without the password."""
    purpose: str


APP = AclUser(
    "app",
    "~* &* +@all -@admin -@dangerous "
    # Explicitly too: a future category change must not give these back.
    "-flushall -flushdb -config -shutdown -debug -monitor -keys -cluster -replicaof -slaveof "
    f"{_CLUSTER_READS} +readonly +readwrite +asking",
    "the services' data commands",
)
OPERATOR = AclUser(
    "operator",
    "~* &* +@all -flushall -flushdb -debug -shutdown -config|set -config|rewrite "
    "-config|resetstat -acl|setuser -acl|deluser -acl|load -acl|save -module -monitor",
    "cachectl, bootstrap/repair jobs, probes and preStop",
)
MONITOR = AclUser(
    "monitor",
    f"-@all {_HANDSHAKE} +client|list +info +memory|stats +slowlog|get +slowlog|len "
    f"+latency|latest +latency|histogram +dbsize +role {_CLUSTER_READS}",
    "the metrics exporter (statistics only)",
)
BACKUP = AclUser(
    "backup",
    f"-@all {_HANDSHAKE} +role +info {_CLUSTER_READS} +sync +psync +replconf +readonly",
    "the backup job (RDB stream)",
)
REPLICATION = AclUser(
    "replication",
    "-@all +auth +ping +psync +replconf",
    "replicas syncing from their primary (masteruser)",
)

USERS: tuple[AclUser, ...] = (APP, OPERATOR, MONITOR, BACKUP, REPLICATION)
"""Every user of the cluster; each gets its own generated password and Secret."""

REPLICATION_USER = REPLICATION.name


def render_acl_rules(users: tuple[AclUser, ...] = USERS) -> str:
    """The `users.acl` template start.sh completes with each user's password hash.

    One `user` line per user; `default` is switched off and stripped of every permission, so a
    connection that does not AUTH can run nothing but AUTH/HELLO.
    """
    names = [user.name for user in users]
    if len(set(names)) != len(names) or "default" in names:
        raise ValueError("ACL user names must be unique and must not be 'default'")
    lines = [
        "# Redis ACL users (components/redis/acl.py). start.sh appends each user's password as",
        "# #<sha256> from the file of the same name in REDIS_USERS_DIR; no password is here.",
        "user default off resetpass -@all",
    ]
    for user in users:
        lines.append(f"# {user.name}: {user.purpose}")
        lines.append(f"user {user.name} on resetpass {user.rules}")
    return "\n".join(lines) + "\n"
