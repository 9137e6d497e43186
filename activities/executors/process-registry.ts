/**
 * What the operating system knows about a task's process group: reading /proc, telling whether a
 * heartbeated process is still the same process, and killing a whole group (TERM, then KILL).
 *
 * Linux only for the identity checks (/proc/<pid>/stat); without /proc, liveness falls back to
 * `kill(-pgid, 0)` and identity cannot be proven, so nothing found by a handle is ever killed.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { hostname } from 'node:os';
import type { ExecutorHandle } from './types.js';

/** The fields of /proc/<pid>/stat the executor needs. */
export interface ProcStat {
  pid: number;
  /** Field 3: R, S, D, Z (zombie), X (dead), ... */
  state: string;
  ppid: number;
  /** Field 5: the process group id. */
  pgrp: number;
  /** Field 22: start time in clock ticks after boot; with the pid it identifies one process. */
  startTicks: number;
}

/**
 * Parses the text of /proc/<pid>/stat. The command name (field 2) is in parentheses and may itself
 * contain spaces and parentheses, so fields are counted from the LAST ')'.
 */
export function parseProcStat(text: string): ProcStat | null {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) return null;
  const pid = Number(text.slice(0, open).trim());
  // rest[0] is field 3 (state), so field N is rest[N - 3].
  const rest = text
    .slice(close + 1)
    .trim()
    .split(/\s+/);
  const state = rest[0];
  const ppid = Number(rest[1]);
  const pgrp = Number(rest[2]);
  const startTicks = Number(rest[19]);
  if (state === undefined || ![pid, ppid, pgrp, startTicks].every(Number.isInteger)) return null;
  return { pid, state, ppid, pgrp, startTicks };
}

/** /proc/<pid>/stat of a process, or null when it does not exist (or /proc is not there). */
export function readProcStat(pid: number): ProcStat | null {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null;
  }
}

/** Zombies (and dead tasks) are in /proc but run nothing; they are gone as far as killing goes. */
function isRunning(stat: ProcStat): boolean {
  return stat.state !== 'Z' && stat.state !== 'X';
}

function hasProcfs(): boolean {
  try {
    readFileSync('/proc/self/stat');
    return true;
  } catch {
    return false;
  }
}

/** The pids of the non-zombie processes whose process group is `pgid`, in ascending order. */
export function liveGroupMembers(pgid: number): number[] {
  if (!hasProcfs()) return signalProbe(pgid) ? [pgid] : [];
  const members: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = readProcStat(Number(entry));
    if (stat !== null && stat.pgrp === pgid && isRunning(stat)) members.push(stat.pid);
  }
  return members.sort((a, b) => a - b);
}

/** kill(-pgid, 0): true while any process (zombies included) is in the group. */
function signalProbe(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The handle the process executor heartbeats, as parsed back from Temporal's heartbeat details. */
export interface ProcessHandle {
  pid: number;
  pgid: number;
  /** null where /proc is not available (the process cannot be identified later). */
  startTicks: number | null;
  host: string;
}

/** Reads a heartbeated handle; null when it is not a well-formed process handle. */
export function parseProcessHandle(handle: ExecutorHandle): ProcessHandle | null {
  const { pid, pgid, startTicks, host } = handle;
  if (handle.executor !== 'process') return null;
  if (typeof pid !== 'number' || !Number.isInteger(pid) || pid < 2) return null;
  if (typeof pgid !== 'number' || !Number.isInteger(pgid) || pgid < 2) return null;
  if (startTicks !== null && (typeof startTicks !== 'number' || !Number.isInteger(startTicks))) return null;
  if (typeof host !== 'string') return null;
  return { pid, pgid, startTicks, host };
}

/** Reads the initial environment of a process (NUL-separated), or null when it cannot be read. */
function readEnviron(pid: number): string[] | null {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
  } catch {
    return null;
  }
}

