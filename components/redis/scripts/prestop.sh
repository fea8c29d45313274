#!/bin/sh
# preStop hook: before this node stops, hand its primary role to a healthy replica, so that a
# rolling restart or a drained Kubernetes node never takes a primary away abruptly (which would
# cost its slots cluster-node-timeout + 1-2 s of failed writes and could lose the last writes).
#
# On a primary with a healthy replica (connected, replication link up) it sends CLUSTER FAILOVER
# to that replica and waits until this node has become a replica. Manual failover is coordinated:
# the primary pauses its clients until the replica has every write, so nothing acknowledged is
# lost. On a replica, or a primary without a healthy replica, it does nothing.
#
# Environment: REDIS_PORT, REDIS_HOST, REDISCLI_AUTH / REDIS_PASSWORD_FILE (see common.sh);
#   REDIS_PRESTOP_TIMEOUT  seconds to wait for the roles to switch (default 30). Keep it below the
#                          pod's terminationGracePeriodSeconds, which also covers the shutdown save.
# Exits 0 when the roles switched or there was nothing to do, 1 when the switch did not happen in
# time (the node then stops anyway and the cluster fails over on its own).
set -euf
. "$(dirname "$0")/common.sh"
load_password

host=$(local_host)
port=$(redis_port)
timeout=${REDIS_PRESTOP_TIMEOUT:-30}

nodes=$(cli "$host" "$port" cluster nodes 2>&1) || true
# shellcheck disable=SC2046  # split "<id> <flags> <slot count>" into three words
set -- $(printf '%s\n' "$nodes" | awk '$3 ~ /(^|,)myself(,|$)/ { print $1, $3, NF - 8 }')
if [ $# -ne 3 ]; then
    log "cannot read this node's cluster state (${nodes:-no reply}); nothing to hand over"
    exit 0
fi
my_id=$1
flags=$2
slot_ranges=$3
case ",$flags," in
    *,master,*) ;;
    *)
        log "replica: nothing to hand over"
        exit 0
        ;;
esac
if [ "$slot_ranges" -eq 0 ]; then
    log "primary without slots: nothing to hand over"
    exit 0
fi

# Replicas of this primary that the cluster sees as connected and not failing, as ip:port.
candidates=$(printf '%s\n' "$nodes" | awk -v me="$my_id" '
    $4 == me && $3 !~ /fail|noaddr|handshake/ && $8 == "connected" {
        split($2, endpoint, "@")
        print endpoint[1]
    }')
successor=
for candidate in $candidates; do
    replica_host=${candidate%:*}
    replica_port=${candidate##*:}
    link=$(cli "$replica_host" "$replica_port" info replication 2>/dev/null |
        awk -F: '$1 == "master_link_status" { print $2 }') || true
    if [ "$link" = up ]; then
        successor=$candidate
        break
    fi
done
if [ -z "$successor" ]; then
    log "primary without a healthy replica: stopping without a handover"
    exit 0
fi

log "handing the primary role to $successor"
reply=$(cli "${successor%:*}" "${successor##*:}" cluster failover 2>&1) || true
if [ "$reply" != OK ]; then
    log "CLUSTER FAILOVER on $successor refused: $reply"
    exit 1
fi
deadline=$(($(date +%s) + timeout))
while [ "$(date +%s)" -lt "$deadline" ]; do
    role=$(cli "$host" "$port" role 2>/dev/null | head -n 1) || true
    if [ "$role" = slave ]; then
        log "handed over: $successor is the primary now"
        exit 0
    fi
    sleep 0.2
done
log "roles did not switch within ${timeout}s"
exit 1
