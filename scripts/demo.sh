#!/usr/bin/env bash
# `make demo`: the reference retraining pipeline (dags/ml_retraining.ts) on the embedded defaults.
#
#   1. installs what Updraft needs (scripts/setup.sh: npm ci, build, temporal CLI);
#   2. picks the step runtime by what the machine has, and says which and why:
#      docker  when a Docker engine answers (DOCKER_HOST or /var/run/docker.sock) and the step
#              images build locally (deploy/images/build.sh: needs root for debootstrap; nothing is
#              pulled), else
#      process with a Python venv from PyPI and Debian's R (steps/setup-venv.sh);
#      UPDRAFT_ML_RUNTIME=process|docker|kubernetes chooses instead (kubernetes: the images must be
#      on the cluster's nodes; see docs/ml-pipeline.md);
#   3. runs the pipeline twice: on 60% of the rows (the first model becomes the champion when it
#      clears the thresholds), then on all of them (a challenger the gate compares with the champion);
#   4. prints the champion, its metrics and the lineage command.
# Progress goes to stderr; each run prints its task table.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
say() { echo "[demo] $*" >&2; }
die() { echo "[demo] error: $*" >&2; exit 1; }

MODEL=breast_cancer_classifier
FIRST_CONF=${UPDRAFT_DEMO_FIRST_CONF:-'{"fraction": 0.6}'}
SECOND_CONF=${UPDRAFT_DEMO_SECOND_CONF:-'{"fraction": 1.0}'}

bash scripts/setup.sh
export PATH="$root/.tools/bin:$PATH"
updraft() { node "$root/bin/updraft.js" "$@"; }

docker_answers() {
  command -v docker >/dev/null 2>&1 || { why_not_docker="the docker CLI is not installed"; return 1; }
  if ! timeout 20 docker info >/dev/null 2>&1; then
    why_not_docker="no Docker engine answers at ${DOCKER_HOST:-/var/run/docker.sock}"
    return 1
  fi
}

build_images() {
  if [ "$(id -u)" != 0 ]; then
    why_not_docker="a Docker engine answers, but building the step images needs root (debootstrap); run deploy/images/build.sh as root once, then UPDRAFT_ML_RUNTIME=docker make demo"
    # Images built earlier (by root, or loaded) are enough.
    docker image inspect updraft/step-python:latest updraft/step-r:latest >/dev/null 2>&1 || return 1
    say "step images found on the engine (not rebuilt: not root)"
    return 0
  fi
  say "building the step images locally (deploy/images/build.sh; the first build takes several minutes, then it is cached)"
  if ! deploy/images/build.sh all >&2; then
    why_not_docker="a Docker engine answers, but deploy/images/build.sh failed (see above)"
    return 1
  fi
}

why_not_docker=""
runtime="${UPDRAFT_ML_RUNTIME:-}"
case "$runtime" in
  "")
    if docker_answers && build_images; then
      runtime=docker
      reason="a Docker engine answers at ${DOCKER_HOST:-/var/run/docker.sock} and the step images are on it"
    else
      runtime=process
      reason="$why_not_docker"
    fi
    ;;
  process|docker|kubernetes) reason="UPDRAFT_ML_RUNTIME=$runtime was set" ;;
  *) die "UPDRAFT_ML_RUNTIME must be process, docker or kubernetes, got \"$runtime\"" ;;
esac
if [ "$runtime" = process ]; then
  say "setting up the process runtime: a Python venv from PyPI and R (steps/setup-venv.sh)"
  steps/setup-venv.sh >/dev/null
fi
if [ "$runtime" = docker ] && [ -n "${UPDRAFT_ML_RUNTIME:-}" ]; then
  docker_answers || die "UPDRAFT_ML_RUNTIME=docker, but $why_not_docker"
  build_images || die "UPDRAFT_ML_RUNTIME=docker, but $why_not_docker"
fi
say "runtime: $runtime — $reason"
export UPDRAFT_ML_RUNTIME="$runtime"

run_pipeline() {
  say "$1: updraft dags test ml_retraining --conf '$2'"
  updraft dags test ml_retraining --conf "$2" || die "the run failed; its task logs are listed above (updraft tasks logs ml_retraining <run_id> <task_id>)"
}
run_pipeline "first run, 60% of the rows" "$FIRST_CONF"
run_pipeline "second run, all rows: a challenger" "$SECOND_CONF"

echo
say "the model registry after both runs (updraft models show $MODEL):"
updraft models show "$MODEL"
# The champion, the run that trained it, and that run's evaluation metrics (on its test split).
champion="$(updraft models versions "$MODEL" -o json | node -e '
  let s = ""; process.stdin.on("data", (c) => (s += c)).on("end", () => {
    const v = JSON.parse(s).find((r) => String(r.aliases).split(", ").includes("champion"));
    // source: "<dag_id>/<run_id>/<task_id> try <n>"
    if (v) process.stdout.write(`${v.version} ${String(v.source).split("/")[1]}`);
  });')"
[ -n "$champion" ] || die "no champion: neither run passed the gate's thresholds (updraft models history $MODEL)"
version="${champion%% *}"
run_id="${champion#* }"
# evaluate logs the candidate's metrics and, when there was a champion, that champion's on the same
# rows as baseline_<name>: print them as two lines.
metrics="$(updraft runs metrics ml_retraining "$run_id" -o json | node -e '
  let s = ""; process.stdin.on("data", (c) => (s += c)).on("end", () => {
    const rows = JSON.parse(s).filter((r) => r.task_id === "evaluate" && r.name !== "n_test");
    const line = (rs, strip) => rs.map((r) => `${r.name.slice(strip)} ${Number(r.value).toFixed(4)}`).join(", ");
    const own = rows.filter((r) => !r.name.startsWith("baseline_"));
    const base = rows.filter((r) => r.name.startsWith("baseline_"));
    process.stdout.write(line(own, 0) + "\n" + line(base, "baseline_".length));
  });')"
echo
echo "Champion: $MODEL version $version, trained by run $run_id"
echo "Metrics:  $(head -n1 <<<"$metrics") (evaluate, on that run's test split)"
baseline="$(tail -n +2 <<<"$metrics")"
[ -z "$baseline" ] || echo "Previous champion on the same rows: $baseline (the gate compared these)"
echo "History:  updraft models history $MODEL"
echo "Lineage:  updraft lineage $MODEL@$version            (--format dot | mermaid)"
echo "Runtime:  $runtime — $reason"
