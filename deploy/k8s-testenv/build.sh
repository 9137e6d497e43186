#!/usr/bin/env bash
# Builds the Kubernetes test environment's binaries from the Go module proxy only (no release
# downloads, no images): kube-apiserver, kube-controller-manager, kube-scheduler, kubelet and etcd
# 3.5 from this wrapper module; kwok and cri-dockerd (one patch, see below) from their own modules
# (kept apart so their dependencies cannot move the control plane's); and the pod sandbox's `pause`
# from the C source in the k8s.io/kubernetes module (needs gcc and a static libc). Idempotent: a
# binary that already exists is not rebuilt.
#
# Usage: deploy/k8s-testenv/build.sh   -> prints the bin directory on stdout, progress on stderr.
# Cold build on 2 cores: ~30 min measured (all eight binaries); see docs/kubernetes.md ("The test cluster").
set -euo pipefail

K8S_VERSION=v1.33.13
KWOK_VERSION=v0.7.0
# cri-dockerd: CRI v1 (k8s.io/cri-api v0.30), which kubelet 1.33 speaks. v0.3.17, because v0.4.0
# refuses Docker API < 1.42 (Docker 23) and Debian bookworm's docker.io 20.10 speaks 1.41; of the
# versions between, the module proxy serves none (v0.3.18-v0.3.21 answer 403 "not available").
CRI_DOCKERD_VERSION=v0.3.17
# Bumped whenever _cri-dockerd-patch/ or the edits below change, so the binary is rebuilt.
CRI_DOCKERD_PATCH=updraft.2
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${UPDRAFT_K8S_TESTENV_BIN:-$HOME/.cache/updraft/k8s-testenv/$K8S_VERSION/bin}"
log() { echo "[k8s-testenv] $*" >&2; }
# module_dir <run in dir> <module[@version]>: downloads the module (if needed) and prints its directory.
module_dir() {
  (cd "$1" && go mod download -json "$2") | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p'
}

command -v go >/dev/null || { echo "deploy/k8s-testenv/build.sh: 'go' (>= 1.24) is required on PATH" >&2; exit 1; }
mkdir -p "$bin"
# Never let go fetch a toolchain (only the module proxy is reachable); -trimpath keeps the build
# cache independent of the checkout path; -mod=readonly so go.mod/go.sum are used exactly as committed.
export GOTOOLCHAIN=local GOFLAGS="-trimpath -buildvcs=false -mod=readonly"

# kwokctl and the kube components pick flags by `--version`, so stamp the real version in.
minor="$(echo "$K8S_VERSION" | cut -d. -f2)"
ldflags="-s -w \
 -X k8s.io/component-base/version.gitVersion=$K8S_VERSION \
 -X k8s.io/component-base/version.gitMajor=1 \
 -X k8s.io/component-base/version.gitMinor=$minor \
 -X k8s.io/component-base/version.gitTreeState=clean \
 -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION \
 -X k8s.io/client-go/pkg/version.gitMajor=1 \
 -X k8s.io/client-go/pkg/version.gitMinor=$minor"

# Build into a scratch dir and move into place, so an interrupted build never leaves a binary that
# looks complete.
tmp="$(mktemp -d "$bin/.build.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

missing=()
for c in kube-apiserver kube-controller-manager kube-scheduler kubelet; do
  [ -x "$bin/$c" ] || missing+=("k8s.io/kubernetes/cmd/$c")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "building ${missing[*]##*/} $K8S_VERSION (cold: ~20 min on 2 cores; ~30 min with the rest)"
  (cd "$here" && nice -n 10 go build -ldflags "$ldflags" -o "$tmp/" "${missing[@]}")
  for p in "${missing[@]}"; do mv "$tmp/${p##*/}" "$bin/"; done
fi

if [ ! -x "$bin/etcd" ]; then
  log "building etcd (go.etcd.io/etcd/server/v3 as pinned in go.mod)"
  # -o names it etcd; the package's last element would otherwise make it "server".
  (cd "$here" && nice -n 10 go build -ldflags "-s -w" -o "$tmp/etcd" go.etcd.io/etcd/server/v3)
  mv "$tmp/etcd" "$bin/etcd"
fi

