import { sql, type Kysely } from 'kysely';
import type { DagRunRow, Database } from './database.js';
import { DagRunExistsError, DagRunNotFoundError } from './errors.js';
import { toJsonb } from './json.js';

export interface DagRunCreate {
  dag_id: string;
  run_id: string;
  state: string;
  run_type: string;
  workflow_id: string;
  dag_version_id?: number | null;
  logical_date?: Date | null;
  data_interval_start?: Date | null;
  data_interval_end?: Date | null;
  conf?: { readonly [key: string]: unknown };
  queued_at?: Date | null;
  start_date?: Date | null;
  end_date?: Date | null;
  run_after?: Date | null;
  backfill_id?: number | null;
  triggered_by?: string | null;
}

/**
 * Records a new DAG run. A run with the same (dag_id, run_id) makes it throw DagRunExistsError.
 * `on conflict do nothing` rather than catching the unique violation, so a duplicate does not
 * abort a surrounding transaction.
 */
export async function createDagRun(db: Kysely<Database>, run: DagRunCreate): Promise<DagRunRow> {
  const row = await db
    .insertInto('dag_run')
    .values({
      dag_id: run.dag_id,
      run_id: run.run_id,
      state: run.state,
      run_type: run.run_type,
      workflow_id: run.workflow_id,
      dag_version_id: run.dag_version_id ?? null,
      logical_date: run.logical_date ?? null,
      data_interval_start: run.data_interval_start ?? null,
      data_interval_end: run.data_interval_end ?? null,
      conf: toJsonb(run.conf ?? {}, `dag_run "${run.dag_id}/${run.run_id}" conf`),
      queued_at: run.queued_at ?? null,
      start_date: run.start_date ?? null,
      end_date: run.end_date ?? null,
      run_after: run.run_after ?? null,
      backfill_id: run.backfill_id ?? null,
      triggered_by: run.triggered_by ?? null,
    })
    .onConflict((oc) => oc.columns(['dag_id', 'run_id']).doNothing())
    .returningAll()
    .executeTakeFirst();
  if (row === undefined) throw new DagRunExistsError(run.dag_id, run.run_id);
  return row;
}

/** Fields that change with the state. Omitted: unchanged; null: cleared (e.g. when a run is cleared). */
export interface DagRunStateChange {
  start_date?: Date | null;
  end_date?: Date | null;
  last_error?: string | null;
}

/** Sets a run's state (and its dates or error). Throws DagRunNotFoundError for an unknown run. */
export async function updateDagRunState(
  db: Kysely<Database>,
  dag_id: string,
  run_id: string,
  state: string,
  change: DagRunStateChange = {},
): Promise<DagRunRow> {
  const row = await db
    .updateTable('dag_run')
    .set({
      state,
      updated_at: sql<Date>`now()`,
      ...(change.start_date === undefined ? {} : { start_date: change.start_date }),
      ...(change.end_date === undefined ? {} : { end_date: change.end_date }),
      ...(change.last_error === undefined ? {} : { last_error: change.last_error }),
    })
    .where('dag_id', '=', dag_id)
    .where('run_id', '=', run_id)
    .returningAll()
    .executeTakeFirst();
  if (row === undefined) throw new DagRunNotFoundError(dag_id, run_id);
  return row;
}

export async function getDagRun(db: Kysely<Database>, dag_id: string, run_id: string): Promise<DagRunRow | undefined> {
  return db
    .selectFrom('dag_run')
    .selectAll()
    .where('dag_id', '=', dag_id)
    .where('run_id', '=', run_id)
    .executeTakeFirst();
}

export interface ListDagRunsOptions {
  /** One state or any of several. */
  state?: string | readonly string[];
  limit?: number;
}

/** A DAG's runs, newest first (by creation order). */
export async function listDagRuns(
  db: Kysely<Database>,
  dag_id: string,
  opts: ListDagRunsOptions = {},
): Promise<DagRunRow[]> {
  let query = db.selectFrom('dag_run').selectAll().where('dag_id', '=', dag_id).orderBy('id', 'desc');
  if (typeof opts.state === 'string') query = query.where('state', '=', opts.state);
  else if (opts.state !== undefined) {
    if (opts.state.length === 0) return [];
    query = query.where('state', 'in', [...opts.state]);
  }
  if (opts.limit !== undefined) query = query.limit(opts.limit);
  return query.execute();
}

/** How many runs of a DAG are in any of `states` (max_active_runs checks). */
export async function countDagRuns(db: Kysely<Database>, dag_id: string, states: readonly string[]): Promise<number> {
  if (states.length === 0) return 0;
  const row = await db
    .selectFrom('dag_run')
    .select((eb) => eb.fn.countAll<number>().as('count'))
    .where('dag_id', '=', dag_id)
    .where('state', 'in', [...states])
    .executeTakeFirstOrThrow();
  return row.count;
}

/**
 * The earliest scheduled run of a DAG with a logical date after `after` (other than `runId`), or
 * undefined: LatestOnlyOperator's "is this the latest scheduled interval?".
 */
export async function findLaterScheduledRun(
  db: Kysely<Database>,
  dag_id: string,
  run_id: string,
  after: Date,
): Promise<Pick<DagRunRow, 'run_id' | 'logical_date'> | undefined> {
  return db
    .selectFrom('dag_run')
    .select(['run_id', 'logical_date'])
    .where('dag_id', '=', dag_id)
    .where('run_type', '=', 'scheduled')
    .where('run_id', '!=', run_id)
    .where('logical_date', '>', after)
    .orderBy('logical_date', 'asc')
    .limit(1)
    .executeTakeFirst();
}

/** The data interval of a DAG's latest scheduled run (what its next scheduled run follows), or null. */
export async function latestScheduledInterval(
  db: Kysely<Database>,
  dag_id: string,
): Promise<{ start: Date; end: Date } | null> {
  const row = await db
    .selectFrom('dag_run')
    .select(['data_interval_start', 'data_interval_end'])
    .where('dag_id', '=', dag_id)
    .where('run_type', '=', 'scheduled')
    .where('data_interval_start', 'is not', null)
    .orderBy('logical_date', 'desc')
    .limit(1)
    .executeTakeFirst();
  if (!row?.data_interval_start || !row.data_interval_end) return null;
  return { start: row.data_interval_start, end: row.data_interval_end };
}

/** The scheduled or backfill runs of a DAG at these logical dates (one per date at most). */
export async function automatedRunsAt(
  db: Kysely<Database>,
  dag_id: string,
  dates: readonly Date[],
): Promise<DagRunRow[]> {
  if (dates.length === 0) return [];
  return db
    .selectFrom('dag_run')
    .selectAll()
    .where('dag_id', '=', dag_id)
    .where('run_type', 'in', ['scheduled', 'backfill'])
    .where('logical_date', 'in', [...dates])
    .execute();
}
