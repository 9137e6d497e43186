/**
 * Callbacks (Airflow's on_*_callback): what a callback receives, and how the spec and the DAG bag
 * name them. The compiler records `callbacks: { on_success: true }` in the spec and registers the
 * function under `callbackKey(...)` next to the task functions, so the worker's function resolver
 * finds it; the key contains ':', which no task id can, so it never shadows a task.
 */
import type { TaskLogger } from './context.js';
import type { Json } from './spec.js';

export const TASK_CALLBACKS = ['on_execute', 'on_success', 'on_failure', 'on_retry', 'on_skipped'] as const;
export type TaskCallbackName = (typeof TASK_CALLBACKS)[number];

export const DAG_CALLBACKS = ['on_success', 'on_failure'] as const;
export type DagCallbackName = (typeof DAG_CALLBACKS)[number];

/** The authoring option that holds each callback (camelCase of the spec name). */
export const CALLBACK_OPTION: Record<TaskCallbackName, 'onExecute' | 'onSuccess' | 'onFailure' | 'onRetry' | 'onSkipped'> = {
  on_execute: 'onExecute',
  on_success: 'onSuccess',
  on_failure: 'onFailure',
  on_retry: 'onRetry',
  on_skipped: 'onSkipped',
};

/** Key of a task callback (taskId given) or a DAG callback (taskId null) in the DAG's function map. */
export function callbackKey(taskId: string | null, name: TaskCallbackName | DagCallbackName): string {
  return taskId === null ? `callback:dag:${name}` : `callback:task:${taskId}:${name}`;
}

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

/** The JSON part of a CallbackContext, as the workflow sends it to the runCallback activity. */
export interface CallbackPayload {
  callback: TaskCallbackName | DagCallbackName;
  dag_id: string;
  task_id: string | null;
  run_id: string;
  run_type: string;
  logical_date: string | null;
  try_number: number;
  map_index: number;
  state: string;
  exception: string | null;
  params: Record<string, Json>;
  conf: Record<string, Json>;
}
