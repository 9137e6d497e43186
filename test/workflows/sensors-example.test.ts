/// <reference types="mocha" />
/**
 * dags/examples/example_sensors.ts triggered end to end (Temporal dev server, worker, Postgres):
 * every sensor kind is met (or soft-fails) and the join runs.
 */
import { expect } from 'chai';
import { listReschedules } from '../../db/cross-run.repository.js';
import { getXCom } from '../../db/xcom.repository.js';
import type { TestStack } from '../helpers/stack.js';
import { runDag, statesOf, ti, useExamplesStack } from './helpers.js';

describe('sensors: example_sensors end to end', function () {
  let stack: TestStack;

  useExamplesStack((s) => (stack = s));

  it('runs example_sensors: sensors are met, never_true soft-fails, all_done runs', async function () {
    const { result, tis, triggered } = await runDag(stack, 'example_sensors');
    expect(statesOf(tis)).to.deep.equal({
      wait_for_time: ['success', 1],
      write_flag: ['success', 1],
      wait_for_flag: ['success', 1],
      check_flag: ['success', 1],
      never_true: ['skipped', 1],
      all_done: ['success', 1],
    });
    expect(result.state).to.equal('success');
    expect(ti(tis, 'wait_for_flag').operator).to.equal('FileSensor');
    const xcom = await getXCom(stack.database.db, {
      dag_id: 'example_sensors',
      run_id: triggered.runId,
      task_id: 'wait_for_time',
      map_index: -1,
      key: 'return_value',
    });
    expect((xcom as { waitedSeconds: number }).waitedSeconds).to.be.at.least(2);
    // The file sensor was rescheduled while write_flag had not written the flag yet.
    const reschedules = await listReschedules(stack.database.db, {
      dag_id: 'example_sensors',
      run_id: triggered.runId,
      task_id: 'wait_for_flag',
      map_index: -1,
    });
    expect(reschedules.length).to.be.at.least(1);
  });
});
