#!/usr/bin/env bash
# Sets up what the ML steps (steps/) need on this machine, for the process runtime and the tests:
#
#   steps/setup-venv.sh [--no-r] [VENV_DIR]
#
# - a Python venv with the pinned lock steps/python/requirements.txt (+ requirements-test.txt),
#   wheels from PyPI. Cached by content: ~/.cache/updraft/step-venvs/<python>-<hash of the lock>
#   (or VENV_DIR / $UPDRAFT_STEPS_VENV), stamped when complete, so a second run returns at once and
#   a changed lock builds a new venv. <repo>/.updraft/venv links to it.
# - Rscript with jsonlite, curl and digest (the R helper's S3 client): when missing and running as
#   root on Debian/Ubuntu, installs r-base-core r-cran-jsonlite r-cran-curl r-cran-digest with
#   apt-get; otherwise says how and fails (--no-r skips this).
#
# Progress goes to stderr; stdout gets one line: the venv's directory.
#   UPDRAFT_PYTHON   the interpreter to build the venv from (default python3; 3.11 or newer)
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
log() { echo "[setup-venv] $*" >&2; }
die() { echo "[setup-venv] error: $*" >&2; exit 1; }

check_r=1
venv=""
for arg in "$@"; do
  case "$arg" in
    --no-r) check_r=0 ;;
    -h|--help) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) die "unknown option '$arg' (expected --no-r or a venv directory)" ;;
    *) venv="$arg" ;;
  esac
done

python="${UPDRAFT_PYTHON:-python3}"
command -v "$python" >/dev/null 2>&1 || die "'$python' not found: install Python 3.11+ (Debian: apt-get install python3 python3-venv) or set UPDRAFT_PYTHON"
pyver="$("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' \
  || die "$python is Python $pyver; the pinned ML stack needs 3.11 or newer (set UPDRAFT_PYTHON)"

lock_files=("$HERE/python/requirements.txt" "$HERE/python/requirements-test.txt")
hash="$(cat "${lock_files[@]}" | sha256sum | cut -c1-12)"
venv="${venv:-${UPDRAFT_STEPS_VENV:-$HOME/.cache/updraft/step-venvs/py$pyver-$hash}}"
stamp="$venv/.updraft-lock-hash"

mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9   # a second caller waits, then finds the stamp

if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ] && "$venv/bin/python" -c '' 2>/dev/null; then
  log "venv ready: $venv (lock $hash)"
else
  started=$SECONDS
  rm -rf "$venv"
  if ! "$python" -m venv "$venv" >&2 2>/dev/null; then
    rm -rf "$venv"
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      log "installing python3-venv (apt-get)"
      apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-venv >&2
      "$python" -m venv "$venv" >&2
    else
      die "'$python -m venv' failed: install the venv module (Debian: apt-get install python3-venv)"
    fi
  fi
  log "pip install the pinned lock into $venv (wheels from PyPI; about a minute)"
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --only-binary=:all: \
    -r "$HERE/python/requirements.txt" -r "$HERE/python/requirements-test.txt" >&2 \
    || { rm -rf "$venv"; die "pip install failed (see above); is PyPI reachable?"; }
  echo "$hash" > "$stamp"
  log "venv built in $((SECONDS - started))s: $venv"
fi
exec 9>&-

# The repo-local name the docs use; a link, so `make clean` never deletes the cache.
if [ -z "${UPDRAFT_STEPS_VENV:-}" ] && [ "$venv" != "$ROOT/.updraft/venv" ]; then
  mkdir -p "$ROOT/.updraft"
  ln -sfn "$venv" "$ROOT/.updraft/venv"
fi

if [ "$check_r" = 1 ]; then
  if ! command -v Rscript >/dev/null 2>&1 || ! Rscript -e 'library(jsonlite); library(curl); library(digest)' >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
      log "installing R: r-base-core r-cran-jsonlite r-cran-curl r-cran-digest (apt-get, Debian packages)"
      apt-get update -qq >&2
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends r-base-core r-cran-jsonlite r-cran-curl r-cran-digest >&2
    else
      die "Rscript with the jsonlite, curl and digest packages is needed for the R steps: Debian/Ubuntu: sudo apt-get install r-base-core r-cran-jsonlite r-cran-curl r-cran-digest; macOS: brew install r && Rscript -e 'install.packages(c(\"jsonlite\", \"curl\", \"digest\"))'; or pass --no-r"
    fi
  fi
  log "R ready: $(Rscript -e 'cat(R.version.string, "jsonlite", as.character(packageVersion("jsonlite")))' 2>/dev/null)"
fi
echo "$venv"
