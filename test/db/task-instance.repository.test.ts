import { expect } from 'chai';
import {
  getTaskInstance,
  listTaskInstanceHistory,
  listTaskInstances,
  recordTryEnd,
  recordTryExternalId,
  recordTryStart,
  upsertTaskInstances,
  type TaskInstanceKey,
  type TryStart,
} from '../../db/task-instance.repository.js';
import { DIALECTS, openMigratedDatabase, rejectionOf, seedRun, type TestDatabase } from './test-database.js';

const RUN = { dag_id: 'train', run_id: 'manual__1' };
const T0 = new Date('2026-11-23T10:00:00.000Z');
const at = (seconds: number): Date => new Date(T0.getTime() + seconds * 1000);

function key(task_id: string, map_index = -1): TaskInstanceKey {
  return { ...RUN, task_id, map_index };
}

function start(task_id: string, try_number: number, start_date: Date, over: Partial<TryStart> = {}): TryStart {
  return {
    ...key(task_id),
    try_number,
    max_tries: 3,
    hostname: 'worker-1',
    executor: 'process',
    operator: 'PythonOperator',
    queue: 'default',
    pool: 'gpu_pool',
    pool_slots: 2,
    priority_weight: 5,
    start_date,
    ...over,
  };
}

for (const dialect of DIALECTS) {
  describe(`${dialect}: task_instance repository`, function () {
    let t: TestDatabase;
    before(async function () {
      t = await openMigratedDatabase(dialect);
      await seedRun(t.db, RUN.dag_id, RUN.run_id);
    });
    after(async function () {
      await t?.cleanup();
    });

    it('upsertTaskInstances inserts with Airflow defaults', async function () {
      await upsertTaskInstances(t.db, [
        { ...RUN, task_id: 'extract' },
        { ...RUN, task_id: 'validate', state: 'scheduled', max_tries: 2, operator: 'PythonOperator' },
      ]);
      const extract = await getTaskInstance(t.db, key('extract'));
      expect(extract).to.deep.include({
        ...key('extract'),
        state: null,
        try_number: 0,
        max_tries: 0,
        start_date: null,
        end_date: null,
        duration: null,
        pool: 'default_pool',
        pool_slots: 1,
        priority_weight: 1,
        operator: null,
        error: null,
      });
      expect(extract?.updated_at).to.be.instanceOf(Date);
      expect(await getTaskInstance(t.db, key('validate'))).to.deep.include({
        state: 'scheduled',
        max_tries: 2,
        operator: 'PythonOperator',
      });
    });

    it('upsertTaskInstances overwrites only the columns each row gives', async function () {
      await upsertTaskInstances(t.db, [{ ...RUN, task_id: 'validate', hostname: 'h1', queue: 'q1' }]);
      await upsertTaskInstances(t.db, [
        { ...RUN, task_id: 'validate', state: 'upstream_failed', end_date: at(9) },
        { ...RUN, task_id: 'extract', error: 'boom', state: 'failed' },
      ]);
      expect(await getTaskInstance(t.db, key('validate'))).to.deep.include({
        state: 'upstream_failed',
        end_date: at(9),
        hostname: 'h1',
        queue: 'q1',
        max_tries: 2,
        operator: 'PythonOperator',
      });
      expect(await getTaskInstance(t.db, key('extract'))).to.deep.include({
        state: 'failed',
        error: 'boom',
        max_tries: 0,
      });
      // An explicit null is a value: it clears.
      await upsertTaskInstances(t.db, [{ ...RUN, task_id: 'extract', error: null }]);
      expect(await getTaskInstance(t.db, key('extract'))).to.deep.include({ state: 'failed', error: null });
    });

    it('upsertTaskInstances merges rows for the same key (later wins) and ignores an empty batch', async function () {
      await upsertTaskInstances(t.db, []);
      await upsertTaskInstances(t.db, [
        { ...RUN, task_id: 'merge', state: 'scheduled', hostname: 'a' },
        { ...RUN, task_id: 'merge', state: 'queued' },
        { ...RUN, task_id: 'merge', map_index: -1, queue: 'q' },
      ]);
      expect(await getTaskInstance(t.db, key('merge'))).to.deep.include({ state: 'queued', hostname: 'a', queue: 'q' });
    });

    it('upsertTaskInstances handles batches larger than one statement', async function () {
      const rows = Array.from({ length: 2500 }, (_, i) => ({
        ...RUN,
        task_id: 'mapped',
        map_index: i,
        state: 'scheduled',
      }));
      await upsertTaskInstances(t.db, rows);
      await upsertTaskInstances(
        t.db,
        rows.map((r) => ({ ...r, state: r.map_index % 2 === 0 ? 'success' : 'failed' })),
      );
      const all = (await listTaskInstances(t.db, RUN.dag_id, RUN.run_id)).filter((r) => r.task_id === 'mapped');
      expect(all).to.have.length(2500);
      expect(all.map((r) => r.map_index)).to.deep.equal(Array.from({ length: 2500 }, (_, i) => i));
      expect(all.filter((r) => r.state === 'success')).to.have.length(1250);
    });

    it('upsertTaskInstances rejects task instances of an unknown run', async function () {
      const err = await rejectionOf(upsertTaskInstances(t.db, [{ dag_id: 'train', run_id: 'nope', task_id: 'x' }]));
      expect(err.message).to.match(/violates foreign key constraint "task_instance_dag_run_fkey"/);
    });

    it('recordTryStart marks the task instance running and writes the try history row', async function () {
      const ti = await recordTryStart(t.db, start('train', 1, at(0), { external_id: 'pid:42' }));
      expect(ti).to.deep.include({
        ...key('train'),
        state: 'running',
        try_number: 1,
        max_tries: 3,
        start_date: at(0),
        end_date: null,
        duration: null,
        hostname: 'worker-1',
        executor: 'process',
        operator: 'PythonOperator',
        queue: 'default',
        pool: 'gpu_pool',
        pool_slots: 2,
        priority_weight: 5,
        exit_code: null,
        external_id: 'pid:42',
        error: null,
      });
      const history = await listTaskInstanceHistory(t.db, RUN.dag_id, RUN.run_id, 'train');
      expect(history).to.have.length(1);
      expect(history[0]).to.deep.include({
        ...key('train'),
        try_number: 1,
        state: 'running',
        start_date: at(0),
        end_date: null,
        hostname: 'worker-1',
        executor: 'process',
        external_id: 'pid:42',
      });
      // A retried activity records the same start again: still one history row.
      await recordTryStart(t.db, start('train', 1, at(0), { external_id: 'pid:42' }));
      expect(await listTaskInstanceHistory(t.db, RUN.dag_id, RUN.run_id, 'train')).to.have.length(1);
    });

    it('recordTryEnd sets state, end, exit code and duration from the recorded start', async function () {
      const h = await recordTryEnd(t.db, {
        ...key('train'),
        try_number: 1,
        state: 'up_for_retry',
        end_date: at(2.5),
        exit_code: 1,
        error: 'CUDA out of memory',
      });
      expect(h).to.deep.include({
        try_number: 1,
        state: 'up_for_retry',
        end_date: at(2.5),
        duration: 2.5,
        exit_code: 1,
      });
      expect(await getTaskInstance(t.db, key('train'))).to.deep.include({
        state: 'up_for_retry',
        try_number: 1,
        start_date: at(0),
        end_date: at(2.5),
        duration: 2.5,
        exit_code: 1,
        error: 'CUDA out of memory',
        external_id: 'pid:42',
      });
    });

    it('a second try resets the task instance and keeps the first try in history', async function () {
      const ti = await recordTryStart(t.db, start('train', 2, at(60), { hostname: 'worker-2', operator: undefined }));
      expect(ti).to.deep.include({
        state: 'running',
        try_number: 2,
        start_date: at(60),
        end_date: null,
        duration: null,
        exit_code: null,
        error: null,
        external_id: null,
        hostname: 'worker-2',
        operator: 'PythonOperator',
      });
      await recordTryExternalId(t.db, { ...key('train'), try_number: 2 }, 'container:train-2');
      await recordTryEnd(t.db, {
        ...key('train'),
        try_number: 2,
        state: 'success',
        end_date: at(90.125),
        exit_code: 0,
      });
      expect(await getTaskInstance(t.db, key('train'))).to.deep.include({
        state: 'success',
        try_number: 2,
        duration: 30.125,
        exit_code: 0,
        error: null,
        external_id: 'container:train-2',
      });
      const history = await listTaskInstanceHistory(t.db, RUN.dag_id, RUN.run_id, 'train');
      expect(history.map((r) => [r.try_number, r.state, r.duration, r.hostname, r.external_id])).to.deep.equal([
        [1, 'up_for_retry', 2.5, 'worker-1', 'pid:42'],
        [2, 'success', 30.125, 'worker-2', 'container:train-2'],
      ]);
    });

    it('late writes for an older try do not overwrite the task instance', async function () {
      await recordTryStart(t.db, start('train', 1, at(1)));
      await recordTryEnd(t.db, { ...key('train'), try_number: 1, state: 'failed', end_date: at(3) });
      expect(await getTaskInstance(t.db, key('train'))).to.deep.include({ state: 'success', try_number: 2 });
      const first = (await listTaskInstanceHistory(t.db, RUN.dag_id, RUN.run_id, 'train'))[0];
      expect(first).to.deep.include({ try_number: 1, state: 'failed', start_date: at(1), duration: 2 });
    });

    it('recordTryEnd without a recorded start leaves duration null', async function () {
      await upsertTaskInstances(t.db, [{ ...RUN, task_id: 'skipped_one' }]);
      const h = await recordTryEnd(t.db, { ...key('skipped_one'), try_number: 1, state: 'skipped', end_date: at(5) });
      expect(h).to.deep.include({ state: 'skipped', start_date: null, duration: null, exit_code: null });
      expect(await getTaskInstance(t.db, key('skipped_one'))).to.deep.include({
        state: 'skipped',
        try_number: 1,
        end_date: at(5),
        duration: null,
      });
    });

    it('tries of mapped task instances are kept per map index', async function () {
      await recordTryStart(t.db, { ...start('score', 1, at(0)), map_index: 0 });
      await recordTryStart(t.db, { ...start('score', 1, at(1)), map_index: 1 });
      await recordTryEnd(t.db, { ...key('score', 1), try_number: 1, state: 'success', end_date: at(4) });
      const history = await listTaskInstanceHistory(t.db, RUN.dag_id, RUN.run_id, 'score');
      expect(history.map((r) => [r.map_index, r.state, r.duration])).to.deep.equal([
        [0, 'running', null],
        [1, 'success', 3],
      ]);
    });

    it('listTaskInstances orders by task_id and map_index; history filters by task', async function () {
      const tis = await listTaskInstances(t.db, RUN.dag_id, RUN.run_id);
      const ids = [...new Set(tis.map((r) => r.task_id))];
      expect(ids).to.deep.equal(['extract', 'mapped', 'merge', 'score', 'skipped_one', 'train', 'validate']);
      expect(tis.filter((r) => r.task_id === 'score').map((r) => r.map_index)).to.deep.equal([0, 1]);
      const all = await listTaskInstanceHistory(t.db, RUN.dag_id, RUN.run_id);
      expect(all.map((r) => `${r.task_id}/${r.map_index}/${r.try_number}`)).to.deep.equal([
        'score/0/1',
        'score/1/1',
        'skipped_one/-1/1',
        'train/-1/1',
        'train/-1/2',
      ]);
      expect(await listTaskInstances(t.db, RUN.dag_id, 'nope')).to.deep.equal([]);
      expect(await getTaskInstance(t.db, key('nope'))).to.equal(undefined);
    });
  });
}
