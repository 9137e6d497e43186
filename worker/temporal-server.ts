/**
 * The embedded Temporal: the real `temporal` CLI's dev server (with its Web UI), started as a
 * child process with Updraft's search attributes registered and its state in a SQLite file.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { SEARCH_ATTRIBUTE_FLAGS } from '../workflows/search-attributes.js';

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
    ...(env.PATH ?? '').split(path.delimiter).filter(Boolean).map((d) => path.join(d, 'temporal')),
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
}

export interface DevServer {
  address: string;
  uiUrl: string | null;
  process: ChildProcess;
  stop(): Promise<void>;
}

export async function startDevServer(opts: DevServerOptions = {}): Promise<DevServer> {
  const cli = opts.cli ?? findTemporalCli();
  const port = opts.port ?? (await freePort());
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--log-level', 'warn',
    '--sqlite-pragma', 'journal_mode=WAL', '--sqlite-pragma', 'synchronous=OFF',
    '--dynamic-config-value', 'frontend.enableUpdateWorkflowExecution=true',
    '--dynamic-config-value', 'frontend.workerVersioningWorkflowAPIs=true',
    // Task hand-off latency: eager activity dispatch hands the next task to the worker in the
    // workflow-task response; one partition per queue avoids cross-partition forwarding delays.
    '--dynamic-config-value', 'system.enableActivityEagerExecution=true',
    '--dynamic-config-value', 'matching.numTaskqueueReadPartitions=1',
    '--dynamic-config-value', 'matching.numTaskqueueWritePartitions=1'];
  for (const sa of SEARCH_ATTRIBUTE_FLAGS) args.push('--search-attribute', sa);
  if (opts.uiPort === null || opts.uiPort === undefined) args.push('--headless');
  else args.push('--ui-port', String(opts.uiPort), '--ui-ip', '127.0.0.1');
  if (opts.dbFile) {
    fs.mkdirSync(path.dirname(opts.dbFile), { recursive: true });
    args.push('--db-filename', opts.dbFile);
  }
  const out = opts.logFile ? fs.openSync(opts.logFile, 'a') : 'ignore';
  const child = spawn(cli, args, { stdio: ['ignore', out, out], detached: false });
  let exited: string | null = null;
  child.on('exit', (code, signal) => {
    exited = `exited with ${signal ?? `code ${code}`}`;
  });
  const address = `127.0.0.1:${port}`;
  const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
  while (!(await canConnect(port))) {
    if (exited) {
      throw new TemporalServerStartError(`temporal server start-dev ${exited}${opts.logFile ? `; see ${opts.logFile}` : ''} (args: ${args.join(' ')})`);
    }
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new TemporalServerStartError(`temporal dev server did not listen on ${address} within ${(opts.startTimeoutMs ?? 60_000) / 1000}s`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    address,
    uiUrl: opts.uiPort ? `http://127.0.0.1:${opts.uiPort}` : null,
    process: child,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const done = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await done;
      clearTimeout(timer);
    },
  };
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
