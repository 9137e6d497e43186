#!/usr/bin/env bash
# A real Kubernetes control plane for the Kubernetes executor's tests, entirely on 127.0.0.1:
# etcd 3.5, kube-apiserver, kube-controller-manager (real Job controller and garbage collector) and
# kube-scheduler (real GPU fit, node selectors and taints), with kwok faking the nodes and the pod
# lifecycle (no kubelet, no images). Binaries are built from the Go module proxy by
# deploy/k8s-testenv/build.sh (cold: ~20 min on 2 cores; cached under ~/.cache/updraft/).
#
#   scripts/services/k8s.sh start   -> prints `export KUBECONFIG=...` etc. on stdout
#   scripts/services/k8s.sh stop    -> stops everything and removes the state
#
# Nodes: cpu-0, cpu-1 (plain) and gpu-0, gpu-1 (nvidia.com/gpu: 2, label updraft.dev/gpu-type=a100,
# taint nvidia.com/gpu=present:NoSchedule). Pod outcomes are chosen by pod annotations, see
# deploy/k8s-testenv/kwok-stages.yaml. Every pod's log is served from $UPDRAFT_TEST_K8S_POD_LOG
# (CRI log format), which tests may rewrite.
set -euo pipefail

NAME=k8s
NAMESPACE=updraft-test
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
state="${UPDRAFT_SERVICES_DIR:-/tmp/updraft-services}/$NAME"
log() { echo "[k8s] $*" >&2; }
die() { echo "[k8s] error: $*" >&2; exit 1; }

# Only the processes this script started (their pids are in $state/pids) are ever signalled, and only
# while their command line still names the binary we started (a pid may have been reused).
stop_all() {
  [ -d "$state/pids" ] || { rm -rf "$state"; return 0; }
  local f pid exe
  # Reverse start order: nodes' faker and controllers first, etcd last.
  for name in kwok kube-scheduler kube-controller-manager kube-apiserver etcd; do
    f="$state/pids/$name.pid"
    [ -f "$f" ] || continue
    pid="$(cat "$f")"
    exe="$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null || true)"
    if [[ "$exe" == *"/$name "* ]]; then
      kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
      kill -KILL "$pid" 2>/dev/null || true
    fi
  done
  rm -rf "$state"
}

need() { # need <command> <debian package>
  command -v "$1" >/dev/null && return 0
  log "installing $2"
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2"; } >&2 \
    || die "'$1' is missing and apt-get install $2 failed"
}

free_port() {
  node -e 'const s=require("net").createServer();s.listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'
}

# api <method> <path> [json body] -> response body on stdout; fails on HTTP >= 400.
api() {
  local method="$1" path="$2" body="${3:-}"
  local args=(-sS --fail-with-body --cacert "$state/pki/ca.crt" -H "Authorization: Bearer $(cat "$state/pki/token")"
              -H 'Content-Type: application/json' -X "$method" "https://127.0.0.1:$(cat "$state/ports/apiserver")$path")
  if [ -n "$body" ]; then curl "${args[@]}" --data-binary "$body"; else curl "${args[@]}"; fi
}

wait_for() { # wait_for <description> <seconds> <command...>
  local what="$1" secs="$2"; shift 2
  local deadline=$((SECONDS + secs))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "timed out after ${secs}s waiting for $what (logs: $state/logs/)"
    sleep 0.5
  done
}

