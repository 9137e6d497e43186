import { expect } from 'chai';
import {
  SemanticsInputError,
  computeDagRunState,
  dagRunStateLeaves,
  evaluateTriggerRule,
  findDeadlock,
} from '../../engine/index.js';
import type { DagRunStateShape, DagRunStateTask, DeadlockTask, TriggerDecision } from '../../engine/index.js';
import { TaskInstanceState as S } from '../../spec/states.js';
import type { TaskInstanceState } from '../../spec/states.js';

interface Node {
  id: string;
  down?: string[];
  teardown?: boolean;
  failDagrun?: boolean;
}

function shapes(nodes: readonly Node[]): DagRunStateShape[] {
  return nodes.map((n) => ({
    task_id: n.id,
    downstream_task_ids: n.down ?? [],
    is_teardown: n.teardown ?? false,
    on_failure_fail_dagrun: n.failDagrun ?? false,
  }));
}

/** Builds computeDagRunState input from a DAG and a state per task, using Airflow's leaf rule. */
function runTasks(nodes: readonly Node[], states: Readonly<Record<string, TaskInstanceState>>): DagRunStateTask[] {
  const leaves = dagRunStateLeaves(shapes(nodes));
  return nodes.map((n, i) => ({
    task_id: n.id,
    state: states[n.id] ?? S.NONE,
    is_leaf: leaves[i]!,
    is_teardown: n.teardown ?? false,
    on_failure_fail_dagrun: n.failDagrun ?? false,
  }));
}

function leafIds(nodes: readonly Node[]): string[] {
  const flags = dagRunStateLeaves(shapes(nodes));
  return nodes.filter((_, i) => flags[i]).map((n) => n.id);
}

