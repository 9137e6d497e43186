/**
 * The run's end: its state recorded, the DAG's on_success / on_failure callback and every callback
 * still running awaited, the DagRunState search attribute and the details set. A failed run then
 * fails the workflow (DAG_RUN_FAILED, the result in its details) so Temporal shows it Failed, with
 * a message naming the root-cause tasks; histories from before that change complete instead.
 */
import { ApplicationFailure, CancellationScope, patched, upsertSearchAttributes } from '@temporalio/workflow';
import { DAG_RUN_STATE } from '../search-attributes.js';
import { DAG_RUN_FAILED, type DagRunResult } from '../types.js';
import { local } from './activities.js';
import { callbackRequest, startCallbacks } from './callbacks.js';
import { publishDetails } from './details.js';
import { NAMED_FAILURES, failureMessage } from './failure.js';
import type { RunEndState, RunState } from './state.js';

/** The patch id: a failed run fails its workflow (before it, the workflow completed with state failed). */
export const FAILED_RUN_FAILS_WORKFLOW = 'failed-run-fails-workflow';

export async function complete(run: RunState, state: RunEndState, reason: string | null): Promise<DagRunResult> {
  run.accepting = false;
  await run.flush();
  await local.recordStates({ dagId: run.dagId, runId: run.runId, tasks: [], run: { state, error: reason, end: true } });
  const dagCallback = state === 'success' ? 'on_success' : 'on_failure';
  if (run.dag.callbacks?.[dagCallback])
    run.callbackQueue.push(callbackRequest(run, dagCallback, null, 0, state, reason));
  if (run.callbackQueue.length > 0) startCallbacks(run);
  if (run.runningCallbacks.size > 0)
    await CancellationScope.nonCancellable(() => Promise.all([...run.runningCallbacks]));
  upsertSearchAttributes([{ key: DAG_RUN_STATE, value: state }]);
  const result: DagRunResult = { state, ...(reason ? { reason } : {}), tasks: run.graph.countsByState() };
  run.result = result;
  if (state === 'failed' && patched(FAILED_RUN_FAILS_WORKFLOW)) {
    const failed = await CancellationScope.nonCancellable(() =>
      local.failedTasks({ dagId: run.dagId, runId: run.runId, limit: NAMED_FAILURES }),
    );
    const message = failureMessage(reason, failed, result.tasks);
    publishDetails(run, message);
    throw ApplicationFailure.create({ type: DAG_RUN_FAILED, message, nonRetryable: true, details: [result] });
  }
  publishDetails(run);
  return result;
}
