/**
 * Lineage query benchmark (issue 10): a registry with 1,000 model versions and 100,000 artifacts,
 * filled with batch inserts, then the upstream of a model version and the downstream of a data set
 * timed over repeated queries (median, p95). Not part of the tests.
 *
 *   npm run build && node dist/bench/lineage.js            (Postgres from UPDRAFT_TEST_DATABASE_URL
 *                                                           when set, and PGlite)
 *   BENCH_LINEAGE_DB=postgres|pglite   one database only;  BENCH_REPEAT=50   queries per measurement
 *
 * The graph: 1,000 DAG runs of extract -> prepare -> train -> evaluate. Every extract reads one
 * shared source data set; prepare writes 95 feature shards plus a train and a test split; train
 * reads the train split and all 95 shards and writes the model (registered: 10 models x 100
 * versions); evaluate reads model and test split and writes a report. 100 artifacts per run
 * (+1 source), 4,000 executions, ~198,000 lineage events.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { sql, type Kysely } from 'kysely';
import { openDatabase, type DatabaseHandle, type DatabaseKind } from '../db/connect.js';
import type { Database } from '../db/database.js';
import { migrateToLatest } from '../db/migrate.js';
import { downstreamOfArtifacts } from '../db/lineage.repository.js';
import { upstreamOfModelVersion } from '../db/model-registry.repository.js';
import { median, percentile } from './stats.js';

const RUNS = 1000;
const PER_RUN = 100; // artifacts per run: raw, 95 shards, train, test, model, report
const SHARDS = 95;
const MODELS = 10;
const REPEAT = Number(process.env['BENCH_REPEAT'] ?? 50);

/** Artifact ids are computed: run r (1-based), slot k (1..100). */
const artifactId = (r: number, k: number) => (r - 1) * PER_RUN + k;
const SOURCE_ID = RUNS * PER_RUN + 1;
// Slots within a run.
const RAW = 1;
const TRAIN = SHARDS + 2;
const TEST = SHARDS + 3;
const MODEL = SHARDS + 4;
const REPORT = SHARDS + 5;

