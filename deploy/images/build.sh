#!/usr/bin/env bash
# Builds the step images locally, pulling nothing from a container registry:
#
#   deploy/images/build.sh [python|r|all]      (default: all)
#
#   updraft/step-python:<hash>  Debian bookworm, python3, /opt/venv with the pinned ML stack of
#                               python/requirements.txt (wheels from PyPI)
#   updraft/step-r:<hash>       Debian bookworm, r-base-core + r/debian-packages.txt
#   updraft/step-<name>:<hash>-steps-<steps hash> (+ :latest)  the same plus the repo's step programs
#                               steps/<name>/ at /steps/<name> (tests left out): a thin layer on
#                               top, so changing a step rebuilds in seconds, not minutes
#
# How: debootstrap a minimal bookworm rootfs from the Debian mirror apt already uses, install the
# packages inside it with chroot, run the image's smoke test inside it, tar it deterministically and
# `docker import` it. <hash> is the content hash of this script and the image's folder, so a changed
# definition is a new tag and an unchanged one is never rebuilt: a build is skipped when the tag
# exists, and `docker load`ed from ~/.cache/updraft/images/ when a tarball of it was saved before.
#
# Needs root (debootstrap, chroot) and a Docker daemon (DOCKER_HOST, e.g. from
# `eval "$(scripts/services/dockerd.sh start)"`). Progress goes to stderr; stdout gets one line per
# image: `<image>:<hash>`.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${HOME}/.cache/updraft/images"
DEBS_CACHE="${HOME}/.cache/updraft/debootstrap"
WORK_ROOT="${UPDRAFT_IMAGE_BUILD_DIR:-/tmp/updraft-image-build}"
SUITE=bookworm

