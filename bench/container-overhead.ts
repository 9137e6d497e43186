/**
 * Container step overhead (issue 10): one container task run by Updraft against a bare
 * `docker run` of the same image and command on the same daemon, medians over repeated runs, the
 * ratio in one report. Not part of the tests.
 *
 *   npm run build && node dist/bench/container-overhead.js      (alone; also section (d) of npm run bench)
 *   BENCH_REPEAT=10                          measured pairs (default 10; one warm-up pair is not counted)
 *   BENCH_CONTAINER_IMAGE=updraft/test-busybox:latest   BENCH_CONTAINER_COMMAND='["sh","-c","echo ok"]'
 *
 * Both sides run the same entrypoint and arguments with networking off (the Docker executor's
 * default `network_mode: none`), and the bare side removes its container (`--rm`) as the executor
 * does. The pairs are interleaved, so a busy machine slows both sides alike.
 *
 * What is compared:
 *   - step: the try as Updraft records it (task instance start to end: input file, container create,
 *     start, log stream, wait, return.json, remove, bookkeeping) against the bare `docker run` wall time;
 *   - run: a one-task DAG run from trigger to result (adds the workflow start and the DAG-run
 *     bookkeeping) against the same bare wall time.
 * Goal: step ratio <= 1.2.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Runtime, DefaultLogger } from '@temporalio/worker';
import { triggerDagRun } from '../client/trigger.js';
import { dagRunResult } from '../client/run-result.js';
import { listTaskInstanceHistory } from '../db/task-instance.repository.js';
import { loadConfig } from '../worker/config.js';
import { startStack, type Stack } from '../worker/stack.js';
import { freePort } from '../worker/temporal-server.js';
import { median, percentile } from './stats.js';

const run = promisify(execFile);

/** No docker CLI, no daemon answering, or the image is not on it: the machine cannot run this section. */
export class DockerUnavailableError extends Error {
  override readonly name = 'DockerUnavailableError';
}

export const CONTAINER_DAG_ID = 'bench_container_step';

export interface ContainerBenchOptions {
  image: string;
  /** Entrypoint and arguments, as the task's `command` (it replaces the image's entrypoint). */
  command: string[];
  repeat: number;
}

export function containerBenchOptions(env: NodeJS.ProcessEnv = process.env): ContainerBenchOptions {
  const image = env['BENCH_CONTAINER_IMAGE'] || 'updraft/test-busybox:latest';
  const rawCommand = env['BENCH_CONTAINER_COMMAND'] || '["sh","-c","echo ok"]';
  let command: unknown;
  try {
    command = JSON.parse(rawCommand);
  } catch {
    command = null;
  }
  if (!Array.isArray(command) || command.length === 0 || !command.every((c) => typeof c === 'string')) {
    throw new Error(
      `BENCH_CONTAINER_COMMAND must be a JSON array of strings like ["sh","-c","echo ok"], got ${rawCommand}`,
    );
  }
  const repeat = Number(env['BENCH_REPEAT'] ?? 10);
  if (!Number.isInteger(repeat) || repeat < 1)
    throw new Error(`BENCH_REPEAT must be a positive integer, got "${env['BENCH_REPEAT']}"`);
  return { image, command: command as string[], repeat };
}

/** The one-task DAG the orchestrated side runs. */
export function writeContainerDag(dir: string, opts: ContainerBenchOptions): void {
  fs.writeFileSync(
    path.join(dir, `${CONTAINER_DAG_ID}.ts`),
    `import { dag } from 'updraft';
export default dag({ dagId: '${CONTAINER_DAG_ID}' }, (d) => {
  d.container({ taskId: 'step', image: ${JSON.stringify(opts.image)}, command: ${JSON.stringify(opts.command)}, runtime: 'docker' });
});
`,
  );
}

/** Seconds one bare `docker run --rm` of the image and command takes, through the docker CLI. */
async function bareDockerRun(opts: ContainerBenchOptions): Promise<number> {
  const [entrypoint, ...args] = opts.command;
  const started = process.hrtime.bigint();
  await run('docker', ['run', '--rm', '--network', 'none', '--entrypoint', entrypoint!, opts.image, ...args]);
  return Number(process.hrtime.bigint() - started) / 1e9;
}

async function orchestratedRun(stack: Stack): Promise<{ runSeconds: number; stepSeconds: number }> {
  const started = process.hrtime.bigint();
  const triggered = await triggerDagRun(stack.database.db, stack.client, {
    dagId: CONTAINER_DAG_ID,
    runOptions: stack.config.run,
  });
  const result = await dagRunResult(triggered.handle);
  const runSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.state !== 'success')
    throw new Error(`${CONTAINER_DAG_ID} run ${triggered.runId} ended ${result.state}; see its task log`);
  const [row] = await listTaskInstanceHistory(stack.database.db, CONTAINER_DAG_ID, triggered.runId);
  if (!row?.start_date || !row.end_date)
    throw new Error(`run ${triggered.runId}: the step's try has no start/end recorded`);
  return { runSeconds, stepSeconds: (row.end_date.getTime() - row.start_date.getTime()) / 1000 };
}

