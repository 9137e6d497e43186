/**
 * Assets benchmark (not part of the tests): `npm run build && node dist/bench/assets.js` on PGlite
 * in a temp dir, or with BENCH_DATABASE_URL=postgres://... on fresh databases created there.
 * Writes a JSON report to bench/results/assets-<date>.json. Measures
 *   (a) emitting: N events from C concurrent emitters, no consumers (events/s recorded);
 *   (b) consuming while emitting: one consumer loop per DAG (4 DAGs, AND/OR/nested/single): the
 *       events/s consumed ((DAG, event) pairs moved into runs) and the latency from an event's
 *       commit to the commit of the claim that consumed it (median, p95);
 *   (c) a backlog: 10,000 queued events (a third of them for the DAG) claimed by one run (ms);
 *   (d) end to end on a real stack (the embedded Temporal dev server, a worker with its
 *       AssetRunService): the latency from an event being recorded (asset_event.created_at) to the
 *       first task of the run it starts beginning (task_instance.start_date), median and p95 over
 *       BENCH_REPEAT events, for an event from a task's outlet (the worker wakes itself) and one
 *       emitted by another client (on Postgres a LISTEN wakes the worker; on PGlite, the poll).
 *   BENCH_EVENTS=2000 BENCH_EMITTERS=16 BENCH_REPEAT=20 node dist/bench/assets.js   (BENCH_ONLY_E2E=1: only (d))
 */
import fs from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { openDatabase, type DatabaseHandle } from '../db/connect.js';
import { syncAssetReferences } from '../db/asset.repository.js';
import { emitAssetEvent } from '../db/asset-event.repository.js';
import { consumeReadyRun } from '../db/asset-triggered-run.repository.js';
import { upsertDag } from '../db/dag.repository.js';
import type { Database } from '../db/database.js';
import { migrateToLatest } from '../db/migrate.js';
import type { AssetConditionSpec } from '../spec/dag-spec.js';
import { median, percentile } from './stats.js';
import { endToEnd } from './assets-e2e.js';

const N = Number(process.env['BENCH_EVENTS'] ?? 2000);
const EMITTERS = Number(process.env['BENCH_EMITTERS'] ?? 16);
const [A, B, C] = ['s3://bench/a', 's3://bench/b', 's3://bench/c'];
const asset = (uri: string): AssetConditionSpec => ({ type: 'asset', uri, name: uri });
const CONSUMERS: Array<{ dagId: string; condition: AssetConditionSpec }> = [
  { dagId: 'and_ab', condition: { type: 'all', conditions: [asset(A), asset(B)] } },
  { dagId: 'or_ac', condition: { type: 'any', conditions: [asset(A), asset(C)] } },
  {
    dagId: 'nested',
    condition: { type: 'all', conditions: [asset(A), { type: 'any', conditions: [asset(B), asset(C)] }] },
  },
  { dagId: 'single_b', condition: asset(B) },
];

async function fresh(): Promise<{
  open: (poolSize: number) => Promise<DatabaseHandle>;
  cleanup: () => Promise<void>;
  kind: string;
}> {
  if (process.env['BENCH_DATABASE_URL']) {
    const created = await freshDatabaseUrl();
    return {
      kind: 'postgres',
      open: (poolSize) => openDatabase({ url: created.url, poolSize }),
      cleanup: created.drop,
    };
  }
  const dir = await mkdtemp(path.join(os.tmpdir(), 'updraft-bench-assets-'));
  let handle: DatabaseHandle | undefined;
  return {
    kind: 'pglite',
    // One PGlite per directory: every "pool" is the same single connection.
    open: async () => (handle ??= await openDatabase({ pglitePath: dir })),
    cleanup: async () => {
      await handle?.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

async function setup(db: Kysely<Database>): Promise<void> {
  await migrateToLatest(db);
  for (const d of ['producer', ...CONSUMERS.map((c) => c.dagId)])
    await upsertDag(db, {
      dag_id: d,
      fileloc: `${d}.ts`,
      owners: 'bench',
      description: null,
      tags: [],
      schedule: null,
    });
  await syncAssetReferences(db, [
    { dag_id: 'producer', tasks: [{ task_id: 'load', outlets: [A, B, C].map((uri) => ({ uri, name: uri })) }] },
    ...CONSUMERS.map((c) => ({
      dag_id: c.dagId,
      timetable: { type: 'assets' as const, condition: c.condition },
      tasks: [],
    })),
  ]);
}

async function emitMany(db: Kysely<Database>, count: number, offset: number): Promise<Map<number, number>> {
  const committedAt = new Map<number, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: EMITTERS }, async () => {
      while (next < count) {
        const i = offset + next++;
        const e = await emitAssetEvent(db, { uri: [A, B, C][i % 3]!, extra: { i }, source: { kind: 'api' } });
        committedAt.set(e.event.id, performance.now());
      }
    }),
  );
  return committedAt;
}

