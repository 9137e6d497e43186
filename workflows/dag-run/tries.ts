/**
 * A task's tries: the runTask activity per try until the task (mapIndex -1) or one mapped
 * instance is decided, with Airflow's retries and sensor reschedules. try-outcome.ts records what
 * each try ended in.
 */
import { ActivityCancellationType, isCancellation, proxyActivities, sleep } from '@temporalio/workflow';
import { taskQueueFor } from '../../engine/queues.js';
import type { TaskSpec } from '../../spec/dag-spec.js';
import { TaskInstanceState } from '../../spec/states.js';
import { TaskFailureType } from '../types.js';
import type { Activities } from './activities.js';
import { callCallback, callbackRequest } from './callbacks.js';
import { controlSkips, type ControlSkips } from './control.js';
import { taskRequest } from './input.js';
import type { RunState } from './state.js';
import { describeFailure, markTry, recordFailedTry, recordTryResult, type TryFailure } from './try-outcome.js';

export async function runTries(run: RunState, index: number, mapIndex = -1): Promise<void> {
  const task = run.graph.tasks[index]!;
  const maxTries = run.maxTries(index);
  const instance = mapIndex >= 0 ? run.graph.mapped.get(index)! : null;
  // Set when a sensor in reschedule mode asked to be poked again: the next poke is the same try.
  let rescheduledTry: number | null = null;
  for (;;) {
    const tryNumber: number =
      rescheduledTry ?? (instance ? instance.tryNumber[mapIndex]! : run.graph.tryNumber[index]!) + 1;
    rescheduledTry = null;
    markTry(run, index, mapIndex, TaskInstanceState.RUNNING, tryNumber);
    run.changed = true;
    // Airflow runs on_execute_callback right before the work; so do we, awaited, per try.
    if (task.callbacks?.on_execute)
      await callCallback(
        run,
        callbackRequest(run, 'on_execute', task.task_id, tryNumber, TaskInstanceState.RUNNING, null, mapIndex),
      );
    const request = taskRequest(run, index, mapIndex, tryNumber, maxTries);
    const acts = tryActivities(run, task, mapIndex, tryNumber);
    let failure: TryFailure | null = null;
    try {
      const result = await acts.runTask(request);
      if (result.outcome === 'reschedule') {
        // The activity recorded up_for_reschedule and gave back its slots; wait, then poke again.
        markTry(run, index, mapIndex, TaskInstanceState.UP_FOR_RESCHEDULE, tryNumber);
        run.changed = true;
        await sleep(Math.max(1, result.delaySeconds * 1000), {
          summary: `${task.task_id} up_for_reschedule (try ${tryNumber}, next poke in ${result.delaySeconds}s)`,
        });
        rescheduledTry = tryNumber;
        continue;
      }
      let skip: ControlSkips | undefined;
      if (!instance && result.outcome === 'success') {
        if (result.xcom) run.xcoms.set(index, result.xcom);
        if (task.control) skip = await controlSkips(run, index, result.xcom ?? null, tryNumber);
      }
      recordTryResult(run, index, mapIndex, result, tryNumber, skip);
      return;
    } catch (err) {
      if (isCancellation(err)) throw err;
      failure = describeFailure(err);
    }
    const delay = recordFailedTry(run, index, mapIndex, tryNumber, maxTries, failure);
    if (delay === null) return;
    await sleep(delay * 1000, {
      summary: `${mapIndex >= 0 ? `${task.task_id}[${mapIndex}]` : task.task_id} up_for_retry (try ${tryNumber + 1} in ${delay}s)`,
    });
  }
}

function tryActivities(run: RunState, task: TaskSpec, mapIndex: number, tryNumber: number): Activities {
  const options = run.input.options;
  return proxyActivities<Activities>({
    taskQueue: taskQueueFor(task, options.taskQueue),
    // The executor enforces execution_timeout itself; this is the backstop if it cannot.
    startToCloseTimeout: task.execution_timeout == null ? '3650 days' : (task.execution_timeout + 60) * 1000,
    heartbeatTimeout: options.heartbeatTimeoutSeconds * 1000,
    // Temporal retries only infrastructure failures (worker death) within the same try; the
    // task's own failures are non-retryable here and retried by runTries with Airflow's semantics.
    retry: {
      initialInterval: '1 second',
      backoffCoefficient: 2,
      maximumInterval: '30 seconds',
      maximumAttempts: 5,
      nonRetryableErrorTypes: [TaskFailureType.FAILED, TaskFailureType.FAILED_NO_RETRY],
    },
    summary: mapIndex >= 0 ? `${task.task_id}[${mapIndex}] try ${tryNumber}` : `${task.task_id} try ${tryNumber}`,
    // Wait for the try to stop its work and record its end before the run records final
    // states (the SDK's effective default is TRY_CANCEL, which resolves at once; the try's own
    // late write would then overwrite e.g. dagrun_timeout's `skipped` with `failed`).
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
  });
}
