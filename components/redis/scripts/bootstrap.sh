#!/bin/sh
# Forms the Redis Cluster, keeps it in the shape the deployment asks for, and re-adds nodes that
# came back empty. Runs as Kubernetes Jobs (and a CronJob) in production and from the local lab;
# safe to run any number of times, and to interrupt at any step: the next run finishes the work.
#
# Usage: sh bootstrap.sh [host:port ...]     (default: the addresses in REDIS_NODES)
# Environment:
#   REDIS_NODES                 space-separated host:port of every member, by stable DNS name.
#   REDIS_PRIMARIES             how many members serve slots (default: the node count divided by
#                               1 + REDIS_REPLICAS_PER_PRIMARY).
#   REDIS_REPLICAS_PER_PRIMARY  replicas of each primary (default 1).
#   REDIS_RECONCILE_MODE        converge (default; the Job after the StatefulSet has its new size),
#                               drain (the Job before the StatefulSet changes: members that are not
#                               in REDIS_NODES hand over their slots and leave; members still to
#                               come are not waited for) or repair (the CronJob: only re-adds nodes
#                               that came back empty, and does nothing while the cluster's members
#                               differ from REDIS_NODES — a change of shape is the Jobs' to make).
#   REDIS_BOOTSTRAP_TIMEOUT     seconds to wait for nodes to answer, for failovers and for
#                               cluster_state:ok (default 300).
#   REDISCLI_AUTH / REDIS_PASSWORD_FILE, REDIS_HOSTS_FILE (see common.sh); REDIS_NODE_HOSTS_FILE,
#   REDIS_SCALE_MAX_FILL_PERCENT, REDIS_MIGRATE_PIPELINE (see scale.sh).
#
# What it does, from what the nodes report:
#   - every node empty and alone (no slots, knows only itself): creates the cluster with
#     `redis-cli --cluster create ... --cluster-replicas N`;
#   - a formed cluster plus nodes that are empty and alone (a new pod, or a wiped volume): waits
#     until every slot is served by a live primary (the failover of a wiped primary), makes every
#     member forget the entry that used to live at that node's address, and adds the node;
#   - then (converge and drain) gives the cluster its shape (scale.sh): REDIS_PRIMARIES primaries
#     with an even share of the slots, the others replicas of the primaries with the fewest,
#     members not in REDIS_NODES emptied, reset and forgotten;
#   - a cluster already in shape: changes nothing (it only reads), and checks it is healthy.
# Then it waits until every node reports cluster_state:ok and is seen, healthy, by the others.
# Exits non-zero with the reason when the nodes do not answer, the cluster is half-formed, a shard
# lost every node (which needs a human: its keys are gone), or the new shape has no room for the
# data.
#
# redis-cli --cluster needs IP addresses (CLUSTER MEET takes no names), so every name is resolved
# here first, through the same resolve_host the node's start.sh uses.
set -euf
. "$(dirname "$0")/common.sh"
. "$(dirname "$0")/scale.sh"
load_password

if [ $# -eq 0 ]; then
    # shellcheck disable=SC2086  # the list is space-separated on purpose
    set -- ${REDIS_NODES:-}
fi
[ $# -gt 0 ] || die "no nodes: set REDIS_NODES or pass host:port arguments"
replicas=${REDIS_REPLICAS_PER_PRIMARY:-1}
timeout=${REDIS_BOOTSTRAP_TIMEOUT:-300}
mode=${REDIS_RECONCILE_MODE:-converge}
node_count=$#
require_count() {
    case "$2" in
        '' | *[!0-9]*) die "$1 must be a whole number, not '$2'" ;;
    esac
}
require_count REDIS_REPLICAS_PER_PRIMARY "$replicas"
require_count REDIS_BOOTSTRAP_TIMEOUT "$timeout"
primaries=${REDIS_PRIMARIES:-$((node_count / (1 + replicas)))}
require_count REDIS_PRIMARIES "$primaries"
[ "$primaries" -ge 1 ] || die "REDIS_PRIMARIES must be at least 1"
case "$mode" in
    converge | repair)
        [ "$node_count" -eq $((primaries * (1 + replicas))) ] ||
            die "REDIS_NODES lists $node_count nodes, but $primaries primaries with $replicas" \
                "replica(s) each need $((primaries * (1 + replicas)))"
        ;;
    drain) ;;
    *) die "REDIS_RECONCILE_MODE must be converge, drain or repair, not '$mode'" ;;
esac
deadline=$(($(date +%s) + timeout))

past_deadline() {
    [ "$(date +%s)" -ge "$deadline" ]
}

