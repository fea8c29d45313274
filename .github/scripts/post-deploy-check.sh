#!/usr/bin/env bash
# After `pulumi up` of a stack: ADR-011's validation checklist (`cachectl health --json`) against
# the deployed cluster, then the stack's warming plan (warming/<stack>.yaml) when there is one.
# Runs cachectl in a toolbox pod inside the Redis namespace (it must reach every node's announced
# address; the NetworkPolicy admits the ops labels). The password reaches the pod from the
# redis-auth Secret, never through this script.
#
#   .github/scripts/post-deploy-check.sh <stack> <output dir>
# Writes <output dir>/health.json (the deployment's performance baseline) and, when warmed,
# <output dir>/warm.log. Exits 1 when the checklist fails (it is printed) or warming fails.
set -euo pipefail

stack=$1
out=$2
mkdir -p "$out"

# The namespace and the tools image are the stack's config, validated as the program reads it.
read -r namespace image < <(
  .venv/bin/python - "$stack" <<'PY'
import sys
from pathlib import Path
from plan.runner import prepare_config
_, _, config, _ = prepare_config(Path(f"Pulumi.{sys.argv[1]}.yaml"))
print(config.redis.namespace, config.backups.image)
PY
)

pod="cachectl-deploy-${GITHUB_RUN_ID:-local}-${GITHUB_RUN_ATTEMPT:-0}"
cleanup() { kubectl -n "$namespace" delete pod "$pod" --ignore-not-found --wait=false >/dev/null; }
trap cleanup EXIT

kubectl -n "$namespace" apply -f - <<YAML
apiVersion: v1
kind: Pod
metadata:
  name: $pod
  labels:
    app.kubernetes.io/name: redis-cluster
    app.kubernetes.io/instance: redis
    app.kubernetes.io/component: ops
spec:
  restartPolicy: Never
  securityContext: {runAsNonRoot: true, runAsUser: 10001}
  containers:
    - name: cachectl
      image: $image
      command: ["sleep", "1800"]
      env:
        - {name: CACHECTL_NODE, value: "redis.$namespace.svc.cluster.local:6379"}
        - name: REDISCLI_AUTH
          valueFrom: {secretKeyRef: {name: redis-auth, key: password}}
YAML
kubectl -n "$namespace" wait --for=condition=Ready "pod/$pod" --timeout=180s

# Where each Redis pod runs, so the checklist can tell a replica shares no node with its primary.
kubectl -n "$namespace" get pods -l app.kubernetes.io/component=server \
  -o custom-columns=POD:.metadata.name,NODE:.spec.nodeName --no-headers > "$out/node-hosts"
kubectl -n "$namespace" cp "$out/node-hosts" "$pod:/tmp/node-hosts"

status=0
kubectl -n "$namespace" exec "$pod" -- cachectl health --json --node-hosts /tmp/node-hosts \
  > "$out/health.json" || status=$?
if [ "$status" -ne 0 ]; then
  echo "::error::cachectl health failed after deploying $stack (ADR-011 validation checklist):"
  cat "$out/health.json"
  exit 1
fi
echo "cachectl health: the checklist passes for $stack"

plan="warming/$stack.yaml"
if [ -f "$plan" ]; then
  kubectl -n "$namespace" cp "$plan" "$pod:/tmp/warm-plan.yaml"
  if ! kubectl -n "$namespace" exec "$pod" -- cachectl warm --plan /tmp/warm-plan.yaml \
      > "$out/warm.log" 2>&1; then
    echo "::error::warming $stack with $plan failed:"
    cat "$out/warm.log"
    exit 1
  fi
  echo "cachectl warm: $plan done"
else
  echo "no warming plan for $stack ($plan): nothing to warm"
fi
