/**
 * What an in-process task function receives besides its input. Mirrors the Airflow context
 * (dag_id, task_id, run_id, logical_date, ds, try_number, map_index, params, conf).
 */
import type { Json } from '../spec/dag-spec.js';

export interface TaskLogger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

export interface TaskContext {
  dagId: string;
  taskId: string;
  runId: string;
  /** The run's logical date; null for runs without one. */
  logicalDate: Date | null;
  /** logical_date as YYYY-MM-DD (Airflow's `ds`); null without a logical date. */
  ds: string | null;
  dataIntervalStart: Date | null;
  dataIntervalEnd: Date | null;
  /** Airflow 3's run_after: when the run was due (a scheduled run: its fire time; a manual run: when it was triggered). */
  runAfter: Date | null;
  /** 1 on the first try, incremented by retries and clears. */
  tryNumber: number;
  /** -1 for unmapped tasks. */
  mapIndex: number;
  params: Record<string, Json>;
  conf: Record<string, Json>;
  log: TaskLogger;
  /** Fires when the task is cancelled or times out; long work should stop when it does. */
  signal: AbortSignal;
  /** Tells the worker the task is alive (it is also done for you periodically). */
  heartbeat(): void;
}
