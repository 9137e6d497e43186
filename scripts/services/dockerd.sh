#!/usr/bin/env bash
# A private Docker daemon for tests and local runs: `dockerd.sh start|stop`.
#
# Everything lives under ${UPDRAFT_SERVICES_DIR:-/tmp/updraft-services}/dockerd/ (data root, exec
# root, pidfile, unix socket), never /var/run/docker.sock, so it cannot collide with a system daemon.
# The daemon uses overlay2 where the kernel has overlayfs (a container starts in under a second) and
# falls back to vfs otherwise (it copies the whole image per container: ~1 min for a 650 MB image);
# UPDRAFT_DOCKER_STORAGE_DRIVER=vfs|overlay2 forces one. No bridge/iptables: it works inside VMs and
# containers without overlayfs or netfilter; containers therefore get NetworkMode "none" by default.
#
# `start` also makes sure the tiny test image updraft/test-busybox:latest exists. It is built
# locally (FROM scratch + Debian's statically linked busybox) and never pulled; its tarball is cached
# under ~/.cache/updraft/images/ so re-runs only `docker load` it.
#
# stdout carries only `export VAR=value` lines; progress goes to stderr.
set -euo pipefail

NAME=dockerd
DIR="${UPDRAFT_SERVICES_DIR:-/tmp/updraft-services}/$NAME"
SOCK="$DIR/docker.sock"
# dockerd's own pidfile (it refuses to start while that names a live process) and ours, written
# by this script as soon as the daemon is launched so readiness waits can notice an early exit.
DOCKERD_PIDFILE="$DIR/dockerd.pid"
PIDFILE="$DIR/launcher.pid"
LOG="$DIR/dockerd.log"
CACHE="${HOME}/.cache/updraft/images"
TEST_IMAGE="updraft/test-busybox:latest"
# Bump when the way the test image is built changes, so a stale cached tarball is not reused.
TEST_IMAGE_REV=1
TEST_IMAGE_TAR="$CACHE/test-busybox-r$TEST_IMAGE_REV.tar"

log() { echo "[dockerd.sh] $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
docker_cli() { DOCKER_HOST="unix://$SOCK" docker "$@"; }

running_pid() {
  [ -f "$PIDFILE" ] || return 1
  local pid
  pid="$(cat "$PIDFILE" 2>/dev/null || true)"
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

ensure_installed() {
  if command -v dockerd >/dev/null 2>&1 && command -v docker >/dev/null 2>&1; then return; fi
  log "installing docker.io from Debian"
  as_root apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq docker.io >&2
}

wait_ready() {
  local i
  for i in $(seq 1 120); do
    if docker_cli info >/dev/null 2>&1; then return 0; fi
    if ! running_pid >/dev/null; then
      log "dockerd exited during start; last log lines:"
      tail -n 30 "$LOG" >&2 || true
      return 1
    fi
    sleep 0.5
  done
  log "dockerd did not answer on $SOCK within 60s; last log lines:"
  tail -n 30 "$LOG" >&2 || true
  return 1
}

launch_daemon() { # launch_daemon <storage driver>; each driver keeps its own data root
  local driver="$1"
  mkdir -p "$DIR/data-$driver" "$DIR/exec"
  rm -f "$SOCK" "$PIDFILE" "$DOCKERD_PIDFILE"
  log "starting dockerd with the $driver storage driver (state in $DIR)"
  # setsid: the daemon must outlive this script and not get the caller's terminal signals.
  setsid dockerd \
    --host "unix://$SOCK" \
    --data-root "$DIR/data-$driver" \
    --exec-root "$DIR/exec" \
    --pidfile "$DOCKERD_PIDFILE" \
    --storage-driver="$driver" \
    --bridge=none --iptables=false --ip6tables=false \
    >"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  wait_ready
}

start_daemon() {
  if running_pid >/dev/null && docker_cli info >/dev/null 2>&1; then
    log "already running (socket $SOCK)"
    return
  fi
  local driver="${UPDRAFT_DOCKER_STORAGE_DRIVER:-auto}"
  if [ "$driver" = auto ]; then
    if grep -qw overlay /proc/filesystems 2>/dev/null; then
      if launch_daemon overlay2; then log "ready"; return; fi
      log "overlay2 did not work here; falling back to vfs"
      stop_daemon >/dev/null 2>&1 || true
    fi
    driver=vfs
  fi
  launch_daemon "$driver"
  log "ready"
}

# Builds the busybox rootfs from the busybox-static .deb without installing it on the host.
build_test_image_tar() {
  local work
  work="$(mktemp -d)"
  log "building $TEST_IMAGE from Debian busybox-static"
  if ! (cd "$work" && apt-get download busybox-static >&2 2>/dev/null); then
    as_root apt-get update -qq >&2
    (cd "$work" && apt-get download busybox-static >&2)
  fi
  dpkg-deb -x "$work"/busybox-static_*.deb "$work/pkg"
  local root="$work/rootfs"
  mkdir -p "$root/bin" "$root/tmp" "$root/etc" "$root/proc" "$root/sys" "$root/dev" "$root/updraft"
  chmod 1777 "$root/tmp"
  cp "$work/pkg/bin/busybox" "$root/bin/busybox"
  local applet
  for applet in $("$root/bin/busybox" --list); do
    [ "$applet" = busybox ] || ln -sf busybox "$root/bin/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' >"$root/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"
  # A deterministic tarball (sorted, fixed owner and mtime) gives the same image on every machine.
  tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$root" -cf "$work/rootfs.tar" .
  docker_cli import \
    --change 'ENV PATH=/bin' \
    --change 'CMD ["/bin/sh"]' \
    "$work/rootfs.tar" "$TEST_IMAGE" >&2
  mkdir -p "$CACHE"
  docker_cli save -o "$TEST_IMAGE_TAR.tmp" "$TEST_IMAGE"
  mv "$TEST_IMAGE_TAR.tmp" "$TEST_IMAGE_TAR"
  rm -rf "$work"
}

ensure_test_image() {
  if docker_cli image inspect "$TEST_IMAGE" >/dev/null 2>&1; then return; fi
  if [ -f "$TEST_IMAGE_TAR" ]; then
    log "loading $TEST_IMAGE from $TEST_IMAGE_TAR"
    docker_cli load -q -i "$TEST_IMAGE_TAR" >&2
    return
  fi
  build_test_image_tar
}

stop_daemon() {
  local pid
  if pid="$(running_pid)"; then
    # Containers first, so the daemon does not wait on them and no runc processes are left behind.
    local ids
    ids="$(docker_cli ps -aq 2>/dev/null || true)"
    if [ -n "$ids" ]; then docker_cli rm -f $ids >/dev/null 2>&1 || true; fi
    log "stopping dockerd (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    local i
    for i in $(seq 1 60); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
      log "dockerd did not exit within 30s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  if [ -d "$DIR" ]; then
    # Leftover mounts (container shm, netns) would make rm fail; unmount deepest first.
    local m
    for m in $(awk -v d="$DIR" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r); do
      as_root umount -l "$m" 2>/dev/null || true
    done
    rm -rf "$DIR"
  fi
  log "stopped"
}

case "${1:-}" in
  start)
    ensure_installed
    start_daemon
    ensure_test_image
    echo "export DOCKER_HOST=unix://$SOCK"
    ;;
  stop)
    stop_daemon
    ;;
  *)
    echo "usage: $0 start|stop" >&2
    exit 2
    ;;
esac
