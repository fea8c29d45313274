#!/bin/sh
# Liveness probe: is redis-server alive? Exit 0 when this node answers PING at all.
#
# LOADING (reading a large AOF/RDB after a restart) and MASTERDOWN (a replica whose primary is
# unreachable) are answers of a live process: restarting it would only start the load again or
# drop a replica that is about to take over. Readiness ("serving") is readiness.sh's question;
# mixing the two makes Kubernetes kill nodes that are merely waiting for the cluster to form.
#
# Environment: REDIS_PORT, REDIS_HOST, REDISCLI_AUTH / REDIS_PASSWORD_FILE (see common.sh).
set -euf
. "$(dirname "$0")/common.sh"
load_password

reply=$(cli "$(local_host)" "$(redis_port)" ping 2>&1) || true
case "$reply" in
    PONG | LOADING* | MASTERDOWN*) exit 0 ;;
esac
echo "not alive: ${reply:-no reply}"
exit 1
