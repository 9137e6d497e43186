#!/usr/bin/env bash
# Makes the `temporal` CLI (dev server + Web UI) available, idempotently, and prints its path.
# Order: $UPDRAFT_TEMPORAL_CLI, `temporal` on PATH, the project's .tools/bin/temporal, the copy
# cached for every clone on this machine ($XDG_CACHE_HOME or ~/.cache, under updraft/temporal/<version>/),
# else build it from source with `go install` (v1.5.1 is the newest tag without `replace` directives;
# needs Go >= 1.25), cache it, and copy it into .tools/bin.
#   UPDRAFT_CACHE_DIR                   the cache folder (default ${XDG_CACHE_HOME:-~/.cache}/updraft)
#   UPDRAFT_PROGRESS_INTERVAL_SECONDS   how often a build says it is still going (default 15)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version="v1.5.1"
dest="$root/.tools/bin"
cache="${UPDRAFT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/updraft}/temporal/$version"
every="${UPDRAFT_PROGRESS_INTERVAL_SECONDS:-15}"
say() { echo "[install-temporal] $*" >&2; }

if [ -n "${UPDRAFT_TEMPORAL_CLI:-}" ] && [ -x "$UPDRAFT_TEMPORAL_CLI" ]; then echo "$UPDRAFT_TEMPORAL_CLI"; exit 0; fi
if command -v temporal >/dev/null 2>&1; then command -v temporal; exit 0; fi
if [ -x "$dest/temporal" ]; then echo "$dest/temporal"; exit 0; fi

# A hard link where the cache and the clone share a file system, else a copy: the clone keeps
# working if the cache is cleared.
install_from_cache() {
  mkdir -p "$dest"
  local tmp="$dest/.temporal.$$"
  ln -f "$cache/temporal" "$tmp" 2>/dev/null || cp "$cache/temporal" "$tmp"
  mv -f "$tmp" "$dest/temporal"
  echo "$dest/temporal"
}

if [ -x "$cache/temporal" ]; then
  say "using the temporal CLI $version built earlier on this machine ($cache/temporal)"
  install_from_cache
  exit 0
fi

if ! command -v go >/dev/null 2>&1; then
  echo "error: the temporal CLI is not installed and Go is not available to build it." >&2
  echo "  Install Go >= 1.25 (https://go.dev/doc/install), then re-run this command; or install the" >&2
  echo "  temporal CLI yourself and put it on PATH; or set TEMPORAL_ADDRESS to an existing server." >&2
  exit 1
fi

say "building the temporal CLI $version from source with Go (github.com/temporalio/cli)."
say "The first build on a machine takes about 5-10 minutes (downloading and compiling Temporal's server);"
say "it is cached in $cache, so later clones and runs take seconds."
mkdir -p "$(dirname "$cache")"
build="$(mktemp -d "$(dirname "$cache")/build.XXXXXX")"
trap 'rm -rf "$build"' EXIT
GOBIN="$build" GOFLAGS="${GOFLAGS:-} -trimpath" go install "github.com/temporalio/cli/cmd/temporal@$version" >&2 &
pid=$!
trap 'kill "$pid" 2>/dev/null; rm -rf "$build"' EXIT
start=$SECONDS
next=$every
while kill -0 "$pid" 2>/dev/null; do
  sleep 1
  elapsed=$((SECONDS - start))
  if [ "$elapsed" -ge "$next" ] && kill -0 "$pid" 2>/dev/null; then
    say "still building the temporal CLI $version: $((elapsed / 60))m$(printf '%02d' $((elapsed % 60)))s elapsed (a first build takes about 5-10 minutes)"
    next=$((next + every))
  fi
done
status=0
wait "$pid" || status=$?
trap 'rm -rf "$build"' EXIT
if [ "$status" -ne 0 ] || [ ! -x "$build/temporal" ]; then
  echo "error: building the temporal CLI $version failed (go install exited $status; its output is above)." >&2
  echo "  Check Go >= 1.25 and network access to proxy.golang.org, or install the temporal CLI yourself and put it on PATH." >&2
  exit 1
fi
mkdir -p "$cache"
# A rename within one file system: another clone building at the same time never sees half a file.
mv -f "$build/temporal" "$cache/temporal"
say "built in $(( (SECONDS - start) / 60 ))m$(printf '%02d' $(( (SECONDS - start) % 60 )))s; cached in $cache"
install_from_cache
