/**
 * scripts/services/k8s-kubelet-ns.sh, the mount namespace the test cluster's real kubelet runs in:
 * the kubelet sees the kernel settings it insists on and its own /var/lib and /var/log, while the
 * machine keeps its settings and paths — also where the machine's mounts are shared (systemd's
 * default), where a careless namespace leaks every mount back to the host. The volumes the kubelet
 * mounts under its root directory must still reach the host, where the Docker engine reads them.
 *
 * The "host" is a mount namespace of the test's own with every mount shared (cut off from the real
 * machine first, so even a broken script could not change it), and the kubelet a shell that reports
 * what it sees and mounts a volume the way the kubelet mounts a service-account token. It never
 * writes a sysctl or into /var: a leak shows as a mount on the host side, nothing more.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { expect } from 'chai';
import { ROOT } from '../helpers/cli.js';
import { tempDir } from '../helpers/servers.js';

const NS_SCRIPT = path.join(ROOT, 'scripts', 'services', 'k8s-kubelet-ns.sh');
/** What the kubelet wants (pkg/kubelet/cm/container_manager_linux.go, setupKernelTunables). */
const KUBELET_WANTS: Record<string, string> = {
  'vm/overcommit_memory': '1',
  'vm/panic_on_oom': '0',
  'kernel/panic': '10',
  'kernel/panic_on_oops': '1',
  'kernel/keys/root_maxkeys': '1000000',
  'kernel/keys/root_maxbytes': '25000000',
};
const SYSCTLS = Object.keys(KUBELET_WANTS);

/**
 * Runs in a private copy of the machine's mounts made rshared: $1 state dir, $2 how the "kubelet"
 * is started. Writes host-side observations to files in the state dir.
 */
const HOST = String.raw`
set -euo pipefail
d="$1"; launch="$2"
mount --make-rshared /
findmnt -n -o PROPAGATION --mountpoint / > "$d/host-root-propagation"
mkdir -p "$d/kubelet"
mount --bind "$d/kubelet" "$d/kubelet"
mount --make-shared "$d/kubelet"
KUBELET='
  d="$0"
  for f in $SYSCTLS; do echo "$f=$(cat /proc/sys/$f)"; done > "$d/kubelet-sysctls"
  findmnt -n -o FSTYPE --mountpoint /var/lib > "$d/kubelet-var-lib" || true
  v="$d/kubelet/pods/p1/volumes/kubernetes.io~projected/token"
  mkdir -p "$v" && mount -t tmpfs tmpfs "$v" && echo from-the-kubelet > "$v/token"
'
case "$launch" in
  script) bash "$NS_SCRIPT" "$d" bash -c "$KUBELET" "$d" ;;
  # What the script guards against: a namespace that keeps the host's propagation and mounts away.
  naive) unshare --mount --propagation unchanged -- bash -c 'mount --bind "$1/var-log" /var/log; bash -c "$2" "$1"' naive "$d" "$KUBELET" ;;
esac
for f in $SYSCTLS; do echo "$f=$(cat /proc/sys/$f)"; done > "$d/host-sysctls"
findmnt -rn -o TARGET > "$d/host-mounts"
cat "$d/kubelet/pods/p1/volumes/kubernetes.io~projected/token/token" > "$d/host-token" 2>/dev/null || true
`;

function readSysctls(): Record<string, string> {
  return Object.fromEntries(SYSCTLS.map((s) => [s, fs.readFileSync(`/proc/sys/${s}`, 'utf8').trim()]));
}

function parseSysctls(text: string): Record<string, string> {
  return Object.fromEntries(
    text
      .trim()
      .split('\n')
      .map((l) => l.split('=') as [string, string]),
  );
}

describe("scripts/services/k8s-kubelet-ns.sh (the real node kubelet's mount namespace)", function () {
  this.timeout(30_000);
  const dirs: string[] = [];

  before(function () {
    if (process.getuid?.() !== 0)
      throw new Error(
        'this test makes mount namespaces and needs root, like the real node itself (scripts/services/k8s.sh)',
      );
  });

  after(() => {
    for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
  });

  /** Runs HOST in a fresh rshared mount namespace; returns the state dir with its observations. */
  function runOnSharedHost(launch: 'script' | 'naive'): string {
    const d = tempDir('kubelet-ns');
    dirs.push(d);
    fs.mkdirSync(path.join(d, 'var-log'));
    // --propagation private: the stand-in host is cut off from the real machine's mounts first.
    const r = spawnSync(
      'unshare',
      ['--mount', '--propagation', 'private', '--', 'bash', '-c', HOST, 'host', d, launch],
      {
        env: { ...process.env, NS_SCRIPT, SYSCTLS: SYSCTLS.join(' ') },
        encoding: 'utf8',
      },
    );
    expect(r.status, `${r.stdout}\n${r.stderr}`).to.equal(0);
    expect(fs.readFileSync(path.join(d, 'host-root-propagation'), 'utf8')).to.match(/shared/);
    return d;
  }

  const hostMounts = (d: string): string[] => fs.readFileSync(path.join(d, 'host-mounts'), 'utf8').trim().split('\n');

  it('gives the kubelet its sysctls, /var/lib and /var/log while the host keeps its own, and its volumes reach the host', () => {
    const before = readSysctls();
    const d = runOnSharedHost('script');

    // Inside: exactly what the kubelet wants, so it has nothing to rewrite; /var/lib a mount of its
    // own (an overlay where the kernel has overlayfs).
    expect(parseSysctls(fs.readFileSync(path.join(d, 'kubelet-sysctls'), 'utf8'))).to.deep.equal(KUBELET_WANTS);
    const varLib = fs.readFileSync(path.join(d, 'kubelet-var-lib'), 'utf8').trim();
    if (/\toverlay$/m.test(fs.readFileSync('/proc/filesystems', 'utf8'))) expect(varLib).to.equal('overlay');
    else expect(varLib).to.not.equal('');
    // Outside: nothing of that, on the stand-in host or the machine.
    expect(parseSysctls(fs.readFileSync(path.join(d, 'host-sysctls'), 'utf8'))).to.deep.equal(before);
    expect(readSysctls()).to.deep.equal(before);
    const mounts = hostMounts(d);
    expect(mounts.filter((m) => m.startsWith('/proc/sys/') || m === '/var/lib' || m === '/var/log')).to.deep.equal([]);
    // The volume mounted under the kubelet's root directory is on the host, with its content.
    expect(mounts).to.include(path.join(d, 'kubelet/pods/p1/volumes/kubernetes.io~projected/token'));
    expect(fs.readFileSync(path.join(d, 'host-token'), 'utf8').trim()).to.equal('from-the-kubelet');
    // The files the kubelet sees in place of the sysctls it would rewrite.
    const shielded = SYSCTLS.filter((s) => before[s] !== KUBELET_WANTS[s]).map((s) => s.replaceAll('/', '.'));
    expect(fs.readdirSync(path.join(d, 'sysctl')).sort()).to.deep.equal(shielded.sort());
  });

  it("(the check above can fail: a namespace that keeps the host's propagation leaks its /var/log mount to the host)", () => {
    const d = runOnSharedHost('naive');
    expect(hostMounts(d)).to.include('/var/log');
  });
});
