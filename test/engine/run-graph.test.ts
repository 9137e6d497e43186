/**
 * RunGraph decisions without Temporal: branching (Airflow's skip_all_except), short-circuit,
 * latest-only, setup/teardown (scope, teardown rule, run result) and the "not started" rule for
 * skips. DAGs are written with the SDK and compiled, then driven by a small simulator that plays
 * each task's scripted outcome the way the workflow does.
 */
import { expect } from 'chai';
import { compileDag } from '../../sdk/compile.js';
import { branchFollow } from '../../engine/control-flow.js';
import { dag, type DagBuilder } from '../../sdk/dag.js';
import { RunGraph } from '../../engine/run-graph.js';
import type { DagSpec, Json } from '../../spec/dag-spec.js';
import { TaskInstanceState as S, type TaskInstanceState } from '../../spec/states.js';

type Outcome = 'success' | 'failed' | 'skipped' | { value: Json };

function compile(build: (d: DagBuilder) => void): DagSpec {
  return compileDag(dag({ dagId: 'rg' }, build), 'rg.ts').spec;
}

/** Runs tasks as the workflow would: a ready task ends with its scripted outcome (default success). */
function simulate(
  spec: DagSpec,
  outcomes: Record<string, Outcome> = {},
): { states: Record<string, TaskInstanceState>; outcome: ReturnType<RunGraph['runOutcome']>; order: string[] } {
  const g = new RunGraph(spec);
  g.evaluateAll();
  const order: string[] = [];
  for (let guard = 0; guard < 1000; guard++) {
    const ready = g.takeReady(1000);
    if (ready.length === 0) break;
    for (const i of ready) {
      const t = g.tasks[i]!;
      order.push(t.task_id);
      g.markInFlight(i, S.RUNNING, 1);
      const o = outcomes[t.task_id] ?? 'success';
      if (o === 'failed' || o === 'skipped') {
        g.finish(i, o === 'failed' ? S.FAILED : S.SKIPPED);
        continue;
      }
      const value = o === 'success' ? null : o.value;
      let skip: { indices: number[]; reason: string } | undefined;
      if (t.control?.type === 'branch')
        skip = { indices: g.branchSkips(i, branchFollow(value, t.downstream, t.control.groups)), reason: 'branch' };
      if (t.control?.type === 'short_circuit' && !value)
        skip = { indices: g.shortCircuitSkips(i, t.control.ignore_downstream_trigger_rules), reason: 'sc' };
      if (t.control?.type === 'latest_only' && value === 'not_latest')
        skip = { indices: g.latestOnlySkips(i), reason: 'lo' };
      g.finish(i, S.SUCCESS, skip);
    }
  }
  return {
    states: Object.fromEntries(g.tasks.map((t, i) => [t.task_id, g.state[i]!])),
    outcome: g.runOutcome(0),
    order,
  };
}

const fn = (): number => 1;

// Airflow's example_branch_operator shape: branching >> [a, b, c] each >> follow_x >> join.
const branchDag = compile((d) => {
  const branching = d.branch({ taskId: 'branching' }, () => 'a');
  const join = d.empty({ taskId: 'join', triggerRule: 'none_failed_min_one_success' });
  for (const x of ['a', 'b', 'c']) {
    const t = d.empty({ taskId: x });
    const follow = d.empty({ taskId: `follow_${x}` });
    d.chain(branching, t, follow, join);
  }
});

// branch >> join and branch >> a >> join: join is downstream of the followed path.
const diamond = compile((d) => {
  const b = d.branch({ taskId: 'b' }, () => 'a');
  const a = d.empty({ taskId: 'a' });
  const other = d.empty({ taskId: 'other' });
  const join = d.empty({ taskId: 'join' });
  d.chain(b, [a, other, join]);
  d.chain(a, join);
});

const groupBranch = compile((d) => {
  const b = d.branch({ taskId: 'b' }, () => 'g');
  const g = d.group({ groupId: 'g' }, (gb) => {
    gb.chain(gb.empty({ taskId: 'x' }), gb.empty({ taskId: 'y' }));
  });
  const solo = d.empty({ taskId: 'solo' });
  d.chain(b, [g, solo]);
});

const shortCircuit = (ignore: boolean): DagSpec =>
  compile((d) => {
    const sc = d.shortCircuit({ taskId: 'sc', ignoreDownstreamTriggerRules: ignore }, () => false);
    const a = d.empty({ taskId: 'a' });
    const b = d.empty({ taskId: 'b' });
    const done = d.empty({ taskId: 'done', triggerRule: 'all_done' });
    const side = d.empty({ taskId: 'side' });
    d.chain(sc, a, b, done);
    d.chain(side, done);
  });

