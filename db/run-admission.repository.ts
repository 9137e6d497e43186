/**
 * Which queued DAG runs may start (Airflow's max_active_runs, as its scheduler's
 * _start_queued_dagruns applies it): a DAG's runs other than backfill runs share the DAG's
 * max_active_runs, a backfill's runs share the backfill's; queued runs start in logical-date order
 * (a backfill's in the order it created them, so --run-backwards starts newest first); every run
 * of a paused DAG waits while it is paused, manual ones too (Airflow 3's scheduler starts no queued
 * run of a paused DAG), except the one `dags test` makes (triggered_by 'test': Airflow's dag.test()
 * bypasses the scheduler). Every decision is taken with the DAG's row locked, so concurrent runs
 * asking at once agree.
 */
import { sql, type Kysely } from 'kysely';
import type { Database } from './database.js';
import { latestScheduledInterval } from './dag-run.repository.js';
import { ContinuousSlotTakenError } from './errors.js';
import { inTransaction } from './transaction.js';

/** Airflow's [core] max_active_runs_per_dag, for DAGs stored before the limit was kept. */
export const DEFAULT_MAX_ACTIVE_RUNS = 16;

/** The runs a pause does not hold: `dags test`'s. */
const UNPAUSED_TRIGGER = 'test';

export type AdmissionDecision = { admitted: true } | { admitted: false; reason: string };

interface Pool {
  limit: number;
  /** The runs sharing the pool, as a filter. */
  backfillId: number | null;
}

async function poolOf(
  trx: Kysely<Database>,
  dag: { max_active_runs: number | null },
  backfillId: number | null,
): Promise<Pool> {
  if (backfillId === null) return { limit: dag.max_active_runs ?? DEFAULT_MAX_ACTIVE_RUNS, backfillId: null };
  const backfill = await trx
    .selectFrom('backfill')
    .select('max_active_runs')
    .where('id', '=', backfillId)
    .executeTakeFirst();
  return { limit: backfill?.max_active_runs ?? dag.max_active_runs ?? DEFAULT_MAX_ACTIVE_RUNS, backfillId };
}

function inPool(trx: Kysely<Database>, dag_id: string, pool: Pool) {
  const q = trx.selectFrom('dag_run').where('dag_id', '=', dag_id);
  return pool.backfillId === null ? q.where('backfill_id', 'is', null) : q.where('backfill_id', '=', pool.backfillId);
}

/** Queued runs of a pool in the order they start. */
function queuedInOrder(trx: Kysely<Database>, dag_id: string, pool: Pool) {
  const q = inPool(trx, dag_id, pool).where('state', '=', 'queued');
  return pool.backfillId === null
    ? q.orderBy(sql`logical_date asc nulls last`).orderBy('id', 'asc')
    : q.orderBy('id', 'asc');
}

async function runningCount(trx: Kysely<Database>, dag_id: string, pool: Pool): Promise<number> {
  const row = await inPool(trx, dag_id, pool)
    .where('state', '=', 'running')
    .select((eb) => eb.fn.countAll<string>().as('n'))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}

/**
 * May the queued run start now? If so it is marked running (with its start date) in the same
 * transaction. A run that is no longer queued (a retried call, a run an operator changed) is
 * admitted: it is not this check's to hold.
 */
