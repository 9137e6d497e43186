/**
 * bench/assets.ts (d): event → first task of the consuming run, on a real stack (the embedded
 * Temporal dev server in memory, a worker with its AssetRunService, PGlite or a fresh Postgres).
 * Timestamps come from the record: asset_event.created_at (the emitting transaction's clock) and
 * the consuming run's first task_instance.start_date (the worker's clock; same machine).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Runtime, DefaultLogger } from '@temporalio/worker';
import { triggerDagRun } from '../client/trigger.js';
import { emitAssetEvent } from '../db/asset-event.repository.js';
import { openDatabase, type DatabaseHandle } from '../db/connect.js';
import { listDagRuns } from '../db/dag-run.repository.js';
import { listTaskInstances } from '../db/task-instance.repository.js';
import { loadConfig } from '../worker/config.js';
import { startStack, type Stack } from '../worker/stack.js';
import { freePort } from '../worker/temporal-server.js';
import { median, percentile } from './stats.js';

const REPEAT = Number(process.env['BENCH_REPEAT'] ?? 20);
const PRODUCED = 'bench://e2e/produced';
const EMITTED = 'bench://e2e/emitted';

const DAGS = `import { Asset, dag } from 'updraft';
export const producer = dag({ dagId: 'bench_producer' }, (d) => void d.task({ taskId: 'produce', outlets: [Asset('${PRODUCED}')] }, () => undefined));
export const onOutlet = dag({ dagId: 'bench_on_outlet', schedule: [Asset('${PRODUCED}')] }, (d) => void d.task({ taskId: 'first' }, () => undefined));
export const onEmit = dag({ dagId: 'bench_on_emit', schedule: [Asset('${EMITTED}')] }, (d) => void d.task({ taskId: 'first' }, () => undefined));
`;

interface Sample {
  event_to_claim_ms: number;
  claim_to_first_task_ms: number;
  event_to_first_task_ms: number;
}

/** Waits for the consuming DAG's run number `n` to finish, and measures it against its one event. */
async function measure(stack: Stack, dagId: string, n: number): Promise<Sample> {
  const db = stack.database.db;
  const deadline = Date.now() + 60_000;
  for (;;) {
    const runs = await listDagRuns(db, dagId);
    if (runs.length > n)
      throw new Error(`${dagId}: ${runs.length} runs, expected ${n} (one event made more than one run)`);
    const run = runs.length === n ? runs[0] : undefined;
    if (run?.state === 'success') {
      const [ti] = await listTaskInstances(db, dagId, run.run_id);
      const claim = await db
        .selectFrom('asset_triggered_run')
        .selectAll()
        .where('dag_id', '=', dagId)
        .where('run_id', '=', run.run_id)
        .executeTakeFirstOrThrow();
      const events = await db
        .selectFrom('dagrun_asset_event as l')
        .innerJoin('asset_event as e', 'e.id', 'l.asset_event_id')
        .select('e.created_at')
        .where('l.dag_id', '=', dagId)
        .where('l.run_id', '=', run.run_id)
        .execute();
      if (events.length !== 1 || !ti?.start_date)
        throw new Error(
          `${dagId} ${run.run_id}: ${events.length} events, first task started ${String(ti?.start_date)}`,
        );
      const recorded = events[0]!.created_at.getTime();
      return {
        event_to_claim_ms: claim.claimed_at.getTime() - recorded,
        claim_to_first_task_ms: ti.start_date.getTime() - claim.claimed_at.getTime(),
        event_to_first_task_ms: ti.start_date.getTime() - recorded,
      };
    }
    if (run?.state === 'failed') throw new Error(`${dagId} ${run.run_id} failed`);
    if (Date.now() > deadline) throw new Error(`${dagId}: run ${n} did not finish within 60 s`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function summary(samples: readonly Sample[]): Record<string, unknown> {
  const stat = (k: keyof Sample) => ({
    median: Number(median(samples.map((s) => s[k])).toFixed(1)),
    p95: Number(
      percentile(
        samples.map((s) => s[k]),
        95,
      ).toFixed(1),
    ),
  });
  return {
    events: samples.length,
    event_to_first_task_ms: stat('event_to_first_task_ms'),
    event_to_claim_ms: stat('event_to_claim_ms'),
    claim_to_first_task_ms: stat('claim_to_first_task_ms'),
  };
}

export async function endToEnd(
  postgres: { url: string; drop: () => Promise<void> } | null,
): Promise<Record<string, unknown>> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const home = fs.mkdtempSync(path.join(os.tmpdir(), 'updraft-bench-assets-e2e-'));
  const dags = path.join(home, 'dags');
  fs.mkdirSync(dags);
  fs.writeFileSync(path.join(dags, 'bench_assets.ts'), DAGS);
  const base = loadConfig({}, home);
  const stack = await startStack({
    config: { ...base, dagsFolder: dags, databaseUrl: postgres?.url ?? null, devTemporalPort: await freePort() },
    embeddedTemporal: 'ephemeral',
    log: (l) => process.stderr.write(`[bench assets] ${l}\n`),
  });
  // Another client emits as the CLI or a program would: its own connection on Postgres; on PGlite
  // (one process owns it) the stack's own database, which wakes no one, so the poll finds it.
  let emitter: DatabaseHandle | null = null;
  try {
    emitter = postgres ? await openDatabase({ url: postgres.url, poolSize: 1 }) : null;
    const emitDb = emitter?.db ?? stack.database.db;
    const outlet: Sample[] = [];
    const emitted: Sample[] = [];
    // One warm-up of each (bundles, JIT, first pages), then REPEAT measured events, one at a time.
    for (let i = 0; i <= REPEAT; i++) {
      await triggerDagRun(stack.database.db, stack.client, { dagId: 'bench_producer', runOptions: stack.config.run });
      const o = await measure(stack, 'bench_on_outlet', i + 1);
      // At a random moment, not in step with the worker's poll (which the outlet's wake-up just reset).
      await new Promise((r) => setTimeout(r, Math.random() * stack.assets!.pollIntervalMs));
      await emitAssetEvent(emitDb, { uri: EMITTED, extra: { i }, source: { kind: 'api' } });
      const e = await measure(stack, 'bench_on_emit', i + 1);
      if (i === 0) continue;
      outlet.push(o);
      emitted.push(e);
      process.stderr.write(
        `[bench assets] ${i}/${REPEAT}: outlet → first task ${o.event_to_first_task_ms} ms, emit → first task ${e.event_to_first_task_ms} ms\n`,
      );
    }
    return {
      database: postgres ? 'postgres' : 'pglite',
      setup:
        'temporal CLI dev server in memory on this machine, one worker in this process, AssetRunService with the default poll interval',
      poll_interval_ms: stack.assets!.pollIntervalMs,
      wake_for_other_clients: postgres ? 'Postgres LISTEN/NOTIFY' : `poll every ${stack.assets!.pollIntervalMs} ms`,
      from_task_outlet: summary(outlet),
      from_other_client: summary(emitted),
    };
  } finally {
    await emitter?.close();
    await stack.stop();
    await postgres?.drop();
    fs.rmSync(home, { recursive: true, force: true });
  }
}
