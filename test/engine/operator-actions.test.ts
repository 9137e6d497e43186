/**
 * Operator actions as pure logic: what clear / mark task / mark run select (Airflow's closures,
 * only_failed / only_running, setups and teardowns), validation messages, the record a finished run
 * is restored from, and RunGraph.override (counts rebuilt, downstream re-evaluated, retries anew).
 */
import { expect } from 'chai';
import { compileDag } from '../../sdk/compile.js';
import { dag, type DagBuilder } from '../../sdk/dag.js';
import {
  carriedFromRecord,
  planAction,
  validateAction,
  OperatorActionError,
  type OperatorAction,
} from '../../engine/operator-actions.js';
import { RunGraph } from '../../engine/run-graph.js';
import type { DagSpec } from '../../spec/dag-spec.js';
import { TaskInstanceState as S, type TaskInstanceState } from '../../spec/states.js';

function compile(build: (d: DagBuilder) => void): DagSpec {
  return compileDag(dag({ dagId: 'ops' }, build), 'ops.ts').spec;
}

/** a → b → c, a → d; states by id. */
const chain = compile((d) => {
  const [a, b, c, dd] = ['a', 'b', 'c', 'd'].map((id) => d.empty({ taskId: id }));
  d.chain(a!, b!, c!);
  d.chain(a!, dd!);
});

/** setup → work → teardown(setups: setup); work → after; other (unrelated). */
const guarded = compile((d) => {
  const setup = d.empty({ taskId: 'setup' }).asSetup();
  const work = d.empty({ taskId: 'work' });
  const teardown = d.empty({ taskId: 'teardown' }).asTeardown({ setups: setup });
  const after = d.empty({ taskId: 'after' });
  d.empty({ taskId: 'other' });
  d.chain(setup, work, teardown);
  d.chain(work, after);
});

function plan(spec: DagSpec, states: Record<string, TaskInstanceState>, action: OperatorAction): string[] {
  const p = planAction(spec.tasks, (i) => states[spec.tasks[i]!.task_id] ?? S.NONE, action);
  return p.changes.map((c) => `${c.task_id}:${c.from}->${c.to}`).sort();
}

describe('operator actions: planning', () => {
  const failedRun = { a: S.SUCCESS, b: S.FAILED, c: S.UPSTREAM_FAILED, d: S.SUCCESS };

  it('clear takes the named tasks, and their upstream / downstream closures when asked', () => {
    expect(plan(chain, failedRun, { kind: 'clear', task_ids: ['b'] })).to.deep.equal(['b:failed->none']);
    expect(plan(chain, failedRun, { kind: 'clear', task_ids: ['b'], downstream: true })).to.deep.equal([
      'b:failed->none',
      'c:upstream_failed->none',
    ]);
    expect(plan(chain, failedRun, { kind: 'clear', task_ids: ['b'], upstream: true })).to.deep.equal([
      'a:success->none',
      'b:failed->none',
    ]);
    expect(plan(chain, failedRun, { kind: 'clear', task_ids: ['a'], downstream: true })).to.have.length(4);
  });

  it('clear with no task ids is the whole run; only_failed keeps failed and upstream_failed, only_running running', () => {
    expect(plan(chain, failedRun, { kind: 'clear' })).to.have.length(4);
    expect(plan(chain, failedRun, { kind: 'clear', only_failed: true })).to.deep.equal([
      'b:failed->none',
      'c:upstream_failed->none',
    ]);
    expect(
      plan(chain, { a: S.SUCCESS, b: S.RUNNING, c: S.NONE, d: S.RUNNING }, { kind: 'clear', only_running: true }),
    ).to.deep.equal(['b:running->none', 'd:running->none']);
  });

  it('clear leaves tasks that have not started (nothing to clear)', () => {
    expect(
      plan(
        chain,
        { a: S.SUCCESS, b: S.RUNNING, c: S.NONE, d: S.SCHEDULED },
        { kind: 'clear', task_ids: ['a'], downstream: true },
      ),
    ).to.deep.equal(['a:success->none', 'b:running->none']);
  });

  it('clearing a task clears its relevant setups and their teardowns; clearing a setup clears its teardowns', () => {
    const done = { setup: S.SUCCESS, work: S.FAILED, teardown: S.SUCCESS, after: S.UPSTREAM_FAILED, other: S.SUCCESS };
    expect(plan(guarded, done, { kind: 'clear', task_ids: ['work'] })).to.deep.equal([
      'setup:success->none',
      'teardown:success->none',
      'work:failed->none',
    ]);
    expect(plan(guarded, done, { kind: 'clear', task_ids: ['setup'] })).to.deep.equal([
      'setup:success->none',
      'teardown:success->none',
    ]);
    // `after` is not in the setup's scope (the teardown is not downstream of it): only itself.
    expect(plan(guarded, done, { kind: 'clear', task_ids: ['after'] })).to.deep.equal(['after:upstream_failed->none']);
    // only_failed filters the added setups and teardowns by state too (as Airflow does).
    expect(plan(guarded, done, { kind: 'clear', task_ids: ['work'], only_failed: true })).to.deep.equal([
      'work:failed->none',
    ]);
  });

  it('set_task_state marks the named tasks (and closures) not already in the state', () => {
    expect(plan(chain, failedRun, { kind: 'set_task_state', task_ids: ['b'], state: 'success' })).to.deep.equal([
      'b:failed->success',
    ]);
    expect(
      plan(chain, failedRun, { kind: 'set_task_state', task_ids: ['b'], state: 'success', downstream: true }),
    ).to.deep.equal(['b:failed->success', 'c:upstream_failed->success']);
    expect(plan(chain, failedRun, { kind: 'set_task_state', task_ids: ['a'], state: 'success' })).to.deep.equal([]);
    expect(
      plan(chain, failedRun, { kind: 'set_task_state', task_ids: ['c'], state: 'failed', upstream: true }),
    ).to.deep.equal(['a:success->failed', 'c:upstream_failed->failed']);
  });

  it('set_run_state: success marks every non-teardown task not in a success state; failed fails running tries and skips the rest', () => {
    const running = { setup: S.SUCCESS, work: S.RUNNING, teardown: S.NONE, after: S.NONE, other: S.UP_FOR_RETRY };
    expect(plan(guarded, running, { kind: 'set_run_state', state: 'success' })).to.deep.equal([
      'after:none->success',
      'other:up_for_retry->success',
      'work:running->success',
    ]);
    expect(plan(guarded, running, { kind: 'set_run_state', state: 'failed' })).to.deep.equal([
      'after:none->skipped',
      'other:up_for_retry->skipped',
      'work:running->failed',
    ]);
    const p = planAction(guarded.tasks, () => S.SUCCESS, { kind: 'set_run_state', state: 'failed' });
    expect(p).to.deep.equal({ changes: [], forced_run_state: 'failed' });
  });
});

