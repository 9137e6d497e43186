/// <reference types="mocha" />
/**
 * Data-aware runs end to end, on the real Temporal dev server and a real database: a task's outlet
 * starts another DAG's run through the worker's AssetRunService (the same dagRun workflow and record
 * a trigger makes, run type asset_triggered, Airflow's run id), AND/OR conditions, the run's
 * triggering_asset_events in the task context and in templates, and a folder watcher in the worker
 * turning new files into runs, with two workers on one database firing each file once.
 */
import { expect } from 'chai';
import fs from 'node:fs';
import path from 'node:path';
import { AssetClient } from '../../client/assets.js';
import { dagRunResult } from '../../client/run-result.js';
import { Client, Connection, WorkflowNotFoundError } from '@temporalio/client';
import { assetRunStarter, isPermanentStartError } from '../../client/asset-runs.js';
import { TemporalStartError, dagRunWorkflowId, triggerDagRun } from '../../client/trigger.js';
import { getAssetTriggeredRun, type AssetTriggeredRun } from '../../db/asset-triggered-run.repository.js';
import type { DagRunRow } from '../../db/database.js';
import { createDagRun, getDagRun, listDagRuns } from '../../db/dag-run.repository.js';
import { getLatestDagVersion, setDagPaused } from '../../db/dag.repository.js';
import { getXCom } from '../../db/xcom.repository.js';
import { readTaskLog } from '../../db/task-log.repository.js';
import { startStack, type Stack } from '../../worker/stack.js';
import { RUN_TYPE } from '../../workflows/search-attributes.js';
import { tempDir } from '../helpers/servers.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { startRun } from '../workflows/helpers.js';

/** Airflow 3's run id for a run without a logical date: asset_triggered__<run_after isoformat>_<suffix>. */
const ASSET_RUN_ID = /^asset_triggered__\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{6})?\+00:00_\d{8,}$/;

function writeDags(dir: string, files: Record<string, string>): string {
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, code] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), code);
  return dir;
}

