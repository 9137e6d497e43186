/// <reference types="mocha" />
/**
 * Failures on the real stack: a function that throws and a process that exits non-zero fail;
 * all_success downstreams become upstream_failed; an all_done downstream still runs; the run fails
 * and the errors (message, exit code, last output lines) are in Postgres.
 */
import { expect } from 'chai';
import { readTaskLog } from '../../db/task-log.repository.js';
import type { TestStack } from '../helpers/stack.js';
import { historyOf, runDag, statesOf, ti } from './helpers.js';
import { sharedStack } from './shared-stack.js';

describe('engine: failures', function () {
  let stack: TestStack;

  before(async () => {
    stack = await sharedStack('pglite');
  });

  it('fails the task, marks all_success downstreams upstream_failed, runs all_done, and fails the run', async function () {
    const { triggered, result, run, tis, history } = await runDag(stack, 'wf_failure');

    expect(result.state).to.equal('failed');
    expect(statesOf(tis)).to.deep.equal({
      ok: ['success', 1],
      explode: ['failed', 1],
      after_explode: ['upstream_failed', 0],
      cleanup: ['success', 1],
      crash: ['failed', 1],
      after_crash: ['upstream_failed', 0],
    });
    expect(result.tasks).to.deep.equal({ success: 2, failed: 2, upstream_failed: 2 });

    // The function's exception, by name and message.
    const explode = ti(tis, 'explode');
    expect(explode.error).to.contain('Error: boom: the answer was 41, not 42');
    expect(explode.exit_code).to.equal(null);
    expect(explode.end_date).to.be.instanceOf(Date);
    expect(historyOf(history, 'explode').map((h) => [h.try_number, h.state, h.error?.split('\n')[0]])).to.deep.equal([
      [1, 'failed', 'Error: boom: the answer was 41, not 42'],
    ]);

    // The process: its exit code and its last output lines.
    const crash = ti(tis, 'crash');
    expect(crash.exit_code).to.equal(7);
    expect(crash.error).to.match(
      /^process exited with code 7\. Last 2 line\(s\) of output:\nabout to fail\ndisk on fire/,
    );
    expect(historyOf(history, 'crash').map((h) => [h.try_number, h.state, h.exit_code])).to.deep.equal([
      [1, 'failed', 7],
    ]);

    // Tasks that never ran have no history; the cascade says why they did not run.
    expect(historyOf(history, 'after_explode')).to.deep.equal([]);
    expect(historyOf(history, 'after_crash')).to.deep.equal([]);
    expect(ti(tis, 'after_explode').error).to.be.a('string').and.not.equal('');

    // The all_done task ran and logged.
    const cleanupLog = await readTaskLog(stack.database.db, {
      dag_id: 'wf_failure',
      run_id: triggered.runId,
      task_id: 'cleanup',
      map_index: -1,
      try_number: 1,
    });
    expect(cleanupLog.map((l) => l.line)).to.include('cleaning up after a failure');
    const explodeLog = await readTaskLog(stack.database.db, {
      dag_id: 'wf_failure',
      run_id: triggered.runId,
      task_id: 'explode',
      map_index: -1,
      try_number: 1,
    });
    expect(explodeLog.map((l) => l.line).join('\n')).to.contain(
      'explode try 1 failed (error): Error: boom: the answer was 41, not 42',
    );

    expect(run.state).to.equal('failed');
    expect(run.end_date).to.be.instanceOf(Date);
  });
});
