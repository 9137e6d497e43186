/**
 * The same sequence of repository calls on Postgres and on PGlite gives the same results: values,
 * JS types, ids, ordering. Columns defaulted to now() differ in value only, so they are checked to
 * be Dates and then masked.
 */
import { expect } from 'chai';
import type { Kysely } from 'kysely';
import type { Database } from '../../db/database.js';
import * as dags from '../../db/dag.repository.js';
import * as runs from '../../db/dag-run.repository.js';
import * as tis from '../../db/task-instance.repository.js';
import * as xcoms from '../../db/xcom.repository.js';
import * as logs from '../../db/task-log.repository.js';
import * as importErrors from '../../db/import-error.repository.js';
import { DIALECTS, openMigratedDatabase, rejectionOf, specBlob, type TestDatabase } from './test-database.js';

const NOW_COLUMNS = new Set(['created_at', 'updated_at', 'last_parsed_at', 'timestamp']);
const T0 = Date.parse('2026-11-23T10:00:00.000Z');
const at = (s: number): Date => new Date(T0 + s * 1000);

/** JSON-like snapshot that keeps JS types visible: Dates become {$date}, now() columns {$now}. */
function snapshot(value: unknown, column?: string): unknown {
  if (value instanceof Date) {
    if (column !== undefined && NOW_COLUMNS.has(column)) return { $now: true };
    return { $date: value.toISOString() };
  }
  if (Array.isArray(value)) return value.map((v) => snapshot(v));
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, snapshot(v, k)]));
  }
  if (typeof value === 'bigint') return { $bigint: value.toString() };
  return value;
}

