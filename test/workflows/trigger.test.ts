/// <reference types="mocha" />
/**
 * Triggering on the real stack: a run_id can start only once, whether the duplicate is caught by
 * Postgres (the usual case) or by Temporal (the dag_run row is gone but the workflow exists).
 */
import { expect } from 'chai';
import type { WorkflowHandleWithFirstExecutionRunId } from '@temporalio/client';
import { TriggerError, dagRunWorkflowId } from '../../client/trigger.js';
import { getDagRun } from '../../db/dag-run.repository.js';
import type { TestStack } from '../helpers/stack.js';
import { startRun, uniqueRunId } from './helpers.js';
import { sharedStack } from './shared-stack.js';
import { dagRunResult } from '../../client/run-result.js';

async function expectTriggerError(promise: Promise<unknown>): Promise<TriggerError> {
  try {
    await promise;
  } catch (err) {
    expect(err).to.be.instanceOf(TriggerError);
    return err as TriggerError;
  }
  throw new Error('expected the trigger to fail with TriggerError');
}

async function workflowCount(stack: TestStack, workflowId: string): Promise<number> {
  let n = 0;
  for await (const _ of stack.client.workflow.list({ query: `WorkflowId = '${workflowId}'` })) n++;
  return n;
}

describe('engine: triggering a run id twice', function () {
  let stack: TestStack;

  before(async () => {
    stack = await sharedStack('pglite');
  });

  it('rejects a second run with the same run_id and leaves the first alone', async function () {
    const runId = uniqueRunId('dup');
    const first = await startRun(stack, 'wf_tiny', { runId });
    const err = await expectTriggerError(startRun(stack, 'wf_tiny', { runId }));
    expect(err.message).to.equal(
      `a run with run_id "${runId}" already exists for DAG "wf_tiny"; pick another --run-id`,
    );

    expect(await dagRunResult(first.handle)).to.deep.equal({ state: 'success', tasks: { success: 1 } });
    expect((await getDagRun(stack.database.db, 'wf_tiny', runId))?.state).to.equal('success');
    expect((await first.handle.describe()).runId).to.equal(
      (first.handle as WorkflowHandleWithFirstExecutionRunId).firstExecutionRunId,
    );
    // Visibility is eventually consistent: wait for the first to show, then check there is only it.
    const id = dagRunWorkflowId('wf_tiny', runId);
    const deadline = Date.now() + 10_000;
    while ((await workflowCount(stack, id)) === 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 200));
    expect(await workflowCount(stack, id)).to.equal(1);
  });

  it('rejects a run whose workflow already exists in Temporal even when Postgres has no row', async function () {
    const runId = uniqueRunId('dup_temporal');
    const first = await startRun(stack, 'wf_tiny', { runId });
    await dagRunResult(first.handle);
    await stack.database.db.deleteFrom('dag_run').where('dag_id', '=', 'wf_tiny').where('run_id', '=', runId).execute();

    const err = await expectTriggerError(startRun(stack, 'wf_tiny', { runId }));
    expect(err.message).to.equal(`a workflow for run_id "${runId}" already exists in Temporal`);
    const row = await getDagRun(stack.database.db, 'wf_tiny', runId);
    expect(row?.state).to.equal('failed');
    expect(row?.last_error).to.equal(`a workflow for run_id "${runId}" already exists in Temporal`);
    expect((await first.handle.describe()).status.name).to.equal('COMPLETED');
  });
});
