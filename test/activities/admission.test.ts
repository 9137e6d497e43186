/**
 * Cross-run admission on Postgres and PGlite: pools (CRUD, occupancy), grants in priority order,
 * pool_slots without head-of-line blocking, max_active_tasks and max_active_tis_per_dag across
 * runs, idempotent grants per try, reclaiming a crashed worker's grant, concurrent deciders never
 * over-granting, a worker's waiting tries decided together (one transaction per round, woken by a
 * local release), the exact errors for an unknown pool and an oversized request, depends_on_past /
 * wait_for_downstream waiting on the previous run, and cancellation of a waiting try.
 */
import { expect } from 'chai';
import { setMaxListeners } from 'node:events';
import { sql } from 'kysely';
import { admitTry, type AdmissionDeps } from '../../activities/admission/admit.js';
import { describeBlocker } from '../../activities/admission/decide.js';
import { requestSlots, requestSlotsTogether, type SlotOutcome } from '../../activities/admission/slots.js';
import { TaskExecutionError } from '../../activities/executors/types.js';
import {
  DEFAULT_POOL,
  PoolError,
  deleteGrant,
  deletePool,
  getGrant,
  getPool,
  listGrants,
  listPools,
  setPool,
  type GrantRequest,
} from '../../db/pool.repository.js';
import { openDatabase } from '../../db/connect.js';
import { getTaskInstance, upsertTaskInstances } from '../../db/task-instance.repository.js';
import type { TaskSpec } from '../../spec/dag-spec.js';
import type { RunTaskRequest } from '../../workflows/types.js';
import { baseTaskSpec } from '../helpers/task-spec.js';
import { DIALECTS, openMigratedDatabase, rejectionOf, type TestDatabase } from '../db/test-database.js';

let counter = 0;

function request(over: Partial<GrantRequest> & { task_id: string }): GrantRequest {
  return {
    dag_id: 'd',
    run_id: 'r1',
    map_index: -1,
    try_number: 1,
    pool: 'p',
    slots: 1,
    priority_weight: 1,
    lease_seconds: 60,
    max_active_tasks: 16,
    max_active_tis_per_dag: null,
    hostname: 'test',
    ...over,
  };
}

function taskSpec(over: Partial<TaskSpec> & { task_id: string }): TaskSpec {
  return baseTaskSpec({ kind: 'function', operator: 'TypeScriptOperator', owner: 'updraft', ...over });
}

function runTaskRequest(task: TaskSpec, over: Partial<RunTaskRequest> = {}): RunTaskRequest {
  return {
    dagId: 'd',
    runId: 'r1',
    runType: 'manual',
    dagVersionId: 999_999,
    specHash: 'x',
    task,
    mapIndex: -1,
    tryNumber: 1,
    maxTries: 1,
    input: null,
    logicalDate: null,
    dataIntervalStart: null,
    dataIntervalEnd: null,
    conf: {},
    params: {},
    xcomInlineLimitBytes: 65536,
    ...over,
  };
}

const state = (o: SlotOutcome): string => o.state;

/** One signal shared by many tries of a test (an activity has its own): no listener-leak warning. */
function manyListeners(signal: AbortSignal): AbortSignal {
  setMaxListeners(100, signal);
  return signal;
}

