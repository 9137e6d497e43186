#!/usr/bin/env bash
# Makes the `temporal` CLI (dev server + Web UI) available, idempotently, and prints its path.
# Order: $UPDRAFT_TEMPORAL_CLI, `temporal` on PATH, the project's .tools/bin/temporal, else build it
# from source with `go install` (v1.5.1 is the newest tag without `replace` directives; needs Go >= 1.25).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
version="v1.5.1"
dest="$root/.tools/bin"

if [ -n "${UPDRAFT_TEMPORAL_CLI:-}" ] && [ -x "$UPDRAFT_TEMPORAL_CLI" ]; then echo "$UPDRAFT_TEMPORAL_CLI"; exit 0; fi
if command -v temporal >/dev/null 2>&1; then command -v temporal; exit 0; fi
if [ -x "$dest/temporal" ]; then echo "$dest/temporal"; exit 0; fi

if ! command -v go >/dev/null 2>&1; then
  echo "error: the temporal CLI is not installed and Go is not available to build it." >&2
  echo "  Install Go >= 1.25 (https://go.dev/doc/install), then re-run this command; or install the" >&2
  echo "  temporal CLI yourself and put it on PATH; or set TEMPORAL_ADDRESS to an existing server." >&2
  exit 1
fi
echo "[install-temporal] building temporal CLI $version from source into $dest (first time: a few minutes)..." >&2
mkdir -p "$dest"
GOBIN="$dest" GOFLAGS="${GOFLAGS:-} -trimpath" go install "github.com/temporalio/cli/cmd/temporal@$version" >&2
echo "$dest/temporal"
