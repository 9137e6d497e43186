#!/usr/bin/env bash
# A real Kubernetes control plane for the Kubernetes executor's tests, entirely on 127.0.0.1:
# etcd 3.5, kube-apiserver, kube-controller-manager (real Job controller and garbage collector) and
# kube-scheduler (real GPU fit, node selectors and taints), with kwok faking four nodes and their
# pods' lifecycle, plus one REAL node: a kubelet that runs pods as containers on the Docker engine of
# scripts/services/dockerd.sh through cri-dockerd. Binaries are built from the Go module proxy by
# deploy/k8s-testenv/build.sh (cold: ~30 min on 2 cores; cached under ~/.cache/updraft/).
#
#   scripts/services/k8s.sh start   -> prints `export KUBECONFIG=...` etc. on stdout
#   scripts/services/k8s.sh stop    -> stops everything and removes the state
#
# Fake nodes: cpu-0, cpu-1 (plain) and gpu-0, gpu-1 (nvidia.com/gpu: 2, label updraft.dev/gpu-type=a100,
# taint nvidia.com/gpu=present:NoSchedule). Pod outcomes are chosen by pod annotations, see
# deploy/k8s-testenv/kwok-stages.yaml. Every fake pod's log is served from $UPDRAFT_TEST_K8S_POD_LOG
# (CRI log format), which tests may rewrite.
#
# Real node: named 127.0.0.1, label updraft.dev/real-node=true, taint
# updraft.dev/real-node=true:NoSchedule, so only pods that select and tolerate it land there. No CNI:
# its pods reach the network only with hostNetwork, and run images already in the Docker engine
# (imagePullPolicy Never). Needs root; the kubelet runs in its own mount namespace
# (scripts/services/k8s-kubelet-ns.sh), so the machine keeps its sysctls. `stop` removes the node's
# containers, mounts and processes, and nothing else of a shared engine.
#   UPDRAFT_K8S_REAL_NODE=0          start without it (no dockerd needed)
#   DOCKER_HOST=unix://...           the engine to use (default: dockerd.sh's socket in
#                                    $UPDRAFT_SERVICES_DIR); waited for up to
#   UPDRAFT_K8S_DOCKER_WAIT=600      seconds, since `make test` starts dockerd after this script.
set -euo pipefail

NAME=k8s
NAMESPACE=updraft-test
# The kubelet refuses a loopback --node-ip; an IP given as the hostname is the one way to get the
# InternalIP 127.0.0.1 the API server reaches it on (pkg/kubelet/nodestatus/setters.go), and the
# node name is that hostname.
REAL_NODE=127.0.0.1
REAL_NODE_LABEL=updraft.dev/real-node
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
services_dir="${UPDRAFT_SERVICES_DIR:-/tmp/updraft-services}"
state="$services_dir/$NAME"
log() { echo "[k8s] $*" >&2; }
die() { echo "[k8s] error: $*" >&2; exit 1; }

stop_all() {
  [ -d "$state/pids" ] || { remove_state; return 0; }
  # The nodes (kwok, the kubelet, its runtime) and the controllers together, then the API server,
  # etcd last.
  stop_procs kwok kubelet cri-dockerd kube-scheduler kube-controller-manager
  stop_procs kube-apiserver
  stop_procs etcd
  remove_real_node_from_engine
  remove_state
}