describe('operator actions: validation', () => {
  const refuse = (action: unknown): string => {
    try {
      validateAction(chain.tasks, action);
    } catch (err) {
      expect(err).to.be.instanceOf(OperatorActionError);
      return (err as Error).message;
    }
    throw new Error('not refused');
  };

  it('names what is wrong', () => {
    expect(refuse(null)).to.equal('an operator action must be an object with a "kind"');
    expect(refuse({ kind: 'delete' })).to.equal(
      'unknown action kind "delete": expected clear, set_task_state or set_run_state',
    );
    expect(refuse({ kind: 'clear', task_ids: ['b', 'zz'] })).to.equal(
      'unknown task id(s) "zz"; the DAG\'s tasks are: a, b, c, d',
    );
    expect(refuse({ kind: 'clear', task_ids: 'b' })).to.equal('"task_ids" must be a list of task ids');
    expect(refuse({ kind: 'clear', downstream: 'yes' })).to.equal('"downstream" must be true or false, got "yes"');
    expect(refuse({ kind: 'clear', only_failed: true, only_running: true })).to.equal(
      '"only_failed" and "only_running" cannot both be set',
    );
    expect(refuse({ kind: 'set_task_state', task_ids: ['a'], state: 'queued' })).to.equal(
      'state "queued" cannot be set by an operator: expected success or failed',
    );
    expect(refuse({ kind: 'set_task_state', task_ids: [], state: 'success' })).to.equal(
      '"task_ids" must name at least one task to mark',
    );
    expect(refuse({ kind: 'set_run_state' })).to.equal('"state" is required: success or failed');
  });

  it('accepts a well-formed action as it is', () => {
    const action = { kind: 'clear', task_ids: ['b'], downstream: true };
    expect(validateAction(chain.tasks, action)).to.equal(action);
  });
});

describe('operator actions: restoring a finished run from its record', () => {
  it('keeps finished states and try numbers, restarts the rest, and derives try_base from max_tries', () => {
    const tasks = [
      { task_id: 'a', retries: 1 },
      { task_id: 'b', retries: 0 },
      { task_id: 'm', retries: 0 },
      { task_id: 'z', retries: 0 },
    ];
    const carried = carriedFromRecord(tasks, [
      { task_id: 'a', map_index: -1, state: 'failed', try_number: 4, max_tries: 4 },
      { task_id: 'b', map_index: -1, state: 'running', try_number: 1, max_tries: 1 },
      { task_id: 'm', map_index: 0, state: 'success', try_number: 1, max_tries: 1 },
      { task_id: 'm', map_index: 1, state: 'failed', try_number: 1, max_tries: 1 },
      { task_id: 'z', map_index: -1, state: null, try_number: 0, max_tries: 1 },
    ]);
    expect(carried).to.deep.equal([
      { state: 'failed', try_number: 4, try_base: 2 },
      { state: 'none', try_number: 1 },
      { state: 'failed', try_number: 0, mapped: { n: 2, states: 'sf', tries: [2, 1] } },
      { state: 'none', try_number: 0 },
    ]);
  });
});