async function waitForRuns(stack: Stack, dagId: string, count: number, timeoutMs = 60_000): Promise<DagRunRow[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const runs = (await listDagRuns(stack.database.db, dagId)).reverse();
    if (runs.length >= count) return runs;
    if (Date.now() > deadline)
      throw new Error(`waited ${timeoutMs} ms for ${count} run(s) of ${dagId}, saw ${runs.length}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until the worker's asset-run service has made `n` more passes (woken now, not at its next poll). */
async function morePasses(stack: TestStack, n: number): Promise<void> {
  const target = stack.assets!.runs.passes + n;
  while (stack.assets!.runs.passes < target) {
    stack.assets!.runs.nudge();
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The run's final state. The record is written just before its workflow starts, so wait for the workflow too. */
async function finished(stack: Stack, run: DagRunRow): Promise<string> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      return (await dagRunResult(stack.client.workflow.getHandle(run.workflow_id))).state;
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError) || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

const PRODUCER_DAGS = {
  'producer.ts': `import { Asset, dag, FailTask } from 'updraft';
export const orders = Asset('s3://lake/raw/orders/', { group: 'lake' });
export default dag({ dagId: 'producer', tags: ['assets'] }, (d) => {
  d.task({ taskId: 'load', outlets: [orders], retries: 1, retryDelay: 0 }, (_: void, ctx) => {
    // The first try fails: a failed try emits nothing (Airflow emits outlet events only on success).
    if (ctx.tryNumber === 1 && ctx.params.fail_first) throw new Error('transient');
    ctx.outletEvents.get('s3://lake/raw/orders').extra = { rows: 1200, try: ctx.tryNumber };
    return 'loaded';
  });
});
`,
  // A process step sets its outlet events' extras through outlet_events.json (step output protocol).
  'producer_proc.ts': `import { Asset, dag } from 'updraft';
const landed = Asset('s3://lake/raw/landed');
const write = (body: string) => ['sh', '-c', 'printf %s "$0" > "$UPDRAFT_OUTPUT_DIR/outlet_events.json"', body];
export default dag({ dagId: 'producer_proc' }, (d) => {
  d.process({ taskId: 'land', outlets: [landed], argv: write('{"s3://lake/raw/landed": {"extra": {"rows": 7, "file": "a.csv"}}}') });
  d.process({ taskId: 'stray', outlets: [landed], retries: 2, argv: write('{"s3://lake/raw/other": {"extra": {}}}') });
});
`,
  'consumer.ts': `import { Asset, dag } from 'updraft';
export default dag({ dagId: 'consumer', schedule: [Asset('s3://lake/raw/orders')] }, (d) => {
  const read = d.task({ taskId: 'read' }, (_: void, ctx) => ({
    logical_date: ctx.logicalDate,
    events: ctx.triggeringAssetEvents,
  }));
  const echo = d.process({
    taskId: 'echo',
    argv: ['sh', '-c', 'echo "rows={{ triggering_asset_events[\\'s3://lake/raw/orders\\'][0].extra.rows }} run={{ run_id }}"'],
  });
  d.chain(read, echo);
});
`,
  'conditions.ts': `import { Asset, AssetAll, AssetAny, dag } from 'updraft';
const a = Asset('s3://cond/a'), b = Asset('s3://cond/b'), c = Asset('s3://cond/c');
const body = (d: any) => void d.task({ taskId: 't' }, (_: void, ctx: any) => Object.keys(ctx.triggeringAssetEvents).sort());
export const both = dag({ dagId: 'cond_and', schedule: [a, b] }, body);
export const either = dag({ dagId: 'cond_or', schedule: AssetAny(a, c) }, body);
export const nested = dag({ dagId: 'cond_nested', schedule: AssetAll(a, AssetAny(b, c)) }, body);
export const paused = dag({ dagId: 'cond_paused', schedule: [c] }, body);
`,
};

describe('worker: data-aware runs on Temporal', function () {
  this.timeout(180_000);
  for (const kind of ['postgres', 'pglite'] as const) {
    describe(kind, function () {
      let stack: TestStack;
      let dags: string;

      before(async function () {
        dags = writeDags(tempDir('asset-dags'), PRODUCER_DAGS);
        stack = await startTestStack({ dagsFolder: dags, db: kind });
        expect(stack.bag.importErrors).to.deep.equal([]);
        expect(stack.assets).to.not.equal(null);
      });

      after(async function () {
        await stack?.stop();
        fs.rmSync(dags, { recursive: true, force: true });
      });

      it("a successful task's outlet starts the consuming DAG's run: asset_triggered, no logical date, its events in the context and templates", async function () {
        const producer = await startRun(stack, 'producer', { conf: { fail_first: true } });
        expect((await dagRunResult(producer.handle)).state).to.equal('success');
        const [run] = await waitForRuns(stack, 'consumer', 1);
        expect(await finished(stack, run!)).to.equal('success');
        expect(run!.run_type).to.equal('asset_triggered');
        expect(run!.run_id).to.match(ASSET_RUN_ID);
        expect(run!.logical_date).to.equal(null);
        expect(run!.workflow_id).to.equal(dagRunWorkflowId('consumer', run!.run_id));
        const described = await stack.client.workflow.getHandle(run!.workflow_id).describe();
        expect(described.typedSearchAttributes.get(RUN_TYPE)).to.equal('asset_triggered');

        // One event, from the successful second try only, with the extra the task set.
        const db = stack.database.db;
        const events = await db
          .selectFrom('asset_event')
          .selectAll()
          .where('source_run_id', '=', producer.runId)
          .execute();
        expect(events.map((e) => [e.source_dag_id, e.source_task_id, e.source_map_index, e.extra])).to.deep.equal([
          ['producer', 'load', -1, { rows: 1200, try: 2 }],
        ]);
        const claim = await getAssetTriggeredRun(db, 'consumer', run!.run_id);
        expect(claim).to.include({ state: 'started', event_count: 1 });

        const value = (await getXCom(db, {
          dag_id: 'consumer',
          run_id: run!.run_id,
          task_id: 'read',
          map_index: -1,
          key: 'return_value',
        })) as {
          logical_date: null;
          events: Record<string, Array<Record<string, unknown>>>;
        };
        expect(value.logical_date).to.equal(null);
        expect(Object.keys(value.events)).to.deep.equal(['s3://lake/raw/orders']);
        const [event] = value.events['s3://lake/raw/orders']!;
        expect(event).to.deep.include({
          id: events[0]!.id,
          asset: { uri: 's3://lake/raw/orders', name: 's3://lake/raw/orders/', group: 'lake' },
          extra: { rows: 1200, try: 2 },
          source_kind: 'task',
          source_dag_id: 'producer',
          source_run_id: producer.runId,
          source_task_id: 'load',
          source_map_index: -1,
        });
        const lines = (
          await readTaskLog(db, {
            dag_id: 'consumer',
            run_id: run!.run_id,
            task_id: 'echo',
            map_index: -1,
            try_number: 1,
          })
        ).map((l) => l.line);
        expect(lines).to.include(`rows=1200 run=${run!.run_id}`);
      });

      it("a process step's outlet_events.json sets its events' extras; a uri that is no outlet fails the try without retries", async function () {
        const run = await startRun(stack, 'producer_proc');
        expect((await dagRunResult(run.handle)).state).to.equal('failed');
        const db = stack.database.db;
        const events = await db.selectFrom('asset_event').selectAll().where('source_run_id', '=', run.runId).execute();
        expect(events.map((e) => [e.source_task_id, e.extra])).to.deep.equal([['land', { rows: 7, file: 'a.csv' }]]);
        const stray = await db
          .selectFrom('task_instance')
          .selectAll()
          .where('dag_id', '=', 'producer_proc')
          .where('run_id', '=', run.runId)
          .where('task_id', '=', 'stray')
          .executeTakeFirstOrThrow();
        expect(stray.state).to.equal('failed');
        expect(stray.try_number, 'no retries for a protocol error').to.equal(1);
        expect(stray.error).to.equal(
          `step output protocol: outlet_events.json: [0]: not an outlet of task "stray" (its outlets: 's3://lake/raw/landed'); add the asset to the task's outlets or fix the uri`,
        );
      });

      it('starting a claimed run again (a re-drive after a crash) starts a recorded run once; Temporal away leaves it queued', async function () {
        const db = stack.database.db;
        const runId = `asset_triggered__2026-01-01T00:00:00+00:00_${String(Date.now()).slice(-8)}`;
        const version = (await getLatestDagVersion(db, 'producer'))!;
        // The crashed starter recorded the run but never reached Temporal.
        await createDagRun(db, {
          dag_id: 'producer',
          run_id: runId,
          state: 'queued',
          run_type: 'asset_triggered',
          workflow_id: dagRunWorkflowId('producer', runId),
          dag_version_id: version.id,
          logical_date: null,
          data_interval_start: null,
          data_interval_end: null,
          conf: {},
          queued_at: new Date(),
        });
        const claim = { dag_id: 'producer', run_id: runId, run_after: new Date() } as AssetTriggeredRun;
        // Temporal unreachable (a closed connection): the run stays queued for the next attempt.
        const closed = await Connection.connect({ address: stack.temporalAddress });
        await closed.close();
        const offline = assetRunStarter(db, new Client({ connection: closed, namespace: stack.config.namespace }), {
          runOptions: stack.config.run,
        });
        const err = await offline(claim).then(
          () => null,
          (e: Error) => e,
        );
        expect(err).to.be.instanceOf(TemporalStartError);
        expect(isPermanentStartError(err)).to.equal(false);
        expect((await getDagRun(db, 'producer', runId))!.state).to.equal('queued');

        const start = assetRunStarter(db, stack.client, { runOptions: stack.config.run });
        await start(claim);
        const handle = stack.client.workflow.getHandle(dagRunWorkflowId('producer', runId));
        expect((await dagRunResult(handle)).state).to.equal('success');
        const firstExecution = (await handle.describe()).runId;
        await start(claim);
        expect((await handle.describe()).runId).to.equal(firstExecution);
        expect((await getDagRun(db, 'producer', runId))!.state).to.equal('success');
        // A person choosing that run id gets the usual duplicate error.
        const dup = await triggerDagRun(db, stack.client, {
          dagId: 'producer',
          runId,
          runOptions: stack.config.run,
        }).then(
          () => null,
          (e: Error) => e,
        );
        expect(dup?.message).to.contain('already exists');
      });

      it('AND, OR and nested conditions start exactly the runs their conditions call for; a paused DAG queues nothing', async function () {
        const db = stack.database.db;
        await setDagPaused(db, 'cond_paused', true);
        const client = await AssetClient.connect({ db });
        const emit = async (uri: string): Promise<string[]> => (await client.emit(uri, { extra: { uri } })).queued_for;
        const runsOf = async (dagId: string): Promise<DagRunRow[]> => (await listDagRuns(db, dagId)).reverse();
        const keysOf = async (run: DagRunRow): Promise<string[]> => {
          expect(await finished(stack, run)).to.equal('success');
          return (await getXCom(db, {
            dag_id: run.dag_id,
            run_id: run.run_id,
            task_id: 't',
            map_index: -1,
            key: 'return_value',
          })) as string[];
        };

        // a: OR is satisfied at once; AND and nested wait.
        expect(await emit('s3://cond/a')).to.deep.equal(['cond_and', 'cond_nested', 'cond_or']);
        const [or1] = await waitForRuns(stack, 'cond_or', 1);
        expect(await keysOf(or1!)).to.deep.equal(['s3://cond/a']);
        // c: OR again; nested (a & (b | c)) is now satisfied; AND (a & b) still waits; the paused DAG gets nothing.
        expect(await emit('s3://cond/c')).to.deep.equal(['cond_nested', 'cond_or']);
        const [, or2] = await waitForRuns(stack, 'cond_or', 2);
        expect(await keysOf(or2!)).to.deep.equal(['s3://cond/c']);
        const [nested1] = await waitForRuns(stack, 'cond_nested', 1);
        expect(await keysOf(nested1!)).to.deep.equal(['s3://cond/a', 's3://cond/c']);
        // b: AND (its a is still queued) runs; nested needs a again.
        expect(await emit('s3://cond/b')).to.deep.equal(['cond_and', 'cond_nested']);
        const [and1] = await waitForRuns(stack, 'cond_and', 1);
        expect(await keysOf(and1!)).to.deep.equal(['s3://cond/a', 's3://cond/b']);

        // Let any pass that could wrongly start more runs happen, then count exactly.
        await morePasses(stack, 3);
        expect((await runsOf('cond_or')).length).to.equal(2);
        expect((await runsOf('cond_nested')).length).to.equal(1);
        expect((await runsOf('cond_and')).length).to.equal(1);
        expect(await runsOf('cond_paused')).to.deep.equal([]);
        // Unpausing does not start a run for what was emitted while paused (Airflow's rule).
        await setDagPaused(db, 'cond_paused', false);
        await morePasses(stack, 3);
        expect(await runsOf('cond_paused')).to.deep.equal([]);
        expect(await emit('s3://cond/c')).to.include('cond_paused');
        await waitForRuns(stack, 'cond_paused', 1);
        await client.close();
      });
    });
  }
});