// Airflow's example_latest_only_with_trigger.
const latestOnly = compile((d) => {
  const lo = d.latestOnly({ taskId: 'latest_only' });
  const task1 = d.empty({ taskId: 'task1' });
  const task2 = d.empty({ taskId: 'task2' });
  const task3 = d.empty({ taskId: 'task3' });
  const task4 = d.empty({ taskId: 'task4', triggerRule: 'all_done' });
  d.chain(lo, task1, [task3, task4]);
  d.chain(task2, [task3, task4]);
});

const setupTeardown = (onFailureFailDagrun = false): DagSpec =>
  compile((d) => {
    const create = d.task({ taskId: 'create' }, fn).asSetup();
    const work = d.task({ taskId: 'work' }, fn);
    const del = d.task({ taskId: 'delete' }, fn).asTeardown({ setups: create, onFailureFailDagrun });
    d.chain(create, work, del);
  });

// setup >> a(all_done) >> b(all_done) >> teardown, teardown after: `after` (all_done) is outside the scope.
const scoped = compile((d) => {
  const s = d.task({ taskId: 's' }, fn).asSetup();
  const a = d.task({ taskId: 'a', triggerRule: 'all_done' }, fn);
  const b = d.task({ taskId: 'b', triggerRule: 'all_done' }, fn);
  const td = d.task({ taskId: 'td' }, fn).asTeardown({ setups: s });
  const after = d.task({ taskId: 'after', triggerRule: 'all_done' }, fn);
  d.chain(s, a, b, td, after);
});

