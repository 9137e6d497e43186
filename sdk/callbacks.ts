/**
 * Callbacks (Airflow's on_*_callback): what a callback receives, and how the spec and the DAG bag
 * name them. The compiler records `callbacks: { on_success: true }` in the spec and registers the
 * function under `callbackKey(...)` next to the task functions, so the worker's function resolver
 * finds it; the key contains ':', which no task id can, so it never shadows a task.
 */
import type { TaskLogger } from './context.js';
import type { Json } from '../spec/dag-spec.js';
import type { DagCallbackName, TaskCallbackName } from '../spec/callbacks.js';

export { TASK_CALLBACKS, DAG_CALLBACKS, callbackKey } from '../spec/callbacks.js';
export type { TaskCallbackName, DagCallbackName, CallbackPayload } from '../spec/callbacks.js';

/** The authoring option that holds each callback (camelCase of the spec name). */
export const CALLBACK_OPTION: Record<
  TaskCallbackName,
  'onExecute' | 'onSuccess' | 'onFailure' | 'onRetry' | 'onSkipped'
> = {
  on_execute: 'onExecute',
  on_success: 'onSuccess',
  on_failure: 'onFailure',
  on_retry: 'onRetry',
  on_skipped: 'onSkipped',
};

/** What a callback function receives (Airflow's callback context, camelCase). */
export interface CallbackContext {
  /** Which callback this is: on_execute, on_success, on_failure, on_retry or on_skipped. */
  callback: TaskCallbackName | DagCallbackName;
  dagId: string;
  /** null for DAG-run callbacks. */
  taskId: string | null;
  runId: string;
  runType: string;
  logicalDate: Date | null;
  /** The try the callback is about (0 for DAG-run callbacks). */
  tryNumber: number;
  mapIndex: number;
  /** The state just recorded: running (on_execute), success, failed, up_for_retry, skipped. */
  state: string;
  /** The failure or skip message; null when there is none. */
  exception: string | null;
  params: Record<string, Json>;
  conf: Record<string, Json>;
  /** Lines go to the task's log for the try (DAG-run callbacks: the worker's log). */
  log: TaskLogger;
}