for (const kind of DIALECTS) {
  describe(`${kind}: cross-run admission`, function () {
    let t: TestDatabase;

    before(async () => {
      t = await openMigratedDatabase(kind);
      // Waiting tries mark their task instance queued, which needs its run.
      await t.db
        .insertInto('dag_run')
        .values({ dag_id: 'd', run_id: 'r1', state: 'running', run_type: 'manual', workflow_id: 'w' })
        .execute();
    });
    after(async () => {
      await t?.cleanup();
    });
    beforeEach(async () => {
      await t.db.deleteFrom('task_slot_grant').execute();
      await t.db.deleteFrom('slot_pool').where('pool', '!=', DEFAULT_POOL).execute();
      await setPool(t.db, 'p', { slots: 1 });
    });

    /** The task ids of the requests queued in `pool`. */
    async function queuedIn(pool: string): Promise<string[]> {
      return (await listGrants(t.db, pool)).filter((g) => g.state === 'queued').map((g) => g.task_id);
    }

    /** Polls `check` until it holds (the machine may be loaded); fails naming `what` after 20 s. */
    async function until(what: string, check: () => Promise<boolean>): Promise<void> {
      for (const deadline = Date.now() + 20_000; !(await check());) {
        if (Date.now() > deadline) throw new Error(`timed out after 20 s waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    }

    function deps(lines: string[], over: Partial<AdmissionDeps> = {}): AdmissionDeps {
      return {
        db: t.db,
        hostname: 'test',
        log: (l) => lines.push(l),
        heartbeat: () => undefined,
        signal: manyListeners(new AbortController().signal),
        heartbeatTimeoutMs: 3000,
        keepRequestOnAbort: () => false,
        pollMs: 20,
        ...over,
      };
    }

    it('seeds default_pool with 128 slots and manages pools (set, get, list with occupancy, delete)', async () => {
      const pools = await listPools(t.db);
      expect(pools.find((p) => p.pool === DEFAULT_POOL)).to.include({
        slots: 128,
        description: 'Default pool',
        include_deferred: false,
        running_slots: 0,
        open_slots: 128,
      });
      await setPool(t.db, 'gpu', { slots: 4, description: 'the GPU box' });
      await setPool(t.db, 'gpu', { slots: 2 }); // description kept
      expect(await getPool(t.db, 'gpu')).to.include({
        slots: 2,
        description: 'the GPU box',
        running_slots: 0,
        queued_slots: 0,
        open_slots: 2,
      });
      await setPool(t.db, 'wide', { slots: -1 });
      expect(await getPool(t.db, 'wide')).to.include({ slots: -1, open_slots: null });
      await requestSlots(t.db, request({ task_id: 'a', pool: 'gpu', slots: 2 }));
      await requestSlots(t.db, request({ task_id: 'b', pool: 'gpu', slots: 1 }));
      expect(await getPool(t.db, 'gpu')).to.include({ running_slots: 2, queued_slots: 1, open_slots: 0 });
      expect((await rejectionOf(setPool(t.db, 'bad', { slots: -2 }))).message).to.equal(
        'slots of pool "bad" must be an integer >= 0 (or -1 for unlimited), got -2',
      );
      const err = await rejectionOf(deletePool(t.db, DEFAULT_POOL));
      expect(err).to.be.instanceOf(PoolError);
      expect(err.message).to.equal('default_pool cannot be deleted');
      expect(await deletePool(t.db, 'gpu')).to.equal(true);
      expect(await deletePool(t.db, 'gpu')).to.equal(false);
    });

    it('grants while the pool has room and queues the rest, saying what blocks them', async () => {
      const a = await requestSlots(t.db, request({ task_id: 'a' }));
      expect(a).to.deep.include({ state: 'granted', reused: false });
      const b = await requestSlots(t.db, request({ task_id: 'b' }));
      expect(state(b)).to.equal('queued');
      expect(describeBlocker((b as Extract<SlotOutcome, { state: 'queued' }>).blocker)).to.equal(
        'waiting for 1 slot(s) of pool "p": 1 of 1 in use',
      );
      // The same try asking again (a retried attempt) keeps its grant.
      expect(await requestSlots(t.db, request({ task_id: 'a' }))).to.deep.include({ state: 'granted', reused: true });
      await deleteGrant(t.db, request({ task_id: 'a' }));
      expect(state(await requestSlots(t.db, request({ task_id: 'b' })))).to.equal('granted');
    });

    it('grants in priority order (priority_weight desc, then request time), whoever polls first', async () => {
      await requestSlots(t.db, request({ task_id: 'holder' }));
      for (const [id, w] of [
        ['low', 1],
        ['mid', 5],
        ['high', 10],
        ['high_later', 10],
      ] as const) {
        expect(state(await requestSlots(t.db, request({ task_id: id, priority_weight: w })))).to.equal('queued');
      }
      await deleteGrant(t.db, request({ task_id: 'holder' }));
      const low = await requestSlots(t.db, request({ task_id: 'low', priority_weight: 1 }));
      expect(describeBlocker((low as Extract<SlotOutcome, { state: 'queued' }>).blocker)).to.equal(
        'waiting for 1 slot(s) of pool "p": 1 of 1 in use once 1 higher-priority waiting try start (first: d/r1/high with priority_weight 10)',
      );
      expect(state(await requestSlots(t.db, request({ task_id: 'high_later', priority_weight: 10 })))).to.equal(
        'queued',
      );
      expect(state(await requestSlots(t.db, request({ task_id: 'high', priority_weight: 10 })))).to.equal('granted');

      // Concurrent waiters polling on their own: they start in weight order.
      await t.db.deleteFrom('task_slot_grant').execute();
      await requestSlots(t.db, request({ task_id: 'holder' }));
      const order: string[] = [];
      const waiters = [
        ['w1', 1],
        ['w3', 3],
        ['w2', 2],
      ] as const;
      const runs = waiters.map(async ([id, w]) => {
        const admission = await admitTry(
          deps([]),
          runTaskRequest(taskSpec({ task_id: id, pool: 'p', priority_weight: w })),
        );
        order.push(id);
        await new Promise((r) => setTimeout(r, 60));
        await admission.release();
      });
      // Each asks once on its own; on a loaded machine the three may take several rounds to queue.
      await until('the three waiters queued', async () => (await queuedIn('p')).length === 3);
      expect(await queuedIn('p')).to.have.members(['w1', 'w2', 'w3']);
      await deleteGrant(t.db, request({ task_id: 'holder' }));
      await Promise.all(runs);
      expect(order).to.deep.equal(['w3', 'w2', 'w1']);
    });

    it('counts pool_slots and lets a smaller request pass one that does not fit (no head-of-line blocking)', async () => {
      await setPool(t.db, 'p', { slots: 3 });
      expect(state(await requestSlots(t.db, request({ task_id: 'a', slots: 2 })))).to.equal('granted');
      const big = await requestSlots(t.db, request({ task_id: 'big', slots: 2, priority_weight: 9 }));
      expect(describeBlocker((big as Extract<SlotOutcome, { state: 'queued' }>).blocker)).to.equal(
        'waiting for 2 slot(s) of pool "p": 2 of 3 in use',
      );
      expect(state(await requestSlots(t.db, request({ task_id: 'small', slots: 1 })))).to.equal('granted');
      expect(await requestSlots(t.db, request({ task_id: 'huge', slots: 4 }))).to.deep.equal({
        state: 'too_big',
        size: 3,
      });
      expect(await getGrant(t.db, request({ task_id: 'huge' }))).to.equal(undefined);
    });

    it('enforces max_active_tasks across runs and pools, and max_active_tis_per_dag across runs', async () => {
      await setPool(t.db, 'q', { slots: 10 });
      expect(
        state(
          await requestSlots(t.db, request({ task_id: 'a', run_id: 'r1', pool: DEFAULT_POOL, max_active_tasks: 1 })),
        ),
      ).to.equal('granted');
      const b = await requestSlots(t.db, request({ task_id: 'b', run_id: 'r2', pool: 'q', max_active_tasks: 1 }));
      expect(describeBlocker((b as Extract<SlotOutcome, { state: 'queued' }>).blocker)).to.equal(
        'waiting: DAG "d" has 1 running task(s) across its runs, its max_active_tasks is 1',
      );
      // Another DAG is not affected.
      expect(
        state(await requestSlots(t.db, request({ dag_id: 'other', task_id: 'b', pool: 'q', max_active_tasks: 1 }))),
      ).to.equal('granted');

      await t.db.deleteFrom('task_slot_grant').execute();
      expect(
        state(
          await requestSlots(t.db, request({ task_id: 'load', run_id: 'r1', pool: 'q', max_active_tis_per_dag: 1 })),
        ),
      ).to.equal('granted');
      const second = await requestSlots(
        t.db,
        request({ task_id: 'load', run_id: 'r2', pool: 'q', max_active_tis_per_dag: 1 }),
      );
      expect(describeBlocker((second as Extract<SlotOutcome, { state: 'queued' }>).blocker)).to.equal(
        'waiting: task "load" has 1 running try across the runs of DAG "d", its max_active_tis_per_dag is 1',
      );
      expect(
        state(
          await requestSlots(
            t.db,
            request({ task_id: 'other_task', run_id: 'r2', pool: 'q', max_active_tis_per_dag: 1 }),
          ),
        ),
      ).to.equal('granted');
    });

    it('reclaims the grant of a worker that stopped heartbeating past its lease', async () => {
      expect(state(await requestSlots(t.db, request({ task_id: 'crashed', lease_seconds: 30 })))).to.equal('granted');
      expect(state(await requestSlots(t.db, request({ task_id: 'next' })))).to.equal('queued');
      await sql`update task_slot_grant set heartbeat_at = now() - interval '31 seconds' where task_id = 'crashed'`.execute(
        t.db,
      );
      const next = await requestSlots(t.db, request({ task_id: 'next' }));
      expect(state(next)).to.equal('granted');
      expect(
        (next as Extract<SlotOutcome, { state: 'granted' }>).reclaimed.map((r) => [r.task_id, r.state]),
      ).to.deep.equal([['crashed', 'granted']]);
      expect(await getGrant(t.db, request({ task_id: 'crashed' }))).to.equal(undefined);
    });

    it('never grants more than the pool holds when many tries decide at once', async () => {
      await setPool(t.db, 'p', { slots: 3 });
      const outcomes = await Promise.all(
        Array.from({ length: 12 }, (_, i) => requestSlots(t.db, request({ task_id: `c${i}`, priority_weight: 1 }))),
      );
      expect(outcomes.filter((o) => o.state === 'granted')).to.have.length(3);
      expect((await listGrants(t.db, 'p')).filter((g) => g.state === 'granted')).to.have.length(3);
    });

    it("decides many requests in one transaction by the single decision's rules", async () => {
      await setPool(t.db, 'p', { slots: 2 });
      expect(state(await requestSlots(t.db, request({ task_id: 'held', priority_weight: 1 })))).to.equal('granted');
      const outcomes = await requestSlotsTogether(t.db, [
        request({ task_id: 'held' }),
        request({ task_id: 'low', priority_weight: 1 }),
        request({ task_id: 'high', priority_weight: 5 }),
        request({ task_id: 'ghost', pool: 'nope' }),
        request({ task_id: 'huge', slots: 3 }),
      ]);
      expect(outcomes.map((o) => o.state)).to.deep.equal(['granted', 'queued', 'granted', 'no_pool', 'too_big']);
      expect(outcomes[0]).to.deep.include({ reused: true });
      expect(describeBlocker((outcomes[1] as Extract<SlotOutcome, { state: 'queued' }>).blocker)).to.equal(
        'waiting for 1 slot(s) of pool "p": 2 of 2 in use once 1 higher-priority waiting try start (first: d/r1/high with priority_weight 5)',
      );
      expect(
        (await listGrants(t.db)).map((g) => [g.task_id, g.state]).sort((a, b) => a[0]!.localeCompare(b[0]!)),
      ).to.deep.equal([
        ['held', 'granted'],
        ['high', 'granted'],
        ['low', 'queued'],
      ]);
    });

    it("decides a worker's waiting tries together: never over the pool, in weight order, a slot given back here goes on at once", async function () {
      this.timeout(30_000);
      await setPool(t.db, 'p', { slots: 3 });
      // pollMs far longer than the test may take: only the wake-up of a local release moves waiters.
      const slow = deps([], { pollMs: 60_000 });
      const holder = await admitTry(slow, runTaskRequest(taskSpec({ task_id: 'holder', pool: 'p', pool_slots: 3 })));
      const n = 30;
      const order: number[] = [];
      let running = 0;
      let most = 0;
      const tries = Array.from({ length: n }, async (_, i) => {
        const admission = await admitTry(
          slow,
          runTaskRequest(taskSpec({ task_id: `t${i}`, pool: 'p', priority_weight: i + 1 })),
        );
        order.push(i + 1);
        most = Math.max(most, ++running);
        await new Promise((r) => setTimeout(r, 5));
        running--;
        await admission.release();
      });
      await until(`all ${n} tries queued`, async () => (await queuedIn('p')).length === n);
      const started = Date.now();
      await holder.release();
      await Promise.all(tries);
      expect(Date.now() - started, 'all 30 ran well within one poll interval').to.be.below(20_000);
      expect(most).to.be.at.most(3);
      // Granted in rank order; tries granted in the same round may report in any order among themselves.
      const inversions = order.flatMap((w, i) => order.slice(i + 1).flatMap((v, d) => (v > w ? [d + 1] : [])));
      expect(Math.max(0, ...inversions), `admission order ${order.join(',')}`).to.be.below(3);
      expect(await listGrants(t.db, 'p')).to.deep.equal([]);
    });

    it("another worker's better-ranked waiter keeps its place when a slot is given back here", async function () {
      if (!('url' in t.location)) return this.skip(); // one process holds a PGlite database
      this.timeout(30_000);
      // A second connection pool to the same database: the other worker, with its own wait list.
      const other = await openDatabase({ url: t.location.url, poolSize: 2 });
      try {
        const here = deps([], { pollMs: 300 });
        const there: AdmissionDeps = { ...deps([], { pollMs: 50 }), db: other.db };
        const holder = await admitTry(here, runTaskRequest(taskSpec({ task_id: 'holder', pool: 'p' })));
        const order: string[] = [];
        const run = async (d: AdmissionDeps, id: string, weight: number): Promise<void> => {
          const admission = await admitTry(
            d,
            runTaskRequest(taskSpec({ task_id: id, pool: 'p', priority_weight: weight })),
          );
          order.push(id);
          await new Promise((r) => setTimeout(r, 100));
          await admission.release();
        };
        const low = run(here, 'low_here', 1);
        const high = run(there, 'high_there', 10);
        await until('both waiters queued', async () => (await queuedIn('p')).length === 2);
        // The release wakes this worker's list at once; its round sees the better waiter elsewhere.
        await holder.release();
        await Promise.all([low, high]);
        expect(order).to.deep.equal(['high_there', 'low_here']);
      } finally {
        await other.close();
      }
    });

    it('fails a try naming an unknown pool, or asking for more slots than its pool has, without waiting', async () => {
      const lines: string[] = [];
      const unknown = await rejectionOf(
        admitTry(deps(lines), runTaskRequest(taskSpec({ task_id: 'x', pool: 'nope' }))),
      );
      expect(unknown).to.be.instanceOf(TaskExecutionError);
      expect((unknown as TaskExecutionError).kind).to.equal('fail');
      expect(unknown.message).to.equal('pool "nope" does not exist; create it with `updraft pools set nope <slots>`');
      const big = await rejectionOf(
        admitTry(deps(lines), runTaskRequest(taskSpec({ task_id: 'y', pool: 'p', pool_slots: 5 }))),
      );
      expect((big as TaskExecutionError).kind).to.equal('fail');
      expect(big.message).to.equal(
        'task "y" asks for 5 slots (pool_slots) of pool "p", which has only 1; lower pool_slots or grow the pool with `updraft pools set p 5`',
      );
      expect(await listGrants(t.db)).to.deep.equal([]);
    });

    it('marks a waiting try queued, logs what it waits for, and honours cancellation', async () => {
      await requestSlots(t.db, request({ task_id: 'holder' }));
      const lines: string[] = [];
      const abort = new AbortController();
      let beats = 0;
      const waiting = admitTry(
        deps(lines, { signal: abort.signal, heartbeat: () => beats++ }),
        runTaskRequest(taskSpec({ task_id: 'w', pool: 'p' })),
      );
      await until('the try queued and heartbeating', async () => {
        const ti = await getTaskInstance(t.db, { dag_id: 'd', run_id: 'r1', task_id: 'w', map_index: -1 });
        return ti?.state === 'queued' && beats > 2;
      });
      expect(lines).to.deep.equal(['waiting for 1 slot(s) of pool "p": 1 of 1 in use']);
      expect(beats).to.be.greaterThan(2);
      abort.abort();
      const err = await rejectionOf(waiting);
      expect((err as TaskExecutionError).kind).to.equal('cancelled');
      expect(await getGrant(t.db, request({ task_id: 'w' }))).to.equal(undefined);
    });

    it('depends_on_past and wait_for_downstream wait for the previous run (first run exempt)', async () => {
      const day = (n: number): Date => new Date(Date.UTC(2026, 0, n));
      const dagId = `past_${counter++}`;
      for (const [run, n] of [
        ['r1', 1],
        ['r2', 2],
      ] as const) {
        await t.db
          .insertInto('dag_run')
          .values({
            dag_id: dagId,
            run_id: run,
            state: 'running',
            run_type: 'scheduled',
            workflow_id: run,
            logical_date: day(n),
          })
          .execute();
      }
      await upsertTaskInstances(t.db, [
        { dag_id: dagId, run_id: 'r1', task_id: 'load', state: 'running', try_number: 1 },
        { dag_id: dagId, run_id: 'r1', task_id: 'report', state: 'none' },
      ]);
      const task = taskSpec({ task_id: 'load', depends_on_past: true, downstream: ['report'] });
      // The first run is exempt.
      await (
        await admitTry(deps([]), runTaskRequest(task, { dagId, runId: 'r1', logicalDate: day(1).toISOString() }))
      ).release();

      const lines: string[] = [];
      let admitted = false;
      const second = admitTry(
        deps(lines),
        runTaskRequest(
          { ...task, wait_for_downstream: true },
          { dagId, runId: 'r2', logicalDate: day(2).toISOString() },
        ),
      ).then(async (a) => {
        admitted = true;
        await a.release();
      });
      await new Promise((r) => setTimeout(r, 300));
      expect(admitted).to.equal(false);
      await upsertTaskInstances(t.db, [{ dag_id: dagId, run_id: 'r1', task_id: 'load', state: 'success' }]);
      await new Promise((r) => setTimeout(r, 1300));
      expect(admitted).to.equal(false);
      await upsertTaskInstances(t.db, [{ dag_id: dagId, run_id: 'r1', task_id: 'report', state: 'skipped' }]);
      await second;
      expect(
        (await getTaskInstance(t.db, { dag_id: dagId, run_id: 'r2', task_id: 'load', map_index: -1 }))?.state,
      ).to.equal('queued');
      expect(lines).to.deep.equal([
        `depends_on_past: waiting for task "load" in the previous run "r1" (logical date ${day(1).toISOString()}) to succeed or be skipped; it is running`,
        `wait_for_downstream: waiting for the downstream tasks of "load" in the previous run "r1" (logical date ${day(1).toISOString()}) to succeed or be skipped: report (none)`,
      ]);
    });
  });
}
