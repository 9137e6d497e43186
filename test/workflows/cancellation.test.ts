/// <reference types="mocha" />
/**
 * Cancelling a run on the real stack: the workflow is cancelled through Temporal while a long
 * process runs; the run fails, the running task fails, unstarted tasks are skipped, and no process
 * of the run survives.
 */
import { expect } from 'chai';
import type { TestStack } from '../helpers/stack.js';
import { expectNoProcessesLeft, finishRun, readRun, runProcesses, startRun, statesOf, ti, waitFor } from './helpers.js';
import { sharedStack } from './shared-stack.js';

describe('engine: cancellation', function () {
  let stack: TestStack;

  before(async () => {
    stack = await sharedStack('pglite');
  });

  it('cancels a run: the running task fails, the rest is skipped, the process is killed', async function () {
    const triggered = await startRun(stack, 'wf_cancel');
    await waitFor(
      'task "long" to be running in Postgres',
      async () => {
        const { tis } = await readRun(stack, 'wf_cancel', triggered.runId);
        return tis.get('long')?.state === 'running';
      },
      30_000,
    );
    await waitFor('the long process to start', () => runProcesses(triggered.runId).length > 0, 30_000);

    await triggered.handle.cancel();
    const { result, run, tis } = await finishRun(stack, triggered);

    expect(result.state).to.equal('failed');
    expect(result.reason).to.equal('the run was cancelled');
    expect(run.state).to.equal('failed');
    expect(run.last_error).to.equal('the run was cancelled');
    expect(run.end_date).to.be.instanceOf(Date);
    expect(statesOf(tis)).to.deep.equal({
      first: ['success', 1],
      long: ['failed', 1],
      after: ['skipped', 0],
    });
    expect(ti(tis, 'long').error).to.equal('the run was cancelled');
    await expectNoProcessesLeft(triggered.runId, 15_000);

    await new Promise((r) => setTimeout(r, 1500));
    expect(statesOf((await readRun(stack, 'wf_cancel', triggered.runId)).tis)).to.deep.equal(statesOf(tis));
  });
});