async function scenario(db: Kysely<Database>): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  out['dag'] = await dags.upsertDag(db, {
    dag_id: 'ct',
    fileloc: 'dags/ct.ts',
    owners: 'ml',
    description: 'continuous training',
    tags: ['ml', 'gpu'],
    schedule: '0 3 * * *',
  });
  const spec = specBlob({
    dag_id: 'ct',
    tasks: [{ task_id: 'train', resources: { gpu: 2 } }],
    params: { lr: 0.001, layers: [64, 32] },
  });
  out['v1'] = await dags.upsertDagVersion(db, 'ct', 'h1', spec);
  out['v1_again'] = await dags.upsertDagVersion(db, 'ct', 'h1', spec);
  out['v2'] = await dags.upsertDagVersion(db, 'ct', 'h2', { ...spec, tasks: [] });
  out['latest'] = await dags.getLatestDagVersion(db, 'ct');
  out['version1'] = await dags.getDagVersion(db, 1);
  out['dags'] = await dags.listDags(db);
  out['inactive'] = await dags.markDagsInactiveExcept(db, ['ct']);

  out['run'] = await runs.createDagRun(db, {
    dag_id: 'ct',
    run_id: 'scheduled__2026-11-23T03:00:00+00:00',
    dag_version_id: 2,
    state: 'queued',
    run_type: 'scheduled',
    workflow_id: 'wf-1',
    logical_date: at(-25200),
    data_interval_start: at(-111600),
    data_interval_end: at(-25200),
    conf: { retrain: { reason: 'drift', psi: 0.31 }, models: ['a', 'b'] },
    queued_at: at(0),
  });
  out['duplicate'] = (
    await rejectionOf(
      runs.createDagRun(db, {
        dag_id: 'ct',
        run_id: 'scheduled__2026-11-23T03:00:00+00:00',
        state: 'queued',
        run_type: 'scheduled',
        workflow_id: 'x',
      }),
    )
  ).message;
  const runId = 'scheduled__2026-11-23T03:00:00+00:00';
  out['running'] = await runs.updateDagRunState(db, 'ct', runId, 'running', { start_date: at(1) });

  await tis.upsertTaskInstances(db, [
    { dag_id: 'ct', run_id: runId, task_id: 'extract', state: 'scheduled', max_tries: 2 },
    { dag_id: 'ct', run_id: runId, task_id: 'train', state: 'scheduled', max_tries: 3, pool: 'gpu' },
  ]);
  out['start1'] = await tis.recordTryStart(db, {
    dag_id: 'ct',
    run_id: runId,
    task_id: 'train',
    map_index: -1,
    try_number: 1,
    max_tries: 3,
    hostname: 'gpu-1',
    executor: 'docker',
    start_date: at(2),
  });
  out['end1'] = await tis.recordTryEnd(db, {
    dag_id: 'ct',
    run_id: runId,
    task_id: 'train',
    map_index: -1,
    try_number: 1,
    state: 'up_for_retry',
    end_date: at(4.75),
    exit_code: 137,
    error: 'OOMKilled',
    external_id: 'ct-train-1',
  });
  await tis.recordTryStart(db, {
    dag_id: 'ct',
    run_id: runId,
    task_id: 'train',
    map_index: -1,
    try_number: 2,
    max_tries: 3,
    hostname: 'gpu-2',
    executor: 'docker',
    start_date: at(64.75),
  });
  out['end2'] = await tis.recordTryEnd(db, {
    dag_id: 'ct',
    run_id: runId,
    task_id: 'train',
    map_index: -1,
    try_number: 2,
    state: 'success',
    end_date: at(100),
    exit_code: 0,
  });
  await tis.upsertTaskInstances(db, [
    { dag_id: 'ct', run_id: runId, task_id: 'extract', state: 'skipped', end_date: at(3) },
  ]);
  out['tis'] = await tis.listTaskInstances(db, 'ct', runId);
  out['history'] = await tis.listTaskInstanceHistory(db, 'ct', runId);

  out['xcom_size'] = await xcoms.setXCom(
    db,
    { dag_id: 'ct', run_id: runId, task_id: 'train', map_index: -1, key: 'return_value' },
    {
      model_uri: 'file:///models/ct/2',
      metrics: { auc: 0.91, loss: [0.7, 0.4, 0.31] },
      champion: null,
    },
  );
  out['xcoms'] = await xcoms.listXComs(db, 'ct', runId);
  out['xcom'] = await xcoms.getXCom(db, {
    dag_id: 'ct',
    run_id: runId,
    task_id: 'train',
    map_index: -1,
    key: 'return_value',
  });
  out['cleared'] = await xcoms.clearXComs(db, 'ct', runId, 'train', -1);

  await logs.appendTaskLogs(db, [
    {
      dag_id: 'ct',
      run_id: runId,
      task_id: 'train',
      map_index: -1,
      try_number: 1,
      stream: 'system',
      line: 'start',
      ts: at(2),
    },
    {
      dag_id: 'ct',
      run_id: runId,
      task_id: 'train',
      map_index: -1,
      try_number: 1,
      stream: 'stderr',
      line: 'Killed',
      ts: at(4),
    },
    {
      dag_id: 'ct',
      run_id: runId,
      task_id: 'train',
      map_index: -1,
      try_number: 2,
      stream: 'stdout',
      line: 'epoch 1',
      ts: at(70),
    },
  ]);
  out['log1'] = await logs.readTaskLog(db, {
    dag_id: 'ct',
    run_id: runId,
    task_id: 'train',
    map_index: -1,
    try_number: 1,
  });
  out['tries'] = await logs.listLogTries(db, { dag_id: 'ct', run_id: runId, task_id: 'train', map_index: -1 });

  out['import_errors'] = await importErrors.replaceImportErrors(db, [
    { filename: 'dags/broken.ts', stacktrace: 'SyntaxError' },
  ]);
  out['finished'] = await runs.updateDagRunState(db, 'ct', runId, 'success', { end_date: at(101) });
  out['runs'] = await runs.listDagRuns(db, 'ct', { state: ['success'] });
  out['count'] = await runs.countDagRuns(db, 'ct', ['success', 'running']);
  return out;
}

describe('postgres and pglite: identical results', function () {
  const opened: TestDatabase[] = [];
  after(async function () {
    await Promise.all(opened.map((t) => t.cleanup()));
  });

  it('runs the same scenario to deep-equal snapshots', async function () {
    const snapshots: unknown[] = [];
    for (const dialect of DIALECTS) {
      const t = await openMigratedDatabase(dialect);
      opened.push(t);
      snapshots.push(snapshot(await scenario(t.db)));
    }
    const [pg, lite] = snapshots as [Record<string, unknown>, Record<string, unknown>];
    for (const key of Object.keys(pg)) expect(lite[key], key).to.deep.equal(pg[key]);
    expect(lite).to.deep.equal(pg);
    // Spot checks that the snapshot has what it should, so equality is not vacuous.
    expect(pg['count']).to.equal(1);
    expect((pg['end1'] as { duration: number }).duration).to.equal(2.75);
    expect((pg['tis'] as Array<{ state: string }>).map((r) => r.state)).to.deep.equal(['skipped', 'success']);
    expect((pg['dag'] as { last_parsed_at: unknown }).last_parsed_at).to.deep.equal({ $now: true });
  });
});
