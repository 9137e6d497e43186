import { expect } from 'chai';
import { upsertDag, upsertDagVersion } from '../../db/dag.repository.js';
import {
  countDagRuns,
  createDagRun,
  getDagRun,
  listDagRuns,
  updateDagRunState,
  type DagRunCreate,
} from '../../db/dag-run.repository.js';
import { DagRunExistsError, DagRunNotFoundError } from '../../db/errors.js';
import { DIALECTS, openMigratedDatabase, rejectionOf, specBlob, type TestDatabase } from './test-database.js';

const LOGICAL = new Date('2026-11-20T00:00:00.000Z');

function run(run_id: string, over: Partial<DagRunCreate> = {}): DagRunCreate {
  return {
    dag_id: 'etl',
    run_id,
    state: 'queued',
    run_type: 'scheduled',
    workflow_id: `dagrun:etl:${run_id}`,
    ...over,
  };
}

for (const dialect of DIALECTS) {
  describe(`${dialect}: dag_run repository`, function () {
    let t: TestDatabase;
    before(async function () {
      t = await openMigratedDatabase(dialect);
    });
    after(async function () {
      await t?.cleanup();
    });

    it('createDagRun stores every field and defaults the rest', async function () {
      await upsertDag(t.db, {
        dag_id: 'etl',
        fileloc: 'dags/etl.ts',
        owners: 'o',
        description: null,
        tags: [],
        schedule: '@daily',
      });
      const version = await upsertDagVersion(t.db, 'etl', 'h1', specBlob({ tasks: [] }));
      const row = await createDagRun(
        t.db,
        run('scheduled__2026-11-20T00:00:00+00:00', {
          dag_version_id: version.id,
          logical_date: LOGICAL,
          data_interval_start: new Date('2026-11-19T00:00:00Z'),
          data_interval_end: LOGICAL,
          conf: { model: { name: 'xgb', layers: [64, 32] }, dry_run: false, note: null },
          queued_at: new Date('2026-11-20T00:00:01.250Z'),
        }),
      );
      expect(row).to.deep.include({
        dag_id: 'etl',
        run_id: 'scheduled__2026-11-20T00:00:00+00:00',
        dag_version_id: version.id,
        state: 'queued',
        run_type: 'scheduled',
        workflow_id: 'dagrun:etl:scheduled__2026-11-20T00:00:00+00:00',
        start_date: null,
        end_date: null,
        last_error: null,
      });
      expect(row.id).to.be.a('number');
      expect(row.logical_date).to.deep.equal(LOGICAL);
      expect(row.data_interval_start).to.deep.equal(new Date('2026-11-19T00:00:00Z'));
      expect(row.queued_at?.toISOString()).to.equal('2026-11-20T00:00:01.250Z');
      expect(row.conf).to.deep.equal({ model: { name: 'xgb', layers: [64, 32] }, dry_run: false, note: null });
      expect(row.updated_at).to.be.instanceOf(Date);

      const minimal = await createDagRun(t.db, run('manual__1', { run_type: 'manual' }));
      expect(minimal).to.deep.include({ conf: {}, logical_date: null, dag_version_id: null, queued_at: null });
    });

    it('createDagRun throws DagRunExistsError for a duplicate (dag_id, run_id)', async function () {
      const err = await rejectionOf(createDagRun(t.db, run('manual__1', { state: 'running' })));
      expect(err).to.be.instanceOf(DagRunExistsError);
      expect(err.message).to.equal(
        'dag_run already exists: dag_id "etl", run_id "manual__1" (run_id must be unique per DAG)',
      );
      expect((err as DagRunExistsError).runId).to.equal('manual__1');
      expect((await getDagRun(t.db, 'etl', 'manual__1'))?.state).to.equal('queued');
      // The same run_id under another DAG is a different run.
      await createDagRun(t.db, run('manual__1', { dag_id: 'other', workflow_id: 'dagrun:other:manual__1' }));
    });

    it('a duplicate inside a transaction leaves the transaction usable', async function () {
      await t.db.transaction().execute(async (trx) => {
        const err = await rejectionOf(createDagRun(trx, run('manual__1')));
        expect(err).to.be.instanceOf(DagRunExistsError);
        await createDagRun(trx, run('manual__2'));
      });
      expect(await getDagRun(t.db, 'etl', 'manual__2')).to.not.equal(undefined);
    });

    it('updateDagRunState sets state and given fields; omitted fields stay, null clears', async function () {
      const started = new Date('2026-11-20T00:00:05.000Z');
      const before = (await getDagRun(t.db, 'etl', 'manual__1'))!;
      const running = await updateDagRunState(t.db, 'etl', 'manual__1', 'running', { start_date: started });
      expect(running).to.deep.include({ state: 'running', start_date: started, end_date: null, last_error: null });
      expect(running.updated_at.getTime()).to.be.at.least(before.updated_at.getTime());

      const ended = new Date('2026-11-20T00:10:00.000Z');
      const failed = await updateDagRunState(t.db, 'etl', 'manual__1', 'failed', {
        end_date: ended,
        last_error: 'train failed',
      });
      expect(failed).to.deep.include({
        state: 'failed',
        start_date: started,
        end_date: ended,
        last_error: 'train failed',
      });

      const cleared = await updateDagRunState(t.db, 'etl', 'manual__1', 'queued', { end_date: null, last_error: null });
      expect(cleared).to.deep.include({ state: 'queued', start_date: started, end_date: null, last_error: null });
      expect(await getDagRun(t.db, 'etl', 'manual__1')).to.deep.equal(cleared);
    });

    it('updateDagRunState throws DagRunNotFoundError for an unknown run', async function () {
      const err = await rejectionOf(updateDagRunState(t.db, 'etl', 'missing', 'running'));
      expect(err).to.be.instanceOf(DagRunNotFoundError);
      expect(err.message).to.equal('dag_run not found: dag_id "etl", run_id "missing"');
    });

    it('getDagRun returns undefined for an unknown run', async function () {
      expect(await getDagRun(t.db, 'etl', 'missing')).to.equal(undefined);
    });

    it('listDagRuns lists newest first, filters by state(s), and limits', async function () {
      await updateDagRunState(t.db, 'etl', 'manual__2', 'success');
      const all = await listDagRuns(t.db, 'etl');
      expect(all.map((r) => r.run_id)).to.deep.equal([
        'manual__2',
        'manual__1',
        'scheduled__2026-11-20T00:00:00+00:00',
      ]);
      expect((await listDagRuns(t.db, 'etl', { state: 'queued' })).map((r) => r.run_id)).to.deep.equal([
        'manual__1',
        'scheduled__2026-11-20T00:00:00+00:00',
      ]);
      expect((await listDagRuns(t.db, 'etl', { state: ['success', 'failed'] })).map((r) => r.run_id)).to.deep.equal([
        'manual__2',
      ]);
      expect(await listDagRuns(t.db, 'etl', { state: [] })).to.deep.equal([]);
      expect((await listDagRuns(t.db, 'etl', { limit: 1 })).map((r) => r.run_id)).to.deep.equal(['manual__2']);
      expect(await listDagRuns(t.db, 'nope')).to.deep.equal([]);
    });

    it('countDagRuns counts runs in the given states as a number', async function () {
      const queued = await countDagRuns(t.db, 'etl', ['queued', 'running']);
      expect(queued).to.equal(2);
      expect(typeof queued).to.equal('number');
      expect(await countDagRuns(t.db, 'etl', ['success'])).to.equal(1);
      expect(await countDagRuns(t.db, 'etl', [])).to.equal(0);
    });
  });
}