export async function admitQueuedRun(
  db: Kysely<Database>,
  dag_id: string,
  run_id: string,
  now: Date = new Date(),
): Promise<AdmissionDecision> {
  return inTransaction(db, async (trx) => {
    const dag = await trx
      .selectFrom('dag')
      .select(['max_active_runs', 'is_paused'])
      .where('dag_id', '=', dag_id)
      .forUpdate()
      .executeTakeFirst();
    const run = await trx
      .selectFrom('dag_run')
      .select(['id', 'state', 'triggered_by', 'backfill_id'])
      .where('dag_id', '=', dag_id)
      .where('run_id', '=', run_id)
      .executeTakeFirst();
    if (!dag || !run || run.state !== 'queued') return { admitted: true };
    if (dag.is_paused && run.triggered_by !== UNPAUSED_TRIGGER) {
      return {
        admitted: false,
        reason: `DAG "${dag_id}" is paused: the run starts when it is unpaused (updraft dags unpause ${dag_id})`,
      };
    }
    const pool = await poolOf(trx, dag, run.backfill_id);
    const running = await runningCount(trx, dag_id, pool);
    const free = pool.limit - running;
    const what =
      pool.backfillId === null ? `max_active_runs=${pool.limit}` : `the backfill's max_active_runs=${pool.limit}`;
    if (free <= 0) return { admitted: false, reason: `${running} run(s) running, ${what}` };
    const ahead = await queuedInOrder(trx, dag_id, pool)
      .$if(dag.is_paused, (q) => q.where('triggered_by', '=', UNPAUSED_TRIGGER))
      .select('id')
      .limit(free)
      .execute();
    if (!ahead.some((r) => r.id === run.id))
      return { admitted: false, reason: `${free} free slot(s) under ${what} go to runs queued before this one` };
    await trx
      .updateTable('dag_run')
      .set({ state: 'running', start_date: now, updated_at: sql<Date>`now()` })
      .where('id', '=', run.id)
      .execute();
    return { admitted: true };
  });
}

/**
 * The workflow ids of the queued runs that may start now (the first ones of each pool, as many as
 * it has free slots): a finished run, an unpause or a new backfill wakes them instead of leaving
 * them to their next periodic check.
 */
export async function queuedRunsToWake(db: Kysely<Database>, dag_id: string): Promise<string[]> {
  const dag = await db
    .selectFrom('dag')
    .select(['max_active_runs', 'is_paused'])
    .where('dag_id', '=', dag_id)
    .executeTakeFirst();
  if (!dag) return [];
  const pools = await db
    .selectFrom('dag_run')
    .select('backfill_id')
    .distinct()
    .where('dag_id', '=', dag_id)
    .where('state', '=', 'queued')
    .execute();
  const ids: string[] = [];
  for (const { backfill_id } of pools) {
    const pool = await poolOf(db, dag, backfill_id);
    const free = pool.limit - (await runningCount(db, dag_id, pool));
    if (free <= 0) continue;
    let q = queuedInOrder(db, dag_id, pool).select('workflow_id');
    if (dag.is_paused) q = q.where('triggered_by', '=', UNPAUSED_TRIGGER);
    ids.push(...(await q.limit(free).execute()).map((r) => r.workflow_id));
  }
  return ids;
}

/**
 * The check before a continuous DAG's next run is recorded, in the recording transaction, with
 * the DAG's row locked as admission locks it: the DAG is active and unpaused, none of its runs
 * outside backfills is queued or running (max_active_runs is 1), and its latest scheduled run is
 * still the one the next run was computed from. Otherwise ContinuousSlotTakenError: another worker
 * (or a trigger) got there first, or a pause came in between. Two workers asking at once for the
 * same DAG record one run between them.
 */
export async function claimContinuousSlot(
  trx: Kysely<Database>,
  dag_id: string,
  /** The data_interval_start of the latest scheduled run the next one was computed from (null: none). */
  lastIntervalStart: Date | null,
): Promise<void> {
  const dag = await trx
    .selectFrom('dag')
    .select(['is_paused', 'is_active'])
    .where('dag_id', '=', dag_id)
    .forUpdate()
    .executeTakeFirst();
  if (!dag || !dag.is_active) throw new ContinuousSlotTakenError(dag_id, 'it is no longer in the DAGs folder');
  if (dag.is_paused) throw new ContinuousSlotTakenError(dag_id, 'it is paused');
  const active = await trx
    .selectFrom('dag_run')
    .select('run_id')
    .where('dag_id', '=', dag_id)
    .where('backfill_id', 'is', null)
    .where('state', 'in', ['queued', 'running'])
    .limit(1)
    .executeTakeFirst();
  if (active) throw new ContinuousSlotTakenError(dag_id, `run "${active.run_id}" is queued or running`);
  const latest = await latestScheduledInterval(trx, dag_id);
  if ((latest?.start.getTime() ?? null) !== (lastIntervalStart?.getTime() ?? null))
    throw new ContinuousSlotTakenError(dag_id, 'another scheduled run was recorded in the meantime');
}
