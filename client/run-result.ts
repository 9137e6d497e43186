/**
 * A DAG run's result as its workflow ends: a run that succeeded completes with its DagRunResult; a
 * failed run fails its workflow (so Temporal shows it Failed) with the same result in the failure's
 * details. Callers that wait for a run read both the same way here.
 */
import { ApplicationFailure } from '@temporalio/common';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { DAG_RUN_FAILED, type DagRunResult } from '../workflows/types.js';

/** Waits for the run's workflow (following continue-as-new and re-opened executions). */
export async function dagRunResult(handle: Pick<WorkflowHandle, 'result'>): Promise<DagRunResult> {
  try {
    return (await handle.result()) as DagRunResult;
  } catch (err) {
    const failed = failedRun(err);
    if (failed === null) throw err;
    return failed.result;
  }
}

/**
 * The result a failed run's workflow carries, and the failure's message (the root-cause tasks);
 * null when the error is not a failed DAG run (a workflow terminated, timed out, or failed for
 * another reason — those propagate).
 */
export function failedRun(err: unknown): { result: DagRunResult; message: string } | null {
  if (!(err instanceof WorkflowFailedError)) return null;
  const cause = err.cause;
  if (!(cause instanceof ApplicationFailure) || cause.type !== DAG_RUN_FAILED) return null;
  const result = cause.details?.[0] as DagRunResult | undefined;
  if (result === undefined || result.state !== 'failed') return null;
  return { result, message: cause.message };
}
