/**
 * Callback names and what the workflow sends the runCallback activity (the wire part of Airflow's
 * on_*_callback). The authoring side (CallbackContext, option names) is sdk/callbacks.ts.
 */
import type { Json } from './dag-spec.js';

export const TASK_CALLBACKS = ['on_execute', 'on_success', 'on_failure', 'on_retry', 'on_skipped'] as const;
export type TaskCallbackName = (typeof TASK_CALLBACKS)[number];

export const DAG_CALLBACKS = ['on_success', 'on_failure'] as const;
export type DagCallbackName = (typeof DAG_CALLBACKS)[number];

/** Key of a task callback (taskId given) or a DAG callback (taskId null) in the DAG's function map. */
export function callbackKey(taskId: string | null, name: TaskCallbackName | DagCallbackName): string {
  return taskId === null ? `callback:dag:${name}` : `callback:task:${taskId}:${name}`;
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
