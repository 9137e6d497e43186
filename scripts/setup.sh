#!/usr/bin/env bash
# Installs what Updraft needs to run, idempotently: npm dependencies, the compiled code, and the
# temporal CLI. Used by `make demo` and `make test`.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "[setup] npm ci" >&2
  npm ci --no-audit --no-fund >&2
fi
echo "[setup] building (tsc)" >&2
npm run --silent build >&2
bash scripts/install-temporal.sh >/dev/null