log() { echo "[build.sh] $*" >&2; }
die() { echo "[build.sh] error: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root (debootstrap and chroot need it)"
command -v docker >/dev/null 2>&1 || die "the docker CLI is missing; run scripts/services/dockerd.sh start"
docker info >/dev/null 2>&1 \
  || die "no Docker daemon at ${DOCKER_HOST:-the default socket}; run: eval \"\$(scripts/services/dockerd.sh start)\""

image_hash() {
  # Content hash of the definition: this script plus every file of the image's folder (names too).
  local name="$1"
  (
    cd "$HERE"
    { echo build.sh; cat build.sh
      find "$name" -type f | LC_ALL=C sort | while read -r f; do echo "$f"; cat "$f"; done
    } | sha256sum | cut -c1-12
  )
}

# The Debian mirrors apt uses on this machine (deb822 .sources or one-line .list), so the build goes
# wherever apt already goes. $1: the suite to look for (bookworm, bookworm-security).
apt_mirror_for() {
  local suite="$1"
  {
    for f in /etc/apt/sources.list.d/*.sources; do
      [ -f "$f" ] || continue
      awk -v want="$suite" '
        function flush() { if (u != "" && index(s, " " want " ") > 0) print u; u = ""; s = "" }
        /^[[:space:]]*$/ { flush(); next }
        /^URIs:/ { u = $2 }
        /^Suites:/ { $1 = ""; s = $0 " " }
        END { flush() }
      ' "$f"
    done
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
      | awk -v want="$suite" '$1 == "deb" { i = 2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ } if ($(i+1) == want) print $i }'
  } | head -n1
}

debian_mirror() {
  local uri
  uri="$(apt_mirror_for "$SUITE")"
  echo "${uri:-http://deb.debian.org/debian}"
}

security_mirror() {
  local uri
  uri="$(apt_mirror_for "$SUITE-security")"
  echo "${uri:-http://deb.debian.org/debian-security}"
}

packages_of() { grep -v '^[[:space:]]*#' "$1" | tr -s ' \n' ' '; }

# Runs a command inside the rootfs with a clean environment (the host's PIP_* etc. stay out).
in_root() {
  chroot "$ROOT" /usr/bin/env -i \
    PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive "$@"
}

cleanup_mounts() {
  [ -n "${ROOT:-}" ] || return 0
  local m
  for m in $(awk -v d="$ROOT" 'index($2, d) == 1 { print $2 }' /proc/self/mounts | sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
}

# On any exit mid-build: unmount first, then remove the half-built tree without crossing into
# anything still mounted (--one-file-system), so a failed build never leaves gigabytes behind.
cleanup_build() {
  cleanup_mounts
  if [ -n "${BUILD_WORK:-}" ]; then rm -rf --one-file-system "$BUILD_WORK"; fi
}

build_rootfs() {
  local name="$1"
  local mirror security
  mirror="$(debian_mirror)"
  security="$(security_mirror)"
  if ! command -v debootstrap >/dev/null 2>&1; then
    log "installing debootstrap"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >&2
  fi
  mkdir -p "$DEBS_CACHE"
  log "debootstrap $SUITE from $mirror"
  debootstrap --variant=minbase --cache-dir="$DEBS_CACHE" "$SUITE" "$ROOT" "$mirror" >&2

  cat >"$ROOT/etc/apt/sources.list" <<EOF
deb $mirror $SUITE main
deb $mirror $SUITE-updates main
deb $security $SUITE-security main
EOF
  # No daemons start inside a build chroot.
  printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"
  chmod +x "$ROOT/usr/sbin/policy-rc.d"
  # Smaller image: no docs, man pages or locales beyond C.
  cat >"$ROOT/etc/dpkg/dpkg.cfg.d/01-updraft-nodoc" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
EOF
  cp /etc/resolv.conf "$ROOT/etc/resolv.conf"
  mount -t proc proc "$ROOT/proc"

  log "apt-get install $(packages_of "$HERE/$name/debian-packages.txt")"
  in_root apt-get update -qq >&2
  # shellcheck disable=SC2046
  in_root apt-get install -y -qq --no-install-recommends $(packages_of "$HERE/$name/debian-packages.txt") >&2

  case "$name" in
    python)
      log "pip install -r python/requirements.txt into /opt/venv"
      in_root /usr/bin/python3 -m venv /opt/venv
      cp "$HERE/python/requirements.txt" "$ROOT/tmp/requirements.txt"
      # The host's CA bundle is what makes PyPI reachable from this machine (it may sit behind a
      # TLS-inspecting proxy); it is used for the download only and is not left in the image.
      cp /etc/ssl/certs/ca-certificates.crt "$ROOT/tmp/host-ca.crt"
      in_root /opt/venv/bin/pip install -q --no-cache-dir --disable-pip-version-check \
        --cert /tmp/host-ca.crt --only-binary=:all: -r /tmp/requirements.txt >&2
      cp "$HERE/python/smoke-test.py" "$ROOT/tmp/smoke-test.py"
      log "smoke test: $(in_root /opt/venv/bin/python /tmp/smoke-test.py)"
      ;;
    r)
      cp "$HERE/r/smoke-test.R" "$ROOT/tmp/smoke-test.R"
      log "smoke test: $(in_root /usr/bin/Rscript /tmp/smoke-test.R)"
      ;;
  esac

  # Leave nothing host- or time-specific behind that a step could read.
  in_root apt-get clean
  rm -rf "$ROOT"/var/lib/apt/lists/* "$ROOT"/var/log/* "$ROOT"/var/cache/ldconfig/aux-cache \
    "$ROOT"/root/.cache "$ROOT"/usr/sbin/policy-rc.d
  find "$ROOT/tmp" -mindepth 1 -delete
  : >"$ROOT/etc/resolv.conf"
  echo updraft-step >"$ROOT/etc/hostname"
  mkdir -p "$ROOT/updraft"
  umount "$ROOT/proc"
}

image_changes() {
  local name="$1" hash="$2"
  local changes=(
    --change "ENV LANG=C.UTF-8"
    --change "LABEL org.opencontainers.image.source=updraft/deploy/images/$name updraft.image.hash=$hash"
    --change "WORKDIR /updraft"
    --change 'ENTRYPOINT ["/usr/bin/tini", "--"]'
  )
  case "$name" in
    python)
      changes+=(--change "ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        --change "ENV PYTHONUNBUFFERED=1"
        --change 'CMD ["python3"]')
      ;;
    r)
      changes+=(--change "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        --change 'CMD ["Rscript", "--version"]')
      ;;
  esac
  printf '%s\n' "${changes[@]}"
}

build_one() {
  local name="$1"
  [ -f "$HERE/$name/debian-packages.txt" ] || die "unknown image '$name' (expected python, r or all)"
  local hash repo tag tar
  hash="$(image_hash "$name")"
  repo="updraft/step-$name"
  tag="$repo:$hash"
  tar="$CACHE/step-$name-$hash.tar"
  mkdir -p "$CACHE"

  # One build per image at a time: a second caller waits and then finds the tag.
  exec 9>"$CACHE/.build-$name.lock"
  flock 9

  if docker image inspect "$tag" >/dev/null 2>&1; then
    log "$tag exists; skipping"
  elif [ -f "$tar" ]; then
    log "loading $tag from $tar"
    docker load -q -i "$tar" >&2
  else
    local started=$SECONDS
    local work="$WORK_ROOT/$name-$hash"
    ROOT="$work/rootfs"
    BUILD_WORK="$work"
    trap cleanup_build EXIT
    cleanup_build
    mkdir -p "$work"
    build_rootfs "$name"
    log "packing rootfs"
    # Sorted entries, fixed owner and mtime: the same tree gives the same tarball.
    tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
      --exclude=./proc/* --exclude=./sys/* --exclude=./dev/* \
      -C "$ROOT" -cf "$work/rootfs.tar" .
    local changes=()
    mapfile -t changes < <(image_changes "$name" "$hash")
    log "docker import as $tag"
    docker import "${changes[@]}" "$work/rootfs.tar" "$tag" >&2
    docker save -o "$tar.tmp" "$tag"
    mv "$tar.tmp" "$tar"
    # Older definitions' tarballs are dead weight (hundreds of MB each); keep only this one.
    find "$CACHE" -maxdepth 1 -name "step-$name-*.tar" ! -name "step-$name-$hash.tar" -delete
    cleanup_build
    BUILD_WORK=""
    trap - EXIT
    log "built $tag in $((SECONDS - started))s"
  fi
  local with_steps
  with_steps="$(add_steps "$name" "$tag")"
  docker tag "$with_steps" "$repo:latest"
  exec 9>&-
  echo "$with_steps"
}

# The step programs' content hash: every file add_steps copies (names too).
steps_hash() {
  local name="$1"
  (
    cd "$REPO"
    find "steps/$name" -type f ! -path '*/tests/*' ! -path '*/__pycache__/*' | LC_ALL=C sort \
      | while read -r f; do echo "$f"; cat "$f"; done | sha256sum | cut -c1-12
  )
}

# Copies steps/<name>/ (without tests) to /steps/<name> in a layer on top of the base image. The
# base keeps its config (entrypoint, env, workdir); `docker commit` only adds the files and a label.
add_steps() {
  local name="$1" base="$2"
  local shash tag cid
  [ -d "$REPO/steps/$name" ] || { echo "$base"; return 0; }
  shash="$(steps_hash "$name")"
  tag="$base-steps-$shash"
  if docker image inspect "$tag" >/dev/null 2>&1; then
    log "$tag exists; skipping"
  else
    cid="$(docker create "$base")"
    tar -C "$REPO" --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner \
      --exclude=tests --exclude=__pycache__ --exclude=.pytest_cache -cf - "steps/$name" \
      | docker cp - "$cid:/" >&2
    docker commit --change "LABEL updraft.steps.hash=$shash" "$cid" "$tag" >/dev/null
    docker rm "$cid" >/dev/null
    log "added steps/$name at /steps/$name: $tag"
    # Earlier steps layers of this base are dead weight (the daemon may store each as a full copy).
    local old
    for old in $(docker image ls --format '{{.Repository}}:{{.Tag}}' "${base%%:*}" | grep -F "$base-steps-" | grep -vxF "$tag"); do
      docker image rm "$old" >/dev/null 2>&1 && log "removed the older $old" || true
    done
  fi
  echo "$tag"
}

target="${1:-all}"
case "$target" in
  all) build_one python; build_one r ;;
  python|r) build_one "$target" ;;
  *) die "unknown image '$target' (expected python, r or all)" ;;
esac
