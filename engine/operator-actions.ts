/**
 * Operator actions on a DAG run (Airflow's clear, mark success/failed on task instances and runs),
 * as pure planning: given the DAG's tasks and their current states, which tasks change to what.
 * The DAG-run workflow applies a plan to a run in flight; the client plans against Postgres for a
 * finished run (dry runs, and what a re-opened run will do). One function, so both agree.
 */
import { aggregateState } from './mapping.js';
import { encodeMapped, type CarriedTaskState } from './run-graph.js';
import type { TaskSpec } from '../spec/dag-spec.js';
import { TaskInstanceState, isFinished } from '../spec/states.js';

/** Clear (Airflow `tasks clear` / POST clearTaskInstances): tasks go back to no status and run again. */
export interface ClearAction {
  kind: 'clear';
  /** Tasks to clear; absent or empty: every task of the run (Airflow's "clear DAG run"). */
  task_ids?: string[];
  /** Also every task upstream of them. */
  upstream?: boolean;
  /** Also every task downstream of them. */
  downstream?: boolean;
  /** Only tasks that failed or are upstream_failed (Airflow `-f`). */
  only_failed?: boolean;
  /** Only tasks that are running (Airflow `-r`). */
  only_running?: boolean;
  /** Plan only: report what would change and change nothing. */
  dry_run?: boolean;
}

/** Mark tasks success or failed (Airflow PATCH taskInstances / updateTaskInstancesState). */
export interface SetTaskStateAction {
  kind: 'set_task_state';
  task_ids: string[];
  state: 'success' | 'failed';
  upstream?: boolean;
  downstream?: boolean;
  dry_run?: boolean;
}

/** Mark the run success or failed (Airflow PATCH dagRun {state}); teardowns still run. */
export interface SetRunStateAction {
  kind: 'set_run_state';
  state: 'success' | 'failed';
  dry_run?: boolean;
}

export type OperatorAction = ClearAction | SetTaskStateAction | SetRunStateAction;

/** One task whose state an action changes. */
export interface PlannedChange {
  task_id: string;
  /** The state it has now. */
  from: TaskInstanceState;
  /** The state it gets: `none` for a clear (it runs again). */
  to: TaskInstanceState;
}

export interface ActionPlan {
  changes: PlannedChange[];
  /** set_run_state: the state the run ends in, whatever its leaves say. */
  forced_run_state?: 'success' | 'failed';
}

/** What an action did (or, for a dry run, would do). */
export interface ActionResult extends ActionPlan {
  dry_run: boolean;
}

export class OperatorActionError extends Error {
  override readonly name = 'OperatorActionError';
}

/** The task fields planning needs (a TaskSpec has them all). */
export type PlanTask = Pick<TaskSpec, 'task_id' | 'upstream' | 'downstream' | 'is_setup' | 'is_teardown'>;

const MARK_STATES = new Set(['success', 'failed']);
const NOT_STARTED = new Set<TaskInstanceState>([
  TaskInstanceState.NONE,
  TaskInstanceState.SCHEDULED,
  TaskInstanceState.QUEUED,
]);

/**
 * Checks an action's shape and names (task ids must exist in the DAG). Throws
 * OperatorActionError naming the field and what was expected.
 */
export function validateAction(tasks: readonly PlanTask[], action: unknown): OperatorAction {
  if (typeof action !== 'object' || action === null)
    throw new OperatorActionError('an operator action must be an object with a "kind"');
  const a = action as Record<string, unknown>;
  const kind = a['kind'];
  if (kind !== 'clear' && kind !== 'set_task_state' && kind !== 'set_run_state') {
    throw new OperatorActionError(
      `unknown action kind ${JSON.stringify(kind)}: expected clear, set_task_state or set_run_state`,
    );
  }
  for (const flag of ['upstream', 'downstream', 'only_failed', 'only_running', 'dry_run']) {
    if (a[flag] !== undefined && typeof a[flag] !== 'boolean')
      throw new OperatorActionError(`"${flag}" must be true or false, got ${JSON.stringify(a[flag])}`);
  }
  if (kind !== 'clear' && a['state'] !== undefined && !MARK_STATES.has(String(a['state']))) {
    throw new OperatorActionError(
      `state ${JSON.stringify(a['state'])} cannot be set by an operator: expected success or failed`,
    );
  }
  if (kind !== 'clear' && a['state'] === undefined)
    throw new OperatorActionError('"state" is required: success or failed');
  if (kind === 'set_run_state') return a as unknown as SetRunStateAction;
  const ids = a['task_ids'];
  if (ids !== undefined && (!Array.isArray(ids) || ids.some((t) => typeof t !== 'string'))) {
    throw new OperatorActionError('"task_ids" must be a list of task ids');
  }
  if (kind === 'set_task_state' && (ids === undefined || (ids as string[]).length === 0)) {
    throw new OperatorActionError('"task_ids" must name at least one task to mark');
  }
  const known = new Set(tasks.map((t) => t.task_id));
  const unknown = ((ids as string[] | undefined) ?? []).filter((t) => !known.has(t));
  if (unknown.length > 0) {
    const sample = tasks
      .slice(0, 20)
      .map((t) => t.task_id)
      .join(', ');
    throw new OperatorActionError(
      `unknown task id(s) ${unknown.map((t) => `"${t}"`).join(', ')}; the DAG's tasks are: ${sample}${tasks.length > 20 ? ', …' : ''}`,
    );
  }
  if (kind === 'clear' && a['only_failed'] === true && a['only_running'] === true) {
    throw new OperatorActionError('"only_failed" and "only_running" cannot both be set');
  }
  return a as unknown as OperatorAction;
}