async function fill(db: Kysely<Database>): Promise<Record<string, number>> {
  const t0 = Date.now();
  // Artifacts: 100 per run + the shared source; sha256 of a distinct text each.
  await sql`
    insert into artifact (id, sha256, uri, name, type, format, size)
    select id, encode(sha256(convert_to('artifact-' || id, 'UTF8')), 'hex'),
           'file:///bench/' || id, 'a' || id,
           case when k = ${MODEL} then 'model' when k = ${REPORT} then 'report' else 'dataset' end,
           case when k = ${MODEL} then 'onnx' else 'csv' end, 1000 + k
    from (select g as id, ((g - 1) % ${PER_RUN}) + 1 as k from generate_series(1, ${RUNS * PER_RUN}) g) s`.execute(db);
  await sql`insert into artifact (id, sha256, uri, name, type, size) values
    (${SOURCE_ID}, encode(sha256(convert_to('source', 'UTF8')), 'hex'), 'file:///bench/source', 'source', 'dataset', 1)`.execute(
    db,
  );
  await sql`select setval(pg_get_serial_sequence('artifact', 'id'), ${SOURCE_ID})`.execute(db);

  // Executions: 4 per run, id = (r-1)*4 + j (1 extract, 2 prepare, 3 train, 4 evaluate).
  await sql`
    insert into execution (id, dag_id, run_id, task_id, map_index, try_number, state, code_version, params)
    select (r - 1) * 4 + j, 'bench', 'run_' || r,
           (array['extract', 'prepare', 'train', 'evaluate'])[j], -1, 1, 'success', 'spec-' || (r % 7),
           case when j = 3 then jsonb_build_object('n_estimators', 100 + r % 50) else '{}'::jsonb end
    from generate_series(1, ${RUNS}) r, generate_series(1, 4) j`.execute(db);
  await sql`select setval(pg_get_serial_sequence('execution', 'id'), ${RUNS * 4})`.execute(db);

  const x = (j: number) => sql`(r - 1) * 4 + ${j}`;
  const a = (k: number | ReturnType<typeof sql>) => sql`(r - 1) * ${PER_RUN} + ${k}`;
  const runs = sql`generate_series(1, ${RUNS}) r`;
  const events: Array<ReturnType<typeof sql>> = [
    sql`select ${x(1)}, ${SOURCE_ID}::bigint, 'input' from ${runs}`,
    sql`select ${x(1)}, ${a(RAW)}, 'output' from ${runs}`,
    sql`select ${x(2)}, ${a(RAW)}, 'input' from ${runs}`,
    sql`select ${x(2)}, ${a(sql`k`)}, 'output' from ${runs}, generate_series(2, ${TEST}) k`,
    sql`select ${x(3)}, ${a(sql`k`)}, 'input' from ${runs}, generate_series(2, ${TRAIN}) k`,
    sql`select ${x(3)}, ${a(MODEL)}, 'output' from ${runs}`,
    sql`select ${x(4)}, ${a(MODEL)}, 'input' from ${runs}`,
    sql`select ${x(4)}, ${a(TEST)}, 'input' from ${runs}`,
    sql`select ${x(4)}, ${a(REPORT)}, 'output' from ${runs}`,
  ];
  for (const select of events)
    await sql`insert into lineage_event (execution_id, artifact_id, kind) ${select}`.execute(db);

  // 10 models x 100 versions: run r registers version ceil(r / 10) of model (r - 1) % 10.
  await sql`insert into registered_model (name) select 'model_' || m from generate_series(0, ${MODELS - 1}) m`.execute(
    db,
  );
  await sql`
    insert into model_version (model_id, version, artifact_id, sha256, uri, format, source_execution_id,
                               source_dag_id, source_run_id, source_task_id, source_map_index, source_try_number)
    select m.id, (r + ${MODELS - 1}) / ${MODELS}, art.id, art.sha256, art.uri, 'onnx', (r - 1) * 4 + 3,
           'bench', 'run_' || r, 'train', -1, 1
    from generate_series(1, ${RUNS}) r
    join registered_model m on m.name = 'model_' || ((r - 1) % ${MODELS})
    join artifact art on art.id = (r - 1) * ${PER_RUN} + ${MODEL}`.execute(db);
  await sql`analyze`.execute(db);

  const counts = await sql<{ artifacts: number; executions: number; events: number; versions: number }>`
    select (select count(*) from artifact) as artifacts, (select count(*) from execution) as executions,
           (select count(*) from lineage_event) as events, (select count(*) from model_version) as versions`.execute(
    db,
  );
  return { ...counts.rows[0]!, fill_ms: Date.now() - t0 };
}

