/// <reference types="mocha" />
/**
 * Cross-run rules end to end (Temporal dev server, worker, Postgres): a pool of one slot
 * serialises the tasks of two concurrent runs; a scarce slot goes to ready tasks in
 * priority_weight order; max_active_tasks and max_active_tis_per_dag count across runs;
 * depends_on_past holds a run's task `queued` until the previous run's succeeded; an unknown pool
 * fails the try at once without retries. Overlaps are judged from the recorded try start and end
 * times (a try records its end before it gives its slots back, and its start after it got them).
 */
import path from 'node:path';
import { expect } from 'chai';
import { setPool } from '../../db/pool.repository.js';
import { readTaskLog } from '../../db/task-log.repository.js';
import type { TaskInstanceHistoryRow } from '../../db/database.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { finishRun, readRun, startRun, statesOf, ti, waitFor, type FinishedRun } from './helpers.js';

const DAGS = path.resolve(__dirname, '../../../test/workflows/dags/pools');

interface Interval {
  who: string;
  start: number;
  end: number;
}

function intervals(runs: FinishedRun[], taskIds?: string[]): Interval[] {
  const rows: Array<[string, TaskInstanceHistoryRow]> = runs.flatMap((r, i) =>
    r.history.map((h) => [`run${i + 1}.${h.task_id}`, h] as [string, TaskInstanceHistoryRow]),
  );
  return rows
    .filter(([, h]) => taskIds === undefined || taskIds.includes(h.task_id))
    .map(([who, h]) => ({ who, start: h.start_date!.getTime(), end: h.end_date!.getTime() }))
    .sort((a, b) => a.start - b.start);
}

/** Fails naming the first two intervals that overlap. */
function expectNoOverlap(list: Interval[]): void {
  for (let i = 1; i < list.length; i++) {
    const [prev, cur] = [list[i - 1]!, list[i]!];
    expect(cur.start, `${cur.who} started before ${prev.who} ended`).to.be.at.least(prev.end);
  }
}

async function runTwice(stack: TestStack, dagId: string, gapMs = 0): Promise<[FinishedRun, FinishedRun]> {
  const first = await startRun(stack, dagId);
  if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
  const second = await startRun(stack, dagId);
  return Promise.all([finishRun(stack, first), finishRun(stack, second)]);
}

describe('cross-run rules: pools, priority, max_active_*, depends_on_past', function () {
  let stack: TestStack;

  before(async function () {
    this.timeout(120_000);
    stack = await startTestStack({ dagsFolder: DAGS, db: 'postgres' });
    expect(stack.bag.importErrors, 'fixture DAG import errors').to.deep.equal([]);
    await setPool(stack.database.db, 'serial_pool', { slots: 1 });
    await setPool(stack.database.db, 'prio_pool', { slots: 1 });
    await setPool(stack.database.db, 'side_pool', { slots: 5 });
  });

  after(async function () {
    this.timeout(60_000);
    await stack?.stop();
  });

  it('a pool of one slot serialises the tasks of two concurrent runs', async function () {
    const runs = await runTwice(stack, 'wf_pool_serial');
    for (const r of runs) expect(statesOf(r.tis)).to.deep.equal({ a: ['success', 1], b: ['success', 1] });
    const list = intervals(runs);
    expect(list).to.have.length(4);
    expectNoOverlap(list);
    // Somebody had to wait, and said so in its log.
    const waited: string[] = [];
    for (const r of runs) {
      for (const id of ['a', 'b']) {
        const log = await readTaskLog(stack.database.db, {
          dag_id: 'wf_pool_serial',
          run_id: r.triggered.runId,
          task_id: id,
          map_index: -1,
          try_number: 1,
        });
        if (log.some((l) => l.line === 'waiting for 1 slot(s) of pool "serial_pool": 1 of 1 in use')) waited.push(id);
      }
    }
    expect(waited.length).to.be.at.least(2);
  });

  it('a scarce slot goes to the ready tasks in priority_weight order', async function () {
    const triggered = await startRun(stack, 'wf_pool_priority');
    // While holder holds the slot, the three become ready and queue up.
    await waitFor(
      'low, mid and high to be queued',
      async () => {
        const { tis } = await readRun(stack, 'wf_pool_priority', triggered.runId);
        return ['low', 'mid', 'high'].every((id) => tis.get(id)?.state === 'queued');
      },
      15_000,
    );
    const { result, history } = await finishRun(stack, triggered);
    expect(result.state).to.equal('success');
    const order = history
      .filter((h) => h.task_id !== 'start')
      .sort((a, b) => a.start_date!.getTime() - b.start_date!.getTime())
      .map((h) => h.task_id);
    expect(order).to.deep.equal(['holder', 'high', 'mid', 'low']);
  });

  it('max_active_tasks = 1 holds across two runs (and across pools)', async function () {
    const runs = await runTwice(stack, 'wf_max_active_tasks');
    for (const r of runs) expect(statesOf(r.tis)).to.deep.equal({ a: ['success', 1], b: ['success', 1] });
    expectNoOverlap(intervals(runs));
  });

  it('max_active_tis_per_dag = 1 serialises one task across runs and leaves the others alone', async function () {
    const runs = await runTwice(stack, 'wf_max_tis');
    for (const r of runs) expect(statesOf(r.tis)).to.deep.equal({ free: ['success', 1], limited: ['success', 1] });
    expectNoOverlap(intervals(runs, ['limited']));
    const free = intervals(runs, ['free']);
    expect(free[1]!.start, "the two runs' `free` tries overlap").to.be.below(free[0]!.end);
  });

  it("depends_on_past: the second run's task waits queued until the first run's succeeded", async function () {
    const first = await startRun(stack, 'wf_depends_on_past');
    await new Promise((r) => setTimeout(r, 300));
    const second = await startRun(stack, 'wf_depends_on_past');
    await waitFor(
      "the second run's step to be queued",
      async () => {
        const { tis } = await readRun(stack, 'wf_depends_on_past', second.runId);
        return tis.get('step')?.state === 'queued';
      },
      15_000,
    );
    const [r1, r2] = await Promise.all([finishRun(stack, first), finishRun(stack, second)]);
    expect(statesOf(r1.tis)).to.deep.equal({ step: ['success', 1] });
    expect(statesOf(r2.tis)).to.deep.equal({ step: ['success', 1] });
    expect(ti(r2.tis, 'step').start_date!.getTime()).to.be.at.least(ti(r1.tis, 'step').end_date!.getTime());
    const log = await readTaskLog(stack.database.db, {
      dag_id: 'wf_depends_on_past',
      run_id: second.runId,
      task_id: 'step',
      map_index: -1,
      try_number: 1,
    });
    expect(log.map((l) => l.line)).to.include(
      `depends_on_past: waiting for task "step" in the previous run "${first.runId}" (logical date ${r1.run.logical_date!.toISOString()}) to succeed or be skipped; it is running`,
    );
  });

  it('a task naming a pool that does not exist fails at once, without retries', async function () {
    const { result, tis, history } = await finishRun(stack, await startRun(stack, 'wf_unknown_pool'));
    expect(result.state).to.equal('failed');
    expect(statesOf(tis)).to.deep.equal({ lost: ['failed', 1] });
    expect(history.map((h) => [h.try_number, h.state])).to.deep.equal([[1, 'failed']]);
    expect(ti(tis, 'lost').error).to.equal(
      'pool "no_such_pool" does not exist; create it with `updraft pools set no_such_pool <slots>`',
    );
  });
});