/**
 * Plans an action against the tasks' current states (`stateOf(index)`, indices into `tasks`).
 * Follows Airflow:
 * - clear: the named tasks (+ upstream / downstream closures), plus the relevant setups of each and
 *   their teardowns (Airflow's get_upstreams_only_setups_and_teardowns), plus the teardowns of a
 *   cleared setup; then only_failed / only_running filter by state. Tasks not started yet are left.
 * - set_task_state: the named tasks (+ closures) not already in the state.
 * - set_run_state success: every non-teardown task not in a success state becomes success;
 *   failed: running tries fail and tasks not finished are skipped (teardowns excluded, so they
 *   still run); the run then ends in that state whatever its leaves say.
 */
export function planAction(
  tasks: readonly PlanTask[],
  stateOf: (index: number) => TaskInstanceState,
  action: OperatorAction,
): ActionPlan {
  const indexOf = new Map<string, number>();
  tasks.forEach((t, i) => indexOf.set(t.task_id, i));
  const changes: PlannedChange[] = [];
  const change = (i: number, to: TaskInstanceState): void => {
    changes.push({ task_id: tasks[i]!.task_id, from: stateOf(i), to });
  };

  if (action.kind === 'set_run_state') {
    for (let i = 0; i < tasks.length; i++) {
      if (tasks[i]!.is_teardown) continue;
      const s = stateOf(i);
      if (action.state === 'success') {
        if (s !== TaskInstanceState.SUCCESS && s !== TaskInstanceState.SKIPPED) change(i, TaskInstanceState.SUCCESS);
      } else if (!isFinished(s)) {
        change(i, s === TaskInstanceState.RUNNING ? TaskInstanceState.FAILED : TaskInstanceState.SKIPPED);
      }
    }
    return { changes, forced_run_state: action.state };
  }

  const roots =
    action.task_ids && action.task_ids.length > 0
      ? action.task_ids.map((id) => indexOf.get(id)!)
      : tasks.map((_, i) => i);
  const selected = new Set<number>(roots);
  const edges =
    (dir: 'upstream' | 'downstream') =>
    (i: number): number[] =>
      tasks[i]![dir].map((id) => indexOf.get(id)!);
  if (action.upstream) for (const r of roots) for (const u of reach(r, edges('upstream'))) selected.add(u);
  if (action.downstream) for (const r of roots) for (const d of reach(r, edges('downstream'))) selected.add(d);

  if (action.kind === 'set_task_state') {
    for (const i of [...selected].sort((a, b) => a - b)) {
      if (stateOf(i) !== action.state) change(i, action.state);
    }
    return { changes };
  }

  // Clearing a task clears its relevant setups and their teardowns, and a cleared setup's teardowns.
  for (const i of [...selected]) {
    for (const s of relevantSetups(tasks, indexOf, i)) {
      selected.add(s);
      for (const td of tasks[s]!.downstream) if (tasks[indexOf.get(td)!]!.is_teardown) selected.add(indexOf.get(td)!);
    }
    if (tasks[i]!.is_setup)
      for (const td of tasks[i]!.downstream) if (tasks[indexOf.get(td)!]!.is_teardown) selected.add(indexOf.get(td)!);
  }
  for (const i of [...selected].sort((a, b) => a - b)) {
    const s = stateOf(i);
    if (NOT_STARTED.has(s)) continue;
    if (action.only_failed && s !== TaskInstanceState.FAILED && s !== TaskInstanceState.UPSTREAM_FAILED) continue;
    if (action.only_running && s !== TaskInstanceState.RUNNING) continue;
    change(i, TaskInstanceState.NONE);
  }
  return { changes };
}

