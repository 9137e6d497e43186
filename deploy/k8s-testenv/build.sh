#!/usr/bin/env bash
# Builds the Kubernetes test environment's binaries from the Go module proxy only (no release
# downloads, no images): kube-apiserver, kube-controller-manager, kube-scheduler and etcd 3.5 from
# this wrapper module, and kwok from its own module (kept apart so its newer dependencies cannot
# move the control plane's). Idempotent: a binary that already exists is not rebuilt.
#
# Usage: deploy/k8s-testenv/build.sh   -> prints the bin directory on stdout, progress on stderr.
# Cold build on 2 cores: ~18 min measured; see docs/kubernetes.md ("The test cluster").
set -euo pipefail

K8S_VERSION=v1.33.13
KWOK_VERSION=v0.7.0
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bin="${UPDRAFT_K8S_TESTENV_BIN:-$HOME/.cache/updraft/k8s-testenv/$K8S_VERSION/bin}"
log() { echo "[k8s-testenv] $*" >&2; }

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
for c in kube-apiserver kube-controller-manager kube-scheduler; do
  [ -x "$bin/$c" ] || missing+=("k8s.io/kubernetes/cmd/$c")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "building ${missing[*]##*/} $K8S_VERSION (cold: ~20 min on 2 cores)"
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

echo "$bin"