if [ ! -x "$bin/kwok" ]; then
  log "building kwok $KWOK_VERSION"
  # Outside the wrapper module: `go install pkg@version` resolves kwok's own go.mod.
  (cd "$tmp" && GOFLAGS="-trimpath -buildvcs=false" GOBIN="$tmp" nice -n 10 go install -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION")
  mv "$tmp/kwok" "$bin/kwok"
fi

# patch <file> <exact line> <replacement line>: fails unless the line occurs exactly once.
patch_line() {
  [ "$(grep -cxF -- "$2" "$1")" = 1 ] || { echo "deploy/k8s-testenv/build.sh: expected exactly one line '$2' in $1; update the patch" >&2; exit 1; }
  LINE="$2" NEW="$3" perl -i -pe 'chomp; $_ = $_ eq $ENV{LINE} ? $ENV{NEW} : $_; $_ .= "\n"' "$1"
}

# Rebuilt when the version or patch changes (`--version` prints "cri-dockerd 0.3.17-updraft.1 (HEAD)").
cri_dockerd_tag="${CRI_DOCKERD_VERSION#v}-$CRI_DOCKERD_PATCH"
if ! "$bin/cri-dockerd" --version 2>/dev/null | grep -qF "cri-dockerd $cri_dockerd_tag "; then
  log "building cri-dockerd $CRI_DOCKERD_VERSION (patched: $CRI_DOCKERD_PATCH)"
  # cri-dockerd's go.mod has replace directives, so neither `go install @version` nor a require in
  # a wrapper works; build its module zip as the main module, where its replaces and go.sum apply.
  # The zip's vendor/ holds only modules.txt, which would switch go to -mod=vendor: drop it.
  src="$(GOFLAGS= module_dir "$tmp" "github.com/Mirantis/cri-dockerd@$CRI_DOCKERD_VERSION")"
  [ -d "$src" ] || { echo "deploy/k8s-testenv/build.sh: could not download github.com/Mirantis/cri-dockerd@$CRI_DOCKERD_VERSION" >&2; exit 1; }
  cp -r "$src" "$tmp/cri-dockerd-src" && chmod -R u+w "$tmp/cri-dockerd-src" && rm -rf "$tmp/cri-dockerd-src/vendor"
  # Two changes. 1: negative oom_score_adj values are raised to cri-dockerd's own where lowering
  # needs CAP_SYS_RESOURCE and the machine withholds it (see _cri-dockerd-patch/restrict_oom.go).
  core="$tmp/cri-dockerd-src/core"
  cp "$here/_cri-dockerd-patch/restrict_oom.go" "$core/"
  patch_line "$core/sandbox_helpers.go" $'\thc.OomScoreAdj = defaultSandboxOOMAdj' \
    $'\thc.OomScoreAdj = restrictOOMScoreAdj(defaultSandboxOOMAdj)'
  patch_line "$core/helpers_linux.go" $'\t\t\tcreateConfig.HostConfig.OomScoreAdj = int(rOpts.OomScoreAdj)' \
    $'\t\t\tcreateConfig.HostConfig.OomScoreAdj = restrictOOMScoreAdj(int(rOpts.OomScoreAdj))'
  # 2: every 5 minutes cri-dockerd sets oom_score_adj -999 on every process of the machine named
  # dockerd or containerd (other users' daemons too) and, with --runtime-cgroups, moves them into its
  # cgroup. The test cluster must not retune what it did not start, so that loop runs only when
  # --runtime-cgroups is given, which k8s.sh never does.
  patch_line "$tmp/cri-dockerd-src/containermanager/container_manager_linux.go" \
    $'\tgo wait.Until(m.doWork, 5*time.Minute, wait.NeverStop)' \
    $'\tif len(m.cgroupsName) != 0 {\n\t\tgo wait.Until(m.doWork, 5*time.Minute, wait.NeverStop)\n\t}'
  (cd "$tmp/cri-dockerd-src" && nice -n 10 go build -ldflags "-s -w \
     -X github.com/Mirantis/cri-dockerd/cmd/version.Version=${CRI_DOCKERD_VERSION#v} \
     -X github.com/Mirantis/cri-dockerd/cmd/version.PreRelease=$CRI_DOCKERD_PATCH" -o "$tmp/cri-dockerd" .)
  mv "$tmp/cri-dockerd" "$bin/cri-dockerd"
fi

if [ ! -x "$bin/pause" ]; then
  log "building pause (build/pause/linux/pause.c of k8s.io/kubernetes $K8S_VERSION)"
  command -v gcc >/dev/null || { echo "deploy/k8s-testenv/build.sh: 'gcc' is needed to build the pod sandbox's pause binary (apt-get install gcc libc6-dev)" >&2; exit 1; }
  k8s_src="$(module_dir "$here" k8s.io/kubernetes)"
  [ -f "$k8s_src/build/pause/linux/pause.c" ] || { echo "deploy/k8s-testenv/build.sh: pause.c not found in k8s.io/kubernetes ($k8s_src)" >&2; exit 1; }
  # Static, like the upstream pause image: the sandbox image holds nothing else.
  gcc -Os -Wall -static -DVERSION="$K8S_VERSION-updraft" -o "$tmp/pause" "$k8s_src/build/pause/linux/pause.c"
  strip "$tmp/pause"
  mv "$tmp/pause" "$bin/pause"
fi

echo "$bin"
