/**
 * A DAG run's state from its task instances: Airflow's `DagRun.update_state` and
 * `DagRun._tis_for_dagrun_state` (airflow-core/src/airflow/models/dagrun.py).
 *
 * - The run stays `running` while any task instance is unfinished (Airflow requires
 *   `not unfinished_tis` for both success and failure, so teardowns still run after a failure).
 * - Then it is `failed` if any leaf that counts is failed/upstream_failed, else `success`.
 * - Which leaves count: Airflow's "effective leaves". A task counts when every downstream task is
 *   an ignorable teardown (teardown without `on_failure_fail_dagrun`) and it is not one itself.
 *   So `setup >> work >> teardown` is decided by `work`, not by the teardown. If no task
 *   qualifies (a DAG made only of ignorable teardowns), the plain leaves count instead.
 *   `removed` leaves never count.
 *
 * Shapes are chosen so the workflow can keep ONE array of mutable per-task records (state updated
 * in place) and pass it to both functions every activation with no allocation on the common path.
 */
import { FINISHED_STATES, TaskInstanceState } from '../spec/states.js';
import { SemanticsInputError } from './errors.js';
import type { TriggerDecision } from './trigger-rules.js';

/** Static DAG structure used once per DAG version to compute `is_leaf`. */
export interface DagRunStateShape {
  readonly task_id: string;
  readonly downstream_task_ids: readonly string[];
  readonly is_teardown: boolean;
  readonly on_failure_fail_dagrun: boolean;
}

export interface DagRunStateTask {
  readonly task_id: string;
  readonly state: TaskInstanceState;
  /**
   * Whether this task's state decides the run. Pass `dagRunStateLeaves(...)[i]` for exact Airflow
   * semantics. Plain leaves (no downstream) also work, except that a task whose only downstreams
   * are ignorable teardowns is then missed.
   */
  readonly is_leaf: boolean;
  readonly is_teardown: boolean;
  readonly on_failure_fail_dagrun: boolean;
}

export interface DagRunStateResult {
  readonly state: 'running' | 'success' | 'failed';
  /** Set when `failed`: names the leaves that failed it. */
  readonly reason?: string;
}

const RUNNING: DagRunStateResult = Object.freeze({ state: 'running' });
const SUCCESS: DagRunStateResult = Object.freeze({ state: 'success' });

/** How many task ids a message names before "and N more": a 10,000-task list helps no one. */
const MAX_NAMED = 20;

function nameList(ids: readonly string[], total: number): string {
  const shown = ids.slice(0, MAX_NAMED).join(', ');
  return total > MAX_NAMED ? `${shown} and ${total - MAX_NAMED} more` : shown;
}

function isIgnorable(task: { readonly is_teardown: boolean; readonly on_failure_fail_dagrun: boolean }): boolean {
  return task.is_teardown && !task.on_failure_fail_dagrun;
}

/**
 * Airflow's leaf set for run-state purposes, as flags parallel to `tasks`. O(tasks + edges); the
 * DAG structure is static, so compute this once per DAG version, not per evaluation.
 */
export function dagRunStateLeaves(tasks: readonly DagRunStateShape[]): boolean[] {
  const ignorable = new Map<string, boolean>();
  for (const t of tasks) ignorable.set(t.task_id, isIgnorable(t));
  const flags = new Array<boolean>(tasks.length);
  let any = false;
  for (let i = 0; i < tasks.length; i++) {
    const t = tasks[i]!;
    let effective = !ignorable.get(t.task_id);
    for (const d of t.downstream_task_ids) {
      const downIgnorable = ignorable.get(d);
      if (downIgnorable === undefined) {
        throw new SemanticsInputError(
          `downstream_task_ids: task ${JSON.stringify(t.task_id)} lists unknown downstream task ${JSON.stringify(d)}`,
          'downstream_task_ids',
        );
      }
      if (!downIgnorable) effective = false;
    }
    flags[i] = effective;
    if (effective) any = true;
  }
  if (!any) {
    for (let i = 0; i < tasks.length; i++) flags[i] = tasks[i]!.downstream_task_ids.length === 0;
  }
  return flags;
}

/** The run's state; O(tasks), no allocation unless the run failed. */
export function computeDagRunState(input: { readonly tasks: readonly DagRunStateTask[] }): DagRunStateResult {
  const { tasks } = input;
  let counted = 0;
  let failedLeaves: string[] | undefined;
  let failedCount = 0;
  // Fallback when no leaf survives the teardown filter (Airflow: DAG made only of teardowns).
  let fallbackFailed: string[] | undefined;
  let fallbackCount = 0;
  for (let i = 0; i < tasks.length; i++) {
    const t = tasks[i]!;
    if (!FINISHED_STATES.has(t.state)) return RUNNING;
    if (!t.is_leaf) continue;
    const ignorable = isIgnorable(t);
    if (!ignorable) counted++;
    if (t.state !== TaskInstanceState.FAILED && t.state !== TaskInstanceState.UPSTREAM_FAILED) continue;
    const entry = `${t.task_id} (${t.state})`;
    if (ignorable) {
      if (fallbackCount++ < MAX_NAMED) (fallbackFailed ??= []).push(entry);
    } else if (failedCount++ < MAX_NAMED) {
      (failedLeaves ??= []).push(entry);
    }
  }
  if (counted === 0) {
    failedLeaves = fallbackFailed;
    failedCount = fallbackCount;
  }
  if (failedCount === 0) return SUCCESS;
  return {
    state: 'failed',
    reason: `${failedCount} leaf task(s) failed: ${nameList(failedLeaves ?? [], failedCount)}`,
  };
}

export interface DeadlockTask {
  readonly task_id: string;
  readonly state: TaskInstanceState;
  /**
   * The latest trigger-rule decision for a task in `none`/`scheduled`. Undefined means "not
   * evaluated yet", which never counts as stuck: a wrongly failed run is worse than a late one.
   */
  readonly decision?: TriggerDecision['decision'] | undefined;
}

export interface Deadlock {
  /** Every unfinished task that can never run, in input order. */
  readonly stuckTaskIds: readonly string[];
  /** The run's failure message, naming the stuck tasks. */
  readonly reason: string;
}

/**
 * Airflow's "all tasks deadlocked" check. Returns null while anything can still make progress:
 * a task in flight (queued, running, up_for_retry, up_for_reschedule, deferred, restarting), or a
 * waiting task whose decision is run/skip/upstream_failed or not known. Otherwise returns the
 * unfinished tasks (all of them waiting on a trigger rule that can no longer be met). O(tasks).
 */
export function findDeadlock(input: { readonly tasks: readonly DeadlockTask[] }): Deadlock | null {
  const { tasks } = input;
  let stuck: string[] | undefined;
  for (let i = 0; i < tasks.length; i++) {
    const t = tasks[i]!;
    if (FINISHED_STATES.has(t.state)) continue;
    if (t.state !== TaskInstanceState.NONE && t.state !== TaskInstanceState.SCHEDULED) return null;
    if (t.decision !== 'wait') return null;
    (stuck ??= []).push(t.task_id);
  }
  if (stuck === undefined) return null;
  return {
    stuckTaskIds: stuck,
    reason: `deadlock: no task can make progress; ${stuck.length} unfinished task(s) can never run: ${nameList(stuck, stuck.length)}`,
  };
}
