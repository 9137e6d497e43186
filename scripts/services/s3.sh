#!/usr/bin/env bash
# A throwaway S3-compatible object store for the artifact-store tests: `s3.sh start|stop`.
#
# The server is versitygw (github.com/versity/versitygw, Apache-2.0) with its posix backend: a real
# S3 API (SigV4 auth, buckets, objects, HEAD, ranges, checksums) over a directory. Its binary is
# built once from the Go module proxy (`go install ...@v1.8.0`, a few minutes on 2 cores) and
# cached under ~/.cache/updraft/versitygw/<version>/. State (objects, metadata sidecar, log, pid,
# port, keys) lives under ${UPDRAFT_SERVICES_DIR:-/tmp/updraft-services}/s3/; it listens on
# 127.0.0.1 only, on a free port, with random root keys, and one bucket is created for the tests.
#
# stdout carries only `export VAR=value` lines; progress goes to stderr.
set -euo pipefail

NAME=s3
VERSION="${UPDRAFT_VERSITYGW_VERSION:-v1.8.0}"
CACHE="${HOME}/.cache/updraft/versitygw/$VERSION"
BIN="$CACHE/versitygw"
DIR="${UPDRAFT_SERVICES_DIR:-/tmp/updraft-services}/$NAME"
BUCKET=updraft-test
REGION=us-east-1

log() { echo "[s3.sh] $*" >&2; }
die() { echo "[s3.sh] error: $*" >&2; exit 1; }

free_port() {
  node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})"
}

ensure_built() {
  [ -x "$BIN" ] && return 0
  command -v go >/dev/null || [ -x /usr/local/go/bin/go ] || die "Go is needed to build versitygw $VERSION once (install Go 1.24+ and run again)"
  local gobin
  gobin="$(command -v go || echo /usr/local/go/bin/go)"
  log "building versitygw $VERSION from the Go module proxy into $CACHE (first time only; minutes)"
  mkdir -p "$CACHE"
  # Build into a temporary GOBIN, then rename: a half-built binary is never mistaken for a cached one.
  local tmp
  tmp="$(mktemp -d "$CACHE/.build.XXXXXX")"
  if ! GOBIN="$tmp" GOFLAGS=-trimpath GOTOOLCHAIN=local "$gobin" install "github.com/versity/versitygw/cmd/versitygw@$VERSION" >&2; then
    rm -rf "$tmp"
    die "go install github.com/versity/versitygw/cmd/versitygw@$VERSION failed (output above)"
  fi
  mv "$tmp/versitygw" "$BIN"
  rm -rf "$tmp"
}

is_running() {
  [ -f "$DIR/pid" ] || return 1
  local pid
  pid="$(cat "$DIR/pid")"
  # Only the process this script started, while its command line still names versitygw.
  tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q versitygw
}

print_env() {
  echo "export UPDRAFT_TEST_S3_ENDPOINT=http://127.0.0.1:$(cat "$DIR/port")"
  echo "export UPDRAFT_TEST_S3_ACCESS_KEY_ID=$(cat "$DIR/access")"
  echo "export UPDRAFT_TEST_S3_SECRET_ACCESS_KEY=$(cat "$DIR/secret")"
  echo "export UPDRAFT_TEST_S3_BUCKET=$BUCKET"
  echo "export UPDRAFT_TEST_S3_REGION=$REGION"
}

# s3_request <method> <path>: a SigV4-signed request with the root keys; prints the HTTP status.
s3_request() {
  # Bodyless requests: the payload hash is that of the empty string.
  curl -s -o /dev/null -w '%{http_code}' -X "$1" --aws-sigv4 "aws:amz:$REGION:s3" \
    -H 'x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855' \
    --user "$(cat "$DIR/access"):$(cat "$DIR/secret")" "http://127.0.0.1:$(cat "$DIR/port")$2" || true
}

start_server() {
  if is_running; then
    log "already running on 127.0.0.1:$(cat "$DIR/port")"
    return
  fi
  rm -rf "$DIR"
  mkdir -p "$DIR/data" "$DIR/sidecar"
  chmod 700 "$DIR"
  od -An -tx1 -N10 /dev/urandom | tr -d ' \n' > "$DIR/access"
  od -An -tx1 -N20 /dev/urandom | tr -d ' \n' > "$DIR/secret"
  local attempt port pid
  for attempt in 1 2 3 4 5; do
    port="$(free_port)"
    echo "$port" > "$DIR/port"
    log "starting versitygw $VERSION on 127.0.0.1:$port (state in $DIR)"
    # Keys go through the environment, not argv, so other users cannot read them from ps.
    ROOT_ACCESS_KEY_ID="$(cat "$DIR/access")" ROOT_SECRET_ACCESS_KEY="$(cat "$DIR/secret")" \
      setsid nohup "$BIN" --port "127.0.0.1:$port" --region "$REGION" --quiet \
      posix --sidecar "$DIR/sidecar" "$DIR/data" > "$DIR/versitygw.log" 2>&1 < /dev/null &
    pid=$!
    echo "$pid" > "$DIR/pid"
    for _ in $(seq 1 100); do
      kill -0 "$pid" 2>/dev/null || break
      # Any HTTP answer means it is listening (an unsigned list is refused, which is fine).
      if [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/" || true)" != 000 ]; then return; fi
      sleep 0.1
    done
    if grep -q 'address already in use' "$DIR/versitygw.log" 2>/dev/null; then
      log "port $port was taken meanwhile; retrying (attempt $attempt)"
      continue
    fi
    tail -n 20 "$DIR/versitygw.log" >&2 || true
    kill "$pid" 2>/dev/null || true
    die "versitygw did not start (log above)"
  done
  die "could not find a free port after 5 attempts"
}

ensure_bucket() {
  local status
  status="$(s3_request HEAD "/$BUCKET")"
  [ "$status" = 200 ] && return
  status="$(s3_request PUT "/$BUCKET")"
  [ "$status" = 200 ] || die "creating bucket $BUCKET answered HTTP $status (log: $DIR/versitygw.log)"
  log "created bucket $BUCKET"
}

stop_server() {
  if is_running; then
    local pid
    pid="$(cat "$DIR/pid")"
    log "stopping versitygw (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -rf "$DIR"
  log "stopped"
}

case "${1:-}" in
  start)
    command -v curl >/dev/null || die "curl is needed (apt-get install curl)"
    ensure_built
    start_server
    ensure_bucket
    log "ready"
    print_env
    ;;
  stop)
    stop_server
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