# Prints one line per node: "<name> <port> <ip> <node id> <lone|member>", once every node resolves
# and answers PONG. Lone: knows no other node and serves no slot.
survey() {
    while :; do
        _sv_table=
        _sv_missing=
        for _sv_node in "$@"; do
            _sv_name=${_sv_node%:*}
            _sv_port=${_sv_node##*:}
            _sv_ip=$(resolve_host "$_sv_name")
            if [ -z "$_sv_ip" ] || [ "$(cli "$_sv_ip" "$_sv_port" ping 2>/dev/null)" != PONG ]; then
                _sv_missing="$_sv_missing $_sv_node"
                continue
            fi
            _sv_id=$(cli "$_sv_ip" "$_sv_port" cluster myid 2>/dev/null)
            _sv_known=$(cli "$_sv_ip" "$_sv_port" cluster info 2>/dev/null |
                awk -F: '$1 == "cluster_known_nodes" { print $2 }')
            _sv_slots=$(cli "$_sv_ip" "$_sv_port" cluster nodes 2>/dev/null |
                awk '$3 ~ /(^|,)myself(,|$)/ { print NF - 8 }')
            if [ "${_sv_known:-0}" -le 1 ] && [ "${_sv_slots:-0}" -eq 0 ]; then
                _sv_kind=lone
            else
                _sv_kind=member
            fi
            _sv_table="$_sv_table$_sv_name $_sv_port $_sv_ip $_sv_id $_sv_kind
"
        done
        # The drain runs before the StatefulSet grows or shrinks: nodes still to come are skipped.
        if [ -z "$_sv_missing" ] || [ "$mode" = drain ]; then
            printf '%s' "$_sv_table"
            return 0
        fi
        past_deadline && die "nodes not answering after ${timeout}s:$_sv_missing"
        log "waiting for nodes to answer:$_sv_missing"
        sleep 2
    done
}

# Slot-serving primaries that are failing or unreachable, as seen in the CLUSTER NODES text $1.
failing_primaries() {
    printf '%s\n' "$1" | awk '$3 ~ /master/ && $3 ~ /fail|noaddr/ && NF > 8 { print $1 }'
}

# Entries of CLUSTER NODES text $1 other than id $2 that claim name $3 or address $4:$5: the node
# that lived there before its data was wiped. Prints "<id> <slot count>".
stale_entries() {
    printf '%s\n' "$1" | awk -v id="$2" -v name="$3" -v address="$4:$5" '
        $1 != id && NF >= 8 {
            split($2, part, ",")
            split(part[1], endpoint, "@")
            if (part[2] == name || endpoint[1] == address) print $1, NF - 8
        }'
}

# The id of the live, slot-serving primary with the fewest live replicas in CLUSTER NODES lines $1.
primary_needing_replica() {
    printf '%s\n' "$1" | awk '
        $3 ~ /master/ && $3 !~ /fail|noaddr|handshake/ && NF > 8 { replicas[$1] = 0 }
        $3 ~ /slave/ && $3 !~ /fail|noaddr|handshake/ { following[$4]++ }
        END {
            for (id in replicas) {
                count = (id in following) ? following[id] : 0
                if (best == "" || count < fewest) { best = id; fewest = count }
            }
            print best
        }'
}

create_cluster() {
    _cc_addresses=$(printf '%s' "$table" | awk '{ printf "%s%s:%s", sep, $3, $2; sep = " " }')
    log "no node has slots yet: creating the cluster of $node_count nodes, $replicas replica(s) each"
    # shellcheck disable=SC2086  # one argument per address
    if ! _cc_out=$(rcli --no-auth-warning --cluster create $_cc_addresses \
        --cluster-replicas "$replicas" --cluster-yes 2>&1); then
        printf '%s\n' "$_cc_out" >&2
        die "redis-cli --cluster create failed"
    fi
    printf '%s\n' "$_cc_out" | tail -n 3 >&2
}

# Adds the lone node $1 ($2 = ip, $3 = port, $4 = id) through the member at $5:$6: as an empty
# primary when converging (the shape step then gives it slots or makes it a replica), as a replica
# of the primary with the fewest replicas when repairing.
readd_node() {
    _ra_name=$1 _ra_ip=$2 _ra_port=$3 _ra_id=$4 _ra_seed_ip=$5 _ra_seed_port=$6
    if [ -n "$(stale_entries "$(cli "$_ra_seed_ip" "$_ra_seed_port" cluster nodes)" "$_ra_id" \
        "$_ra_name" "$_ra_ip" "$_ra_port")" ]; then
        log "$_ra_name:$_ra_port came back empty (id $_ra_id): re-adding it"
    else
        log "$_ra_name:$_ra_port is new (id $_ra_id): adding it to the cluster"
    fi
    while :; do
        _ra_view=$(cli "$_ra_seed_ip" "$_ra_seed_port" cluster nodes)
        _ra_pending=$(stale_entries "$_ra_view" "$_ra_id" "$_ra_name" "$_ra_ip" "$_ra_port" | awk '$2 > 0 { print $1 }')
        _ra_failing=$(failing_primaries "$_ra_view")
        if [ -z "$_ra_pending" ] && [ -z "$_ra_failing" ]; then
            break
        fi
        past_deadline && die "slots of $_ra_pending$_ra_failing are still not served by a live primary" \
            "after ${timeout}s: a shard lost all its nodes and its keys; recover it by hand"
        # A primary whose address now answers with another id is gone for good, but the cluster
        # may never notice: an entry whose address was taken over is marked noaddr and no longer
        # pinged, so it never times out. Its replica is promoted here instead (FORCE: without the
        # old primary's agreement, still elected by the majority of primaries).
        for _ra_gone in $_ra_pending; do
            [ "$_ra_gone" = "${_ra_forced:-}" ] && continue
            _ra_heir=$(printf '%s\n' "$_ra_view" | awk -v gone="$_ra_gone" '
                $4 == gone && $3 !~ /fail|noaddr|handshake/ { split($2, e, "@"); print e[1]; exit }')
            if [ -n "$_ra_heir" ]; then
                log "primary $_ra_gone lost its data: promoting its replica $_ra_heir"
                cli "${_ra_heir%:*}" "${_ra_heir##*:}" cluster failover force >/dev/null 2>&1 || true
                _ra_forced=$_ra_gone
            fi
        done
        log "waiting for the failover of ${_ra_pending:-$_ra_failing}"
        sleep 1
    done
    for _ra_stale in $(stale_entries "$_ra_view" "$_ra_id" "$_ra_name" "$_ra_ip" "$_ra_port" | awk '{ print $1 }'); do
        log "forgetting $_ra_stale, which lived at $_ra_name:$_ra_port"
        printf '%s' "$table" | while read -r _ra_m_name _ra_m_port _ra_m_ip _ra_m_id _ra_m_kind; do
            [ "$_ra_m_kind" = member ] || continue
            cli "$_ra_m_ip" "$_ra_m_port" cluster forget "$_ra_stale" >/dev/null 2>&1 || true
        done
    done
    if [ "$mode" = converge ]; then
        log "adding $_ra_name:$_ra_port as a primary without slots"
        join_empty_primary "$_ra_ip" "$_ra_port"
        return 0
    fi
    # Counted from each member's own line: gossip can still show a fresh replica as a primary.
    _ra_selves=$(printf '%s' "$table" | while read -r _ra_m_name _ra_m_port _ra_m_ip _ra_m_id _ra_m_kind; do
        [ "$_ra_m_kind" = member ] || continue
        cli "$_ra_m_ip" "$_ra_m_port" cluster nodes | awk '$3 ~ /(^|,)myself(,|$)/'
    done)
    _ra_primary=$(primary_needing_replica "$_ra_selves")
    [ -n "$_ra_primary" ] || die "no live primary to attach $_ra_name:$_ra_port to"
    log "adding $_ra_name:$_ra_port as a replica of $_ra_primary"
    if ! _ra_out=$(rcli --no-auth-warning --cluster add-node "$_ra_ip:$_ra_port" \
        "$_ra_seed_ip:$_ra_seed_port" --cluster-slave --cluster-master-id "$_ra_primary" 2>&1); then
        printf '%s\n' "$_ra_out" >&2
        die "redis-cli --cluster add-node $_ra_name:$_ra_port failed"
    fi
}

# Waits until every node reports cluster_state:ok, serves or replicates from live primaries only,
# and is seen by the first node without failure flags.
wait_healthy() {
    _wh_seed_ip=$(printf '%s' "$table" | awk 'NR == 1 { print $3 }')
    _wh_seed_port=$(printf '%s' "$table" | awk 'NR == 1 { print $2 }')
    while :; do
        _wh_problem=
        _wh_view=$(cli "$_wh_seed_ip" "$_wh_seed_port" cluster nodes 2>&1) || true
        _wh_failing=$(failing_primaries "$_wh_view")
        [ -z "$_wh_failing" ] || _wh_problem="primaries failing: $_wh_failing"
        _wh_table_now=$(survey "$@")
        for _wh_id in $(printf '%s' "$_wh_table_now" | awk '{ print $4 }'); do
            printf '%s\n' "$_wh_view" |
                awk -v id="$_wh_id" '$1 == id && $3 !~ /fail|noaddr|handshake/ { found = 1 } END { exit !found }' ||
                _wh_problem="$_wh_problem node $_wh_id not healthy in the cluster view;"
        done
        _wh_states=$(printf '%s' "$_wh_table_now" | while read -r _wh_n _wh_p _wh_i _wh_x _wh_k; do
            cli "$_wh_i" "$_wh_p" cluster info | awk -F: -v n="$_wh_n" '$1 == "cluster_state" && $2 != "ok" { print n }'
        done)
        [ -z "$_wh_states" ] || _wh_problem="$_wh_problem cluster_state not ok on: $_wh_states"
        if [ -z "$_wh_problem" ]; then
            return 0
        fi
        past_deadline && die "cluster not healthy after ${timeout}s: $_wh_problem"
        sleep 0.5
    done
}

# "<name> <port> <ip or -> " of every node in REDIS_NODES, answering or not: what decides
# whether a member of the cluster is wanted.
wanted_nodes() {
    for _wn_node in "$@"; do
        _wn_ip=$(resolve_host "${_wn_node%:*}")
        printf '%s %s %s\n' "${_wn_node%:*}" "${_wn_node##*:}" "${_wn_ip:--}"
    done
}

# Whether the cluster's members are exactly REDIS_NODES with REDIS_PRIMARIES serving primaries
# (the repair CronJob acts only then); the reason on stdout when not.
shape_is_settled() {
    printf '%s\n' "$(current_shape)" | awk -v want="$primaries" '
        $9 == "-" && $8 == "ok" { print "member " $2 ":" $3 " is not in REDIS_NODES"; exit }
        $5 == "master" && $7 > 0 && $9 != "-" { serving++ }
        END { if (serving != want) print serving + 0 " primaries serve slots, " want " wanted" }' | head -n 1
}

# The lone nodes that are an old member's new, empty self: another entry claims their name or
# address. The repair CronJob re-adds only these (a brand-new pod is the reconcile Job's).
returning_nodes() {
    _rt_view=$(cli "$seed_ip" "$seed_port" cluster nodes)
    printf '%s' "$table" | awk '$5 == "lone" { print $1, $3, $2, $4 }' |
        while read -r _rt_name _rt_ip _rt_port _rt_id; do
            [ -n "$(stale_entries "$_rt_view" "$_rt_id" "$_rt_name" "$_rt_ip" "$_rt_port")" ] &&
                printf '%s %s %s %s\n' "$_rt_name" "$_rt_ip" "$_rt_port" "$_rt_id"
        done
    return 0
}

table=$(survey "$@")
table="$table
"
wanted_table=$(wanted_nodes "$@")
members=$(printf '%s' "$table" | awk '$5 == "member"' | wc -l)
lone=$(printf '%s' "$table" | awk '$5 == "lone"' | wc -l)

if [ "$members" -eq 0 ]; then
    if [ "$mode" = drain ]; then
        log "no member of REDIS_NODES is in a cluster yet: nothing to drain"
        exit 0
    fi
    create_cluster
else
    seed=$(printf '%s' "$table" | awk '$5 == "member" { print $3, $2; exit }')
    seed_ip=${seed% *}
    seed_port=${seed#* }
    if [ -z "$(cli "$seed_ip" "$seed_port" cluster nodes | awk 'NF > 8')" ]; then
        die "the nodes know each other but no node serves slots: a half-formed cluster;" \
            "reset it (CLUSTER RESET HARD on every node) and run bootstrap again"
    fi
    case "$mode" in
        repair)
            unsettled=$(shape_is_settled)
            if [ -n "$unsettled" ]; then
                log "a change of shape is pending or under way ($unsettled): left to the reconcile Job"
                exit 0
            fi
            returning_nodes | while read -r name ip port id; do
                readd_node "$name" "$ip" "$port" "$id" "$seed_ip" "$seed_port"
            done
            ;;
        *)
            if [ "$lone" -gt 0 ] && [ "$mode" = converge ]; then
                printf '%s' "$table" | awk '$5 == "lone" { print $1, $3, $2, $4 }' |
                    while read -r name ip port id; do
                        readd_node "$name" "$ip" "$port" "$id" "$seed_ip" "$seed_port"
                    done
                wait_agreement || die "the nodes do not agree on the cluster after adding nodes"
                changed=yes
            fi
            reshape_cluster "$mode"
            ;;
    esac
fi

if [ "$mode" = drain ]; then
    # Only the members that answer now; the ones still to come are the reconcile Job's.
    # shellcheck disable=SC2046  # one argument per node
    set -- $(printf '%s' "$table" | awk 'NF >= 5 { print $1 ":" $2 }')
fi
wait_healthy "$@"
log "cluster healthy: $# nodes, cluster_state:ok on every node"
