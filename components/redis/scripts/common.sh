# Functions shared by the lifecycle scripts; sourced, never run on its own.
#
# POSIX sh: the scripts run in the official redis image (Debian based: sh, redis-cli, awk, sed,
# getent; no bash, no python) and, in the local lab, under Debian's sh with the same redis-cli.
#
# Environment read here:
#   REDISCLI_AUTH        password of the cluster; redis-cli reads it from the environment, so it
#                        never appears on a command line (visible in `ps`).
#   REDIS_PASSWORD_FILE  file holding the password, read when REDISCLI_AUTH is unset.
#   REDIS_PORT           this node's client port (default 6379).
#   REDIS_HOST           address the probes and preStop hook use to reach this node; default:
#                        the first address of REDIS_BIND, or 127.0.0.1 when it binds everywhere.
#   REDIS_HOSTS_FILE     optional file in /etc/hosts format consulted before DNS (`getent`). The
#                        local lab has no DNS for its node names and writes this file instead; the
#                        resolution code path is the same.

log() {
    printf '%s %s: %s\n' "$(date -u '+%Y-%m-%dT%H:%M:%SZ')" "${0##*/}" "$*" >&2
}

die() {
    log "ERROR: $*"
    exit 1
}

# Exports REDISCLI_AUTH from REDIS_PASSWORD_FILE when it is not already set.
load_password() {
    if [ -z "${REDISCLI_AUTH:-}" ] && [ -n "${REDIS_PASSWORD_FILE:-}" ]; then
        [ -r "$REDIS_PASSWORD_FILE" ] || die "REDIS_PASSWORD_FILE is set but not readable"
        REDISCLI_AUTH=$(cat "$REDIS_PASSWORD_FILE")
        export REDISCLI_AUTH
    fi
}

redis_port() {
    printf '%s\n' "${REDIS_PORT:-6379}"
}

local_host() {
    if [ -n "${REDIS_HOST:-}" ]; then
        printf '%s\n' "$REDIS_HOST"
        return
    fi
    # shellcheck disable=SC2086  # word splitting picks the first bind address
    set -- ${REDIS_BIND:-}
    case "${1:-*}" in
        '*' | '-'* | 0.0.0.0 | '::' | '::*') printf '127.0.0.1\n' ;;
        *) printf '%s\n' "$1" ;;
    esac
}

# redis-cli against host $1 port $2 with the remaining arguments; replies without carriage
# returns. Error replies come out as text too: callers judge the reply, not the exit status.
cli() {
    _host=$1
    _port=$2
    shift 2
    redis-cli --no-auth-warning -h "$_host" -p "$_port" "$@" | tr -d '\r'
}

# The IP address of host name $1: REDIS_HOSTS_FILE first, then the system resolver (IPv4 first).
# Prints nothing when the name does not resolve. An IP address resolves to itself.
resolve_host() {
    _name=$1
    _ip=
    if [ -n "${REDIS_HOSTS_FILE:-}" ] && [ -r "$REDIS_HOSTS_FILE" ]; then
        _ip=$(awk -v name="$_name" '
            $1 !~ /^#/ { for (i = 2; i <= NF; i++) if ($i == name) { print $1; exit } }
        ' "$REDIS_HOSTS_FILE")
    fi
    if [ -z "$_ip" ]; then
        _ip=$(getent ahostsv4 "$_name" 2>/dev/null | awk '{ print $1; exit }')
    fi
    if [ -z "$_ip" ]; then
        _ip=$(getent hosts "$_name" 2>/dev/null | awk '{ print $1; exit }')
    fi
    [ -n "$_ip" ] && printf '%s\n' "$_ip"
    return 0
}

# Rewrites, in the nodes.conf $1, the IP of every node that has a hostname with the IP that
# hostname resolves to now. Pods get a new IP when they restart; a nodes.conf that keeps the old
# ones leaves a fully restarted cluster unable to reach any peer (cluster_state:fail forever).
# Lines whose hostname does not resolve are kept as they are. Format of a node line (Redis 7):
#   <id> <ip>:<port>@<bus-port>[,<hostname>[,<aux>=<value>...]] <flags> ...
repair_nodes_conf() {
    _conf=$1
    [ -s "$_conf" ] || return 0
    _map="$_conf.addresses.$$"
    _new="$_conf.repaired.$$"
    _status=0
    : >"$_map"
    for _name in $(awk '
        $1 != "vars" && NF >= 8 {
            split($2, part, ",")
            if (part[2] != "" && part[2] !~ /=/ && !seen[part[2]]++) print part[2]
        }' "$_conf"); do
        _ip=$(resolve_host "$_name")
        if [ -n "$_ip" ]; then
            printf '%s %s\n' "$_name" "$_ip" >>"$_map"
        else
            log "nodes.conf: $_name does not resolve; keeping its last known address"
        fi
    done
    awk '
        FILENAME == ARGV[1] { address[$1] = $2; next }
        $1 != "vars" && NF >= 8 {
            split($2, part, ",")
            name = part[2]
            at = index(part[1], "@")
            if (name != "" && name !~ /=/ && (name in address) && at > 0) {
                endpoint = substr(part[1], 1, at - 1)
                port = endpoint
                sub(/.*:/, "", port)
                old_ip = substr(endpoint, 1, length(endpoint) - length(port) - 1)
                if (old_ip != address[name]) {
                    printf "nodes.conf: %s %s -> %s\n", name, old_ip, address[name] > "/dev/stderr"
                    $2 = address[name] ":" port substr($2, at)
                    changed = 1
                }
            }
        }
        { print }
        END { if (changed) exit 10 }
    ' "$_map" "$_conf" >"$_new" || _status=$?
    rm -f "$_map"
    case "${_status:-0}" in
        0) rm -f "$_new" ;;
        10) mv "$_new" "$_conf" ;;
        *)
            rm -f "$_new"
            die "cannot rewrite $_conf"
            ;;
    esac
}
