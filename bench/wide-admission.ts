/**
 * Wide mapped tasks through cross-run admission (`node dist/bench/wide-admission.js`; not part of
 * the tests): one run of a task mapped over N no-op in-process instances, with max_active_tasks
 * 200 (the worker's activity slots: every try asks for a slot at once) and 16 (Airflow's default:
 * most tries wait). Each try passes pool admission, so this measures what the slot decisions cost
 * when a worker has hundreds of tries asking at once. Medians over BENCH_REPEAT runs.
 *
 *   DATABASE_URL=postgres://… BENCH_WIDE_N=5000 BENCH_REPEAT=3 node dist/bench/wide-admission.js
 *
 * DATABASE_URL: an empty Postgres database (the stack migrates it); unset, PGlite in the process.
 * Prints one JSON line; run it in two checkouts to compare (docs/benchmarks.md).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Runtime, DefaultLogger } from '@temporalio/worker';
import { triggerDagRun } from '../client/trigger.js';
import { dagRunResult } from '../client/run-result.js';
import { loadConfig } from '../worker/config.js';
import { startStack, type Stack } from '../worker/stack.js';
import { freePort } from '../worker/temporal-server.js';
import { median } from './stats.js';

const N = Number(process.env.BENCH_WIDE_N ?? 2000);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 3);
const LIMITS = [200, 16] as const;

function writeDags(dir: string): void {
  for (const limit of LIMITS) {
    fs.writeFileSync(
      path.join(dir, `bench_wide_${limit}.ts`),
      `import { dag } from 'updraft';
export default dag({ dagId: 'bench_wide_${limit}', maxActiveTasks: ${limit}, maxMapLength: 20000 }, (d) => {
  const items = d.task({ taskId: 'items' }, (_: void, ctx) => Array.from({ length: Number(ctx.params.n) }, (_x, i) => i));
  const noop = d.task({ taskId: 'noop' }, (i: { x: number }) => i.x);
  const count = d.task({ taskId: 'count' }, (xs: number[]) => xs.length);
  count(noop.expand({ x: items() }));
});
`,
    );
  }
}

async function runOnce(stack: Stack, dagId: string): Promise<number> {
  const started = Date.now();
  const run = await triggerDagRun(stack.database.db, stack.client, {
    dagId,
    conf: { n: N },
    runOptions: stack.config.run,
  });
  const result = await dagRunResult(run.handle);
  if (result.state !== 'success') throw new Error(`${dagId} run ${run.runId} ended ${result.state}`);
  return (Date.now() - started) / 1000;
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'updraft-bench-wide-'));
  const dags = path.join(home, 'dags');
  fs.mkdirSync(dags);
  writeDags(dags);
  const base = loadConfig({ DATABASE_URL: process.env.DATABASE_URL }, home);
  const stack = await startStack({
    config: { ...base, dagsFolder: dags, devTemporalPort: await freePort() },
    embeddedTemporal: 'ephemeral',
    log: (l) => process.stderr.write(`[bench] ${l}\n`),
  });
  const report: Record<string, unknown> = {
    date: new Date().toISOString(),
    database: base.databaseUrl ? 'postgres' : 'pglite',
    n: N,
    repeats: REPEAT,
    cpus: os.cpus().length,
    loadavg_start: os.loadavg()[0],
  };
  try {
    for (const limit of LIMITS) {
      const seconds: number[] = [];
      for (let i = 0; i < REPEAT; i++) {
        seconds.push(await runOnce(stack, `bench_wide_${limit}`));
        process.stderr.write(
          `[bench] wide ${N} (max_active_tasks ${limit}) ${i + 1}: ${seconds.at(-1)!.toFixed(1)}s\n`,
        );
      }
      report[`max_active_tasks_${limit}`] = { seconds, median_seconds: median(seconds) };
    }
    report.loadavg_end = os.loadavg()[0];
    process.stdout.write(`${JSON.stringify(report)}\n`);
  } finally {
    await stack.stop();
    fs.rmSync(home, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