/**
 * Airflow's "relevant" upstream setups of a task: upstream setups that have no teardown, or have a
 * teardown downstream of the task.
 */
function relevantSetups(tasks: readonly PlanTask[], indexOf: ReadonlyMap<string, number>, i: number): number[] {
  const up = reach(i, (k) => tasks[k]!.upstream.map((id) => indexOf.get(id)!));
  if (!up.some((k) => tasks[k]!.is_setup)) return [];
  const downTeardowns = new Set(
    reach(i, (k) => tasks[k]!.downstream.map((id) => indexOf.get(id)!)).filter((k) => tasks[k]!.is_teardown),
  );
  return up.filter((s) => {
    if (!tasks[s]!.is_setup) return false;
    const teardowns = tasks[s]!.downstream.map((id) => indexOf.get(id)!).filter((k) => tasks[k]!.is_teardown);
    return teardowns.length === 0 || teardowns.some((k) => downTeardowns.has(k));
  });
}

/** Every index reachable from `from` (excluded) along `next`. */
function reach(from: number, next: (i: number) => number[]): number[] {
  const seen = new Set<number>();
  const stack = [...next(from)];
  while (stack.length > 0) {
    const i = stack.pop()!;
    if (seen.has(i)) continue;
    seen.add(i);
    for (const j of next(i)) if (!seen.has(j)) stack.push(j);
  }
  return [...seen];
}

/** One line describing a plan, for logs and the CLI. */
export function describeAction(action: OperatorAction): string {
  switch (action.kind) {
    case 'clear': {
      const what = action.task_ids && action.task_ids.length > 0 ? action.task_ids.join(', ') : 'all tasks';
      const flags = [
        action.upstream && 'upstream',
        action.downstream && 'downstream',
        action.only_failed && 'only failed',
        action.only_running && 'only running',
      ].filter(Boolean);
      return `clear ${what}${flags.length > 0 ? ` (${flags.join(', ')})` : ''}`;
    }
    case 'set_task_state':
      return `mark ${action.task_ids.join(', ')} ${action.state}${action.upstream ? ' (+upstream)' : ''}${action.downstream ? ' (+downstream)' : ''}`;
    case 'set_run_state':
      return `mark the run ${action.state}`;
  }
}

/** The task-instance columns a finished run's state is rebuilt from. */
export interface RecordedInstance {
  task_id: string;
  map_index: number;
  state: string | null;
  try_number: number;
  max_tries: number;
}

/**
 * A run's task states as Postgres has them, in the shape continue-as-new carries (so a re-opened
 * run restores exactly like a continued one). States that are not finished (a run that was
 * terminated mid-way) become `none`: those tasks run again, with their next try number. A mapped
 * task with instance rows gets its instances; its own state is their aggregate once all finished.
 */
export function carriedFromRecord(
  tasks: ReadonlyArray<Pick<TaskSpec, 'task_id' | 'retries'>>,
  rows: readonly RecordedInstance[],
): CarriedTaskState[] {
  const byTask = new Map<string, RecordedInstance[]>();
  for (const r of rows) {
    const list = byTask.get(r.task_id) ?? [];
    list.push(r);
    byTask.set(r.task_id, list);
  }
  const finishedOrNone = (s: string | null): TaskInstanceState =>
    s !== null && isFinished(s as TaskInstanceState) ? (s as TaskInstanceState) : TaskInstanceState.NONE;
  return tasks.map((t) => {
    const list = byTask.get(t.task_id) ?? [];
    const base = Math.max(0, ...list.map((r) => r.max_tries - t.retries - 1));
    const instances = list.filter((r) => r.map_index >= 0).sort((a, b) => a.map_index - b.map_index);
    if (instances.length === 0) {
      const row = list.find((r) => r.map_index === -1);
      return {
        state: finishedOrNone(row?.state ?? null),
        try_number: row?.try_number ?? 0,
        ...(base > 0 ? { try_base: base } : {}),
      };
    }
    const states = instances.map((r) => finishedOrNone(r.state));
    const state = states.every((s) => isFinished(s))
      ? (aggregateState(states) as TaskInstanceState)
      : TaskInstanceState.NONE;
    return {
      state,
      try_number: 0,
      mapped: encodeMapped(
        states,
        instances.map((r) => r.try_number),
      ),
      ...(base > 0 ? { try_base: base } : {}),
    };
  });
}
