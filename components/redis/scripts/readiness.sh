#!/bin/sh
# Readiness probe: may clients be sent to this node? Exit 0 when it answers PING with PONG and
# sees cluster_state:ok.
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
exit 0