async function recordBench(): Promise<Record<string, unknown>> {
  const target = await fresh();
  const emitDb = (await target.open(EMITTERS)).db;
  const consumeDb = (await target.open(CONSUMERS.length)).db;
  try {
    await setup(emitDb);
    // (a) emitting alone
    let t0 = performance.now();
    await emitMany(emitDb, N, 0);
    const emitSeconds = (performance.now() - t0) / 1000;
    // Drain what (a) queued, so (b) starts empty.
    for (const c of CONSUMERS) await consumeReadyRun(consumeDb, c.dagId, c.condition);
    await emitDb.deleteFrom('asset_dag_run_queue').execute();

    // (b) emitting with one consumer loop per DAG
    let emitting = true;
    const latencies: number[] = [];
    let pairs = 0;
    let committedAt = new Map<number, number>();
    const pendingClaims: Array<{ at: number; ids: number[] }> = [];
    const loops = CONSUMERS.map(async (c) => {
      let idle = 0;
      while (emitting || idle < 2) {
        const r = await consumeReadyRun(consumeDb, c.dagId, c.condition);
        if (r.status === 'claimed') {
          idle = 0;
          const ids = Object.values(r.run.triggering_asset_events)
            .flat()
            .map((e) => e.id);
          pairs += ids.length;
          pendingClaims.push({ at: performance.now(), ids });
        } else if (!emitting) idle++;
      }
    });
    t0 = performance.now();
    committedAt = await emitMany(emitDb, N, N);
    emitting = false;
    await Promise.all(loops);
    const consumeSeconds = (performance.now() - t0) / 1000;
    for (const claim of pendingClaims)
      for (const id of claim.ids) latencies.push(claim.at - (committedAt.get(id) ?? claim.at));

    // (c) a backlog of 10,000 events claimed by one run
    await emitMany(emitDb, 10_000, 2 * N);
    t0 = performance.now();
    const backlog = await consumeReadyRun(consumeDb, 'single_b', asset(B));
    const backlogMs = performance.now() - t0;
    const backlogEvents = backlog.status === 'claimed' ? backlog.run.event_count : 0;

    return {
      database: target.kind,
      events: N,
      emitters: EMITTERS,
      emit_events_per_s: Math.round(N / emitSeconds),
      consume_pairs: pairs,
      consume_events_per_s: Math.round(pairs / consumeSeconds),
      event_to_claim_ms: {
        median: Number(median(latencies).toFixed(1)),
        p95: Number(percentile(latencies, 95).toFixed(1)),
      },
      backlog_claim: { events: backlogEvents, ms: Math.round(backlogMs) },
    };
  } finally {
    await target.cleanup();
  }
}

async function main(): Promise<void> {
  const report: Record<string, unknown> = {
    benchmark: 'assets',
    date: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpu: os.cpus()[0]?.model,
      memoryGiB: Math.round(os.totalmem() / 2 ** 30),
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
      load_at_start: os.loadavg().map((l) => Number(l.toFixed(2))),
    },
  };
  if (!process.env['BENCH_ONLY_E2E']) report['record'] = await recordBench();
  report['end_to_end'] = await endToEnd(process.env['BENCH_DATABASE_URL'] ? await freshDatabaseUrl() : null);
  (report['machine'] as Record<string, unknown>)['load_at_end'] = os.loadavg().map((l) => Number(l.toFixed(2)));
  const outDir = path.resolve(__dirname, '..', '..', 'bench', 'results');
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `assets-${report['date'] as string}.json`.replace(/:/g, '-'));
  fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`${JSON.stringify(report, null, 2)}\nwritten to ${file}\n`);
}

/** A new database on BENCH_DATABASE_URL's server, and how to drop it. */
async function freshDatabaseUrl(): Promise<{ url: string; drop: () => Promise<void> }> {
  const base = process.env['BENCH_DATABASE_URL']!;
  const name = `updraft_bench_e2e_${randomBytes(4).toString('hex')}`;
  const admin = await openDatabase({ url: base, poolSize: 1 });
  await sql`create database ${sql.id(name)}`.execute(admin.db);
  const url = new URL(base);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      await sql`drop database if exists ${sql.id(name)} with (force)`.execute(admin.db);
      await admin.close();
    },
  };
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
