/**
 * depends_on_past and wait_for_downstream (Airflow's PrevDagrunDep): a try may start only once the
 * same task in the DAG's previous run (greatest logical date before this run's) succeeded or was
 * skipped, and, with wait_for_downstream, its immediate downstream tasks there did too. The
 * DAG's first run is exempt, and so is a task no earlier run had (Airflow's
 * ignore_first_depends_on_past, on by default).
 */
import type { Kysely } from 'kysely';
import {
  hasEarlierTaskInstance,
  previousDagRun,
  runHasTaskInstances,
  taskStatesInRun,
} from '../../db/cross-run.repository.js';
import type { Database } from '../../db/database.js';
import type { TaskSpec } from '../../spec/dag-spec.js';

const DONE = new Set(['success', 'skipped']);

export interface PastDepsRequest {
  dagId: string;
  runId: string;
  task: Pick<TaskSpec, 'task_id' | 'downstream' | 'depends_on_past' | 'wait_for_downstream'>;
  logicalDate: string | null;
}

/** Null when the try may start; otherwise what it waits for (one line for the task log). */
export async function pastDepsBlocker(db: Kysely<Database>, req: PastDepsRequest): Promise<string | null> {
  if (!req.task.depends_on_past && !req.task.wait_for_downstream) return null;
  if (req.logicalDate === null) return null; // nothing to order runs by
  const logicalDate = new Date(req.logicalDate);
  const taskId = req.task.task_id;
  const previous = await previousDagRun(db, req.dagId, logicalDate);
  if (!previous) return null; // the DAG's first run
  const where = `in the previous run "${previous.run_id}" (logical date ${previous.logical_date?.toISOString() ?? 'none'})`;

  const states = await taskStatesInRun(db, req.dagId, previous.run_id, [
    taskId,
    ...(req.task.wait_for_downstream ? req.task.downstream : []),
  ]);
  const own = states.get(taskId);
  if (own === undefined) {
    if (!(await runHasTaskInstances(db, req.dagId, previous.run_id))) {
      return `depends_on_past: waiting for task "${taskId}" ${where}, which has not started yet`;
    }
    // The previous run's version had no such task: exempt unless an even earlier run had it.
    if (!(await hasEarlierTaskInstance(db, req.dagId, taskId, logicalDate))) return null;
    return `depends_on_past: waiting for task "${taskId}" ${where}, which has not run it`;
  }
  const notDone = own.filter((s) => !DONE.has(s ?? 'none'));
  if (notDone.length > 0) {
    return `depends_on_past: waiting for task "${taskId}" ${where} to succeed or be skipped; it is ${notDone[0] ?? 'none'}`;
  }
  if (req.task.wait_for_downstream) {
    const pending = req.task.downstream
      .map((d) => [d, states.get(d)] as const)
      .filter(([, s]) => s === undefined || s.some((x) => !DONE.has(x ?? 'none')))
      .map(([d, s]) => `${d} (${s === undefined ? 'not run' : (s.find((x) => !DONE.has(x ?? 'none')) ?? 'none')})`);
    if (pending.length > 0) {
      return `wait_for_downstream: waiting for the downstream tasks of "${taskId}" ${where} to succeed or be skipped: ${pending.join(', ')}`;
    }
  }
  return null;
}
