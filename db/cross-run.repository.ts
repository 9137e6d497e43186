/**
 * Reads across runs: the previous run of a DAG and its task states (depends_on_past,
 * wait_for_downstream), another DAG's run or task at a logical date (ExternalTaskSensor), and a
 * sensor's reschedules (task_reschedule) with the start its timeout counts from.
 */
import { sql, type Kysely } from 'kysely';
import type { Database } from './database.js';
import type { TaskInstanceKey } from './task-instance.repository.js';

export interface RunRef {
  run_id: string;
  logical_date: Date | null;
  state: string;
}

/** Airflow's DagRun.get_previous_dagrun: the run with the greatest logical date before `before`. */
export async function previousDagRun(db: Kysely<Database>, dagId: string, before: Date): Promise<RunRef | undefined> {
  return db
    .selectFrom('dag_run')
    .select(['run_id', 'logical_date', 'state'])
    .where('dag_id', '=', dagId)
    .where('logical_date', '<', before)
    .orderBy('logical_date', 'desc')
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
}

/** The state of each task instance of `taskIds` in a run (every map index), by task id. */
export async function taskStatesInRun(
  db: Kysely<Database>,
  dagId: string,
  runId: string,
  taskIds: readonly string[],
): Promise<Map<string, Array<string | null>>> {
  const out = new Map<string, Array<string | null>>();
  if (taskIds.length === 0) return out;
  const rows = await db
    .selectFrom('task_instance')
    .select(['task_id', 'state'])
    .where('dag_id', '=', dagId)
    .where('run_id', '=', runId)
    .where('task_id', 'in', [...taskIds])
    .execute();
  for (const r of rows) out.set(r.task_id, [...(out.get(r.task_id) ?? []), r.state]);
  return out;
}

/** Whether a run has any task instance yet (a run that has not started has none). */
export async function runHasTaskInstances(db: Kysely<Database>, dagId: string, runId: string): Promise<boolean> {
  const row = await db
    .selectFrom('task_instance')
    .select('task_id')
    .where('dag_id', '=', dagId)
    .where('run_id', '=', runId)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** Whether the task has an instance in any run with a logical date before `before`. */
export async function hasEarlierTaskInstance(
  db: Kysely<Database>,
  dagId: string,
  taskId: string,
  before: Date,
): Promise<boolean> {
  const row = await db
    .selectFrom('task_instance as ti')
    .innerJoin('dag_run as r', (j) => j.onRef('r.dag_id', '=', 'ti.dag_id').onRef('r.run_id', '=', 'ti.run_id'))
    .select('ti.task_id')
    .where('ti.dag_id', '=', dagId)
    .where('ti.task_id', '=', taskId)
    .where('r.logical_date', '<', before)
    .limit(1)
    .executeTakeFirst();
  return row !== undefined;
}

/** Another DAG's run at exactly `logicalDate` (the ExternalTaskSensor's target). */
export async function dagRunAt(db: Kysely<Database>, dagId: string, logicalDate: Date): Promise<RunRef | undefined> {
  return db
    .selectFrom('dag_run')
    .select(['run_id', 'logical_date', 'state'])
    .where('dag_id', '=', dagId)
    .where('logical_date', '=', logicalDate)
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
}

export interface RescheduleRecord extends TaskInstanceKey {
  try_number: number;
  start_date: Date;
  end_date: Date;
  reschedule_date: Date;
}

/** A sensor poke ended in a reschedule (Airflow's TaskReschedule row). */
export async function recordReschedule(db: Kysely<Database>, r: RescheduleRecord): Promise<void> {
  await db
    .insertInto('task_reschedule')
    .values({
      dag_id: r.dag_id,
      run_id: r.run_id,
      task_id: r.task_id,
      map_index: r.map_index,
      try_number: r.try_number,
      start_date: r.start_date,
      end_date: r.end_date,
      duration: (r.end_date.getTime() - r.start_date.getTime()) / 1000,
      reschedule_date: r.reschedule_date,
    })
    .execute();
}

export async function listReschedules(
  db: Kysely<Database>,
  key: TaskInstanceKey,
): Promise<Array<{ try_number: number; start_date: Date; reschedule_date: Date }>> {
  return db
    .selectFrom('task_reschedule')
    .select(['try_number', 'start_date', 'reschedule_date'])
    .where('dag_id', '=', key.dag_id)
    .where('run_id', '=', key.run_id)
    .where('task_id', '=', key.task_id)
    .where('map_index', '=', key.map_index)
    .orderBy('id')
    .execute();
}

/**
 * When the task instance first started: the earliest start among its tries and its reschedules
 * (a rescheduled try's history row only keeps its latest poke). A sensor's timeout counts from
 * here, so neither retries nor reschedules reset it. Undefined when nothing started yet.
 */
export async function firstStartOf(db: Kysely<Database>, key: TaskInstanceKey): Promise<Date | undefined> {
  const match = sql`dag_id = ${key.dag_id} and run_id = ${key.run_id} and task_id = ${key.task_id} and map_index = ${key.map_index}`;
  const result = await sql<{ first: Date | null }>`
    select least(
      (select min(start_date) from task_instance_history where ${match}),
      (select min(start_date) from task_reschedule where ${match})
    ) as first`.execute(db);
  return result.rows[0]?.first ?? undefined;
}