alive() { # all started processes still running
  local f
  for f in "$state"/pids/*.pid; do kill -0 "$(cat "$f")" 2>/dev/null || return 1; done
}

spawn() { # spawn <name> <binary> args...  (detached, logs under $state/logs)
  local name="$1"; shift
  setsid nohup "$@" >"$state/logs/$name.log" 2>&1 < /dev/null &
  echo $! > "$state/pids/$name.pid"
}

print_env() { cat "$state/env"; }

make_pki() {
  local pki="$state/pki"
  mkdir -p "$pki"
  ( cd "$pki"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj "/CN=updraft-test-ca" 2>/dev/null
    cat > serving.ext <<EOF
subjectAltName = IP:127.0.0.1, DNS:localhost, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc
extendedKeyUsage = serverAuth
keyUsage = digitalSignature, keyEncipherment
EOF
    openssl req -newkey rsa:2048 -nodes -keyout serving.key -out serving.csr -subj "/CN=kube-apiserver" 2>/dev/null
    openssl x509 -req -in serving.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out serving.crt -days 3650 -extfile serving.ext 2>/dev/null
    # Service-account token signing key pair (apiserver signs/verifies, KCM's token controller signs).
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    # A static bearer token in system:masters: the admin identity for tests and for every component.
    openssl rand -hex 24 > token
    echo "$(cat token),updraft-admin,updraft-admin,\"system:masters\"" > tokens.csv
  )
}

write_kubeconfig() { # write_kubeconfig <path> [namespace]
  cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: updraft-test
  cluster:
    server: https://127.0.0.1:$(cat "$state/ports/apiserver")
    certificate-authority: $state/pki/ca.crt
users:
- name: updraft-admin
  user:
    token: $(cat "$state/pki/token")
contexts:
- name: updraft-test
  context:
    cluster: updraft-test
    user: updraft-admin
    namespace: ${2:-default}
current-context: updraft-test
EOF
}

node_json() { # node_json <name> <gpu count or 0>
  local name="$1" gpu="$2" labels taints capacity
  labels="\"kubernetes.io/hostname\":\"$name\",\"kubernetes.io/os\":\"linux\",\"kubernetes.io/arch\":\"amd64\",\"type\":\"kwok\""
  taints='[]'
  capacity='"cpu":"16","memory":"64Gi","pods":"110"'
  if [ "$gpu" -gt 0 ]; then
    labels="$labels,\"updraft.dev/gpu-type\":\"a100\",\"nvidia.com/gpu.product\":\"NVIDIA-A100-SXM4-80GB\""
    taints='[{"key":"nvidia.com/gpu","value":"present","effect":"NoSchedule"}]'
    capacity="\"cpu\":\"32\",\"memory\":\"256Gi\",\"pods\":\"110\",\"nvidia.com/gpu\":\"$gpu\""
  fi
  # Node status may be set on create; kwok's node-initialize stage keeps capacity/allocatable.
  cat <<EOF
{"apiVersion":"v1","kind":"Node",
 "metadata":{"name":"$name","annotations":{"kwok.x-k8s.io/node":"fake"},"labels":{$labels}},
 "spec":{"taints":$taints},
 "status":{"capacity":{$capacity},"allocatable":{$capacity}}}
EOF
}

nodes_ready() {
  api GET /api/v1/nodes | node -e '
    let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{
      const items=JSON.parse(s).items;
      const ready=items.filter(n=>(n.status.conditions||[]).some(c=>c.type==="Ready"&&c.status==="True"));
      process.exit(items.length===4&&ready.length===4?0:1)})'
}

start() {
  if [ -f "$state/env" ] && alive && api GET /readyz >/dev/null 2>&1; then
    log "already running"; print_env; return 0
  fi
  stop_all
  need curl curl
  need openssl openssl
  command -v node >/dev/null || die "node is required on PATH"

  local bin
  bin="$("$root/deploy/k8s-testenv/build.sh")"
  mkdir -p "$state"/{pids,logs,ports,pod-logs}
  local p
  for p in etcd etcd-peer apiserver kcm scheduler kwok; do free_port > "$state/ports/$p"; done
  make_pki

  log "starting etcd"
  spawn etcd "$bin/etcd" --name default --data-dir "$state/etcd" \
    --listen-client-urls "http://127.0.0.1:$(cat "$state/ports/etcd")" \
    --advertise-client-urls "http://127.0.0.1:$(cat "$state/ports/etcd")" \
    --listen-peer-urls "http://127.0.0.1:$(cat "$state/ports/etcd-peer")" \
    --initial-advertise-peer-urls "http://127.0.0.1:$(cat "$state/ports/etcd-peer")" \
    --initial-cluster "default=http://127.0.0.1:$(cat "$state/ports/etcd-peer")" \
    --unsafe-no-fsync --log-level warn
  wait_for etcd 30 curl -sf "http://127.0.0.1:$(cat "$state/ports/etcd")/health"

  log "starting kube-apiserver"
  spawn kube-apiserver "$bin/kube-apiserver" \
    --etcd-servers "http://127.0.0.1:$(cat "$state/ports/etcd")" \
    --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$(cat "$state/ports/apiserver")" \
    --cert-dir "$state/pki" --tls-cert-file "$state/pki/serving.crt" --tls-private-key-file "$state/pki/serving.key" \
    --client-ca-file "$state/pki/ca.crt" --token-auth-file "$state/pki/tokens.csv" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$state/pki/sa.pub" --service-account-signing-key-file "$state/pki/sa.key" \
    --service-cluster-ip-range 10.96.0.0/16 --authorization-mode RBAC \
    --endpoint-reconciler-type none \
    --kubelet-preferred-address-types InternalIP,Hostname \
    --profiling=false
  # (endpoint-reconciler none: a loopback advertise address is not a valid Endpoints IP.)
  wait_for kube-apiserver 120 api GET /readyz

  write_kubeconfig "$state/admin.kubeconfig"
  write_kubeconfig "$state/kubeconfig" "$NAMESPACE"

  log "starting kube-controller-manager, kube-scheduler"
  spawn kube-controller-manager "$bin/kube-controller-manager" \
    --kubeconfig "$state/admin.kubeconfig" --leader-elect=false \
    --bind-address 127.0.0.1 --secure-port "$(cat "$state/ports/kcm")" --cert-dir "$state/pki/kcm" \
    --service-account-private-key-file "$state/pki/sa.key" --root-ca-file "$state/pki/ca.crt" \
    --use-service-account-credentials=false --profiling=false
  spawn kube-scheduler "$bin/kube-scheduler" \
    --kubeconfig "$state/admin.kubeconfig" --leader-elect=false \
    --bind-address 127.0.0.1 --secure-port "$(cat "$state/ports/scheduler")" --cert-dir "$state/pki/scheduler" \
    --profiling=false

  # Fake pods' log: CRI format, served by kwok for every pod (ClusterLogs without a selector).
  printf '%s stdout F %s\n' \
    "2026-01-01T00:00:00.000000001Z" "hello from the kwok pod" \
    "2026-01-01T00:00:00.000000002Z" "second line" > "$state/pod-logs/task.log"
  { cat "$root/deploy/k8s-testenv/kwok-stages.yaml"
    cat <<EOF
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: updraft-test-logs
spec:
  logs:
  - logsFile: $state/pod-logs/task.log
EOF
  } > "$state/kwok.yaml"

  log "starting kwok"
  # The apiserver proxies pods/log to <node InternalIP>:<kubelet port>, i.e. kwok's server here.
  spawn kwok "$bin/kwok" --kubeconfig "$state/admin.kubeconfig" --config "$state/kwok.yaml" \
    --manage-nodes-with-annotation-selector kwok.x-k8s.io/node=fake \
    --node-ip 127.0.0.1 --node-name localhost --node-port "$(cat "$state/ports/kwok")" \
    --server-address "127.0.0.1:$(cat "$state/ports/kwok")" \
    --tls-cert-file "$state/pki/serving.crt" --tls-private-key-file "$state/pki/serving.key"

  log "creating nodes and namespace $NAMESPACE"
  local n
  for n in cpu-0:0 cpu-1:0 gpu-0:2 gpu-1:2; do
    api POST /api/v1/nodes "$(node_json "${n%%:*}" "${n##*:}")" >/dev/null
  done
  api POST /api/v1/namespaces "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"$NAMESPACE\"}}" >/dev/null
  wait_for "4 Ready nodes" 60 nodes_ready
  # Pods need the namespace's default ServiceAccount (created by KCM) before admission accepts them.
  wait_for "ServiceAccount $NAMESPACE/default" 60 api GET "/api/v1/namespaces/$NAMESPACE/serviceaccounts/default"
  alive || die "a component exited during startup (logs: $state/logs/)"

  cat > "$state/env" <<EOF
export KUBECONFIG=$state/kubeconfig
export UPDRAFT_TEST_K8S_NAMESPACE=$NAMESPACE
export UPDRAFT_TEST_K8S_POD_LOG=$state/pod-logs/task.log
EOF
  log "ready"
  print_env
}

case "${1:-}" in
  start) start ;;
  stop) stop_all; log "stopped" ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