# stop_procs <name...>: SIGTERM, then after 10 s SIGKILL. Only the processes this script started
# (their pids are in $state/pids) are ever signalled, and only while their command line still names
# the binary we started (a pid may have been reused).
stop_procs() {
  local name f pid pids=() running
  for name in "$@"; do
    f="$state/pids/$name.pid"
    [ -f "$f" ] || continue
    pid="$(cat "$f")"
    [[ "$(tr '\0' ' ' 2>/dev/null < "/proc/$pid/cmdline" || true)" == *"/$name "* ]] || continue
    kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
  done
  for _ in $(seq 1 50); do
    running=()
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && running+=("$pid"); done
    [ ${#running[@]} -gt 0 ] || return 0
    sleep 0.2
  done
  for pid in "${running[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}

# The real node's containers outlive the kubelet: remove every pod sandbox this node's cri-dockerd
# made (it keeps a checkpoint per sandbox under its root directory) and the containers in them, and
# the pause image if this cluster imported it. Only those, never anything else of a shared engine.
remove_real_node_from_engine() {
  local dir="$state/real-node" sandbox ids dh
  [ -f "$dir/docker-host" ] || return 0
  command -v docker >/dev/null || return 0
  dh="$(cat "$dir/docker-host")"
  for sandbox in "$dir"/cri-dockerd/sandbox/*; do
    [ -f "$sandbox" ] || continue
    sandbox="$(basename "$sandbox")"
    ids="$(DOCKER_HOST="$dh" docker ps -aq --filter "label=io.kubernetes.sandbox.id=$sandbox" 2>/dev/null || true)"
    # shellcheck disable=SC2086  # ids are docker container ids
    DOCKER_HOST="$dh" docker rm -f $ids "$sandbox" >/dev/null 2>&1 || true
  done
  if [ -f "$dir/imported-image" ]; then
    DOCKER_HOST="$dh" docker image rm "$(cat "$dir/imported-image")" >/dev/null 2>&1 || true
  fi
}

# Unmounts what the kubelet mounted (tmpfs volumes, the shared bind of its root dir), deepest first,
# then deletes the state.
remove_state() {
  local m
  if [ -d "$state" ]; then
    for m in $(awk -v d="$state/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r); do
      umount -l "$m" 2>/dev/null || true
    done
  fi
  rm -rf "$state"
}

need() { # need <command> <debian package...>
  command -v "$1" >/dev/null && return 0
  apt_install "$1" "${@:2}"
}

apt_install() { # apt_install <what is missing> <debian package...>
  local what="$1"; shift
  log "installing $*"
  # Lock timeout: make test installs other services' packages at the same time.
  { apt-get -o DPkg::Lock::Timeout=300 update -qq \
      && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq "$@"; } >&2 \
    || die "$what is missing and apt-get install $* failed"
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
    # The API server's client certificate for the real node's kubelet API (logs): system:masters, so
    # the kubelet's webhook authorization allows it.
    openssl req -newkey rsa:2048 -nodes -keyout kubelet-client.key -out kubelet-client.csr \
      -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" 2>/dev/null
    printf 'extendedKeyUsage = clientAuth\nkeyUsage = digitalSignature, keyEncipherment\n' > client.ext
    openssl x509 -req -in kubelet-client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out kubelet-client.crt -days 3650 -extfile client.ext 2>/dev/null
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

nodes_ready() { # nodes_ready <label selector> <count>
  api GET "/api/v1/nodes?labelSelector=$1" | node -e '
    let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{
      const items=JSON.parse(s).items;
      const ready=items.filter(n=>(n.status.conditions||[]).some(c=>c.type==="Ready"&&c.status==="True"));
      process.exit(items.length===Number(process.argv[1])&&ready.length===items.length?0:1)})' "$2"
}

# --- the real node ------------------------------------------------------------------------------

docker_host() {
  local h="${DOCKER_HOST:-unix://$services_dir/dockerd/docker.sock}"
  [[ "$h" == unix://* ]] || die "the real node needs the Docker engine's local unix socket, but DOCKER_HOST is '$h'; point DOCKER_HOST at a local dockerd (scripts/services/dockerd.sh start) or set UPDRAFT_K8S_REAL_NODE=0"
  echo "$h"
}

write_kubelet_config() { # write_kubelet_config <file>
  local d="$state/real-node"
  cat > "$1" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: 127.0.0.1
port: $(cat "$state/ports/kubelet")
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $(cat "$state/ports/kubelet-healthz")
# The API server authenticates with its client certificate (our CA) and the kubelet asks the API
# server whether that identity may read logs (it is in system:masters).
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $state/pki/ca.crt}
authorization: {mode: Webhook}
containerRuntimeEndpoint: unix://$d/cri-dockerd.sock
cgroupDriver: cgroupfs
# No kubepods cgroup tree: another kubelet on the same machine (another test cluster) would remove
# pod cgroups it does not know. Containers get the engine's default cgroup parent; their own
# limits still apply.
cgroupsPerQOS: false
enforceNodeAllocatable: ["none"]
failSwapOn: false
# No iptables chains on the host (no kube-proxy, no CNI here).
makeIPTablesUtilChains: false
# Never garbage-collect images or evict pods for disk: the engine and its images are shared.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: "100Mi", nodefs.available: "0%", nodefs.inodesFree: "0%", imagefs.available: "0%", imagefs.inodesFree: "0%"}
podLogsDir: $d/pod-logs
volumePluginDir: $d/volume-plugins
registerWithTaints:
- {key: $REAL_NODE_LABEL, value: "true", effect: NoSchedule}
maxPods: 20
rotateCertificates: false
EOF
}

# kubelet_exec <kubelet binary> <args...>: spawns it in its own mount namespace
# (scripts/services/k8s-kubelet-ns.sh: the host keeps its sysctls, /var/log and /var/lib). Its root
# directory is made a shared mount first, so the volumes it mounts there (service account tokens)
# propagate to the host's namespace, where dockerd bind-mounts them.
kubelet_exec() {
  local d="$state/real-node"
  mount --bind "$d/kubelet" "$d/kubelet"
  mount --make-shared "$d/kubelet"
  spawn kubelet bash "$root/scripts/services/k8s-kubelet-ns.sh" "$d" "$@"
}

# Checks what the real node needs before anything starts. Two kubelets on one engine delete each
# other's pods (a kubelet removes the pod sandboxes it does not know), so only one test cluster at a
# time may have a real node on an engine: this takes a lock on the engine's socket path, which every
# component started afterwards inherits, so it is held until the cluster is stopped.
real_node_preflight() {
  command -v unshare >/dev/null && command -v findmnt >/dev/null || die "the real node needs unshare and findmnt (util-linux), or set UPDRAFT_K8S_REAL_NODE=0"
  [ "$(id -u)" = 0 ] || die "the real node needs root (it mounts the kubelet's volumes and runs it in its own mount namespace); run as root or set UPDRAFT_K8S_REAL_NODE=0"
  real_node_docker_host="$(docker_host)"
  local lock lockfd
  lock="/tmp/updraft-k8s-real-node.$(echo -n "$real_node_docker_host" | sha256sum | cut -c1-16).lock"
  exec {lockfd}>>"$lock"
  flock -n "$lockfd" || die "another test cluster's real node already runs pods on the Docker engine at $real_node_docker_host (lock $lock); stop that cluster (scripts/services/k8s.sh stop with its UPDRAFT_SERVICES_DIR), use another engine (DOCKER_HOST), or set UPDRAFT_K8S_REAL_NODE=0"
}

# start_real_node <bin dir>  (after real_node_preflight)
start_real_node() {
  local bin="$1" d="$state/real-node" dh="$real_node_docker_host"
  local wait_s="${UPDRAFT_K8S_DOCKER_WAIT:-600}"
  if ! DOCKER_HOST="$dh" docker info >/dev/null 2>&1; then
    # (The docker CLI may not be installed yet either: make test's dockerd.sh installs both.)
    log "waiting up to ${wait_s}s for the Docker engine at $dh"
    wait_for "the Docker engine at $dh and the docker CLI (start it with scripts/services/dockerd.sh start, or set UPDRAFT_K8S_REAL_NODE=0)" "$wait_s" \
      env DOCKER_HOST="$dh" docker info
  fi
  mkdir -p "$d"/{kubelet,pod-logs,volume-plugins,cri-dockerd}
  echo "$dh" > "$d/docker-host"

  # The pod sandbox image, made from the pause binary and tagged with its version; never pulled.
  local pause_image
  pause_image="updraft/k8s-pause:$("$bin/pause" -v | awk '{print $2}')"
  if ! DOCKER_HOST="$dh" docker image inspect "$pause_image" >/dev/null 2>&1; then
    log "importing $pause_image into the Docker engine"
    tar -C "$bin" --owner=0 --group=0 --numeric-owner --mtime=@0 -c pause \
      | DOCKER_HOST="$dh" docker import --change 'ENTRYPOINT ["/pause"]' - "$pause_image" >/dev/null
    echo "$pause_image" > "$d/imported-image"   # removed again by stop
  fi

  local p
  for p in kubelet kubelet-healthz; do free_port > "$state/ports/$p"; done
  log "starting cri-dockerd and the kubelet (node $REAL_NODE, engine $dh)"
  # --network-plugin "": cri-dockerd's no-op plugin (no CNI; hostNetwork pods only).
  spawn cri-dockerd "$bin/cri-dockerd" \
    --container-runtime-endpoint "unix://$d/cri-dockerd.sock" --docker-endpoint "$dh" \
    --cri-dockerd-root-directory "$d/cri-dockerd" --pod-infra-container-image "$pause_image" \
    --network-plugin "" --streaming-bind-addr 127.0.0.1 --log-level warn
  wait_for "cri-dockerd's socket" 30 test -S "$d/cri-dockerd.sock"

  write_kubelet_config "$d/kubelet-config.yaml"
  kubelet_exec "$bin/kubelet" --config "$d/kubelet-config.yaml" --kubeconfig "$state/admin.kubeconfig" \
    --root-dir "$d/kubelet" --cert-dir "$d/kubelet/pki" \
    --hostname-override "$REAL_NODE" --node-labels "$REAL_NODE_LABEL=true"
  wait_for "the real node $REAL_NODE to be Ready" 120 nodes_ready "$REAL_NODE_LABEL=true" 1
}

start() {
  if [ -f "$state/env" ] && alive && api GET /readyz >/dev/null 2>&1; then
    log "already running"; print_env; return 0
  fi
  stop_all
  need curl curl
  need openssl openssl
  # build.sh compiles the pod sandbox's pause binary, statically: gcc and a static libc.
  need gcc gcc libc6-dev
  [ "$(gcc -print-file-name=libc.a)" != libc.a ] || apt_install "a static libc (libc.a)" libc6-dev
  command -v node >/dev/null || die "node is required on PATH"
  local real_node=1 real_node_docker_host=""
  [ "${UPDRAFT_K8S_REAL_NODE:-1}" = 0 ] && real_node=0
  [ $real_node = 0 ] || real_node_preflight

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
    --kubelet-client-certificate "$state/pki/kubelet-client.crt" --kubelet-client-key "$state/pki/kubelet-client.key" \
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
    --use-service-account-credentials=false --profiling=false \
    --flex-volume-plugin-dir "$state/kcm-flexvolume"
  # (flex-volume-plugin-dir: KCM creates it, by default under /usr/libexec on the host.)
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
  wait_for "4 Ready kwok nodes" 60 nodes_ready type=kwok 4
  # Pods need the namespace's default ServiceAccount (created by KCM) before admission accepts them.
  wait_for "ServiceAccount $NAMESPACE/default" 60 api GET "/api/v1/namespaces/$NAMESPACE/serviceaccounts/default"
  alive || die "a component exited during startup (logs: $state/logs/)"

  local real_node_env
  if [ $real_node = 0 ]; then
    log "not starting the real node (UPDRAFT_K8S_REAL_NODE=0)"
    real_node_env="export UPDRAFT_TEST_K8S_REAL_NODE_MISSING='not started: UPDRAFT_K8S_REAL_NODE=0'"
  else
    start_real_node "$bin"
    alive || die "a component exited during the real node's startup (logs: $state/logs/)"
    real_node_env="export UPDRAFT_TEST_K8S_REAL_NODE=$REAL_NODE"
  fi

  cat > "$state/env" <<EOF
export KUBECONFIG=$state/kubeconfig
export UPDRAFT_TEST_K8S_NAMESPACE=$NAMESPACE
export UPDRAFT_TEST_K8S_POD_LOG=$state/pod-logs/task.log
$real_node_env
EOF
  log "ready"
  print_env
}

case "${1:-}" in
  start) start ;;
  stop) stop_all; log "stopped" ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
