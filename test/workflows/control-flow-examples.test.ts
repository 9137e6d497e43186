/// <reference types="mocha" />
/**
 * The control-flow example DAGs (dags/examples, modelled on Airflow's example DAGs) triggered end
 * to end on the real stack (Temporal dev server, worker, Postgres), asserting every task's final
 * state and try number: branching, short-circuit, latest-only (scheduled vs manual runs), task
 * groups, setup/teardown (success and a failing work task), and skip-vs-trigger-rule joins.
 */
import { expect } from 'chai';
import { triggerDagRun } from '../../client/trigger.js';
import { readTaskLog } from '../../db/task-log.repository.js';
import { DagRunType } from '../../spec/states.js';
import type { TestStack } from '../helpers/stack.js';
import { finishRun, historyOf, runDag, statesOf, ti, uniqueRunId, useExamplesStack } from './helpers.js';

describe('control flow: example DAGs end to end', function () {
  let stack: TestStack;

  useExamplesStack((s) => (stack = s));

  it('example_branch_operator follows the chosen branch, skips the other three, and joins', async function () {
    const { result, tis } = await runDag(stack, 'example_branch_operator', { conf: { branch: 'branch_c' } });
    expect(statesOf(tis)).to.deep.equal({
      run_this_first: ['success', 1],
      branching: ['success', 1],
      branch_a: ['skipped', 0],
      follow_branch_a: ['skipped', 0],
      branch_b: ['skipped', 0],
      follow_branch_b: ['skipped', 0],
      branch_c: ['success', 1],
      follow_branch_c: ['success', 1],
      branch_d: ['skipped', 0],
      follow_branch_d: ['skipped', 0],
      join: ['success', 1],
    });
    expect(result).to.deep.equal({ state: 'success', tasks: { success: 5, skipped: 6 } });
    expect(ti(tis, 'branch_a').error).to.equal('skipped by branch "branching" (it followed branch_c)');
    expect(ti(tis, 'follow_branch_a').error).to.equal(
      'upstream task skipped: 1 of 1 upstreams skipped (trigger_rule=all_success)',
    );
  });

  it('example_short_circuit_operator skips everything after a falsy condition, or only direct downstream tasks', async function () {
    const { result, tis } = await runDag(stack, 'example_short_circuit_operator');
    expect(statesOf(tis)).to.deep.equal({
      condition_is_true: ['success', 1],
      true_1: ['success', 1],
      true_2: ['success', 1],
      condition_is_false: ['success', 1],
      false_1: ['skipped', 0],
      false_2: ['skipped', 0],
      task_1: ['success', 1],
      task_2: ['success', 1],
      short_circuit: ['success', 1],
      task_3: ['success', 1],
      task_4: ['skipped', 0],
      task_5: ['success', 1],
      task_6: ['skipped', 0],
      task_7: ['success', 1],
    });
    expect(result.state).to.equal('success');
    expect(ti(tis, 'false_2').error).to.equal('skipped by short-circuit "condition_is_false" (its result was falsy)');
    // ignoreDownstreamTriggerRules: false skips task_4 only; task_6 is skipped by its trigger rule.
    expect(ti(tis, 'task_6').error).to.equal(
      'upstream task skipped: 1 of 1 upstreams skipped (trigger_rule=all_success)',
    );
  });

  it('example_latest_only skips task1 in an older scheduled run, not in the latest one nor in a manual run', async function () {
    const trigger = (runType: (typeof DagRunType)[keyof typeof DagRunType], logicalDate: Date) =>
      triggerDagRun(stack.database.db, stack.client, {
        dagId: 'example_latest_only',
        runId: uniqueRunId(runType),
        runType,
        logicalDate,
        conf: {},
        runOptions: stack.config.run,
      });
    const latest = await finishRun(stack, await trigger(DagRunType.SCHEDULED, new Date('2030-01-02T00:00:00Z')));
    const older = await finishRun(stack, await trigger(DagRunType.SCHEDULED, new Date('2030-01-01T00:00:00Z')));
    const manual = await finishRun(stack, await trigger(DagRunType.MANUAL, new Date('2029-12-31T00:00:00Z')));

    const allRan = {
      latest_only: ['success', 1],
      task1: ['success', 1],
      task2: ['success', 1],
      task3: ['success', 1],
      task4: ['success', 1],
    };
    expect(statesOf(latest.tis)).to.deep.equal(allRan);
    expect(statesOf(manual.tis)).to.deep.equal(allRan);
    expect(statesOf(older.tis)).to.deep.equal({
      latest_only: ['success', 1],
      task1: ['skipped', 0],
      task2: ['success', 1],
      task3: ['skipped', 0],
      task4: ['success', 1],
    });
    for (const r of [latest, older, manual]) expect(r.result.state).to.equal('success');
    expect(ti(older.tis, 'task1').error).to.equal(
      `skipped by latest_only "latest_only": not the latest scheduled run: "${latest.triggered.runId}" has the later logical date 2030-01-02T00:00:00.000Z`,
    );
    const log = async (runId: string): Promise<string[]> =>
      (
        await readTaskLog(stack.database.db, {
          dag_id: 'example_latest_only',
          run_id: runId,
          task_id: 'latest_only',
          map_index: -1,
          try_number: 1,
        })
      )
        .filter((l) => l.stream === 'system')
        .map((l) => l.line);
    expect(await log(manual.triggered.runId)).to.include(
      'manual run: latest_only does not skip: downstream tasks proceed',
    );
    expect(await log(older.triggered.runId)).to.include(
      `not the latest scheduled run: "${latest.triggered.runId}" has the later logical date 2030-01-02T00:00:00.000Z: skipping the direct downstream tasks task1`,
    );
  });

  it('example_task_group runs every task of the nested groups in group order', async function () {
    const { result, tis, history } = await runDag(stack, 'example_task_group');
    expect(statesOf(tis)).to.deep.equal({
      start: ['success', 1],
      'section_1.task_1': ['success', 1],
      'section_1.task_2': ['success', 1],
      'section_1.task_3': ['success', 1],
      'section_2.task_1': ['success', 1],
      'section_2.inner_section_2.task_2': ['success', 1],
      'section_2.inner_section_2.task_3': ['success', 1],
      'section_2.inner_section_2.task_4': ['success', 1],
      end: ['success', 1],
    });
    expect(result.state).to.equal('success');
    expect(ti(tis, 'section_2.task_1').max_tries).to.equal(2); // the group's defaultArgs: retries 1
    expect(ti(tis, 'section_1.task_1').max_tries).to.equal(1);
    // section_2 started only after both leaves of section_1 ended.
    const endOf = (id: string): number => historyOf(history, id)[0]!.end_date!.getTime();
    const startOf = (id: string): number => historyOf(history, id)[0]!.start_date!.getTime();
    expect(startOf('section_2.task_1')).to.be.at.least(Math.max(endOf('section_1.task_2'), endOf('section_1.task_3')));
    expect(startOf('end')).to.be.at.least(endOf('section_2.inner_section_2.task_4'));
  });

  it('example_setup_teardown succeeds, and when the group work fails its teardown still runs and the run fails', async function () {
    const ok = await runDag(stack, 'example_setup_teardown');
    const all = {
      root_setup: ['success', 1],
      normal: ['success', 1],
      root_teardown: ['success', 1],
      'section_1.taskgroup_setup': ['success', 1],
      'section_1.normal': ['success', 1],
      'section_1.taskgroup_teardown': ['success', 1],
    };
    expect(statesOf(ok.tis)).to.deep.equal(all);
    expect(ok.result.state).to.equal('success');

    const failed = await runDag(stack, 'example_setup_teardown', { conf: { fail_work: true } });
    expect(statesOf(failed.tis)).to.deep.equal({ ...all, 'section_1.normal': ['failed', 1] });
    expect(failed.result).to.deep.equal({
      state: 'failed',
      reason: '1 leaf task(s) failed: section_1.normal (failed)',
      tasks: { success: 5, failed: 1 },
    });
    expect(ti(failed.tis, 'section_1.normal').error).to.contain('asked to fail (fail_work)');
  });

  it('example_trigger_rules: a skip cascades through all_success and stops at one_success', async function () {
    const { result, tis } = await runDag(stack, 'example_trigger_rules');
    expect(statesOf(tis)).to.deep.equal({
      skip_operator_1: ['skipped', 1],
      always_true_1: ['success', 1],
      all_success: ['skipped', 0],
      final_1: ['skipped', 0],
      skip_operator_2: ['skipped', 1],
      always_true_2: ['success', 1],
      one_success: ['success', 1],
      final_2: ['success', 1],
    });
    expect(result.state).to.equal('success');
  });
});
