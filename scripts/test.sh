#!/usr/bin/env bash
# The test command (README quick start, `make test`, CI). Installs what it needs, starts the real
# services the tests use (Postgres, an S3-compatible store, dockerd, a Kubernetes API server with kwok
# nodes and a real node; Temporal is started by the tests themselves), runs lint, typecheck and every
# mocha suite, then stops the services.
#   UPDRAFT_TEST_SERVICES="postgres s3 dockerd k8s"   which services to start (default: all)
#   UPDRAFT_TEST_GLOB='dist/test/unit/**/*.test.js'  run a subset
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export UPDRAFT_SERVICES_DIR="${UPDRAFT_SERVICES_DIR:-$(mktemp -d /tmp/updraft-services.XXXXXX)}"
services="${UPDRAFT_TEST_SERVICES:-postgres s3 dockerd k8s}"
started=()

stop_services() {
  # A cluster start still running in the background (a failed lint, say) is ended first, so it
  # cannot go on to start components after the stop below.
  if [ -n "${k8s_pid:-}" ] && kill -0 "$k8s_pid" 2>/dev/null; then
    kill -TERM -- "-$k8s_pid" 2>/dev/null || true
    wait "$k8s_pid" 2>/dev/null || true
  fi
  # The Kubernetes cluster before the others (though started first): its real node's containers
  # are in the dockerd, which must still run for `k8s.sh stop` to remove them.
  local order=() i
  [[ " ${started[*]} " == *" k8s "* ]] && order+=(k8s)
  for ((i=${#started[@]}-1; i>=0; i--)); do [ "${started[$i]}" = k8s ] || order+=("${started[$i]}"); done
  for svc in "${order[@]}"; do
    bash "scripts/services/$svc.sh" stop >/dev/null 2>&1 || echo "[test] warning: stopping $svc failed" >&2
  done
}
trap stop_services EXIT

step() { echo; echo "=== $* ==="; }

step "setup (npm ci, build, temporal CLI)"
bash scripts/setup.sh || { echo "[test] setup failed" >&2; exit 1; }
temporal_cli="$(bash scripts/install-temporal.sh)"
export PATH="$(dirname "$temporal_cli"):$PATH"

# The Kubernetes test cluster may need a long cold build: start it first, in the background.
k8s_env="$UPDRAFT_SERVICES_DIR/k8s.env"
if [[ " $services " == *" k8s "* ]]; then
  step "starting the Kubernetes test cluster in the background"
  # Its real node runs pods on the dockerd started below (k8s.sh waits for it); without one, none.
  k8s_vars=()
  if [[ " $services " == *" dockerd "* ]]; then
    k8s_vars=("DOCKER_HOST=unix://$UPDRAFT_SERVICES_DIR/dockerd/docker.sock")
  elif [ -z "${DOCKER_HOST:-}" ]; then
    k8s_vars=("UPDRAFT_K8S_REAL_NODE=${UPDRAFT_K8S_REAL_NODE:-0}")
  fi
  # setsid: its own process group (the builds included), which stop_services can end as a whole.
  setsid bash -c 'out="$1"; shift; env "$@" bash scripts/services/k8s.sh start > "$out" 2> "$UPDRAFT_SERVICES_DIR/k8s-start.log"; echo $? > "$UPDRAFT_SERVICES_DIR/k8s.rc"' \
    k8s-start "$k8s_env" "${k8s_vars[@]}" &
  k8s_pid=$!
  started+=(k8s)
fi

step "lint and typecheck"
npm run --silent lint || { echo "[test] lint failed" >&2; exit 1; }
npm run --silent typecheck || { echo "[test] typecheck failed" >&2; exit 1; }

for svc in $services; do
  [ "$svc" = k8s ] && continue
  step "starting $svc"
  out="$(bash "scripts/services/$svc.sh" start)" || { echo "[test] could not start $svc" >&2; exit 1; }
  started+=("$svc")
  eval "$out"
done

# The reference ML pipeline's prerequisites (its e2e tests, the step tests and the real node use
# them): the step venv with Debian's R for process steps, and the step images in the test dockerd.
# Both are cached under ~/.cache/updraft after a first build (a fresh machine: ~4 min for the venv,
# ~9 min for the images); later runs take seconds.
step "ML steps: venv and R (steps/setup-venv.sh), step images (deploy/images/build.sh)"
bash steps/setup-venv.sh >/dev/null || { echo "[test] steps/setup-venv.sh failed" >&2; exit 1; }
if [ -n "${DOCKER_HOST:-}" ]; then
  bash deploy/images/build.sh all >/dev/null || { echo "[test] deploy/images/build.sh failed" >&2; exit 1; }
fi

stats="$UPDRAFT_SERVICES_DIR/mocha-stats.jsonl"
: > "$stats"
export UPDRAFT_TEST_STATS_FILE="$stats"
status=0
if [ -n "${UPDRAFT_TEST_GLOB:-}" ]; then
  step "mocha ($UPDRAFT_TEST_GLOB)"
  if [ -n "${k8s_pid:-}" ]; then wait "$k8s_pid"; eval "$(cat "$k8s_env")"; fi
  npx mocha "$UPDRAFT_TEST_GLOB" || status=1
else
  # Phase 1 runs while the Kubernetes test cluster may still be building (niced) in the background.
  step "mocha: everything but the Kubernetes suites"
  # (The ML pipeline's Kubernetes case waits for phase 2, where the cluster is up.)
  env -u UPDRAFT_TEST_K8S_REAL_NODE npx mocha 'dist/test/**/*.test.js' --ignore 'dist/test/**/kubernetes*.test.js' --ignore 'dist/test/**/k8s*.test.js' || status=1
  if [ -n "${k8s_pid:-}" ]; then
    step "waiting for the Kubernetes test cluster"
    wait "$k8s_pid"
    if [ "$(cat "$UPDRAFT_SERVICES_DIR/k8s.rc" 2>/dev/null)" != 0 ]; then
      tail -n 40 "$UPDRAFT_SERVICES_DIR/k8s-start.log" >&2
      echo "[test] could not start the Kubernetes test cluster (log above)" >&2
      echo '{"passes":0,"failures":1,"pending":0}' >> "$stats"
      status=1
    else
      eval "$(cat "$k8s_env")"
      step "mocha: Kubernetes suites"
      npx mocha 'dist/test/**/kubernetes*.test.js' 'dist/test/**/k8s*.test.js' || status=1
      # k8s.sh exports UPDRAFT_TEST_K8S_REAL_NODE when its real node is up: the reference ML
      # pipeline then runs there twice (about 1 min each on the 2-core dev VM): through the worker's
      # local store, a folder the pods share ("on Kubernetes (the test cluster's real node)"), and
      # through the S3 store started above, the helpers reading and writing the bucket themselves
      # ("on Kubernetes with the S3 artifact store"; it needs the s3 service's UPDRAFT_TEST_S3_*).
      if [ -n "${UPDRAFT_TEST_K8S_REAL_NODE:-}" ]; then
        step "mocha: the ML pipeline on the real node (local store, then S3 store)"
        npx mocha dist/test/e2e/ml-retraining.test.js --grep 'on Kubernetes' || status=1
      fi
    fi
  fi
fi
node -e '
  const lines = require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").filter(Boolean).map(JSON.parse);
  const t = lines.reduce((a, s) => ({ p: a.p + s.passes, f: a.f + s.failures, k: a.k + s.pending }), { p: 0, f: 0, k: 0 });
  console.log(`\n=== all phases ===\n${t.p} passed, ${t.f} failed, ${t.k} skipped`);
' "$stats"
exit $status