export interface SameProcessOptions {
  /**
   * `NAME=value` that every process of the original group carries in its environment. Used only when
   * the group leader has exited but other members live on: the pid number of a group cannot be
   * reused while the group has members, but a group with that number might still be a newer one
   * after pid wrap-around, and the marker tells them apart.
   */
  envMarker?: string;
}

/**
 * Whether the process group a handle names is still alive on this host and still the one the
 * handle was taken from: the leader is running with the same start time (pid not reused), or the
 * leader is gone and every live member carries `envMarker`.
 */
export function isSameProcessAlive(handle: ExecutorHandle, options: SameProcessOptions = {}): boolean {
  const parsed = parseProcessHandle(handle);
  if (parsed === null || parsed.startTicks === null || parsed.host !== hostname()) return false;
  if (!hasProcfs()) return false;
  const leader = readProcStat(parsed.pid);
  if (leader !== null && isRunning(leader)) {
    return leader.startTicks === parsed.startTicks;
  }
  const members = liveGroupMembers(parsed.pgid);
  if (members.length === 0 || options.envMarker === undefined) return false;
  const marker = options.envMarker;
  return members.every((pid) => {
    const stat = readProcStat(pid);
    // A member that started before the leader cannot be from the leader's group.
    if (stat === null || stat.startTicks < (parsed.startTicks ?? 0)) return false;
    return readEnviron(pid)?.includes(marker) ?? false;
  });
}

export interface KillGroupHooks {
  /** Called just before SIGKILL is sent, with the members still alive after the grace period. */
  onSigkill?: (alive: number[]) => void;
  /** How often group membership is polled while waiting; default 50 ms. */
  pollMs?: number;
  /** How long to wait for SIGKILLed processes to disappear; default 5000 ms. */
  killWaitMs?: number;
}

export interface KillGroupOutcome {
  /** Whether any process of the group was running when the kill started. */
  wasAlive: boolean;
  /** Whether SIGKILL was needed after the grace period. */
  escalated: boolean;
  /** Processes still running at the end (uninterruptible sleep); normally empty. */
  survivors: number[];
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function sendToGroup(pgid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch (err) {
    // ESRCH: the group emptied between the check and the signal.
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

/**
 * Sends SIGTERM to every process in group `pgid`, waits up to `graceMs` for them to exit, then
 * sends SIGKILL to whatever is left (repeatedly, so processes forked meanwhile die too) and waits
 * for the group to be empty.
 */
export async function killProcessGroup(
  pgid: number,
  graceMs: number,
  hooks: KillGroupHooks = {},
): Promise<KillGroupOutcome> {
  // kill(-1) signals every process we may signal and kill(-0) our own group: never let a bad
  // handle get there, nor kill the worker's own group.
  if (!Number.isInteger(pgid) || pgid < 2)
    throw new RangeError(`killProcessGroup: pgid must be an integer > 1, got ${pgid}`);
  const own = readProcStat(process.pid);
  if (pgid === process.pid || (own !== null && own.pgrp === pgid)) {
    throw new RangeError(`killProcessGroup: refusing to kill the worker's own process group ${pgid}`);
  }
  const pollMs = hooks.pollMs ?? 50;
  if (liveGroupMembers(pgid).length === 0) return { wasAlive: false, escalated: false, survivors: [] };

  sendToGroup(pgid, 'SIGTERM');
  const graceEnd = Date.now() + graceMs;
  let alive = liveGroupMembers(pgid);
  while (alive.length > 0 && Date.now() < graceEnd) {
    await sleep(Math.min(pollMs, Math.max(1, graceEnd - Date.now())));
    alive = liveGroupMembers(pgid);
  }
  if (alive.length === 0) return { wasAlive: true, escalated: false, survivors: [] };

  hooks.onSigkill?.(alive);
  const killEnd = Date.now() + (hooks.killWaitMs ?? 5000);
  do {
    sendToGroup(pgid, 'SIGKILL');
    await sleep(pollMs);
    alive = liveGroupMembers(pgid);
  } while (alive.length > 0 && Date.now() < killEnd);
  return { wasAlive: true, escalated: true, survivors: alive };
}