describe('worker: a folder watcher starts a pipeline', function () {
  this.timeout(180_000);
  let first: TestStack;
  let second: Stack | null = null;
  let dags: string;
  let landing: string;

  before(async function () {
    landing = tempDir('landing');
    dags = writeDags(tempDir('watcher-dags'), {
      'ingest.ts': `import { Asset, dag } from 'updraft';
const landing = Asset('file://${landing}', { watchers: [{ type: 'folder', glob: '*.csv', pollInterval: '1s', minAge: '0s' }] });
export default dag({ dagId: 'ingest', schedule: [landing] }, (d) => {
  d.task({ taskId: 'files' }, (_: void, ctx) => Object.values(ctx.triggeringAssetEvents).flat().map((e) => e.extra.path).sort());
});
`,
    });
    first = await startTestStack({ dagsFolder: dags, db: 'postgres' });
    expect(first.bag.importErrors).to.deep.equal([]);
    // A second worker on the same database and task queue: watchers and consumers race.
    second = await startStack({
      config: { ...first.config, home: tempDir('home2') },
      gpu: { devices: [], gpuType: null, source: 'none' },
    });
  });

  after(async function () {
    await second?.stop();
    if (second) fs.rmSync(second.config.home, { recursive: true, force: true });
    await first?.stop();
    fs.rmSync(dags, { recursive: true, force: true });
    fs.rmSync(landing, { recursive: true, force: true });
  });

  it('new files become one event each and runs that see them; two workers never double-fire', async function () {
    const db = first.database.db;
    // Both workers run the watcher; one holds its lease.
    const deadline = Date.now() + 30_000;
    while (!(await db.selectFrom('asset_watcher').select('initialized_at').executeTakeFirst())?.initialized_at) {
      if (Date.now() > deadline) throw new Error('the folder watcher never took its first look');
      await new Promise((r) => setTimeout(r, 100));
    }
    const files = ['a.csv', 'b.csv', 'c.csv', 'd.csv'];
    for (const [i, name] of files.entries()) {
      fs.writeFileSync(path.join(landing, name), `row,${i}\n`);
      fs.writeFileSync(path.join(landing, `${name}.tmp`), 'ignored by the glob');
      await new Promise((r) => setTimeout(r, 700));
    }
    const expected = files.map((f) => path.join(landing, f));
    let seen: string[] = [];
    const until = Date.now() + 60_000;
    while (seen.length < files.length) {
      if (Date.now() > until) throw new Error(`runs saw ${JSON.stringify(seen)}, expected ${JSON.stringify(expected)}`);
      await new Promise((r) => setTimeout(r, 200));
      seen = [];
      for (const run of await listDagRuns(db, 'ingest')) {
        if (run.state !== 'success') continue;
        seen.push(
          ...((await getXCom(db, {
            dag_id: 'ingest',
            run_id: run.run_id,
            task_id: 'files',
            map_index: -1,
            key: 'return_value',
          })) as string[]),
        );
      }
    }
    expect(seen.sort()).to.deep.equal(expected);
    const events = await db.selectFrom('asset_event').select(['source_kind', 'source_watcher', 'extra']).execute();
    expect(events).to.have.length(files.length);
    expect(events.every((e) => e.source_kind === 'watcher')).to.equal(true);
    const runs = await listDagRuns(db, 'ingest');
    expect(runs.every((r) => r.run_type === 'asset_triggered')).to.equal(true);
    const consumed = await db
      .selectFrom('dagrun_asset_event')
      .select(({ fn }) => fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(consumed.n)).to.equal(files.length);
  });

  it('a DAG file added to the running workers brings its watcher; removing the file stops it', async function () {
    const db = first.database.db;
    const drop = tempDir('landing2');
    const file = path.join(dags, 'late.ts');
    fs.writeFileSync(
      file,
      `import { Asset, dag } from 'updraft';
const drop = Asset('file://${drop}', { watchers: [{ type: 'folder', name: 'late_drop', pollInterval: '1s', minAge: '0s' }] });
export default dag({ dagId: 'late', schedule: [drop] }, (d) => void d.task({ taskId: 'got' }, (_: void, ctx) => Object.keys(ctx.triggeringAssetEvents)));
`,
    );
    try {
      // The DAG processors (fs.watch) parse the new file and start its watcher; it takes its baseline.
      const deadline = Date.now() + 60_000;
      while (
        !(
          await db
            .selectFrom('asset_watcher')
            .select('initialized_at')
            .where('name', '=', 'late_drop')
            .executeTakeFirst()
        )?.initialized_at
      ) {
        if (Date.now() > deadline) throw new Error("the new DAG file's watcher never started");
        await new Promise((r) => setTimeout(r, 100));
      }
      fs.writeFileSync(path.join(drop, 'x.json'), '{}');
      const [run] = await waitForRuns(first, 'late', 1);
      expect(await finished(first, run!)).to.equal('success');
      expect(
        await getXCom(db, { dag_id: 'late', run_id: run!.run_id, task_id: 'got', map_index: -1, key: 'return_value' }),
      ).to.deep.equal([`file://${drop}`]);

      fs.rmSync(file);
      // Both workers stop the watcher and give its lease up; a new file fires nothing.
      const until = Date.now() + 60_000;
      while (
        (await db.selectFrom('asset_watcher').select('owner').where('name', '=', 'late_drop').executeTakeFirstOrThrow())
          .owner !== null
      ) {
        if (Date.now() > until) throw new Error("the removed DAG file's watcher kept its lease");
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(first.assets!.watchers.status().map((w) => w.name)).to.not.include('late_drop');
      fs.writeFileSync(path.join(drop, 'y.json'), '{}');
      await new Promise((r) => setTimeout(r, 2500));
      const events = await db
        .selectFrom('asset_event')
        .select('extra')
        .where('source_watcher', '=', 'late_drop')
        .execute();
      expect(events.map((e) => e.extra['path'])).to.deep.equal([path.join(drop, 'x.json')]);
    } finally {
      fs.rmSync(file, { force: true });
      fs.rmSync(drop, { recursive: true, force: true });
    }
  });
});
