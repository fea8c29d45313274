#!/bin/sh
# Forms the Redis Cluster once, and re-adds nodes that came back empty. Runs as a Kubernetes Job
# (and CronJob) in production and from the local lab; safe to run any number of times.
#
# Usage: sh bootstrap.sh [host:port ...]     (default: the addresses in REDIS_NODES)
# Environment:
#   REDIS_NODES                 space-separated host:port of every node, by stable DNS name.
#   REDIS_REPLICAS_PER_PRIMARY  replicas of each primary (default 1).
#   REDIS_BOOTSTRAP_TIMEOUT     seconds to wait for nodes to answer, for failovers and for
#                               cluster_state:ok (default 300).
#   REDISCLI_AUTH / REDIS_PASSWORD_FILE, REDIS_HOSTS_FILE (see common.sh).
#
# What it does, from what the nodes report:
#   - every node empty and alone (no slots, knows only itself): creates the cluster with
#     `redis-cli --cluster create ... --cluster-replicas N`;
#   - a formed cluster plus nodes that are empty and alone (a wiped volume, a new pod): waits until
#     every slot is served by a live primary (the failover of a wiped primary), makes every member
#     forget the entry that used to live at that node's address, and adds the node as a replica
#     of the primary with the fewest replicas (`--cluster add-node --cluster-slave`);
#   - a formed, healthy cluster: changes nothing (it only reads), and checks it is healthy.
# Then it waits until every node reports cluster_state:ok and is seen, healthy, by the others.
# Exits non-zero with the reason when the nodes do not answer, the cluster is half-formed, or a
# shard lost every node (which needs a human: its keys are gone).
#
# redis-cli --cluster needs IP addresses (CLUSTER MEET takes no names), so every name is resolved
# here first, through the same resolve_host the node's start.sh uses.
set -euf
. "$(dirname "$0")/common.sh"
load_password