async function time(
  repeat: number,
  fn: (i: number) => Promise<unknown>,
): Promise<{ median_ms: number; p95_ms: number; n: number }> {
  await fn(-1); // warm-up (plans, caches)
  const ms: number[] = [];
  for (let i = 0; i < repeat; i++) {
    const t = process.hrtime.bigint();
    await fn(i);
    ms.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return { median_ms: round(median(ms)), p95_ms: round(percentile(ms, 95)), n: repeat };
}

const round = (v: number) => Math.round(v * 100) / 100;

async function open(kind: DatabaseKind): Promise<{ handle: DatabaseHandle; cleanup: () => Promise<void> }> {
  if (kind === 'pglite') {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'updraft-bench-lineage-'));
    const handle = await openDatabase({ pglitePath: dir });
    return {
      handle,
      cleanup: async () => {
        await handle.close();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const base = process.env['UPDRAFT_TEST_DATABASE_URL'];
  if (!base)
    throw new Error(
      'UPDRAFT_TEST_DATABASE_URL is not set (start scripts/services/postgres.sh) or use BENCH_LINEAGE_DB=pglite',
    );
  const name = `updraft_bench_${randomBytes(4).toString('hex')}`;
  const admin = await openDatabase({ url: base, poolSize: 1 });
  await sql`create database ${sql.id(name)}`.execute(admin.db);
  const u = new URL(base);
  u.pathname = `/${name}`;
  const handle = await openDatabase({ url: u.toString() });
  return {
    handle,
    cleanup: async () => {
      await handle.close();
      await sql`drop database if exists ${sql.id(name)} with (force)`.execute(admin.db);
      await admin.close();
    },
  };
}

async function benchOne(kind: DatabaseKind): Promise<Record<string, unknown>> {
  const { handle, cleanup } = await open(kind);
  try {
    const db = handle.db;
    await migrateToLatest(db);
    const filled = await fill(db);
    console.log(`[${kind}] filled: ${JSON.stringify(filled)}`);
    // Deterministic spread of picks over the registry.
    const pick = (i: number) => (((i + 1) * 7919) % RUNS) + 1;
    let upShape = '';
    const upstream = await time(REPEAT, async (i) => {
      const r = pick(i);
      const g = await upstreamOfModelVersion(db, `model_${(r - 1) % MODELS}`, Math.ceil(r / MODELS));
      upShape = `${g.artifacts.length} artifacts, ${g.executions.length} executions, ${g.events.length} events, ${g.runs.length} run`;
      if (g.artifacts.length !== SHARDS + 4 || g.executions.length !== 3)
        throw new Error(`unexpected upstream shape: ${upShape}`);
    });
    let downShape = '';
    const downstream = await time(REPEAT, async (i) => {
      const g = await downstreamOfArtifacts(db, [artifactId(pick(i), RAW)]);
      downShape = `${g.artifacts.length} artifacts, ${g.executions.length} executions, ${g.events.length} events, ${g.modelVersions.length} model version`;
      if (g.artifacts.length !== PER_RUN || g.modelVersions.length !== 1)
        throw new Error(`unexpected downstream shape: ${downShape}`);
    });
    let allShape = '';
    const downstreamAll = await time(Math.max(3, Math.floor(REPEAT / 10)), async () => {
      const g = await downstreamOfArtifacts(db, [SOURCE_ID]);
      allShape = `${g.artifacts.length} artifacts, ${g.executions.length} executions, ${g.events.length} events, ${g.modelVersions.length} model versions`;
    });
    // The plans use the lineage_event indexes (no sequential scan of the event table).
    const plan = await sql<{ 'QUERY PLAN': string }>`explain
      select ein.artifact_id from lineage_event eout
      join lineage_event ein on ein.execution_id = eout.execution_id and ein.kind = 'input'
      where eout.artifact_id = ${artifactId(1, MODEL)} and eout.kind = 'output'`.execute(db);
    const planText = plan.rows.map((r) => r['QUERY PLAN']).join('\n');
    return {
      database: kind,
      ...filled,
      upstream_of_model_version: { ...upstream, result: upShape },
      downstream_of_run_dataset: { ...downstream, result: downShape },
      downstream_of_shared_source: { ...downstreamAll, result: allShape },
      walk_step_uses_indexes: !/Seq Scan on lineage_event/.test(planText),
    };
  } finally {
    await cleanup();
  }
}

async function main(): Promise<void> {
  const only = process.env['BENCH_LINEAGE_DB'] as DatabaseKind | undefined;
  const kinds: DatabaseKind[] = only
    ? [only]
    : process.env['UPDRAFT_TEST_DATABASE_URL']
      ? ['postgres', 'pglite']
      : ['pglite'];
  const results: Record<string, unknown>[] = [];
  for (const kind of kinds) results.push(await benchOne(kind));
  const report = {
    benchmark: 'lineage',
    at: new Date().toISOString(),
    host: { cpus: os.cpus().length, load: os.loadavg() },
    repeat: REPEAT,
    results,
  };
  const outDir = path.resolve(__dirname, '..', '..', 'bench', 'results');
  fs.mkdirSync(outDir, { recursive: true });
  const file = path.join(outDir, `lineage-${report.at.replace(/:/g, '-')}.json`);
  fs.writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  console.log(JSON.stringify(report, null, 2));
  console.log(`report: ${path.relative(process.cwd(), file)}`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