async function checkDocker(opts: ContainerBenchOptions): Promise<string> {
  try {
    const { stdout } = await run('docker', ['version', '--format', '{{.Server.Version}}']);
    await run('docker', ['image', 'inspect', '--format', '{{.Id}}', opts.image]);
    return stdout.trim();
  } catch (err) {
    throw new DockerUnavailableError(
      `the container benchmark needs the docker CLI, a reachable daemon (DOCKER_HOST or /var/run/docker.sock) and the image ${opts.image} ` +
        `on it (BENCH_CONTAINER_IMAGE picks another): ${(err as Error).message.split('\n')[0]}`,
    );
  }
}

const stats = (xs: readonly number[]) => ({
  median: median(xs),
  p95: percentile(xs, 95),
  min: Math.min(...xs),
  max: Math.max(...xs),
});

/** Interleaved pairs (bare, orchestrated); the first pair warms caches and is not counted. */
export async function measureContainerOverhead(
  stack: Stack,
  opts: ContainerBenchOptions,
  log: (line: string) => void,
): Promise<Record<string, unknown>> {
  const daemon = await checkDocker(opts);
  const bare: number[] = [];
  const step: number[] = [];
  const runs: number[] = [];
  for (let i = 0; i <= opts.repeat; i++) {
    const b = await bareDockerRun(opts);
    const o = await orchestratedRun(stack);
    if (i === 0) continue;
    bare.push(b);
    step.push(o.stepSeconds);
    runs.push(o.runSeconds);
    log(
      `container ${i}/${opts.repeat}: bare docker run ${b.toFixed(3)}s, step ${o.stepSeconds.toFixed(3)}s, dag run ${o.runSeconds.toFixed(3)}s`,
    );
  }
  const load = os.loadavg();
  return {
    image: opts.image,
    command: opts.command,
    docker_server: daemon,
    repeats: opts.repeat,
    bare_docker_run_seconds: stats(bare),
    step_seconds: stats(step),
    dag_run_seconds: stats(runs),
    ratio_step_vs_bare_median: median(step) / median(bare),
    ratio_dag_run_vs_bare_median: median(runs) / median(bare),
    overhead_step_ms_median: (median(step) - median(bare)) * 1000,
    load_average_1m_at_end: Number(load[0]!.toFixed(2)),
    target: 'step ratio <= 1.2',
    note: 'bare = `docker run --rm --network none --entrypoint <command[0]> <image> <command[1..]>` through the docker CLI (its own start-up included); step = the try recorded by Updraft; dag run = trigger to result of a one-task DAG',
  };
}

export function machine(): Record<string, unknown> {
  return {
    cpus: os.cpus().length,
    cpu: os.cpus()[0]?.model,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.platform()} ${os.release()}`,
    load_average_1m_at_start: Number(os.loadavg()[0]!.toFixed(2)),
  };
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const opts = containerBenchOptions();
  await checkDocker(opts);
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'updraft-bench-container-'));
  const dags = path.join(home, 'dags');
  fs.mkdirSync(dags);
  writeContainerDag(dags, opts);
  const base = loadConfig({ DOCKER_HOST: process.env['DOCKER_HOST'] }, home);
  const report: Record<string, unknown> = {
    date: new Date().toISOString(),
    machine: machine(),
    setup:
      'embedded defaults: temporal CLI dev server (in memory, same machine), PGlite in the worker process, one worker, Docker executor',
  };
  const stack = await startStack({
    config: { ...base, dagsFolder: dags, devTemporalPort: await freePort() },
    embeddedTemporal: 'ephemeral',
    log: (l) => process.stderr.write(`[bench] ${l}\n`),
  });
  try {
    report.container_overhead = await measureContainerOverhead(stack, opts, (l) =>
      process.stderr.write(`[bench] ${l}\n`),
    );
  } finally {
    await stack.stop();
    fs.rmSync(home, { recursive: true, force: true });
  }
  const outDir = path.resolve(__dirname, '..', '..', 'bench', 'results');
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `container-overhead-${report.date as string}.json`.replace(/:/g, '-'));
  fs.writeFileSync(file, JSON.stringify(report, null, 2));
  process.stdout.write(`${JSON.stringify(report, null, 2)}\nwritten to ${file}\n`);
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
