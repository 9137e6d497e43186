/**
 * Benchmark v0 (`npm run bench`; not part of the tests). On the embedded defaults (the temporal
 * dev server in memory, PGlite) it measures:
 *   (a) a 100-task linear chain of no-op in-process tasks: total time and the hand-off latency
 *       (upstream end → downstream start, from the timestamps recorded in Postgres), against a
 *       baseline of 100 sequential no-op activities in a plain Temporal workflow in the same process;
 *   (b) a fan-out/fan-in of 1,000 no-op tasks;
 *   (c) a 10,000-task DAG, with the worker's memory sampled while it runs;
 *   (d) schedule latency: a scheduled run's due time to its first task's start (bench/schedule-latency.ts);
 *   (e) a container step's overhead against a bare `docker run` of the same image and command
 *       (bench/container-overhead.ts; skipped, saying so, when no Docker daemon answers).
 * Medians over repeated runs. Writes a JSON report to bench/results/ and prints a summary.
 *   BENCH_REPEAT=5 BENCH_SKIP_10K=1 npm run bench      (BENCH_ONLY_CHAIN=1: only (a); BENCH_SKIP_SCHEDULE=1: no (d);
 *   BENCH_SKIP_CONTAINER=1: no (e))
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from '@temporalio/worker';
import { Runtime, DefaultLogger } from '@temporalio/worker';
import { listTaskInstanceHistory } from '../db/task-instance.repository.js';
import { triggerDagRun } from '../client/trigger.js';
import { loadConfig } from '../worker/config.js';
import { startStack, type Stack } from '../worker/stack.js';
import { freePort } from '../worker/temporal-server.js';
import * as baselineActivities from './baseline/activities.js';
import { median, percentile } from './stats.js';
import { dagRunResult } from '../client/run-result.js';
import { measureScheduleLatency, scheduleIdFor, writeScheduleDag } from './schedule-latency.js';
import {
  DockerUnavailableError,
  containerBenchOptions,
  measureContainerOverhead,
  writeContainerDag,
} from './container-overhead.js';

const REPEAT = Number(process.env.BENCH_REPEAT ?? 5);

function writeDags(dir: string): void {
  const sdk = "'updraft'";
  fs.writeFileSync(
    path.join(dir, 'bench_chain_100.ts'),
    `import { dag } from ${sdk};
export default dag({ dagId: 'bench_chain_100', maxActiveTasks: 500 }, (d) => {
  let prev: any = null;
  for (let i = 0; i < 100; i++) {
    const t = d.task({ taskId: 't' + String(i).padStart(3, '0') }, () => undefined);
    if (prev) d.chain(prev, t);
    prev = t;
  }
});
`,
  );
  fs.writeFileSync(
    path.join(dir, 'bench_fan_1000.ts'),
    `import { dag } from ${sdk};
export default dag({ dagId: 'bench_fan_1000', maxActiveTasks: 500 }, (d) => {
  const start = d.empty({ taskId: 'start' });
  const end = d.empty({ taskId: 'end' });
  const mids = Array.from({ length: 1000 }, (_, i) => d.task({ taskId: 'm' + String(i).padStart(4, '0') }, () => undefined));
  d.chain(start, mids, end);
});
`,
  );
  fs.writeFileSync(
    path.join(dir, 'bench_10k.ts'),
    `import { dag } from ${sdk};
// 100 parallel chains of 100 no-op tasks: 10,000 tasks.
export default dag({ dagId: 'bench_10k', maxActiveTasks: 500 }, (d) => {
  for (let c = 0; c < 100; c++) {
    let prev: any = null;
    for (let i = 0; i < 100; i++) {
      const t = d.task({ taskId: 'c' + c + '_t' + i }, () => undefined);
      if (prev) d.chain(prev, t);
      prev = t;
    }
  }
});
`,
  );
}

async function runDag(stack: Stack, dagId: string): Promise<{ seconds: number; runId: string; state: string }> {
  const started = Date.now();
  const run = await triggerDagRun(stack.database.db, stack.client, { dagId, runOptions: stack.config.run });
  const result = await dagRunResult(run.handle);
  return { seconds: (Date.now() - started) / 1000, runId: run.runId, state: result.state };
}

async function handOffs(stack: Stack, dagId: string, runId: string): Promise<number[]> {
  const rows = await listTaskInstanceHistory(stack.database.db, dagId, runId);
  const byTask = new Map(rows.map((r) => [r.task_id, r]));
  const gaps: number[] = [];
  for (let i = 1; i < 100; i++) {
    const up = byTask.get(`t${String(i - 1).padStart(3, '0')}`);
    const down = byTask.get(`t${String(i).padStart(3, '0')}`);
    if (up?.end_date && down?.start_date) gaps.push(down.start_date.getTime() - up.end_date.getTime());
  }
  return gaps;
}

async function baseline(stack: Stack): Promise<{ seconds: number; handoffs: number[] }> {
  const { NativeConnection } = await import('@temporalio/worker');
  const connection = await NativeConnection.connect({ address: stack.temporalAddress });
  const worker = await Worker.create({
    connection,
    taskQueue: 'bench-baseline',
    activities: baselineActivities,
    workflowsPath: path.resolve(__dirname, 'baseline', 'workflows.js'),
  });
  try {
    return await worker.runUntil(async () => {
      const started = Date.now();
      const spans = (await stack.client.workflow.execute('sequentialNoops', {
        taskQueue: 'bench-baseline',
        workflowId: `baseline-${Date.now()}`,
        args: [100],
      })) as Array<[number, number]>;
      const gaps = spans.slice(1).map((s, i) => s[0] - spans[i]![1]);
      return { seconds: (Date.now() - started) / 1000, handoffs: gaps };
    });
  } finally {
    await connection.close();
  }
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'updraft-bench-'));
  const dags = path.join(home, 'dags');
  fs.mkdirSync(dags);
  writeDags(dags);
  writeScheduleDag(dags);
  const containerOpts = containerBenchOptions({ ...process.env, BENCH_REPEAT: String(Math.max(REPEAT, 5)) });
  writeContainerDag(dags, containerOpts);
  const base = loadConfig({ DOCKER_HOST: process.env.DOCKER_HOST }, home);
  const stack = await startStack({
    config: { ...base, dagsFolder: dags, devTemporalPort: await freePort(), run: { ...base.run, maxInFlight: 500 } },
    embeddedTemporal: 'ephemeral',
    log: (l) => process.stderr.write(`[bench] ${l}\n`),
  });
  const report: Record<string, unknown> = {
    date: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpu: os.cpus()[0]?.model,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
    },
    setup:
      'embedded defaults: temporal CLI v1.5.1 dev server (in memory, same machine), PGlite in the worker process, one worker',
  };
  try {
    // Warm-up: the first run pays for workflow bundle caches, JIT and PGlite page-ins.
    await runDag(stack, 'bench_chain_100');

    const chainTotals: number[] = [];
    const allHandoffs: number[] = [];
    const baseTotals: number[] = [];
    const baseHandoffs: number[] = [];
    for (let i = 0; i < REPEAT; i++) {
      const r = await runDag(stack, 'bench_chain_100');
      if (r.state !== 'success') throw new Error(`chain run ended ${r.state}`);
      chainTotals.push(r.seconds);
      allHandoffs.push(...(await handOffs(stack, 'bench_chain_100', r.runId)));
      const b = await baseline(stack);
      baseTotals.push(b.seconds);
      baseHandoffs.push(...b.handoffs);
      process.stderr.write(
        `[bench] chain ${i + 1}/${REPEAT}: ${r.seconds.toFixed(2)}s (baseline ${b.seconds.toFixed(2)}s)\n`,
      );
    }
    report.chain_100 = {
      repeats: REPEAT,
      total_seconds_median: median(chainTotals),
      handoff_ms_median: median(allHandoffs),
      handoff_ms_p95: percentile(allHandoffs, 95),
      baseline_total_seconds_median: median(baseTotals),
      baseline_handoff_ms_median: median(baseHandoffs),
      baseline_handoff_ms_p95: percentile(baseHandoffs, 95),
      ratio_handoff_median_vs_baseline: median(allHandoffs) / median(baseHandoffs),
      target: 'median hand-off <= 25 ms',
    };

    const fanTotals: number[] = [];
    for (let i = 0; i < (process.env.BENCH_ONLY_CHAIN ? 0 : Math.min(REPEAT, 3)); i++) {
      const r = await runDag(stack, 'bench_fan_1000');
      if (r.state !== 'success') throw new Error(`fan-out run ended ${r.state}`);
      fanTotals.push(r.seconds);
      process.stderr.write(`[bench] fan-out 1000 ${i + 1}: ${r.seconds.toFixed(2)}s\n`);
    }
    report.fan_1000 = { repeats: fanTotals.length, total_seconds_median: median(fanTotals), target: '<= 20 s' };

    if (!process.env.BENCH_SKIP_10K && !process.env.BENCH_ONLY_CHAIN) {
      let peakRss = 0;
      let peakHeap = 0;
      const sampler = setInterval(() => {
        const m = process.memoryUsage();
        peakRss = Math.max(peakRss, m.rss);
        peakHeap = Math.max(peakHeap, m.heapUsed);
      }, 250);
      const r = await runDag(stack, 'bench_10k');
      clearInterval(sampler);
      const history = await stack.client.workflow.getHandle(`dag:bench_10k:run:${r.runId}`).describe();
      report.dag_10k = {
        state: r.state,
        total_seconds: r.seconds,
        peak_rss_mib: Math.round(peakRss / 2 ** 20),
        peak_heap_mib: Math.round(peakHeap / 2 ** 20),
        last_run_history_length: history.historyLength,
        note: 'one process holds the worker, PGlite and the client; RSS includes all three',
      };
      process.stderr.write(
        `[bench] 10k: ${r.state} in ${r.seconds.toFixed(1)}s, peak RSS ${Math.round(peakRss / 2 ** 20)} MiB\n`,
      );
    }
    if (!process.env.BENCH_SKIP_SCHEDULE && !process.env.BENCH_ONLY_CHAIN) {
      report.schedule_latency = await measureScheduleLatency(stack, Number(process.env.BENCH_SCHEDULE_FIRES ?? 10));
      await stack.client.schedule
        .getHandle(scheduleIdFor('bench_schedule_2s'))
        .delete()
        .catch(() => undefined);
      process.stderr.write(`[bench] schedule latency: ${JSON.stringify(report.schedule_latency)}\n`);
    }

    if (!process.env.BENCH_SKIP_CONTAINER && !process.env.BENCH_ONLY_CHAIN) {
      try {
        report.container_overhead = await measureContainerOverhead(stack, containerOpts, (l) =>
          process.stderr.write(`[bench] ${l}\n`),
        );
      } catch (err) {
        // No daemon or no image is a machine without Docker, not a failed benchmark: say so in the report.
        if (!(err instanceof DockerUnavailableError)) throw err;
        report.container_overhead = { skipped: (err as Error).message };
        process.stderr.write(`[bench] container overhead skipped: ${(err as Error).message}\n`);
      }
    }
  } finally {
    await stack.stop();
  }
  const outDir = path.resolve(__dirname, '..', '..', 'bench', 'results');
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `bench-${report.date as string}.json`.replace(/:/g, '-'));
  fs.writeFileSync(file, JSON.stringify(report, null, 2));
  process.stdout.write(`${JSON.stringify(report, null, 2)}\nwritten to ${file}\n`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