describe('semantics/dag-run-state', () => {
  describe('dagRunStateLeaves (Airflow DagRun._tis_for_dagrun_state)', () => {
    it('plain DAG: tasks without downstream', () => {
      expect(leafIds([{ id: 'a', down: ['b', 'c'] }, { id: 'b' }, { id: 'c' }])).to.deep.equal(['b', 'c']);
    });

    it('setup >> work >> teardown: the work task decides, the teardown is ignored', () => {
      const dag: Node[] = [
        { id: 'setup', down: ['work', 'td'] },
        { id: 'work', down: ['td'] },
        { id: 'td', teardown: true },
      ];
      expect(leafIds(dag)).to.deep.equal(['work']);
    });

    it('a teardown with on_failure_fail_dagrun is a real leaf, and makes its upstream a non-leaf', () => {
      const dag: Node[] = [
        { id: 'setup', down: ['work', 'td'] },
        { id: 'work', down: ['td'] },
        { id: 'td', teardown: true, failDagrun: true },
      ];
      expect(leafIds(dag)).to.deep.equal(['td']);
    });

    it('a task with an ignorable teardown and a normal downstream is not a leaf', () => {
      const dag: Node[] = [{ id: 'w1', down: ['td', 'w2'] }, { id: 'w2' }, { id: 'td', teardown: true }];
      expect(leafIds(dag)).to.deep.equal(['w2']);
    });

    it('a DAG of only ignorable teardowns falls back to the plain leaves', () => {
      const dag: Node[] = [
        { id: 't1', teardown: true, down: ['t2'] },
        { id: 't2', teardown: true },
      ];
      expect(leafIds(dag)).to.deep.equal(['t2']);
    });

    it('rejects an unknown downstream id, naming both tasks', () => {
      expect(() => dagRunStateLeaves(shapes([{ id: 'a', down: ['ghost'] }])))
        .to.throw(SemanticsInputError)
        .with.property('message', 'downstream_task_ids: task "a" lists unknown downstream task "ghost"');
    });
  });

  describe('computeDagRunState (Airflow DagRun.update_state)', () => {
    const chain: Node[] = [{ id: 'a', down: ['b'] }, { id: 'b', down: ['c'] }, { id: 'c' }];

    it('running while any task is unfinished', () => {
      for (const state of [
        S.NONE,
        S.SCHEDULED,
        S.QUEUED,
        S.RUNNING,
        S.UP_FOR_RETRY,
        S.UP_FOR_RESCHEDULE,
        S.DEFERRED,
        S.RESTARTING,
      ]) {
        expect(
          computeDagRunState({ tasks: runTasks(chain, { a: S.SUCCESS, b: S.SUCCESS, c: state }) }),
          state,
        ).to.deep.equal({ state: 'running' });
      }
    });

    it('running, not failed, while a failed leaf waits for other tasks (teardowns still run)', () => {
      const dag: Node[] = [{ id: 'w1' }, { id: 'w2' }];
      expect(computeDagRunState({ tasks: runTasks(dag, { w1: S.FAILED, w2: S.RUNNING }) }).state).to.equal('running');
    });

    it('success when every leaf is success or skipped', () => {
      const dag: Node[] = [{ id: 'a', down: ['b', 'c'] }, { id: 'b' }, { id: 'c' }];
      expect(computeDagRunState({ tasks: runTasks(dag, { a: S.SUCCESS, b: S.SUCCESS, c: S.SKIPPED }) })).to.deep.equal({
        state: 'success',
      });
    });

    it('success when a non-leaf failed but the leaf ran anyway (all_done / one_failed leaf)', () => {
      expect(computeDagRunState({ tasks: runTasks(chain, { a: S.SUCCESS, b: S.FAILED, c: S.SUCCESS }) })).to.deep.equal(
        { state: 'success' },
      );
    });

    it('Airflow test_UpstreamTIStates: op2 failed, one_failed leaf op5 succeeded -> success', () => {
      const dag: Node[] = [
        { id: 'op1', down: ['op2', 'op3'] },
        { id: 'op2', down: ['op4', 'op5'] },
        { id: 'op3', down: ['op4', 'op5'] },
        { id: 'op4', down: ['op5'] },
        { id: 'op5' },
      ];
      const states = { op1: S.SUCCESS, op2: S.FAILED, op3: S.SUCCESS, op4: S.SUCCESS, op5: S.SUCCESS };
      expect(computeDagRunState({ tasks: runTasks(dag, states) })).to.deep.equal({ state: 'success' });
    });

    it('failed when a leaf failed, naming it', () => {
      expect(computeDagRunState({ tasks: runTasks(chain, { a: S.SUCCESS, b: S.SUCCESS, c: S.FAILED }) })).to.deep.equal(
        { state: 'failed', reason: '1 leaf task(s) failed: c (failed)' },
      );
    });

    it('failed when a leaf is upstream_failed', () => {
      expect(
        computeDagRunState({ tasks: runTasks(chain, { a: S.FAILED, b: S.UPSTREAM_FAILED, c: S.UPSTREAM_FAILED }) }),
      ).to.deep.equal({ state: 'failed', reason: '1 leaf task(s) failed: c (upstream_failed)' });
    });

    it('setup >> work >> teardown: work failed, teardown succeeded -> failed', () => {
      const dag: Node[] = [
        { id: 'setup', down: ['work', 'td'] },
        { id: 'work', down: ['td'] },
        { id: 'td', teardown: true },
      ];
      expect(
        computeDagRunState({ tasks: runTasks(dag, { setup: S.SUCCESS, work: S.FAILED, td: S.SUCCESS }) }),
      ).to.deep.equal({ state: 'failed', reason: '1 leaf task(s) failed: work (failed)' });
    });

    it('a failed teardown leaf is ignored by default', () => {
      const dag: Node[] = [
        { id: 'setup', down: ['work', 'td'] },
        { id: 'work', down: ['td'] },
        { id: 'td', teardown: true },
      ];
      expect(
        computeDagRunState({ tasks: runTasks(dag, { setup: S.SUCCESS, work: S.SUCCESS, td: S.FAILED }) }),
      ).to.deep.equal({ state: 'success' });
    });

    it('a failed teardown with on_failure_fail_dagrun fails the run', () => {
      const dag: Node[] = [
        { id: 'setup', down: ['work', 'td'] },
        { id: 'work', down: ['td'] },
        { id: 'td', teardown: true, failDagrun: true },
      ];
      expect(
        computeDagRunState({ tasks: runTasks(dag, { setup: S.SUCCESS, work: S.SUCCESS, td: S.FAILED }) }),
      ).to.deep.equal({ state: 'failed', reason: '1 leaf task(s) failed: td (failed)' });
    });

    it('teardown filter also works when the caller passes plain leaves', () => {
      const tasks: DagRunStateTask[] = [
        { task_id: 'w', state: S.SUCCESS, is_leaf: true, is_teardown: false, on_failure_fail_dagrun: false },
        { task_id: 'td', state: S.FAILED, is_leaf: true, is_teardown: true, on_failure_fail_dagrun: false },
      ];
      expect(computeDagRunState({ tasks })).to.deep.equal({ state: 'success' });
    });

    it('a DAG of only teardowns is decided by its plain leaves', () => {
      const dag: Node[] = [
        { id: 't1', teardown: true, down: ['t2'] },
        { id: 't2', teardown: true },
      ];
      expect(computeDagRunState({ tasks: runTasks(dag, { t1: S.SUCCESS, t2: S.FAILED }) })).to.deep.equal({
        state: 'failed',
        reason: '1 leaf task(s) failed: t2 (failed)',
      });
      expect(computeDagRunState({ tasks: runTasks(dag, { t1: S.FAILED, t2: S.SUCCESS }) })).to.deep.equal({
        state: 'success',
      });
    });

    it('removed leaves do not count', () => {
      const dag: Node[] = [{ id: 'a', down: ['b', 'c'] }, { id: 'b' }, { id: 'c' }];
      expect(computeDagRunState({ tasks: runTasks(dag, { a: S.SUCCESS, b: S.REMOVED, c: S.SUCCESS }) }).state).to.equal(
        'success',
      );
    });

    it('an empty DAG is a success', () => {
      expect(computeDagRunState({ tasks: [] })).to.deep.equal({ state: 'success' });
    });

    it('names at most 20 failed leaves', () => {
      const tasks: DagRunStateTask[] = Array.from({ length: 25 }, (_, i) => ({
        task_id: `t${i}`,
        state: S.FAILED,
        is_leaf: true,
        is_teardown: false,
        on_failure_fail_dagrun: false,
      }));
      const names = Array.from({ length: 20 }, (_, i) => `t${i} (failed)`).join(', ');
      expect(computeDagRunState({ tasks })).to.deep.equal({
        state: 'failed',
        reason: `25 leaf task(s) failed: ${names} and 5 more`,
      });
    });
  });

  describe('findDeadlock (Airflow "all tasks deadlocked")', () => {
    const t = (task_id: string, state: TaskInstanceState, decision?: TriggerDecision['decision']): DeadlockTask => ({
      task_id,
      state,
      decision,
    });

    it('no deadlock when everything finished', () => {
      expect(findDeadlock({ tasks: [t('a', S.SUCCESS), t('b', S.FAILED)] })).to.equal(null);
    });

    it('no deadlock while a task is in flight', () => {
      for (const state of [S.QUEUED, S.RUNNING, S.UP_FOR_RETRY, S.UP_FOR_RESCHEDULE, S.DEFERRED, S.RESTARTING]) {
        expect(findDeadlock({ tasks: [t('a', state), t('b', S.NONE, 'wait')] }), state).to.equal(null);
      }
    });

    it('no deadlock when a waiting task can run, skip or fail', () => {
      for (const decision of ['run', 'skip', 'upstream_failed'] as const) {
        expect(findDeadlock({ tasks: [t('a', S.NONE, 'wait'), t('b', S.NONE, decision)] }), decision).to.equal(null);
      }
    });

    it('no deadlock when a waiting task has not been evaluated', () => {
      expect(findDeadlock({ tasks: [t('a', S.NONE, 'wait'), t('b', S.NONE)] })).to.equal(null);
    });

    it('deadlock when every unfinished task waits on a rule that cannot be met', () => {
      expect(
        findDeadlock({ tasks: [t('a', S.SUCCESS), t('b', S.NONE, 'wait'), t('c', S.SCHEDULED, 'wait')] }),
      ).to.deep.equal({
        stuckTaskIds: ['b', 'c'],
        reason: 'deadlock: no task can make progress; 2 unfinished task(s) can never run: b, c',
      });
    });

    it('works from real trigger-rule decisions: upstream finished in an inconsistent count', () => {
      // An upstream reported "done" but counted in no state can never satisfy all_success.
      const decision = evaluateTriggerRule('all_success', {
        success: 0,
        skipped: 0,
        failed: 0,
        upstream_failed: 0,
        removed: 0,
        done: 1,
        total: 1,
      }).decision;
      expect(findDeadlock({ tasks: [t('up', S.SUCCESS), t('down', S.NONE, decision)] })?.stuckTaskIds).to.deep.equal([
        'down',
      ]);
    });

    it('names at most 20 stuck tasks but returns all of them', () => {
      const tasks = Array.from({ length: 30 }, (_, i) => t(`t${i}`, S.NONE, 'wait'));
      const result = findDeadlock({ tasks });
      expect(result?.stuckTaskIds).to.have.length(30);
      expect(result?.reason).to.equal(
        `deadlock: no task can make progress; 30 unfinished task(s) can never run: ${Array.from({ length: 20 }, (_, i) => `t${i}`).join(', ')} and 10 more`,
      );
    });
  });

  it('handles 10,000 tasks quickly (well under the 5 s activation budget)', () => {
    const n = 10_000;
    const nodes: Node[] = Array.from({ length: n }, (_, i) => ({ id: `t${i}`, down: i + 1 < n ? [`t${i + 1}`] : [] }));
    const leaves = dagRunStateLeaves(shapes(nodes));
    const tasks: DagRunStateTask[] = nodes.map((node, i) => ({
      task_id: node.id,
      state: S.SUCCESS,
      is_leaf: leaves[i]!,
      is_teardown: false,
      on_failure_fail_dagrun: false,
    }));
    const counts = { success: 1, skipped: 0, failed: 0, upstream_failed: 0, removed: 0, done: 1, total: 1 };
    const start = performance.now();
    for (let i = 0; i < n; i++) evaluateTriggerRule('all_success', counts);
    expect(computeDagRunState({ tasks }).state).to.equal('success');
    expect(findDeadlock({ tasks })).to.equal(null);
    expect(performance.now() - start).to.be.below(500);
  });
});
