/**
 * The embedded Temporal: the real `temporal` CLI's dev server (with its Web UI), started as a
 * child process with Updraft's search attributes registered and its state in a SQLite file.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { SEARCH_ATTRIBUTE_FLAGS } from '../workflows/search-attributes.js';
import { describePortListeners, isAlive, listensOn, processCommand, processStartTime } from './processes.js';

export class TemporalCliNotFoundError extends Error {
  override readonly name = 'TemporalCliNotFoundError';
}

export class TemporalServerStartError extends Error {
  override readonly name = 'TemporalServerStartError';
}

const PROJECT_ROOT = path.resolve(__dirname, '..', '..');

/** Finds the `temporal` CLI: $UPDRAFT_TEMPORAL_CLI, then PATH, then the project's .tools/bin. */
export function findTemporalCli(env: NodeJS.ProcessEnv = process.env): string {
  const candidates = [
    env.UPDRAFT_TEMPORAL_CLI,
    ...(env.PATH ?? '')
      .split(path.delimiter)
      .filter(Boolean)
      .map((d) => path.join(d, 'temporal')),
    path.join(PROJECT_ROOT, '.tools', 'bin', 'temporal'),
    path.join(os.homedir(), '.cache', 'updraft', 'bin', 'temporal'),
  ].filter((c): c is string => Boolean(c));
  for (const c of candidates) {
    try {
      fs.accessSync(c, fs.constants.X_OK);
      return c;
    } catch {
      // not this one
    }
  }
  throw new TemporalCliNotFoundError(
    'the temporal CLI was not found (looked at $UPDRAFT_TEMPORAL_CLI, PATH and .tools/bin). ' +
      'Install it with `bash scripts/install-temporal.sh` (needs Go >= 1.25: it runs ' +
      '`go install github.com/temporalio/cli/cmd/temporal@v1.5.1`), or set TEMPORAL_ADDRESS to use a running server.',
  );
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export async function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

export interface DevServerOptions {
  cli?: string;
  port?: number;
  /** null: headless. */
  uiPort?: number | null;
  /** SQLite file; null keeps state in memory. */
  dbFile?: string | null;
  logFile?: string;
  startTimeoutMs?: number;
  /**
   * Where to record the child (pid, start time, ports). A later start with the same file stops a
   * server that an earlier process started and left running (it was killed before it could stop
   * it), after checking that the pid is still that server.
   */
  stateFile?: string;
  /** Linux: the server gets SIGTERM when this process dies, even by SIGKILL (setpriv --pdeathsig). Default true. */
  dieWithParent?: boolean;
  /** Appended to "port N is in use" errors: which setting picks another port. */
  portHint?: string;
  uiPortHint?: string;
  log?: (line: string) => void;
}

export interface DevServer {
  address: string;
  uiUrl: string | null;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** The child as recorded in `stateFile`. */
interface DevServerRecord {
  pid: number;
  startTime: string;
  port: number;
  uiPort: number | null;
  dbFile: string | null;
  /** The process that started it, so a live owner's server is never taken for a leftover. */
  ownerPid: number;
  ownerStartTime: string | null;
}

export class TemporalPortInUseError extends TemporalServerStartError {}

export async function startDevServer(opts: DevServerOptions = {}): Promise<DevServer> {
  const cli = opts.cli ?? findTemporalCli();
  const log = opts.log ?? (() => undefined);
  if (opts.stateFile) await reapLeftover(opts.stateFile, log);
  const port = opts.port ?? (await freePort());
  const uiPort = opts.uiPort ?? null;
  await assertPortFree(port, 'Temporal', opts.portHint);
  if (uiPort !== null) await assertPortFree(uiPort, 'Temporal Web UI', opts.uiPortHint);
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(port),
    '--log-level',
    'warn',
    '--sqlite-pragma',
    'journal_mode=WAL',
    '--sqlite-pragma',
    'synchronous=OFF',
    '--dynamic-config-value',
    'frontend.enableUpdateWorkflowExecution=true',
    '--dynamic-config-value',
    'frontend.workerVersioningWorkflowAPIs=true',
    // Task hand-off latency: eager activity dispatch hands the next task to the worker in the
    // workflow-task response; one partition per queue avoids cross-partition forwarding delays.
    '--dynamic-config-value',
    'system.enableActivityEagerExecution=true',
    '--dynamic-config-value',
    'matching.numTaskqueueReadPartitions=1',
    '--dynamic-config-value',
    'matching.numTaskqueueWritePartitions=1',
  ];
  for (const sa of SEARCH_ATTRIBUTE_FLAGS) args.push('--search-attribute', sa);
  if (uiPort === null) args.push('--headless');
  else args.push('--ui-port', String(uiPort), '--ui-ip', '127.0.0.1');
  if (opts.dbFile) {
    fs.mkdirSync(path.dirname(opts.dbFile), { recursive: true });
    args.push('--db-filename', opts.dbFile);
  }
  const out = opts.logFile ? fs.openSync(opts.logFile, 'a') : 'ignore';
  const setpriv = opts.dieWithParent === false ? null : pdeathsigWrapper();
  // setpriv execs the CLI, so the child's pid is the server's.
  const child = setpriv
    ? spawn(setpriv, ['--pdeathsig', 'TERM', '--', cli, ...args], { stdio: ['ignore', out, out], detached: false })
    : spawn(cli, args, { stdio: ['ignore', out, out], detached: false });
  if (typeof out === 'number') fs.closeSync(out);
  let exited: string | null = null;
  child.on('exit', (code, signal) => {
    exited = `exited with ${signal ?? `code ${code}`}`;
  });
  const spawned = await new Promise<Error | null>((resolve) => {
    child.once('spawn', () => resolve(null));
    child.once('error', (err) => resolve(err));
  });
  if (spawned) throw new TemporalServerStartError(`could not start ${cli}: ${spawned.message}`);
  const pid = child.pid!;
  const record: DevServerRecord = {
    pid,
    startTime: processStartTime(pid) ?? '',
    port,
    uiPort,
    dbFile: opts.dbFile ?? null,
    ownerPid: process.pid,
    ownerStartTime: processStartTime(process.pid),
  };
  if (opts.stateFile) fs.writeFileSync(opts.stateFile, JSON.stringify(record, null, 2));
  const forgetRecord = (): void => {
    if (!opts.stateFile) return;
    try {
      const current = JSON.parse(fs.readFileSync(opts.stateFile, 'utf8')) as DevServerRecord;
      if (current.pid === pid && current.ownerPid === process.pid) fs.rmSync(opts.stateFile, { force: true });
    } catch {
      // already gone
    }
  };
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await done;
      clearTimeout(timer);
    }
    forgetRecord();
  };
  const address = `127.0.0.1:${port}`;
  const timeoutMs = opts.startTimeoutMs ?? 60_000;
  const deadline = Date.now() + timeoutMs;
  const logHint = opts.logFile ? `; see ${opts.logFile}` : '';
  // Ready when OUR child listens on the port(s): another process that grabbed the port between
  // the check above and the child's bind must never be taken for our server.
  for (;;) {
    if (exited) {
      forgetRecord();
      let taken: number | undefined;
      for (const p of uiPort === null ? [port] : [port, uiPort])
        if (taken === undefined && !(await isPortFree(p))) taken = p;
      if (taken !== undefined) {
        throw new TemporalPortInUseError(
          `the Temporal dev server could not listen on 127.0.0.1:${taken}: ${describePortListeners(taken)} took the port while it started${taken === port ? hintText(opts.portHint) : hintText(opts.uiPortHint)}`,
        );
      }
      throw new TemporalServerStartError(`temporal server start-dev ${exited}${logHint} (args: ${args.join(' ')})`);
    }
    const ready = await serverReady(pid, port, uiPort);
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new TemporalServerStartError(
        `temporal dev server did not listen on ${address} within ${timeoutMs / 1000}s${logHint}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { address, uiUrl: uiPort !== null ? `http://127.0.0.1:${uiPort}` : null, process: child, stop };
}

/** Our child listens on the frontend port (and the UI port), and answers there. */
async function serverReady(pid: number, port: number, uiPort: number | null): Promise<boolean> {
  for (const p of uiPort === null ? [port] : [port, uiPort]) {
    const own = listensOn(pid, p);
    if (own === false) return false;
    // Cannot tell who listens (no /proc, no lsof): fall back to "it answers and our child lives".
    if (own === null && !(await canConnect(p))) return false;
  }
  return canConnect(port);
}

function hintText(hint: string | undefined): string {
  return hint ? `; ${hint}` : '';
}

async function assertPortFree(port: number, what: string, hint: string | undefined): Promise<void> {
  if (await isPortFree(port)) return;
  throw new TemporalPortInUseError(
    `port ${port} (${what}) is in use by ${describePortListeners(port)}${hintText(hint)}`,
  );
}

/**
 * Stops the server recorded in `stateFile` if its starter is gone and the pid is still that
 * server (same start time, a `temporal server start-dev`); forgets a stale record.
 */
export async function reapLeftover(stateFile: string, log: (line: string) => void): Promise<void> {
  let record: DevServerRecord;
  try {
    record = JSON.parse(fs.readFileSync(stateFile, 'utf8')) as DevServerRecord;
  } catch {
    return;
  }
  const ownerAlive =
    record.ownerPid !== process.pid &&
    isAlive(record.ownerPid) &&
    processStartTime(record.ownerPid) === record.ownerStartTime;
  const ours =
    isAlive(record.pid) &&
    record.startTime !== '' &&
    processStartTime(record.pid) === record.startTime &&
    (processCommand(record.pid) ?? []).includes('start-dev');
  if (ours && ownerAlive) {
    throw new TemporalServerStartError(
      `the Temporal dev server recorded in ${stateFile} (pid ${record.pid}) belongs to a running process (pid ${record.ownerPid}); stop that first`,
    );
  }
  if (ours) {
    log(
      `stopping the Temporal dev server (pid ${record.pid}, port ${record.port}) left running by an earlier process (pid ${record.ownerPid}) that did not stop it`,
    );
    process.kill(record.pid, 'SIGTERM');
    const deadline = Date.now() + 10_000;
    while (isAlive(record.pid) && processStartTime(record.pid) === record.startTime) {
      if (Date.now() > deadline) {
        process.kill(record.pid, 'SIGKILL');
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  fs.rmSync(stateFile, { force: true });
}

let setprivPath: string | null | undefined;

/** util-linux's setpriv if it supports --pdeathsig (Linux), else null. */
function pdeathsigWrapper(): string | null {
  if (setprivPath !== undefined) return setprivPath;
  setprivPath = null;
  if (process.platform !== 'linux') return null;
  for (const dir of (process.env.PATH ?? '').split(path.delimiter).concat(['/usr/bin', '/bin'])) {
    const candidate = path.join(dir, 'setpriv');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      execFileSync(candidate, ['--pdeathsig', 'TERM', '--', 'true'], { stdio: 'ignore' });
      setprivPath = candidate;
      break;
    } catch {
      // not here, or too old for --pdeathsig
    }
  }
  return setprivPath;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
}
