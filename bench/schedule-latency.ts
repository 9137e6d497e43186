/**
 * Schedule latency (issue 11): from the moment a scheduled run is due (its run_after, the
 * Temporal Schedule's fire time) to its first task starting, median over repeated fires of a
 * seconds-level schedule; split into due -> run recorded (Schedule fire, tick workflow, run
 * created) and run recorded -> first task started (admission, the DAG-run workflow, the task).
 * Airflow's scheduler loop takes seconds here; the aim is well under one second.
 *
 *   npm run build && node dist/bench/schedule-latency.js     (BENCH_SCHEDULE_FIRES=10)
 * bench/run.ts runs it too (BENCH_SKIP_SCHEDULE=1 leaves it out).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Runtime, DefaultLogger } from '@temporalio/worker';
import { scheduleIdFor, syncDagSchedule } from '../client/schedules.js';

export { scheduleIdFor };
import { setDagPaused } from '../db/dag.repository.js';
import { loadConfig } from '../worker/config.js';
import { startStack, type Stack } from '../worker/stack.js';
import { freePort } from '../worker/temporal-server.js';
import { median, percentile } from './stats.js';

export const SCHEDULE_DAG_ID = 'bench_schedule_2s';

/** A DAG firing every 2 seconds, created paused so it fires only while measured. */
export function writeScheduleDag(dir: string): void {
  fs.writeFileSync(
    path.join(dir, `${SCHEDULE_DAG_ID}.ts`),
    `import { dag } from 'updraft';
export default dag({ dagId: '${SCHEDULE_DAG_ID}', schedule: '* * * * * */2', startDate: '2025-01-01', isPausedUponCreation: true }, (d) => {
  d.task({ taskId: 'first' }, () => undefined)();
});
`,
  );
}

export interface ScheduleLatencyReport {
  fires: number;
  due_to_first_task_ms_median: number;
  due_to_first_task_ms_p95: number;
  due_to_run_recorded_ms_median: number;
  run_recorded_to_first_task_ms_median: number;
  target: string;
}

/** Unpauses the DAG, waits for `fires` fires after that, pauses it again and reports. */
export async function measureScheduleLatency(stack: Stack, fires: number): Promise<ScheduleLatencyReport> {
  const db = stack.database.db;
  const ctx = { db, client: stack.client, runOptions: stack.config.run, logsFolder: stack.config.logsFolder };
  await setDagPaused(db, SCHEDULE_DAG_ID, false);
  // The run for the fire time just missed (catchup off) comes from the unpause itself: not a fire.
  const from = new Date(Date.now() + 1000);
  await syncDagSchedule(ctx, SCHEDULE_DAG_ID);
  const deadline = Date.now() + fires * 2000 + 30_000;
  let rows: Array<{ run_after: Date | null; queued_at: Date | null; first: Date | null }> = [];
  try {
    for (;;) {
      rows = (await db
        .selectFrom('dag_run')
        .leftJoin('task_instance_history as h', (j) =>
          j.onRef('h.dag_id', '=', 'dag_run.dag_id').onRef('h.run_id', '=', 'dag_run.run_id'),
        )
        .select(['dag_run.run_after', 'dag_run.queued_at'])
        .select((eb) => eb.fn.min('h.start_date').as('first'))
        .where('dag_run.dag_id', '=', SCHEDULE_DAG_ID)
        .where('dag_run.run_type', '=', 'scheduled')
        .where('dag_run.run_after', '>=', from)
        .groupBy(['dag_run.run_after', 'dag_run.queued_at'])
        .execute()) as typeof rows;
      if (rows.filter((r) => r.first !== null).length >= fires) break;
      if (Date.now() > deadline)
        throw new Error(`only ${rows.length} of ${fires} scheduled runs started within the deadline`);
      await new Promise((r) => setTimeout(r, 500));
    }
  } finally {
    await setDagPaused(db, SCHEDULE_DAG_ID, true);
    await syncDagSchedule(ctx, SCHEDULE_DAG_ID);
  }
  const started = rows.filter((r) => r.first !== null && r.run_after !== null && r.queued_at !== null).slice(0, fires);
  const total = started.map((r) => r.first!.getTime() - r.run_after!.getTime());
  const toRecord = started.map((r) => r.queued_at!.getTime() - r.run_after!.getTime());
  const toTask = started.map((r) => r.first!.getTime() - r.queued_at!.getTime());
  return {
    fires: started.length,
    due_to_first_task_ms_median: median(total),
    due_to_first_task_ms_p95: percentile(total, 95),
    due_to_run_recorded_ms_median: median(toRecord),
    run_recorded_to_first_task_ms_median: median(toTask),
    target: 'median due -> first task start well under 1,000 ms (Airflow: seconds)',
  };
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'updraft-bench-schedule-'));
  const dags = path.join(home, 'dags');
  fs.mkdirSync(dags);
  writeScheduleDag(dags);
  const base = loadConfig({}, home);
  const stack = await startStack({
    config: { ...base, dagsFolder: dags, devTemporalPort: await freePort() },
    embeddedTemporal: 'ephemeral',
    log: (l) => process.stderr.write(`[bench] ${l}\n`),
  });
  try {
    const report = {
      date: new Date().toISOString(),
      machine: { cpus: os.cpus().length, cpu: os.cpus()[0]?.model, node: process.version },
      setup: 'embedded defaults: temporal CLI dev server (in memory), PGlite, one worker',
      schedule_latency: await measureScheduleLatency(stack, Number(process.env.BENCH_SCHEDULE_FIRES ?? 10)),
    };
    await stack.client.schedule
      .getHandle(scheduleIdFor(SCHEDULE_DAG_ID))
      .delete()
      .catch(() => undefined);
    process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  } finally {
    await stack.stop();
    fs.rmSync(home, { recursive: true, force: true });
  }
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exit(1);
  });
}
