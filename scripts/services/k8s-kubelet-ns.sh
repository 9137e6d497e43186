#!/usr/bin/env bash
# Runs the test cluster's kubelet (scripts/services/k8s.sh) in a mount namespace of its own, so that
# what it would change on the machine stays in the test cluster's state directory:
#
# - Kernel settings. At every start the kubelet rewrites, host-wide, each of KUBELET_SYSCTLS that
#   differs from what it wants (pkg/kubelet/cm/container_manager_linux.go, setupKernelTunables; its
#   only alternative, protectKernelDefaults, refuses to start). The machine is not ours to retune
#   (vm.overcommit_memory, kernel.panic_on_oops...), so in the namespace each differing /proc/sys file
#   is covered by a file holding the wanted value. Containers still run with the machine's settings.
# - Fixed host paths. /var/log (the kubelet's /var/log/containers symlinks) is a directory of the
#   state, and /var/lib an overlay whose writes land in the state: the device manager's socket is
#   always /var/lib/kubelet/device-plugins/kubelet.sock, which on a machine that is itself a
#   Kubernetes node belongs to the real kubelet.
#
# None of those mounts may reach the host. On machines whose mounts are shared (systemd's default),
# a mount made in a copy of a shared mount propagates back, so every mount of the namespace is made a
# slave first — except the kubelet's root directory: k8s.sh makes that a shared mount before this
# runs, so the volumes the kubelet mounts there (service-account tokens) do reach the host, where the
# Docker engine bind-mounts them into containers.
#
# Usage: k8s-kubelet-ns.sh <real-node state dir> <command> [args...]
#   <dir>/kubelet must be a shared mount; <dir>/{sysctl,var-log,var-lib} are created. Execs the
#   command (same pid), so k8s.sh's pid file names the kubelet.
set -euo pipefail

KUBELET_SYSCTLS="vm/overcommit_memory=1 vm/panic_on_oom=0 kernel/panic=10 kernel/panic_on_oops=1 kernel/keys/root_maxkeys=1000000 kernel/keys/root_maxbytes=25000000"

die() { echo "[k8s-kubelet-ns] error: $*" >&2; exit 1; }

[ $# -ge 2 ] || die "usage: $0 <real-node state dir> <command> [args...]"
d="$(cd "$1" && pwd)"
shift

if [ "${UPDRAFT_KUBELET_NS_INSIDE:-}" != 1 ]; then
  command -v unshare >/dev/null || die "unshare (util-linux) is required"
  command -v findmnt >/dev/null || die "findmnt (util-linux) is required"
  [ "$(findmnt -n -o TARGET --mountpoint "$d/kubelet" 2>/dev/null)" = "$d/kubelet" ] \
    || die "$d/kubelet is not a mount point (k8s.sh bind-mounts it onto itself and makes it shared)"
  # --propagation unchanged: unshare's default (private) would cut the kubelet root's copy off
  # from the host's; everything else is made a slave below.
  UPDRAFT_KUBELET_NS_INSIDE=1 exec unshare --mount --propagation unchanged -- bash "${BASH_SOURCE[0]}" "$d" "$@"
fi
unset UPDRAFT_KUBELET_NS_INSIDE

# Every mount of the namespace becomes a slave (receives the host's mounts, sends none), except the
# kubelet's root directory and what is mounted below it. Mount points are octal-escaped in
# mountinfo (\040 for a space); printf %b decodes that.
while read -r _ _ _ _ mp _; do
  mp="$(printf '%b' "$mp")"
  case "$mp" in "$d/kubelet" | "$d/kubelet/"*) continue ;; esac
  mount --make-slave "$mp" 2>/dev/null || true
done < /proc/self/mountinfo

# not_shared <target>: dies unless the mount holding <target> is not shared, i.e. a mount made on
# <target> cannot propagate to the host.
not_shared() {
  local parent
  parent="$(findmnt -n -o TARGET -T "$1")"
  if findmnt -n -o PROPAGATION --mountpoint "$parent" | grep -qw shared; then
    die "$parent is still a shared mount in the kubelet's namespace: mounting over $1 would change the host; not starting the kubelet"
  fi
}

mkdir -p "$d/sysctl" "$d/var-log" "$d/var-lib/upper" "$d/var-lib/work"
for kv in $KUBELET_SYSCTLS; do
  path="/proc/sys/${kv%%=*}"; want="${kv##*=}"
  [ -f "$path" ] || { echo "[k8s-kubelet-ns] warning: $path does not exist here" >&2; continue; }
  [ "$(cat "$path")" = "$want" ] && continue
  file="$d/sysctl/$(echo "${kv%%=*}" | tr / .)"
  echo "$want" > "$file"
  not_shared "$path"
  mount --bind "$file" "$path"
done
not_shared /var/log
mount --bind "$d/var-log" /var/log
not_shared /var/lib
if ! mount -t overlay overlay -o "lowerdir=/var/lib,upperdir=$d/var-lib/upper,workdir=$d/var-lib/work" /var/lib 2>/dev/null; then
  echo "[k8s-kubelet-ns] no overlayfs: /var/lib is an empty directory for the kubelet" >&2
  mount --bind "$d/var-lib/upper" /var/lib
fi
exec "$@"
