# Functions shared by the lifecycle scripts; sourced, never run on its own.
#
# POSIX sh: the scripts run in the official redis image (Debian based: sh, redis-cli, awk, sed,
# getent; no bash, no python) and, in the local lab, under Debian's sh with the same redis-cli.
#
# Environment read here:
#   REDIS_USER           ACL user the scripts connect as (the `operator` in the pods); unset: the
#                        `default` user (single-password mode). A name is not a secret.
#   REDISCLI_AUTH        password of that user; redis-cli reads it from the environment, so it
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

# redis-cli as REDIS_USER (when set) with the remaining arguments.
rcli() {
    if [ -n "${REDIS_USER:-}" ]; then
        redis-cli --user "$REDIS_USER" "$@"
    else
        redis-cli "$@"
    fi
}

# redis-cli against host $1 port $2 with the remaining arguments; replies without carriage
# returns. Error replies come out as text too: callers judge the reply, not the exit status.
cli() {
    _cli_host=$1
    _cli_port=$2
    shift 2
    rcli --no-auth-warning -h "$_cli_host" -p "$_cli_port" "$@" | tr -d '\r'
}

# The IP address of host name $1: REDIS_HOSTS_FILE first, then the system resolver (IPv4 first).
# Prints nothing when the name does not resolve. An IP address resolves to itself.
resolve_host() {
    _rh_name=$1
    _rh_ip=
    if [ -n "${REDIS_HOSTS_FILE:-}" ] && [ -r "$REDIS_HOSTS_FILE" ]; then
        _rh_ip=$(awk -v name="$_rh_name" '
            $1 !~ /^#/ { for (i = 2; i <= NF; i++) if ($i == name) { print $1; exit } }
        ' "$REDIS_HOSTS_FILE")
    fi
    if [ -z "$_rh_ip" ]; then
        _rh_ip=$(getent ahostsv4 "$_rh_name" 2>/dev/null | awk '{ print $1; exit }')
    fi
    if [ -z "$_rh_ip" ]; then
        _rh_ip=$(getent hosts "$_rh_name" 2>/dev/null | awk '{ print $1; exit }')
    fi
    [ -n "$_rh_ip" ] && printf '%s\n' "$_rh_ip"
    return 0
}

# Rewrites, in the nodes.conf $1, the IP of every node that has a hostname with the IP that
# hostname resolves to now. Pods get a new IP when they restart; a nodes.conf that keeps the old
# ones leaves a fully restarted cluster unable to reach any peer (cluster_state:fail forever).
# Lines whose hostname does not resolve are kept as they are. Format of a node line (Redis 7):
#   <id> <ip>:<port>@<bus-port>[,<hostname>[,<aux>=<value>...]] <flags> ...
repair_nodes_conf() {
    _rn_conf=$1
    [ -s "$_rn_conf" ] || return 0
    _rn_map="$_rn_conf.addresses.$$"
    _rn_new="$_rn_conf.repaired.$$"
    _rn_status=0
    : >"$_rn_map"
    for _rn_name in $(awk '
        $1 != "vars" && NF >= 8 {
            split($2, part, ",")
            if (part[2] != "" && part[2] !~ /=/ && !seen[part[2]]++) print part[2]
        }' "$_rn_conf"); do
        _rn_ip=$(resolve_host "$_rn_name")
        if [ -n "$_rn_ip" ]; then
            printf '%s %s\n' "$_rn_name" "$_rn_ip" >>"$_rn_map"
        else
            log "nodes.conf: $_rn_name does not resolve; keeping its last known address"
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
                # An entry without an address (noaddr, :0) has no port to keep: leave it.
                if (old_ip != "" && port != "0" && old_ip != address[name]) {
                    printf "nodes.conf: %s %s -> %s\n", name, old_ip, address[name] > "/dev/stderr"
                    $2 = address[name] ":" port substr($2, at)
                    changed = 1
                }
            }
        }
        { print }
        END { if (changed) exit 10 }
    ' "$_rn_map" "$_rn_conf" >"$_rn_new" || _rn_status=$?
    rm -f "$_rn_map"
    case "${_rn_status:-0}" in
        0) rm -f "$_rn_new" ;;
        10) mv "$_rn_new" "$_rn_conf" ;;
        *)
            rm -f "$_rn_new"
            die "cannot rewrite $_rn_conf"
            ;;
    esac
}