if [ $# -eq 0 ]; then
    # shellcheck disable=SC2086  # the list is space-separated on purpose
    set -- ${REDIS_NODES:-}
fi
[ $# -gt 0 ] || die "no nodes: set REDIS_NODES or pass host:port arguments"
replicas=${REDIS_REPLICAS_PER_PRIMARY:-1}
timeout=${REDIS_BOOTSTRAP_TIMEOUT:-300}
deadline=$(($(date +%s) + timeout))
node_count=$#

past_deadline() {
    [ "$(date +%s)" -ge "$deadline" ]
}

# Prints one line per node: "<name> <port> <ip> <node id> <lone|member>", once every node resolves
# and answers PONG. Lone: knows no other node and serves no slot.
survey() {
    while :; do
        _table=
        _missing=
        for _node in "$@"; do
            _name=${_node%:*}
            _port=${_node##*:}
            _ip=$(resolve_host "$_name")
            if [ -z "$_ip" ] || [ "$(cli "$_ip" "$_port" ping 2>/dev/null)" != PONG ]; then
                _missing="$_missing $_node"
                continue
            fi
            _id=$(cli "$_ip" "$_port" cluster myid 2>/dev/null)
            _known=$(cli "$_ip" "$_port" cluster info 2>/dev/null |
                awk -F: '$1 == "cluster_known_nodes" { print $2 }')
            _slots=$(cli "$_ip" "$_port" cluster nodes 2>/dev/null |
                awk '$3 ~ /(^|,)myself(,|$)/ { print NF - 8 }')
            if [ "${_known:-0}" -le 1 ] && [ "${_slots:-0}" -eq 0 ]; then
                _kind=lone
            else
                _kind=member
            fi
            _table="$_table$_name $_port $_ip $_id $_kind
"
        done
        if [ -z "$_missing" ]; then
            printf '%s' "$_table"
            return 0
        fi
        past_deadline && die "nodes not answering after ${timeout}s:$_missing"
        log "waiting for nodes to answer:$_missing"
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

# The id of the live, slot-serving primary with the fewest live replicas in CLUSTER NODES text $1.
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
    _addresses=$(printf '%s' "$table" | awk '{ printf "%s%s:%s", sep, $3, $2; sep = " " }')
    log "no node has slots yet: creating the cluster of $node_count nodes, $replicas replica(s) each"
    # shellcheck disable=SC2086  # one argument per address
    if ! _out=$(redis-cli --no-auth-warning --cluster create $_addresses \
        --cluster-replicas "$replicas" --cluster-yes 2>&1); then
        printf '%s\n' "$_out" >&2
        die "redis-cli --cluster create failed"
    fi
    printf '%s\n' "$_out" | tail -n 3 >&2
}

# Re-adds the lone node $1 ($2 = ip, $3 = port, $4 = id) through the member at $5:$6.
readd_node() {
    _name=$1 _ip=$2 _port=$3 _id=$4 _seed_ip=$5 _seed_port=$6
    log "$_name:$_port came back empty (id $_id): re-adding it as a replica"
    while :; do
        _view=$(cli "$_seed_ip" "$_seed_port" cluster nodes)
        _pending=$(stale_entries "$_view" "$_id" "$_name" "$_ip" "$_port" | awk '$2 > 0 { print $1 }')
        _failing=$(failing_primaries "$_view")
        if [ -z "$_pending" ] && [ -z "$_failing" ]; then
            break
        fi
        past_deadline && die "slots of $_pending$_failing are still not served by a live primary" \
            "after ${timeout}s: a shard lost all its nodes and its keys; recover it by hand"
        log "waiting for the failover of ${_pending:-$_failing}"
        sleep 1
    done
    for _stale in $(stale_entries "$_view" "$_id" "$_name" "$_ip" "$_port" | awk '{ print $1 }'); do
        log "forgetting $_stale, which lived at $_name:$_port"
        printf '%s' "$table" | while read -r _m_name _m_port _m_ip _m_id _m_kind; do
            [ "$_m_kind" = member ] || continue
            cli "$_m_ip" "$_m_port" cluster forget "$_stale" >/dev/null 2>&1 || true
        done
    done
    _primary=$(primary_needing_replica "$(cli "$_seed_ip" "$_seed_port" cluster nodes)")
    [ -n "$_primary" ] || die "no live primary to attach $_name:$_port to"
    log "adding $_name:$_port as a replica of $_primary"
    if ! _out=$(redis-cli --no-auth-warning --cluster add-node "$_ip:$_port" \
        "$_seed_ip:$_seed_port" --cluster-slave --cluster-master-id "$_primary" 2>&1); then
        printf '%s\n' "$_out" >&2
        die "redis-cli --cluster add-node $_name:$_port failed"
    fi
}

# Waits until every node reports cluster_state:ok, serves or replicates from live primaries only,
# and is seen by the first node without failure flags.
wait_healthy() {
    _seed_ip=$(printf '%s' "$table" | awk 'NR == 1 { print $3 }')
    _seed_port=$(printf '%s' "$table" | awk 'NR == 1 { print $2 }')
    while :; do
        _problem=
        _view=$(cli "$_seed_ip" "$_seed_port" cluster nodes 2>&1) || true
        _failing=$(failing_primaries "$_view")
        [ -z "$_failing" ] || _problem="primaries failing: $_failing"
        _table_now=$(survey "$@")
        for _id in $(printf '%s' "$_table_now" | awk '{ print $4 }'); do
            printf '%s\n' "$_view" |
                awk -v id="$_id" '$1 == id && $3 !~ /fail|noaddr|handshake/ { found = 1 } END { exit !found }' ||
                _problem="$_problem node $_id not healthy in the cluster view;"
        done
        _states=$(printf '%s' "$_table_now" | while read -r _n _p _i _x _k; do
            cli "$_i" "$_p" cluster info | awk -F: -v n="$_n" '$1 == "cluster_state" && $2 != "ok" { print n }'
        done)
        [ -z "$_states" ] || _problem="$_problem cluster_state not ok on: $_states"
        if [ -z "$_problem" ]; then
            return 0
        fi
        past_deadline && die "cluster not healthy after ${timeout}s: $_problem"
        sleep 0.5
    done
}

table=$(survey "$@")
table="$table
"
members=$(printf '%s' "$table" | awk '$5 == "member"' | wc -l)
lone=$(printf '%s' "$table" | awk '$5 == "lone"' | wc -l)

if [ "$members" -eq 0 ]; then
    create_cluster
else
    seed=$(printf '%s' "$table" | awk '$5 == "member" { print $3, $2; exit }')
    seed_ip=${seed% *}
    seed_port=${seed#* }
    if [ -z "$(cli "$seed_ip" "$seed_port" cluster nodes | awk 'NF > 8')" ]; then
        die "the nodes know each other but no node serves slots: a half-formed cluster;" \
            "reset it (CLUSTER RESET HARD on every node) and run bootstrap again"
    fi
    if [ "$lone" -gt 0 ]; then
        printf '%s' "$table" | awk '$5 == "lone" { print $1, $3, $2, $4 }' |
            while read -r name ip port id; do
                readd_node "$name" "$ip" "$port" "$id" "$seed_ip" "$seed_port"
            done
    else
        log "cluster already formed; nothing to change"
    fi
fi

wait_healthy "$@"
log "cluster healthy: $node_count nodes, cluster_state:ok on every node"
