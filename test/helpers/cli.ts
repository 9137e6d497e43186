/** Runs the built `updraft` command as a separate process, the way a user does. */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { tempDir } from './servers.js';
import { startTestStack, type TestStack } from './stack.js';

export const ROOT = path.resolve(__dirname, '..', '..', '..');
export const BIN = path.join(ROOT, 'bin', 'updraft.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], env: NodeJS.ProcessEnv, timeoutMs = 90_000): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, cwd: ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`updraft ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}`));
    }, timeoutMs);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Starts `updraft dev` as a user does; resolves once it says it is up. */
export async function startDev(env: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; output: () => string }> {
  const child = spawn(process.execPath, [BIN, 'dev'], { env: { ...process.env, ...env }, cwd: ROOT });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const deadline = Date.now() + 90_000;
  while (!out.includes('Updraft dev is up')) {
    if (child.exitCode !== null) throw new Error(`updraft dev exited early:\n${out}`);
    if (Date.now() > deadline) throw new Error(`updraft dev did not start:\n${out}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  return { child, output: () => out };
}

/** Ctrl-C; resolves with the exit code. */
export async function stopDev(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  child.kill('SIGINT');
  return exited;
}

/**
 * A worker stack on Postgres serving `dagsFolder` for the CLI tests of the calling describe block
 * (started before them, stopped after), and the environment that points a CLI process at it.
 */
export function cliTestStack(dagsFolder: string): { readonly stack: TestStack; readonly env: NodeJS.ProcessEnv } {
  const state = {} as { stack: TestStack; env: NodeJS.ProcessEnv };
  before(async function () {
    state.stack = await startTestStack({ dagsFolder, db: 'postgres' });
    state.env = cliEnvFor(state.stack, dagsFolder);
  });
  after(async function () {
    await state.stack?.stop();
  });
  return state;
}

/** The environment that points a CLI process at a test stack (its database, Temporal and task queue). */
export function cliEnvFor(stack: TestStack, dagsFolder: string): NodeJS.ProcessEnv {
  return {
    DATABASE_URL: stack.config.databaseUrl!,
    TEMPORAL_ADDRESS: stack.config.temporalAddress!,
    UPDRAFT_TASK_QUEUE: stack.config.taskQueue,
    UPDRAFT_HOME: tempDir('cli-home'),
    UPDRAFT_DAGS_FOLDER: dagsFolder,
  };
}
