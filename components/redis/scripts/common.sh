# Functions shared by the lifecycle scripts; sourced, never run on its own.
#
# POSIX sh: the scripts run in the official redis image (Debian based: sh, redis-cli, awk, sed,
# getent; no bash, no python) and, in the local lab, under Debian's sh with the same redis-cli.
#
# Environment read here:
#   REDIS_PASSWORD_FILE  file holding the password; when set it wins over REDISCLI_AUTH.
#   REDISCLI_AUTH        password of that user; redis-cli reads it from the environment, so it
#                        never appears on a command line (visible in `ps`).
#   REDIS_USER_FILE      file holding the Redis ACL user name; wins over REDIS_USER.
#   REDIS_USER           the ACL user name (none: Redis's `default` user).
#                        Credentials follow cachectl's rules (cachectl/credentials.py): a file
#                        beats a value, trailing CR/LF are removed, a line break inside refused.
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

# $1 without its trailing CR and LF characters (a file's final newline, a Windows editor's CR).
trim_line_breaks() {
    _tl_value=$1
    _tl_cr=$(printf '\r')
    while :; do
        case "$_tl_value" in
            *"$_tl_cr") _tl_value=${_tl_value%"$_tl_cr"} ;;
            *'
') _tl_value=${_tl_value%?} ;;
            *) break ;;
        esac
    done
    printf '%s' "$_tl_value"
}

# The value of a credential file $2 (named by variable $1), trimmed; dies when it is unreadable,
# empty or holds more than one line.
read_credential_file() {
    [ -r "$2" ] || die "$1 ($2) is not readable"
    # The x keeps the trailing newlines from $( ) so that trim_line_breaks sees them all.
    _rc_value=$(cat "$2"; printf x)
    _rc_value=$(trim_line_breaks "${_rc_value%x}")
    [ -n "$_rc_value" ] || die "$1 ($2) is empty"
    case "$_rc_value" in
        *'
'* | *"$(printf '\r')"*) die "$1 ($2) holds more than one line" ;;
    esac
    printf '%s' "$_rc_value"
}

# Exports REDISCLI_AUTH (and REDIS_USER) by the one precedence: the file, when named, wins.
load_password() {
    if [ -n "${REDIS_PASSWORD_FILE:-}" ]; then
        REDISCLI_AUTH=$(read_credential_file REDIS_PASSWORD_FILE "$REDIS_PASSWORD_FILE") || exit 1
        export REDISCLI_AUTH
    elif [ -n "${REDISCLI_AUTH:-}" ]; then
        REDISCLI_AUTH=$(trim_line_breaks "$REDISCLI_AUTH")
        export REDISCLI_AUTH
    fi
    if [ -n "${REDIS_USER_FILE:-}" ]; then
        REDIS_USER=$(read_credential_file REDIS_USER_FILE "$REDIS_USER_FILE") || exit 1
    elif [ -n "${REDIS_USER:-}" ]; then
        REDIS_USER=$(trim_line_breaks "$REDIS_USER")
    fi
    export REDIS_USER
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
    case $_rh_name in
        # RFC 6761: no name under .invalid ever resolves (the lab's names, which its hosts file
        # maps, end in it), so asking the resolver would only send a DNS query out.
        *.invalid | *.invalid.) ;;
        *)
            [ -n "$_rh_ip" ] || _rh_ip=$(getent ahostsv4 "$_rh_name" 2>/dev/null | awk '{ print $1; exit }')
            [ -n "$_rh_ip" ] || _rh_ip=$(getent hosts "$_rh_name" 2>/dev/null | awk '{ print $1; exit }')
            ;;
    esac
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
