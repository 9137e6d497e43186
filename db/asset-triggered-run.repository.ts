/**
 * Data-aware runs: deciding from the queued events whether a DAG scheduled on assets is due, and
 * claiming the events that make it due, exactly once.
 *
 * consumeReadyRun runs one transaction per DAG:
 *   1. pg_try_advisory_xact_lock on the DAG: one consumer decides for a DAG at a time; another
 *      consumer gets 'busy' and moves on (no waiting, no deadlock; the lock ends with the transaction);
 *   2. the uris with queued events, evaluated with the DAG's condition (engine/timetables/assets.ts);
 *   3. when satisfied, one statement moves every queued event of the condition's assets out of the
 *      queue into dagrun_asset_event and records the run in asset_triggered_run as 'claimed', with a
 *      run_id fixed now. Conditions are monotone (more updated assets never un-satisfy `a & (b | c)`),
 *      so the events that arrived between step 2 and 3 belong to this run too; the returned set is
 *      checked again all the same, in case a DAG sync removed queued events in between.
 *
 * Whoever starts runs then starts the run under that run_id (a workflow id derived from it, so a
 * second start is rejected as a duplicate) and marks it 'started'. A crash between the claim and
 * the mark leaves a 'claimed' row, which claimedAssetTriggeredRuns hands out again: the run is
 * started at least once by the re-drive and at most once by the deterministic id.
 */
import { sql, type Kysely, type RawBuilder } from 'kysely';
import { assetUris, evaluateAssetCondition } from '../engine/timetables/assets.js';
import type { AssetConditionSpec, TimetableSpec } from '../spec/dag-spec.js';
import { DagRunType } from '../spec/states.js';
import { eventQuery, joinedRecord, type AssetEventRecord } from './asset-event.repository.js';
import type { AssetTriggeredRunRow, Database } from './database.js';

/** A claimed data-aware run and the events it consumed. */
export interface AssetTriggeredRun extends AssetTriggeredRunRow {
  /** uri → the events of that asset this run consumed, oldest first (the run context's triggering_asset_events). */
  triggering_asset_events: Record<string, AssetEventRecord[]>;
}

export type ConsumeResult =
  /** The condition was satisfied: a run is claimed; start it under run.run_id, then mark it started. */
  | { status: 'claimed'; run: AssetTriggeredRun }
  /** Not due: `updated` are the condition's assets with queued events (Airflow's "queued events"). */
  | { status: 'not_ready'; updated: string[] }
  /** Another consumer is deciding for this DAG right now. */
  | { status: 'busy' };

export class AssetConsumeError extends Error {
  override readonly name = 'AssetConsumeError';
}

const LOCK_NAMESPACE = 'updraft.asset_consume:';

/** Thrown inside the claim transaction to roll it back when the claimed set no longer satisfies the condition. */
class ClaimRaced extends Error {
  constructor(readonly updated: string[]) {
    super('claim raced a DAG sync');
  }
}

/**
 * Decides whether `dagId` is due by its asset condition and, when it is, claims its run. Runs its
 * own transaction (pass the database, not a transaction): the claim must commit on its own so that
 * the run's start can follow it.
 */
export async function consumeReadyRun(
  db: Kysely<Database>,
  dagId: string,
  condition: AssetConditionSpec,
): Promise<ConsumeResult> {
  if (db.isTransaction)
    throw new AssetConsumeError(
      'consumeReadyRun runs its own transaction; call it with the database, not inside a transaction',
    );
  const uris = assetUris(condition);
  if (uris.length === 0)
    throw new AssetConsumeError(`DAG "${dagId}": its asset condition names no asset, so it can never be satisfied`);
  try {
    return await db.transaction().execute(async (trx) => {
      const lock = await sql<{
        locked: boolean;
      }>`select pg_try_advisory_xact_lock(hashtextextended(${LOCK_NAMESPACE + dagId}, 0)) as locked`.execute(trx);
      if (lock.rows[0]?.locked !== true) return { status: 'busy' } as const;
      const queued = await trx
        .selectFrom('asset_dag_run_queue as q')
        .innerJoin('asset as a', 'a.id', 'q.asset_id')
        .select('a.uri')
        .distinct()
        .where('q.target_dag_id', '=', dagId)
        .where('a.uri', 'in', uris)
        .execute();
      const updated = queued.map((r) => r.uri).sort();
      if (!evaluateAssetCondition(condition, new Set(updated))) return { status: 'not_ready', updated } as const;

      const seq = await sql<{
        id: number;
      }>`select nextval(pg_get_serial_sequence('asset_triggered_run', 'id')) as id`.execute(trx);
      const id = seq.rows[0]!.id;
      const claimed = await sql<{ run_id: string; claimed_uris: string[] }>`
        with claimed as (
          delete from asset_dag_run_queue q using asset a
          where q.asset_id = a.id and q.target_dag_id = ${dagId} and a.uri in (${sql.join(uris)})
          returning q.asset_event_id, q.created_at, a.uri
        ),
        run as (
          insert into asset_triggered_run (id, dag_id, run_id, state, run_after, event_count)
          select ${id}, ${dagId},
                 ${`${DagRunType.ASSET_TRIGGERED}__`} || ${isoSql(sql`max(created_at)`)} || ${`_${runIdSuffix(id)}`},
                 'claimed', max(created_at), count(*)
          from claimed
          having count(*) > 0
          returning dag_id, run_id
        ),
        links as (
          insert into dagrun_asset_event (dag_id, run_id, asset_event_id)
          select run.dag_id, run.run_id, claimed.asset_event_id from claimed cross join run
        )
        select run.run_id, (select json_agg(distinct uri) from claimed) as claimed_uris from run`.execute(trx);
      const row = claimed.rows[0];
      const claimedUris = (row?.claimed_uris ?? []).sort();
      if (row === undefined || !evaluateAssetCondition(condition, new Set(claimedUris)))
        throw new ClaimRaced(claimedUris);
      const run = await trx
        .selectFrom('asset_triggered_run')
        .selectAll()
        .where('dag_id', '=', dagId)
        .where('run_id', '=', row.run_id)
        .executeTakeFirstOrThrow();
      return {
        status: 'claimed',
        run: { ...run, triggering_asset_events: await triggeringAssetEvents(trx, dagId, row.run_id) },
      } as const;
    });
  } catch (err) {
    if (err instanceof ClaimRaced) return { status: 'not_ready', updated: err.updated };
    throw err;
  }
}

