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
#   REDISCLI_AUTH or REDIS_PASSWORD_FILE
#                            the password. Required, unless REDIS_ALLOW_NO_PASSWORD=yes (only for
#                            a throw-away lab whose clients cannot take a password from the env).
#   REDIS_HOSTS_FILE         see common.sh.
# Extra arguments are appended last, so they override both the file and the settings above (the
# lab uses this for a smaller maxmemory).
#
# The password goes into a 0600 include file in REDIS_RUNTIME_DIR instead of the command line:
# arguments are readable by every process of the node in /proc/<pid>/cmdline and show in `ps`.
# umask 077 keeps it, and the data files redis-server writes, private to the redis user.
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

load_password
if [ -n "${REDISCLI_AUTH:-}" ]; then
    newline='
'
    case "$REDISCLI_AUTH" in
        *"$newline"*) die "the password must be a single line" ;;
    esac
    mkdir -p "$runtime_dir"
    auth_conf=$runtime_dir/auth.conf
    # Inside double quotes redis.conf treats backslash and double quote as escapes.
    quoted=$(printf '%s' "$REDISCLI_AUTH" | sed 's/[\\"]/\\&/g')
    printf 'requirepass "%s"\nmasterauth "%s"\n' "$quoted" "$quoted" >"$auth_conf.new"
    mv "$auth_conf.new" "$auth_conf"
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