const cases: Array<{
  name: string;
  spec: DagSpec;
  outcomes?: Record<string, Outcome>;
  states: Record<string, TaskInstanceState>;
  run: 'success' | 'failed';
}> = [
  {
    name: 'branch follows one id: the others are skipped, the join (none_failed_min_one_success) runs',
    spec: branchDag,
    outcomes: { branching: { value: 'a' } },
    states: {
      branching: S.SUCCESS,
      a: S.SUCCESS,
      b: S.SKIPPED,
      c: S.SKIPPED,
      follow_a: S.SUCCESS,
      follow_b: S.SKIPPED,
      follow_c: S.SKIPPED,
      join: S.SUCCESS,
    },
    run: 'success',
  },
  {
    name: 'branch follows a list of ids',
    spec: branchDag,
    outcomes: { branching: { value: ['a', 'c'] } },
    states: {
      branching: S.SUCCESS,
      a: S.SUCCESS,
      b: S.SKIPPED,
      c: S.SUCCESS,
      follow_a: S.SUCCESS,
      follow_b: S.SKIPPED,
      follow_c: S.SUCCESS,
      join: S.SUCCESS,
    },
    run: 'success',
  },
  {
    name: 'branch returning null skips every direct downstream task, and the join too',
    spec: branchDag,
    outcomes: { branching: { value: null } },
    states: {
      branching: S.SUCCESS,
      a: S.SKIPPED,
      b: S.SKIPPED,
      c: S.SKIPPED,
      follow_a: S.SKIPPED,
      follow_b: S.SKIPPED,
      follow_c: S.SKIPPED,
      join: S.SKIPPED,
    },
    run: 'success',
  },
  {
    name: 'a direct downstream task that is also downstream of the followed task is not skipped',
    spec: diamond,
    outcomes: { b: { value: 'a' } },
    states: { b: S.SUCCESS, a: S.SUCCESS, other: S.SKIPPED, join: S.SUCCESS },
    run: 'success',
  },
  {
    name: 'following another task skips that shared join directly',
    spec: diamond,
    outcomes: { b: { value: 'other' } },
    states: { b: S.SUCCESS, a: S.SKIPPED, other: S.SUCCESS, join: S.SKIPPED },
    run: 'success',
  },
  {
    name: 'a task group id stands for the group roots',
    spec: groupBranch,
    outcomes: { b: { value: 'g' } },
    states: { b: S.SUCCESS, 'g.x': S.SUCCESS, 'g.y': S.SUCCESS, solo: S.SKIPPED },
    run: 'success',
  },
  {
    name: 'a failed branch skips nothing: its downstream tasks are upstream_failed',
    spec: diamond,
    outcomes: { b: 'failed' },
    states: { b: S.FAILED, a: S.UPSTREAM_FAILED, other: S.UPSTREAM_FAILED, join: S.UPSTREAM_FAILED },
    run: 'failed',
  },
  {
    name: 'short-circuit falsy with ignoreDownstreamTriggerRules skips everything downstream, all_done included',
    spec: shortCircuit(true),
    outcomes: { sc: { value: false } },
    states: { sc: S.SUCCESS, a: S.SKIPPED, b: S.SKIPPED, done: S.SKIPPED, side: S.SUCCESS },
    run: 'success',
  },
  {
    name: 'short-circuit falsy respecting trigger rules skips direct downstream; all_done still runs',
    spec: shortCircuit(false),
    outcomes: { sc: { value: 0 } },
    states: { sc: S.SUCCESS, a: S.SKIPPED, b: S.SKIPPED, done: S.SUCCESS, side: S.SUCCESS },
    run: 'success',
  },
  {
    name: 'short-circuit truthy skips nothing',
    spec: shortCircuit(true),
    outcomes: { sc: { value: { ok: true } } },
    states: { sc: S.SUCCESS, a: S.SUCCESS, b: S.SUCCESS, done: S.SUCCESS, side: S.SUCCESS },
    run: 'success',
  },
  {
    name: 'latest-only (not latest) skips its direct downstream; all_done task4 runs',
    spec: latestOnly,
    outcomes: { latest_only: { value: 'not_latest' } },
    states: { latest_only: S.SUCCESS, task1: S.SKIPPED, task2: S.SUCCESS, task3: S.SKIPPED, task4: S.SUCCESS },
    run: 'success',
  },
  {
    name: 'latest-only (latest) skips nothing',
    spec: latestOnly,
    states: { latest_only: S.SUCCESS, task1: S.SUCCESS, task2: S.SUCCESS, task3: S.SUCCESS, task4: S.SUCCESS },
    run: 'success',
  },
  {
    name: 'work fails: the teardown still runs (its setup succeeded) and the run fails on the work',
    spec: setupTeardown(),
    outcomes: { work: 'failed' },
    states: { create: S.SUCCESS, work: S.FAILED, delete: S.SUCCESS },
    run: 'failed',
  },
  {
    name: 'setup fails: work and teardown are upstream_failed',
    spec: setupTeardown(),
    outcomes: { create: 'failed' },
    states: { create: S.FAILED, work: S.UPSTREAM_FAILED, delete: S.UPSTREAM_FAILED },
    run: 'failed',
  },
  {
    name: 'setup skipped: work and teardown are skipped',
    spec: setupTeardown(),
    outcomes: { create: 'skipped' },
    states: { create: S.SKIPPED, work: S.SKIPPED, delete: S.SKIPPED },
    run: 'success',
  },
  {
    name: 'a failed teardown leaf does not fail the run',
    spec: setupTeardown(),
    outcomes: { delete: 'failed' },
    states: { create: S.SUCCESS, work: S.SUCCESS, delete: S.FAILED },
    run: 'success',
  },
  {
    name: 'a failed teardown with onFailureFailDagrun fails the run',
    spec: setupTeardown(true),
    outcomes: { delete: 'failed' },
    states: { create: S.SUCCESS, work: S.SUCCESS, delete: S.FAILED },
    run: 'failed',
  },
  {
    name: 'short-circuit never skips teardowns: the teardown runs after its skipped work',
    spec: compile((d) => {
      const s = d.task({ taskId: 's' }, fn).asSetup();
      const sc = d.shortCircuit({ taskId: 'sc' }, () => false);
      const w = d.task({ taskId: 'w' }, fn);
      const td = d.task({ taskId: 'td' }, fn).asTeardown({ setups: s });
      d.chain(s, sc, w, td);
    }),
    outcomes: { sc: { value: false } },
    states: { s: S.SUCCESS, sc: S.SUCCESS, w: S.SKIPPED, td: S.SUCCESS },
    run: 'success',
  },
  {
    name: 'setup scope: a failed setup gives upstream_failed to all_done tasks in its indirect scope, not to tasks after the teardown',
    spec: scoped,
    outcomes: { s: 'failed' },
    // a is a direct downstream (its own rule decides: all_done runs); b has s as an indirect setup.
    states: { s: S.FAILED, a: S.SUCCESS, b: S.UPSTREAM_FAILED, td: S.UPSTREAM_FAILED, after: S.SUCCESS },
    run: 'failed',
  },
  {
    name: 'setup scope: a skipped setup skips tasks in its indirect scope',
    spec: scoped,
    outcomes: { s: 'skipped' },
    states: { s: S.SKIPPED, a: S.SUCCESS, b: S.SKIPPED, td: S.SKIPPED, after: S.SUCCESS },
    run: 'success',
  },
];

