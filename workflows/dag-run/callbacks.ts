/**
 * Callbacks (sdk/callbacks.ts): queued when a state is decided, started by the main loop right
 * after the next flush (so the state is recorded first), awaited before the run completes or
 * continues as new. They run non-cancellable and never change a state. on_execute is the
 * exception: Airflow runs it right before the work, so tries.ts awaits it per try.
 */
import { CancellationScope, isCancellation, log, proxyActivities } from '@temporalio/workflow';
import {
  callbackKey,
  type CallbackPayload,
  type DagCallbackName,
  type TaskCallbackName,
} from '../../spec/callbacks.js';
import type { RunCallbackRequest } from '../types.js';
import type { Activities } from './activities.js';
import type { RunState } from './state.js';

export function callbackRequest(
  run: RunState,
  name: TaskCallbackName | DagCallbackName,
  taskId: string | null,
  tryNumber: number,
  state: string,
  exception: string | null,
  mapIndex = -1,
): RunCallbackRequest {
  const { input } = run;
  const payload: CallbackPayload = {
    callback: name,
    dag_id: run.dagId,
    task_id: taskId,
    run_id: run.runId,
    run_type: input.runType,
    logical_date: input.logicalDate,
    try_number: tryNumber,
    map_index: mapIndex,
    state,
    exception,
    params: run.params(),
    conf: input.conf,
  };
  return {
    dagId: run.dagId,
    runId: run.runId,
    specHash: input.specHash,
    dagVersionId: input.dagVersionId,
    key: callbackKey(taskId, name),
    payload,
  };
}

/** Queues a task's callback, if the task has one. */
export function queueCallback(
  run: RunState,
  index: number,
  name: TaskCallbackName,
  tryNumber: number,
  state: string,
  exception: string | null,
  mapIndex = -1,
): void {
  const task = run.graph.tasks[index]!;
  if (task.callbacks?.[name])
    run.callbackQueue.push(callbackRequest(run, name, task.task_id, tryNumber, state, exception, mapIndex));
}

/** Runs one callback; what it threw is logged, never raised. */
export async function callCallback(run: RunState, req: RunCallbackRequest): Promise<void> {
  const what = `${req.payload.task_id ?? 'DAG run'} ${req.payload.callback} callback`;
  const acts = proxyActivities<Activities>({
    taskQueue: run.input.options.taskQueue,
    startToCloseTimeout: '10 minutes',
    // The activity returns what the callback threw; only infrastructure failures get here.
    retry: { initialInterval: '1 second', maximumAttempts: 3 },
    summary:
      req.payload.task_id === null
        ? `DAG ${req.payload.callback} callback`
        : `${req.payload.task_id} ${req.payload.callback} callback (try ${req.payload.try_number})`,
  });
  try {
    const result = await acts.runCallback(req);
    if (!result.ok) log.warn(`${what} failed (state unchanged): ${result.error}`);
  } catch (err) {
    if (isCancellation(err)) throw err;
    log.warn(`${what} could not run: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/** Starts the queued callbacks; each wakes the main loop when it ends. */
export function startCallbacks(run: RunState): void {
  for (const req of run.callbackQueue.splice(0)) {
    const p: Promise<void> = CancellationScope.nonCancellable(() => callCallback(run, req)).finally(() => {
      run.runningCallbacks.delete(p);
      run.changed = true;
    });
    run.runningCallbacks.add(p);
  }
}
