/**
 * Run admission on both databases: max_active_runs counts running runs, queued runs are admitted
 * in logical-date order, a backfill's runs share the backfill's own limit in creation order, a
 * paused DAG holds every run (manual ones too, as Airflow 3 does) but `dags test`'s, wake lists
 * name the runs that may start, concurrent asks never admit more than the limit, and a continuous
 * DAG's one slot is claimed by one recorder only.
 */
import { expect } from 'chai';
import { setDagPaused, upsertDag } from '../../db/dag.repository.js';
import { createDagRun, updateDagRunState, type DagRunCreate } from '../../db/dag-run.repository.js';
import { ContinuousSlotTakenError } from '../../db/errors.js';
import { inTransaction } from '../../db/transaction.js';
import { admitQueuedRun, claimContinuousSlot, queuedRunsToWake } from '../../db/run-admission.repository.js';
import { DIALECTS, openMigratedDatabase, rejectionOf, type TestDatabase } from './test-database.js';

const day = (n: number): Date => new Date(Date.UTC(2025, 0, n));

for (const dialect of DIALECTS) {
  describe(`${dialect}: run admission (max_active_runs, pause, backfills)`, function () {
    let t: TestDatabase;
    let n = 0;
    before(async function () {
      t = await openMigratedDatabase(dialect);
    });
    after(async function () {
      await t?.cleanup();
    });

    async function dag(dagId: string, maxActiveRuns: number): Promise<void> {
      await upsertDag(t.db, {
        dag_id: dagId,
        fileloc: `${dagId}.ts`,
        owners: 'o',
        description: null,
        tags: [],
        schedule: '@daily',
        max_active_runs: maxActiveRuns,
      });
    }
    async function queued(dagId: string, runId: string, over: Partial<DagRunCreate> = {}): Promise<void> {
      await createDagRun(t.db, {
        dag_id: dagId,
        run_id: runId,
        state: 'queued',
        run_type: 'manual',
        workflow_id: `wf:${dagId}:${runId}:${n++}`,
        ...over,
      });
    }

    it('admits up to max_active_runs, oldest logical date first, and marks the run running', async function () {
      await dag('m2', 2);
      // Created newest first: admission still goes by logical date.
      for (const d of [4, 3, 2, 1]) await queued('m2', `r${d}`, { logical_date: day(d) });
      expect(await admitQueuedRun(t.db, 'm2', 'r3')).to.deep.include({ admitted: false });
      expect(await admitQueuedRun(t.db, 'm2', 'r2')).to.deep.equal({ admitted: true });
      const refused = await admitQueuedRun(t.db, 'm2', 'r4');
      expect(refused).to.deep.equal({
        admitted: false,
        reason: '1 free slot(s) under max_active_runs=2 go to runs queued before this one',
      });
      expect(await admitQueuedRun(t.db, 'm2', 'r1')).to.deep.equal({ admitted: true });
      expect(await admitQueuedRun(t.db, 'm2', 'r3')).to.deep.equal({
        admitted: false,
        reason: '2 run(s) running, max_active_runs=2',
      });
      const r1 = await t.db
        .selectFrom('dag_run')
        .select(['state', 'start_date'])
        .where('dag_id', '=', 'm2')
        .where('run_id', '=', 'r1')
        .executeTakeFirstOrThrow();
      expect(r1.state).to.equal('running');
      expect(r1.start_date).to.be.instanceOf(Date);
      expect(await queuedRunsToWake(t.db, 'm2')).to.deep.equal([]);
      await updateDagRunState(t.db, 'm2', 'r1', 'success');
      expect((await queuedRunsToWake(t.db, 'm2')).map((w) => w.split(':')[2])).to.deep.equal(['r3']);
      expect(await admitQueuedRun(t.db, 'm2', 'r3')).to.deep.equal({ admitted: true });
      // A run that is no longer queued (a retried ask) is not held.
      expect(await admitQueuedRun(t.db, 'm2', 'r3')).to.deep.equal({ admitted: true });
    });

    it("a backfill's runs share the backfill's limit, in creation order, apart from the DAG's", async function () {
      await dag('bf', 1);
      const { id } = await t.db
        .insertInto('backfill')
        .values({
          dag_id: 'bf',
          from_date: day(1),
          to_date: day(5),
          max_active_runs: 2,
          reprocess_behavior: 'none',
          run_backwards: true,
        })
        .returning('id')
        .executeTakeFirstOrThrow();
      await queued('bf', 'manual1', { logical_date: day(20) });
      // --run-backwards: created newest first, started in that order.
      for (const d of [5, 4, 3])
        await queued('bf', `b${d}`, { logical_date: day(d), run_type: 'backfill', backfill_id: id });
      expect(await admitQueuedRun(t.db, 'bf', 'manual1')).to.deep.equal({ admitted: true });
      expect(await admitQueuedRun(t.db, 'bf', 'b3')).to.deep.include({ admitted: false });
      expect(await admitQueuedRun(t.db, 'bf', 'b5')).to.deep.equal({ admitted: true });
      expect(await admitQueuedRun(t.db, 'bf', 'b4')).to.deep.equal({ admitted: true });
      expect(await admitQueuedRun(t.db, 'bf', 'b3')).to.deep.equal({
        admitted: false,
        reason: "2 run(s) running, the backfill's max_active_runs=2",
      });
    });

    it("a paused DAG holds its scheduled and manual runs; only `dags test`'s run starts", async function () {
      await dag('p', 5);
      await queued('p', 's1', { logical_date: day(1), run_type: 'scheduled', triggered_by: 'timetable' });
      await queued('p', 'm1', { logical_date: day(2), triggered_by: 'cli' });
      await queued('p', 't1', { logical_date: day(3), triggered_by: 'test' });
      await setDagPaused(t.db, 'p', true);
      expect((await queuedRunsToWake(t.db, 'p')).map((w) => w.split(':')[2])).to.deep.equal(['t1']);
      const paused = {
        admitted: false,
        reason: 'DAG "p" is paused: the run starts when it is unpaused (updraft dags unpause p)',
      };
      expect(await admitQueuedRun(t.db, 'p', 's1')).to.deep.equal(paused);
      expect(await admitQueuedRun(t.db, 'p', 'm1')).to.deep.equal(paused);
      expect(await admitQueuedRun(t.db, 'p', 't1')).to.deep.equal({ admitted: true });
      await setDagPaused(t.db, 'p', false);
      expect((await queuedRunsToWake(t.db, 'p')).map((w) => w.split(':')[2])).to.deep.equal(['s1', 'm1']);
      expect(await admitQueuedRun(t.db, 'p', 's1')).to.deep.equal({ admitted: true });
      expect(await admitQueuedRun(t.db, 'p', 'm1')).to.deep.equal({ admitted: true });
    });

    it("a continuous DAG's slot: claimed only when unpaused, nothing queued or running, and the latest run unchanged", async function () {
      await dag('cont', 1);
      const claim = (last: Date | null): Promise<string> =>
        inTransaction(t.db, (trx) => claimContinuousSlot(trx, 'cont', last)).then(
          () => 'claimed',
          (err: unknown) => {
            if (err instanceof ContinuousSlotTakenError) return err.reason;
            throw err;
          },
        );
      expect(await claim(null)).to.equal('claimed');
      const sched = { run_type: 'scheduled', triggered_by: 'timetable' };
      await queued('cont', 'c1', {
        ...sched,
        logical_date: day(1),
        data_interval_start: day(1),
        data_interval_end: day(2),
      });
      expect(await claim(null)).to.equal('run "c1" is queued or running');
      await updateDagRunState(t.db, 'cont', 'c1', 'failed');
      // Computed from before c1 existed: c1's successor would be a second run of the same slot.
      expect(await claim(null)).to.equal('another scheduled run was recorded in the meantime');
      expect(await claim(day(1))).to.equal('claimed');
      await setDagPaused(t.db, 'cont', true);
      expect(await claim(day(1))).to.equal('it is paused');
      await setDagPaused(t.db, 'cont', false);
      // A manual run takes the one slot too (max_active_runs 1 counts every run outside backfills).
      await queued('cont', 'm1', { logical_date: day(5) });
      expect(await claim(day(1))).to.equal('run "m1" is queued or running');
    });

    it('concurrent asks never admit more than the limit', async function () {
      await dag('c', 3);
      for (let i = 0; i < 12; i++) await queued('c', `q${i}`, { logical_date: day(i + 1) });
      for (let round = 0; round < 3; round++) {
        await Promise.all(Array.from({ length: 12 }, (_, i) => admitQueuedRun(t.db, 'c', `q${i}`)));
      }
      const running = await t.db
        .selectFrom('dag_run')
        .select('run_id')
        .where('dag_id', '=', 'c')
        .where('state', '=', 'running')
        .orderBy('logical_date')
        .execute();
      expect(running.map((r) => r.run_id)).to.deep.equal(['q0', 'q1', 'q2']);
    });

    it('one scheduled or backfill run per logical date', async function () {
      await dag('u', 1);
      await queued('u', 'scheduled__a', { logical_date: day(1), run_type: 'scheduled' });
      const err = await rejectionOf(queued('u', 'backfill__a', { logical_date: day(1), run_type: 'backfill' }));
      expect(err.message).to.contain('dag_run_automated_logical_date_key');
      // A manual run at that instant is a different thing (Airflow 3 would refuse it too; kept apart here).
      await queued('u', 'manual__a', { logical_date: day(1) });
    });
  });
}
