/// <reference types="mocha" />
/**
 * dags/examples/example_dynamic_task_mapping.ts and example_task_group_mapping.ts end to end
 * (Temporal dev server, worker, Postgres): the mapped instances are recorded with map_index 0..n-1
 * and the downstream receives their results.
 */
import { expect } from 'chai';
import { listTaskInstances } from '../../db/task-instance.repository.js';
import { getXCom } from '../../db/xcom.repository.js';
import type { TestStack } from '../helpers/stack.js';
import { runDag, useExamplesStack } from './helpers.js';

describe('mapping: example_dynamic_task_mapping end to end', function () {
  let stack: TestStack;

  useExamplesStack((s) => (stack = s));

  const rows = async (dagId: string, runId: string): Promise<string[]> =>
    (await listTaskInstances(stack.database.db, dagId, runId))
      .map((r) => `${r.task_id}[${r.map_index}] ${r.state} ${r.try_number}`)
      .sort();
  const xcom = (dagId: string, runId: string, taskId: string): Promise<unknown> =>
    getXCom(stack.database.db, { dag_id: dagId, run_id: runId, task_id: taskId, map_index: -1, key: 'return_value' });

  it('runs example_dynamic_task_mapping: add_one x3, sum_it gets [2, 3, 4]', async function () {
    const { result, triggered } = await runDag(stack, 'example_dynamic_task_mapping');
    expect(result.state).to.equal('success');
    expect(await rows('example_dynamic_task_mapping', triggered.runId)).to.deep.equal([
      'add_one[0] success 1',
      'add_one[1] success 1',
      'add_one[2] success 1',
      'sum_it[-1] success 1',
    ]);
    expect(await xcom('example_dynamic_task_mapping', triggered.runId, 'sum_it')).to.equal(9);
  });

  it('runs example_task_mapping_upstream: a cross product over an upstream list and a literal', async function () {
    const { result, triggered } = await runDag(stack, 'example_task_mapping_upstream');
    expect(result.state).to.equal('success');
    // num × factor, the last key varying fastest: (1,1) (1,2) (2,1) (2,2) (3,1) (3,2), plus offset 10.
    expect(await xcom('example_task_mapping_upstream', triggered.runId, 'report')).to.deep.equal({
      values: [11, 12, 12, 14, 13, 16],
      count: 6,
    });
  });

  it('runs example_task_group_mapping: the group per value, print_results gets [4, 5, 6]', async function () {
    const { result, triggered } = await runDag(stack, 'example_task_group_mapping');
    expect(result.state).to.equal('success');
    expect(await rows('example_task_group_mapping', triggered.runId)).to.deep.equal([
      'my_task_group.add_one[0] success 1',
      'my_task_group.add_one[1] success 1',
      'my_task_group.add_one[2] success 1',
      'my_task_group.add_two[0] success 1',
      'my_task_group.add_two[1] success 1',
      'my_task_group.add_two[2] success 1',
      'print_results[-1] success 1',
    ]);
    expect(await xcom('example_task_group_mapping', triggered.runId, 'print_results')).to.deep.equal([4, 5, 6]);
  });
});
