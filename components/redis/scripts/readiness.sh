#!/bin/sh
# Readiness probe: may clients be sent to this node? Exit 0 when it answers PING with PONG, sees
# cluster_state:ok and, as a replica, has its primary's data (link up, not loading).
#
# A rolling update starts on the next pod only once this one is ready: were a restarted replica
# ready before its resync, the next pod (its primary) would find no healthy replica to hand over
# to in preStop and stop with writes its replica never got.
#
# Until the cluster is formed no node is ready, so the StatefulSet must not wait for readiness to
# start the next pod (podManagementPolicy: Parallel) and the headless Service that peers and the
# bootstrap Job resolve must publish not-ready addresses (publishNotReadyAddresses: true);
# otherwise bootstrap and readiness wait on each other forever.
#
# Environment: REDIS_PORT, REDIS_HOST, REDISCLI_AUTH / REDIS_PASSWORD_FILE (see common.sh).
set -euf
. "$(dirname "$0")/common.sh"
load_password

host=$(local_host)
port=$(redis_port)
reply=$(cli "$host" "$port" ping 2>&1) || true
if [ "$reply" != PONG ]; then
    echo "not serving: ${reply:-no reply}"
    exit 1
fi
state=$(cli "$host" "$port" cluster info 2>&1 | awk -F: '$1 == "cluster_state" { print $2 }') || true
if [ "$state" != ok ]; then
    echo "not serving: cluster_state:${state:-unknown}"
    exit 1
fi
replication=$(cli "$host" "$port" info replication 2>&1) || true
role=$(printf '%s\n' "$replication" | awk -F: '$1 == "role" { print $2 }')
if [ "$role" = slave ]; then
    link=$(printf '%s\n' "$replication" | awk -F: '$1 == "master_link_status" { print $2 }')
    syncing=$(printf '%s\n' "$replication" | awk -F: '$1 == "master_sync_in_progress" { print $2 }')
    if [ "$link" != up ] || [ "$syncing" = 1 ]; then
        echo "not serving: replica not in sync (master_link_status:${link:-unknown})"
        exit 1
    fi
fi
exit 0
