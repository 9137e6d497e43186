/**
 * The run's end: its state recorded, the DAG's on_success / on_failure callback and every callback
 * still running awaited, the DagRunState search attribute and the details set.
 */
import { CancellationScope, upsertSearchAttributes } from '@temporalio/workflow';
import { DAG_RUN_STATE } from '../search-attributes.js';
import type { DagRunResult } from '../types.js';
import { local } from './activities.js';
import { callbackRequest, startCallbacks } from './callbacks.js';
import { publishDetails } from './details.js';
import type { RunEndState, RunState } from './state.js';

export async function complete(run: RunState, state: RunEndState, reason: string | null): Promise<DagRunResult> {
  run.accepting = false;
  await run.flush();
  await local.recordStates({ dagId: run.dagId, runId: run.runId, tasks: [], run: { state, error: reason, end: true } });
  const dagCallback = state === 'success' ? 'on_success' : 'on_failure';
  if (run.dag.callbacks?.[dagCallback]) run.callbackQueue.push(callbackRequest(run, dagCallback, null, 0, state, reason));
  if (run.callbackQueue.length > 0) startCallbacks(run);
  if (run.runningCallbacks.size > 0) await CancellationScope.nonCancellable(() => Promise.all([...run.runningCallbacks]));
  upsertSearchAttributes([{ key: DAG_RUN_STATE, value: state }]);
  publishDetails(run);
  return { state, ...(reason ? { reason } : {}), tasks: run.graph.countsByState() };
}
