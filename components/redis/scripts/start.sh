#!/bin/sh
# Entrypoint of a Redis Cluster node: `sh start.sh [extra redis-server arguments...]`.
#
# Starts redis-server in the foreground (exec: it becomes the container's main process and gets
# SIGTERM directly) from the shared, rendered redis.conf plus this node's own settings:
#   REDIS_CONF               rendered redis.conf (default /etc/redis/redis.conf), read-only.
#   REDIS_PORT               client port (default 6379).
#   REDIS_BIND               addresses to listen on; default: the file's `bind * -::*`.
#   REDIS_CLUSTER_PORT       cluster bus port; default: the client port + 10000.
#   REDIS_DATA_DIR           persistent data directory: AOF, RDB, nodes.conf (default /data).
#   REDIS_NODES_CONF         cluster-config-file, relative to REDIS_DATA_DIR (default nodes.conf).
#   REDIS_RUNTIME_DIR        writable, non-persistent directory (an emptyDir, ideally
#                            medium: Memory) for the generated password include (default /run/redis).
#   REDIS_ANNOUNCE_HOSTNAME  required: this pod's stable DNS name
#                            (<pod>.<headless service>.<namespace>.svc.cluster.local), announced to
#                            peers and clients, and used to repair nodes.conf on the next start.
#   REDIS_ANNOUNCE_IP        optional: the IP announced to peers (e.g. the pod IP from the downward
#                            API); by default peers learn it from the connection.
#   REDIS_ACL_RULES          the rendered ACL users (users.acl, components/redis/acl.py): one
#                            `user <name> on ...` line per user, with no password. Each user's
#                            password is read from REDIS_USERS_DIR/<name> and added as its SHA-256
#                            hash; `default` is off. Replicas authenticate to their primary as
#                            REDIS_REPLICATION_USER (default `replication`, masteruser).
#   REDIS_USERS_DIR          directory of the users' password files (one Secret each, mounted).
#   REDISCLI_AUTH or REDIS_PASSWORD_FILE
#                            without REDIS_ACL_RULES: one password for the `default` user (the
#                            single-password mode). Required, unless REDIS_ALLOW_NO_PASSWORD=yes
#                            (only for a throw-away lab whose clients cannot take a password).
#   REDIS_HOSTS_FILE         see common.sh.
# Extra arguments are appended last, so they override both the file and the settings above (the
# lab uses this for a smaller maxmemory).
#
# The passwords go into a 0600 include file in REDIS_RUNTIME_DIR instead of the command line:
# arguments are readable by every process of the node in /proc/<pid>/cmdline and show in `ps`.
# umask 077 keeps it, and the data files redis-server writes, private to the redis user; the file
# is written fresh (any older one, whatever its mode or owner, is removed first).
set -euf
umask 077
. "$(dirname "$0")/common.sh"

conf=${REDIS_CONF:-/etc/redis/redis.conf}
port=$(redis_port)
data_dir=${REDIS_DATA_DIR:-/data}
nodes_conf=${REDIS_NODES_CONF:-nodes.conf}
runtime_dir=${REDIS_RUNTIME_DIR:-/run/redis}
hostname=${REDIS_ANNOUNCE_HOSTNAME:-}

[ -r "$conf" ] || die "REDIS_CONF ($conf) is not readable"
[ -n "$hostname" ] || die "REDIS_ANNOUNCE_HOSTNAME is required (the pod's stable DNS name)"
[ -d "$data_dir" ] || die "REDIS_DATA_DIR ($data_dir) is not a directory"
case "$nodes_conf" in
    /*) nodes_path=$nodes_conf ;;
    *) nodes_path=$data_dir/$nodes_conf ;;
esac

newline='
'
# Prints the password in file $1 after checking it is one non-empty line.
read_secret_file() {
    [ -r "$1" ] || die "password file $1 is not readable"
    _rs=$(cat "$1")
    case "$_rs" in
        '' | *"$newline"*) die "password file $1 must hold one non-empty line" ;;
    esac
    printf '%s' "$_rs"
}

# Inside double quotes redis.conf treats backslash and double quote as escapes.
quote_conf() {
    printf '%s' "$1" | sed 's/[\\"]/\\&/g'
}

# A new private file: a leftover (of any mode, owner or type) is removed, never written through.
new_private_file() {
    rm -f "$1"
    (umask 077 && : >"$1") || die "cannot create $1"
    chmod 600 "$1"
}

mkdir -p "$runtime_dir"
auth_conf=$runtime_dir/auth.conf
staging=$auth_conf.new
if [ -n "${REDIS_ACL_RULES:-}" ]; then
    [ -r "$REDIS_ACL_RULES" ] || die "REDIS_ACL_RULES ($REDIS_ACL_RULES) is not readable"
    users_dir=${REDIS_USERS_DIR:-}
    [ -d "$users_dir" ] || die "REDIS_USERS_DIR ($users_dir) is not a directory"
    replication_user=${REDIS_REPLICATION_USER:-replication}
    new_private_file "$staging"
    while IFS= read -r line; do
        case "$line" in
            'user '*' on '*)
                name=${line#user }
                name=${name%% *}
                case "$name" in
                    *[!A-Za-z0-9_-]*) die "ACL user name '$name' is not allowed" ;;
                esac
                password=$(read_secret_file "$users_dir/$name")
                hash=$(printf '%s' "$password" | sha256sum | cut -d' ' -f1)
                printf '%s #%s\n' "$line" "$hash" >>"$staging"
                ;;
            '' | '#'*) ;;
            *) printf '%s\n' "$line" >>"$staging" ;;
        esac
    done <"$REDIS_ACL_RULES"
    replication_password=$(read_secret_file "$users_dir/$replication_user")
    printf 'masteruser "%s"\nmasterauth "%s"\n' "$replication_user" \
        "$(quote_conf "$replication_password")" >>"$staging"
    unset replication_password password hash
    mv -f "$staging" "$auth_conf"
    set -- --include "$auth_conf" "$@"
elif load_password && [ -n "${REDISCLI_AUTH:-}" ]; then
    case "$REDISCLI_AUTH" in
        *"$newline"*) die "the password must be a single line" ;;
    esac
    quoted=$(quote_conf "$REDISCLI_AUTH")
    new_private_file "$staging"
    printf 'requirepass "%s"\nmasterauth "%s"\n' "$quoted" "$quoted" >>"$staging"
    mv -f "$staging" "$auth_conf"
    unset quoted
    set -- --include "$auth_conf" "$@"
elif [ "${REDIS_ALLOW_NO_PASSWORD:-no}" != yes ]; then
    die "no password: set REDISCLI_AUTH or REDIS_PASSWORD_FILE"
else
    log "starting WITHOUT a password (REDIS_ALLOW_NO_PASSWORD=yes)"
fi

repair_nodes_conf "$nodes_path"

if [ -n "${REDIS_ANNOUNCE_IP:-}" ]; then
    set -- --cluster-announce-ip "$REDIS_ANNOUNCE_IP" "$@"
fi
if [ -n "${REDIS_CLUSTER_PORT:-}" ]; then
    set -- --cluster-port "$REDIS_CLUSTER_PORT" "$@"
fi
if [ -n "${REDIS_BIND:-}" ]; then
    # shellcheck disable=SC2086  # several addresses are several arguments of one directive
    set -- --bind $REDIS_BIND "$@"
fi

log "starting redis-server on port $port as $hostname"
exec redis-server "$conf" \
    --port "$port" \
    --dir "$data_dir" \
    --cluster-config-file "$nodes_conf" \
    --cluster-announce-hostname "$hostname" \
    "$@"
