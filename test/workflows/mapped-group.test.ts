/// <reference types="mocha" />
/**
 * Mapped task groups on the real stack (Temporal dev server + Postgres): every task in the group
 * runs once per element; inside the group a task waits for the same map_index of its upstream (one
 * failing instance does not fail the others' downstream), the group's result reaches a task outside
 * as the collected list, and a literal cross product maps in Airflow's order. Clearing a member in
 * the finished run re-runs it per instance.
 */
import { expect } from 'chai';
import { applyOperatorAction } from '../../client/operator-actions.js';
import { listTaskInstances } from '../../db/task-instance.repository.js';
import { getXCom } from '../../db/xcom.repository.js';
import type { TestStack } from '../helpers/stack.js';
import { rowsOf, runDag } from './helpers.js';
import { sharedStack } from './shared-stack.js';
import { dagRunResult } from '../../client/run-result.js';

describe('engine: mapped task groups (postgres)', function () {
  let stack: TestStack;

  before(async function () {
    this.timeout(120_000);
    stack = await sharedStack('postgres');
  });

  it('runs each instance of the group on its own: a failed instance only fails its own downstream instance', async function () {
    this.timeout(120_000);
    const run = await runDag(stack, 'wf_map_group');
    // The leaves (report: all_done, cells) succeeded, so the run did, as in Airflow.
    expect(run.result.state).to.equal('success');
    expect(await rowsOf(stack, run)).to.deep.equal({
      files: ['success', 1],
      'per_file.rows[0]': ['success', 1],
      'per_file.rows[1]': ['success', 1],
      'per_file.rows[2]': ['failed', 1],
      'per_file.doubled[0]': ['success', 1],
      'per_file.doubled[1]': ['success', 1],
      'per_file.doubled[2]': ['upstream_failed', 0],
      report: ['success', 1],
      'grid.cell[0]': ['success', 1],
      'grid.cell[1]': ['success', 1],
      'grid.cell[2]': ['success', 1],
      'grid.cell[3]': ['success', 1],
      'grid.upper[0]': ['success', 1],
      'grid.upper[1]': ['success', 1],
      'grid.upper[2]': ['success', 1],
      'grid.upper[3]': ['success', 1],
      cells: ['success', 1],
    });
    const xcom = (taskId: string, mapIndex = -1): Promise<unknown> =>
      getXCom(stack.database.db, {
        dag_id: 'wf_map_group',
        run_id: run.triggered.runId,
        task_id: taskId,
        map_index: mapIndex,
        key: 'return_value',
      });
    // Each instance read its own element and the same instance of its upstream.
    expect(await xcom('per_file.doubled', 1)).to.deep.equal({ file: 'bb.csv', n: 12, mapIndex: 1 });
    expect(await xcom('report')).to.deep.equal([
      { file: 'a.csv', n: 10, mapIndex: 0 },
      { file: 'bb.csv', n: 12, mapIndex: 1 },
    ]);
    // x × y with the last key varying fastest: (1,a) (1,b) (2,a) (2,b).
    expect(await xcom('cells')).to.equal('1A,1B,2A,2B');
    const failed = (await listTaskInstances(stack.database.db, 'wf_map_group', run.triggered.runId)).find(
      (t) => t.task_id === 'per_file.doubled' && t.map_index === 2,
    )!;
    expect(failed.error).to.match(/upstream/);
  });

  it('clearing a group member in the finished run re-runs every instance with the next try', async function () {
    this.timeout(120_000);
    const run = await runDag(stack, 'wf_map_group');
    const outcome = await applyOperatorAction(stack.database.db, stack.client, {
      dagId: 'wf_map_group',
      runId: run.triggered.runId,
      runOptions: stack.config.run,
      action: { kind: 'clear', task_ids: ['grid.upper'], downstream: true },
    });
    expect(outcome.changes.map((c) => c.task_id)).to.deep.equal(['grid.upper', 'cells']);
    expect((await dagRunResult(stack.client.workflow.getHandle(outcome.workflowId))).state).to.equal('success');
    const rows = await rowsOf(stack, run);
    expect([0, 1, 2, 3].map((k) => rows[`grid.upper[${k}]`])).to.deep.equal([
      ['success', 2],
      ['success', 2],
      ['success', 2],
      ['success', 2],
    ]);
    expect(rows['grid.cell[0]']).to.deep.equal(['success', 1]);
    expect(rows.cells).to.deep.equal(['success', 2]);
  });
});