/**
 * Airflow 3's run id for a run without a logical date: `asset_triggered__<run_after isoformat>_<suffix>`.
 * Airflow's suffix is 8 random characters; here it is the claim's sequence number (8 digits or more),
 * unique by construction.
 */
function runIdSuffix(id: number): string {
  return String(id).padStart(8, '0');
}

/** Python's datetime.isoformat() of a UTC timestamptz: microseconds only when non-zero, '+00:00'. */
function isoSql(ts: RawBuilder<unknown>): RawBuilder<string> {
  return sql<string>`regexp_replace(to_char(${ts} at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US'), '\\.000000$', '') || '+00:00'`;
}

/** Marks a claimed run started. Returns false when it already was (a re-drive after a crash). */
export async function markAssetTriggeredRunStarted(
  db: Kysely<Database>,
  dagId: string,
  runId: string,
): Promise<boolean> {
  const res = await db
    .updateTable('asset_triggered_run')
    .set({ state: 'started', started_at: sql<Date>`now()` })
    .where('dag_id', '=', dagId)
    .where('run_id', '=', runId)
    .where('state', '=', 'claimed')
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/**
 * The DAGs worth a consume decision now: those with queued events that are active, unpaused (a
 * paused DAG's queued events wait, as in Airflow) and scheduled on assets by their latest version,
 * with that version's condition. One statement, cheap when nothing is queued.
 */
export async function dueAssetConsumers(
  db: Kysely<Database>,
): Promise<Array<{ dagId: string; condition: AssetConditionSpec }>> {
  const rows = await db
    .selectFrom('dag as d')
    .innerJoin('dag_version as v', 'v.id', 'd.latest_version_id')
    .select(['d.dag_id', sql<TimetableSpec | null>`v.spec -> 'timetable'`.as('timetable')])
    .where('d.is_active', '=', true)
    .where('d.is_paused', '=', false)
    .where((eb) =>
      eb.exists(
        eb
          .selectFrom('asset_dag_run_queue as q')
          .select(sql`1`.as('one'))
          .whereRef('q.target_dag_id', '=', 'd.dag_id'),
      ),
    )
    .orderBy('d.dag_id')
    .execute();
  return rows.flatMap((r) =>
    r.timetable?.type === 'assets' ? [{ dagId: r.dag_id, condition: r.timetable.condition }] : [],
  );
}

/** Marks a claimed run failed for good (it can never start); its events stay consumed by it. */
export async function markAssetTriggeredRunFailed(
  db: Kysely<Database>,
  dagId: string,
  runId: string,
  error: string,
): Promise<boolean> {
  const res = await db
    .updateTable('asset_triggered_run')
    .set({ state: 'failed', last_error: error })
    .where('dag_id', '=', dagId)
    .where('run_id', '=', runId)
    .where('state', '=', 'claimed')
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

export interface ClaimedRunsOptions {
  dagId?: string;
  /** Only claims at least this old (by the database clock), so a live consumer's fresh claim is left to it. Default 0. */
  olderThanSeconds?: number;
  limit?: number;
}

/**
 * Takes claims left unstarted at least `olderThanSeconds` (a consumer crashed between claim and
 * start) for re-driving: their claimed_at moves to now, in the same statement, so that another
 * consumer re-driving at the same moment skips them (the row lock makes it re-check the age) and
 * only retries them once they are stale again. Oldest first.
 */
export async function takeStaleClaims(
  db: Kysely<Database>,
  opts: { olderThanSeconds: number; limit?: number },
): Promise<AssetTriggeredRun[]> {
  const rows = await sql<AssetTriggeredRunRow>`
    update asset_triggered_run set claimed_at = now()
    where id in (
      select id from asset_triggered_run
      where state = 'claimed' and claimed_at <= now() - make_interval(secs => ${opts.olderThanSeconds})
      order by id limit ${opts.limit ?? 100}
    ) and state = 'claimed' and claimed_at <= now() - make_interval(secs => ${opts.olderThanSeconds})
    returning *`.execute(db);
  const out: AssetTriggeredRun[] = [];
  for (const r of [...rows.rows].sort((a, b) => a.id - b.id))
    out.push({ ...r, triggering_asset_events: await triggeringAssetEvents(db, r.dag_id, r.run_id) });
  return out;
}

/** Claimed runs not yet marked started (a consumer crashed between claim and start), oldest first. */
export async function claimedAssetTriggeredRuns(
  db: Kysely<Database>,
  opts: ClaimedRunsOptions = {},
): Promise<AssetTriggeredRun[]> {
  const rows = await db
    .selectFrom('asset_triggered_run')
    .selectAll()
    .where('state', '=', 'claimed')
    .where('claimed_at', '<=', sql<Date>`now() - make_interval(secs => ${opts.olderThanSeconds ?? 0})`)
    .$if(opts.dagId !== undefined, (q) => q.where('dag_id', '=', opts.dagId!))
    .orderBy('id')
    .limit(opts.limit ?? 100)
    .execute();
  const out: AssetTriggeredRun[] = [];
  for (const r of rows)
    out.push({ ...r, triggering_asset_events: await triggeringAssetEvents(db, r.dag_id, r.run_id) });
  return out;
}

export async function getAssetTriggeredRun(
  db: Kysely<Database>,
  dagId: string,
  runId: string,
): Promise<AssetTriggeredRun | undefined> {
  const r = await db
    .selectFrom('asset_triggered_run')
    .selectAll()
    .where('dag_id', '=', dagId)
    .where('run_id', '=', runId)
    .executeTakeFirst();
  return r === undefined ? undefined : { ...r, triggering_asset_events: await triggeringAssetEvents(db, dagId, runId) };
}

/** A run's triggering_asset_events: uri → events, oldest first; {} for a run that consumed none. */
export async function triggeringAssetEvents(
  db: Kysely<Database>,
  dagId: string,
  runId: string,
): Promise<Record<string, AssetEventRecord[]>> {
  const rows = await eventQuery(db)
    .innerJoin('dagrun_asset_event as l', 'l.asset_event_id', 'e.id')
    .where('l.dag_id', '=', dagId)
    .where('l.run_id', '=', runId)
    .orderBy('e.id')
    .execute();
  const out: Record<string, AssetEventRecord[]> = {};
  for (const r of rows) (out[r.uri] ??= []).push(joinedRecord(r));
  return out;
}

/** Queued (unconsumed) events per DAG and uri: what `assets list` and the UI show as "queued". */
export async function queuedAssetEvents(
  db: Kysely<Database>,
  dagId?: string,
): Promise<Array<{ dag_id: string; uri: string; count: number; first_queued_at: Date }>> {
  const rows = await db
    .selectFrom('asset_dag_run_queue as q')
    .innerJoin('asset as a', 'a.id', 'q.asset_id')
    .select([
      'q.target_dag_id as dag_id',
      'a.uri',
      (eb) => eb.fn.countAll<number>().as('count'),
      (eb) => eb.fn.min('q.created_at').as('first_queued_at'),
    ])
    .$if(dagId !== undefined, (q) => q.where('q.target_dag_id', '=', dagId!))
    .groupBy(['q.target_dag_id', 'a.uri'])
    .orderBy('q.target_dag_id')
    .orderBy('a.uri')
    .execute();
  return rows.map((r) => ({
    dag_id: r.dag_id,
    uri: r.uri,
    count: Number(r.count),
    first_queued_at: r.first_queued_at as Date,
  }));
}

/** The asset-triggered runs that consumed each event (Airflow's AssetEvent.created_dagruns), by event id. */
export async function runsOfAssetEvents(
  db: Kysely<Database>,
  eventIds: readonly number[],
): Promise<Map<number, Array<{ dag_id: string; run_id: string }>>> {
  const out = new Map<number, Array<{ dag_id: string; run_id: string }>>();
  if (eventIds.length === 0) return out;
  const rows = await db
    .selectFrom('dagrun_asset_event')
    .select(['asset_event_id', 'dag_id', 'run_id'])
    .where(sql<boolean>`asset_event_id = any(${sql.val([...eventIds])}::bigint[])`)
    .orderBy('dag_id')
    .execute();
  for (const r of rows) {
    const list = out.get(r.asset_event_id) ?? [];
    list.push({ dag_id: r.dag_id, run_id: r.run_id });
    out.set(r.asset_event_id, list);
  }
  return out;
}