describe('RunGraph.override', () => {
  /** Runs every ready task to success except those in `fail`. */
  function drive(g: RunGraph, fail: string[] = []): void {
    for (let guard = 0; guard < 100; guard++) {
      const ready = g.takeReady(100);
      if (ready.length === 0) return;
      for (const i of ready) {
        g.markInFlight(i, S.RUNNING, g.tryNumber[i]! + 1);
        g.finish(i, fail.includes(g.tasks[i]!.task_id) ? S.FAILED : S.SUCCESS);
      }
    }
  }
  const states = (g: RunGraph): Record<string, string> =>
    Object.fromEntries(g.tasks.map((t, i) => [t.task_id, `${g.state[i]}:${g.tryNumber[i]}`]));
  const idx = (g: RunGraph, id: string): number => g.indexOf.get(id)!;

  it('a cleared failed task and its downstream run again with the next try; the run succeeds', () => {
    const g = new RunGraph(chain);
    g.evaluateAll();
    drive(g, ['b']);
    expect(g.runOutcome(0).state).to.equal('failed');
    expect(states(g)).to.deep.equal({ a: 'success:1', b: 'failed:1', c: 'upstream_failed:0', d: 'success:1' });

    const decisions = g.override([
      { index: idx(g, 'b'), state: S.NONE },
      { index: idx(g, 'c'), state: S.NONE },
    ]);
    expect(decisions).to.deep.equal([]);
    expect(g.tryBase[idx(g, 'b')]).to.equal(1);
    expect(g.runOutcome(0).state).to.equal('running');
    drive(g);
    expect(states(g)).to.deep.equal({ a: 'success:1', b: 'success:2', c: 'success:1', d: 'success:1' });
    expect(g.runOutcome(0).state).to.equal('success');
  });

  it('clearing an upstream makes a waiting downstream wait again; marking it failed cascades upstream_failed', () => {
    const g = new RunGraph(chain);
    g.evaluateAll();
    drive(g, ['b']);
    g.override([
      { index: idx(g, 'a'), state: S.NONE },
      { index: idx(g, 'b'), state: S.NONE },
      { index: idx(g, 'c'), state: S.NONE },
    ]);
    expect(g.takeReady(10).map((i) => g.tasks[i]!.task_id)).to.deep.equal(['a']);
    // a is now "running" again; mark b failed from outside: c becomes upstream_failed at once.
    g.markInFlight(idx(g, 'a'), S.RUNNING, 2);
    const decisions = g.override([{ index: idx(g, 'b'), state: S.FAILED }]);
    expect(decisions.map((d) => [g.tasks[d.index]!.task_id, d.state])).to.deep.equal([['c', 'upstream_failed']]);
    expect(g.unfinishedCount).to.equal(1);
  });

  it('marking a failed task success lets an all_success downstream in none run', () => {
    const g = new RunGraph(chain);
    g.evaluateAll();
    drive(g, ['a']);
    expect(states(g)).to.deep.equal({
      a: 'failed:1',
      b: 'upstream_failed:0',
      c: 'upstream_failed:0',
      d: 'upstream_failed:0',
    });
    g.override([
      { index: idx(g, 'a'), state: S.SUCCESS },
      { index: idx(g, 'b'), state: S.NONE },
      { index: idx(g, 'd'), state: S.NONE },
    ]);
    expect(
      g
        .takeReady(10)
        .map((i) => g.tasks[i]!.task_id)
        .sort(),
    ).to.deep.equal(['b', 'd']);
  });

  it('a cleared mapped task drops its instances; its next expansion continues from the highest try', () => {
    const spec = compile((d) => {
      const m = d.task({ taskId: 'm' }, (i: { x: number }) => i.x);
      const after = d.task({ taskId: 'after' }, (xs: number[]) => xs.length);
      after(m.expand({ x: [1, 2, 3] }));
    });
    const g = new RunGraph(spec);
    g.evaluateAll();
    const m = idx(g, 'm');
    expect(g.takeReady(10)).to.deep.equal([m]);
    g.expandMapped(m, 3);
    g.markInFlight(m, S.RUNNING, 0);
    for (const k of g.takeInstances(m, 10)) {
      g.markInstance(m, k, S.RUNNING, k === 1 ? 2 : 1);
      g.finishInstance(m, k, k === 1 ? S.FAILED : S.SUCCESS, (s) => (s.includes(S.FAILED) ? S.FAILED : S.SUCCESS));
    }
    expect(states(g)).to.deep.equal({ m: 'failed:0', after: 'upstream_failed:0' });

    g.override([
      { index: m, state: S.NONE },
      { index: idx(g, 'after'), state: S.NONE },
    ]);
    expect(g.mapped.has(m)).to.equal(false);
    expect([g.tryNumber[m], g.tryBase[m]]).to.deep.equal([2, 2]);
    expect(g.takeReady(10)).to.deep.equal([m]);
    g.expandMapped(m, 2);
    expect(g.mapped.get(m)!.tryNumber).to.deep.equal([2, 2]);
  });
});
