/**
 * What the embedded stack needs to know about other processes: is a pid still the process we
 * started (start time + command line, so a reused pid is not mistaken for it), and which process
 * listens on a TCP port. Linux reads /proc; elsewhere `ps` and `lsof`.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';

const HAS_PROC = fs.existsSync('/proc/self/stat');

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** An opaque token that changes when the pid is reused: the start time. Null if the process is gone. */
export function processStartTime(pid: number): string | null {
  if (HAS_PROC) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
      // Field 22 (starttime); the command name (field 2) may contain spaces, so count after its ')'.
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      return fields[19] ?? null;
    } catch {
      return null;
    }
  }
  return ps(pid, 'lstart=');
}

/** The process's command line as argv, or null if it is gone. */
export function processCommand(pid: number): string[] | null {
  if (HAS_PROC) {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
    } catch {
      return null;
    }
  }
  const line = ps(pid, 'command=');
  return line === null ? null : line.split(/\s+/);
}

function ps(pid: number, format: string): string | null {
  try {
    const out = execFileSync('ps', ['-o', format, '-p', String(pid)], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim();
    return out === '' ? null : out;
  } catch {
    return null;
  }
}

/** Socket inodes listening on `port` (any local address), from /proc/net/tcp{,6}. */
function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      // cols: sl, local_address, rem_address, st, tx:rx, tr:tm, retrnsmt, uid, timeout, inode
      if (cols.length < 10 || cols[3] !== '0A') continue;
      if (cols[1]!.split(':')[1] === hexPort) inodes.add(cols[9]!);
    }
  }
  return inodes;
}

function socketInodesOf(pid: number): Set<string> | null {
  let fds: string[];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return null;
  }
  const inodes = new Set<string>();
  for (const fd of fds) {
    try {
      const m = /^socket:\[(\d+)\]$/.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m) inodes.add(m[1]!);
    } catch {
      // fd closed meanwhile
    }
  }
  return inodes;
}

/**
 * Whether `pid` is listening on `port`: true, false, or null where this system cannot tell
 * (no /proc and no lsof).
 */
export function listensOn(pid: number, port: number): boolean | null {
  if (HAS_PROC) {
    const listening = listeningInodes(port);
    if (listening.size === 0) return false;
    const own = socketInodesOf(pid);
    return own !== null && [...listening].some((i) => own.has(i));
  }
  const pids = lsofListeners(port);
  return pids === null ? null : pids.includes(pid);
}

/** The pids listening on `port` that this user can see; null where this system cannot tell. */
export function portListeners(port: number): number[] | null {
  if (HAS_PROC) {
    const listening = listeningInodes(port);
    if (listening.size === 0) return [];
    const pids: number[] = [];
    for (const entry of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      const own = socketInodesOf(Number(entry));
      if (own && [...listening].some((i) => own.has(i))) pids.push(Number(entry));
    }
    return pids;
  }
  return lsofListeners(port);
}

function lsofListeners(port: number): number[] | null {
  try {
    const out = execFileSync('lsof', ['-nP', `-iTCP:${port}`, '-sTCP:LISTEN', '-t'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    return out.split('\n').filter(Boolean).map(Number);
  } catch (err) {
    // lsof exits 1 when nothing matches; ENOENT when it is not installed.
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? null : [];
  }
}

/** "pid 123 (temporal server start-dev ...)" for each listener, for error messages. */
export function describePortListeners(port: number): string {
  const pids = portListeners(port);
  if (pids === null) return 'another process';
  if (pids.length === 0) return 'a process of another user';
  return pids
    .map((pid) => {
      const cmd = processCommand(pid);
      const text = cmd ? cmd.join(' ') : '';
      return `pid ${pid}${text ? ` (${text.length > 120 ? `${text.slice(0, 117)}...` : text})` : ''}`;
    })
    .join(', ');
}
