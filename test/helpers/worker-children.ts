/**
 * Worker processes for crash tests: each runs test/workflows/fixtures/worker-child.js against a test
 * stack's Temporal server, database and task queue, in a home of its own, and is SIGKILLed (with
 * its home removed) by `killAll`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { tempDir } from './servers.js';
import type { TestStack } from './stack.js';

const WORKER_CHILD = path.resolve(__dirname, '..', 'workflows', 'fixtures', 'worker-child.js');

export class WorkerChildren {
  private readonly children: ChildProcess[] = [];
  private readonly homes: string[] = [];

  /** Starts a worker process serving `dagsFolder`; resolves once it polls ("ready" on stdout). */
  async start(stack: TestStack, dagsFolder: string, env: Record<string, string> = {}): Promise<ChildProcess> {
    const home = tempDir('worker-child');
    this.homes.push(home);
    const child = spawn(process.execPath, [WORKER_CHILD], {
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: stack.temporalAddress,
        DATABASE_URL: stack.config.databaseUrl!,
        UPDRAFT_TASK_QUEUE: stack.config.taskQueue,
        UPDRAFT_DAGS_FOLDER: dagsFolder,
        UPDRAFT_HOME: home,
        ...env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.children.push(child);
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await new Promise<void>((resolve, reject) => {
      child.stdout!.on('data', (chunk: Buffer) => {
        if (chunk.toString().includes('ready')) resolve();
      });
      child.once('exit', (code, signal) =>
        reject(new Error(`worker child exited (${signal ?? code}) before it was ready:\n${stderr}`)),
      );
    });
    return child;
  }

  /** SIGKILLs every child still running and removes their homes. */
  killAll(): void {
    for (const child of this.children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    for (const home of this.homes) fs.rmSync(home, { recursive: true, force: true });
  }
}