describe('RunGraph control flow', () => {
  for (const c of cases) {
    it(c.name, () => {
      const { states, outcome } = simulate(c.spec, c.outcomes);
      expect(states).to.deep.equal(c.states);
      expect(outcome.state).to.equal(c.run);
    });
  }

  it('skips only tasks not started yet: a running direct downstream task is left alone', () => {
    const spec = compile((d) => {
      const b = d.branch({ taskId: 'b' }, () => 'a');
      d.chain(b, [
        d.empty({ taskId: 'a' }),
        d.empty({ taskId: 'eager', triggerRule: 'always' }),
        d.empty({ taskId: 'queued', triggerRule: 'always' }),
        d.empty({ taskId: 'later' }),
      ]);
    });
    const g = new RunGraph(spec);
    g.evaluateAll();
    const idx = (id: string): number => g.indexOf.get(id)!;
    // b and both `always` tasks are ready; hand out b and eager only: queued stays in the ready list.
    expect(
      g
        .takeReady(10)
        .map((i) => g.tasks[i]!.task_id)
        .sort(),
    ).to.deep.equal(['b', 'eager', 'queued']);
    g.markInFlight(idx('b'), S.RUNNING, 1);
    g.markInFlight(idx('eager'), S.RUNNING, 1);
    g.markInFlight(idx('queued'), S.RUNNING, 1);
    const skips = g.branchSkips(idx('b'), ['a']);
    expect(skips.map((i) => g.tasks[i]!.task_id)).to.deep.equal(['later']);
    const decisions = g.finish(idx('b'), S.SUCCESS, {
      indices: skips,
      reason: 'skipped by branch "b" (it followed a)',
    });
    expect(decisions.map((x) => [g.tasks[x.index]!.task_id, x.state, x.reason])).to.deep.equal([
      ['later', 'skipped', 'skipped by branch "b" (it followed a)'],
    ]);
    expect(g.state[idx('eager')]).to.equal(S.RUNNING);
    expect(g.takeReady(10).map((i) => g.tasks[i]!.task_id)).to.deep.equal(['a']);
  });

  it('removes a skipped task from the ready list when it was runnable but not handed out', () => {
    const spec = compile((d) => {
      const b = d.branch({ taskId: 'b' }, () => null);
      d.chain(b, d.empty({ taskId: 'always', triggerRule: 'always' }));
    });
    const g = new RunGraph(spec);
    g.evaluateAll();
    const [first] = g.takeReady(1); // priority ties break by topological order: b first
    expect(g.tasks[first!]!.task_id).to.equal('b');
    g.markInFlight(first!, S.RUNNING, 1);
    expect(g.notStarted(g.indexOf.get('always')!)).to.equal(true);
    g.finish(first!, S.SUCCESS, { indices: g.branchSkips(first!, []), reason: 'r' });
    expect(g.state[g.indexOf.get('always')!]).to.equal(S.SKIPPED);
    expect(g.readyCount).to.equal(0);
    expect(g.runOutcome(0).state).to.equal('success');
  });

  it('holds a task whose indirect setup is still running, then runs it when the setup succeeds', () => {
    const spec = compile((d) => {
      const s = d.task({ taskId: 's' }, fn).asSetup();
      const a = d.task({ taskId: 'a', triggerRule: 'always' }, fn);
      const b = d.task({ taskId: 'b' }, fn);
      const td = d.task({ taskId: 'td' }, fn).asTeardown({ setups: s });
      d.chain(s, a, b, td);
    });
    const g = new RunGraph(spec);
    g.evaluateAll();
    const id = (i: number): string => g.tasks[i]!.task_id;
    const idx = (t: string): number => g.indexOf.get(t)!;
    expect(g.takeReady(10).map(id).sort()).to.deep.equal(['a', 's']);
    g.markInFlight(idx('s'), S.RUNNING, 1);
    g.finish(idx('a'), S.SUCCESS);
    expect(g.takeReady(10)).to.deep.equal([]); // b waits for its indirect setup
    expect(g.state[idx('b')]).to.equal(S.NONE);
    g.finish(idx('s'), S.SUCCESS);
    expect(g.takeReady(10).map(id)).to.deep.equal(['b']);
  });

  it('keeps old specs (no setups, no teardowns) on the plain leaf rule', () => {
    const spec = compile((d) => {
      d.chain(d.empty({ taskId: 'a' }), d.empty({ taskId: 'b' }));
    });
    expect(simulate(spec, { b: 'failed' }).outcome).to.deep.equal({
      state: 'failed',
      reason: '1 leaf task(s) failed: b (failed)',
    });
  });
});
