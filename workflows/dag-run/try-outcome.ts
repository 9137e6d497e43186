/**
 * What a try ended in, recorded: success or skip (with a control task's skips), or a failure
 * that is retried with Airflow's backoff or is final. Each queues the task's callback.
 */
import { ActivityFailure, ApplicationFailure } from '@temporalio/workflow';
import { retryDelaySeconds } from '../../engine/index.js';
import { TaskInstanceState } from '../../spec/states.js';
import { TaskFailureType, type RunTaskResult } from '../types.js';
import { queueCallback } from './callbacks.js';
import type { ControlSkips } from './control.js';
import type { RunState } from './state.js';

export interface TryFailure {
  message: string;
  retryable: boolean;
}

/** In-flight states a try goes through (running, up_for_retry, up_for_reschedule). */
export function markTry(
  run: RunState,
  index: number,
  mapIndex: number,
  state: TaskInstanceState,
  tryNumber: number,
): void {
  if (mapIndex >= 0) run.graph.markInstance(index, mapIndex, state, tryNumber);
  else run.graph.markInFlight(index, state, tryNumber);
}

/** A try that succeeded or skipped itself. */
export function recordTryResult(
  run: RunState,
  index: number,
  mapIndex: number,
  result: Exclude<RunTaskResult, { outcome: 'reschedule' }>,
  tryNumber: number,
  skip: ControlSkips | undefined,
): void {
  if (mapIndex >= 0) {
    // Instances' XComs stay in Postgres: downstream tasks read the collected list by reference.
    const state = result.outcome === 'success' ? TaskInstanceState.SUCCESS : TaskInstanceState.SKIPPED;
    run.finishInstance(index, mapIndex, state);
    if (result.outcome === 'success') queueCallback(run, index, 'on_success', tryNumber, state, null, mapIndex);
    else queueCallback(run, index, 'on_skipped', tryNumber, state, result.reason, mapIndex);
  } else if (result.outcome === 'success') {
    run.finish(index, TaskInstanceState.SUCCESS, skip);
    queueCallback(run, index, 'on_success', tryNumber, TaskInstanceState.SUCCESS, null);
  } else {
    run.finish(index, TaskInstanceState.SKIPPED);
    queueCallback(run, index, 'on_skipped', tryNumber, TaskInstanceState.SKIPPED, result.reason);
  }
}

/**
 * A try that failed: records up_for_retry and returns the delay before the next try, or records
 * failed and returns null. The activity records its own failures; a try that died (timeout, lost
 * worker) cannot, so the workflow records it too. Either way the upsert converges to the same row.
 */
export function recordFailedTry(
  run: RunState,
  index: number,
  mapIndex: number,
  tryNumber: number,
  maxTries: number,
  failure: TryFailure,
): number | null {
  const task = run.graph.tasks[index]!;
  const canRetry = failure.retryable && tryNumber < maxTries;
  run.pending.push({
    task_id: task.task_id,
    map_index: mapIndex,
    state: canRetry ? TaskInstanceState.UP_FOR_RETRY : TaskInstanceState.FAILED,
    try_number: tryNumber,
    error: failure.message,
    end_date: new Date().toISOString(),
  });
  if (!canRetry) {
    if (mapIndex >= 0) run.finishInstance(index, mapIndex, TaskInstanceState.FAILED);
    else run.finish(index, TaskInstanceState.FAILED);
    queueCallback(run, index, 'on_failure', tryNumber, TaskInstanceState.FAILED, failure.message, mapIndex);
    return null;
  }
  markTry(run, index, mapIndex, TaskInstanceState.UP_FOR_RETRY, tryNumber);
  queueCallback(run, index, 'on_retry', tryNumber, TaskInstanceState.UP_FOR_RETRY, failure.message, mapIndex);
  run.changed = true;
  return retryDelaySeconds({
    dagId: run.dagId,
    taskId: task.task_id,
    logicalDate: run.input.logicalDate,
    tryNumber,
    retryDelay: task.retry_delay,
    exponentialBackoff: task.retry_exponential_backoff,
    maxRetryDelay: task.max_retry_delay,
  });
}

export function describeFailure(err: unknown): TryFailure {
  if (err instanceof ActivityFailure) {
    const cause = err.cause;
    if (cause instanceof ApplicationFailure) {
      return { message: cause.message, retryable: cause.type !== TaskFailureType.FAILED_NO_RETRY };
    }
    return { message: `${cause?.name ?? 'ActivityFailure'}: ${cause?.message ?? err.message}`, retryable: true };
  }
  return { message: err instanceof Error ? err.message : String(err), retryable: true };
}
